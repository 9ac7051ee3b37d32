import { assertNever } from '../assert.ts';
import { type FullReason, type Job, pathsOf } from '../plan/job.ts';
import type { SurveyedPath } from '../plan/survey.ts';
import type { FailedPath } from '../rsync/failed-paths.ts';
import type { Outcome } from '../rsync/outcome.ts';
import { type Clock, systemClock } from './clock.ts';
import type { SchedulerEvent, SchedulerState } from './events.ts';
import { PathRetries } from './path-retry.ts';

/*
 * Turns a stream of changed paths into at most one transfer at a time.
 *
 *              change                     quiet for `debounce`,            done, nothing pending
 *   ┌──────┐ ─────────▶ ┌─────────┐ ───── or `maxDelay` after the ──▶ ┌─────────┐ ──────────────▶ idle
 *   │ idle │            │ waiting │        first change               │ running │
 *   └──────┘            └─────────┘ ◀──────────── done, changes ────── └─────────┘
 *                          ▲                      arrived meanwhile       │
 *                          │                                              │ failed: the job is
 *                          │       ┌─────────┐                            │ merged back into
 *                          └────── │ backoff │ ◀──────────────────────────┘ what is pending
 *                 after 1s, 2s, …  └─────────┘
 *                 up to 60s
 *
 *   pause(): idle, waiting and backoff become ┌────────┐  resume() (or its `for` elapsed):
 *   paused, and a run in flight finishes into │ paused │  what was collected goes out at once
 *   it; changes are collected, none is sent.  └────────┘  (waiting with no delay), else idle
 *
 * Changes that arrive while running or backing off are collected and go out together in the
 * next run. A full pass subsumes pending paths; too many pending paths collapse into one.
 * Requests for a full pass merge into one; it keeps the reason that explains most of what it
 * may change (start, then rescan, overflow, resync). A fast start (requestStart) runs first and
 * alone, changes seen meanwhile after it; a full pass subsumes it. syncNow() (`filesync sync`) skips the
 * debounce and a backoff, and does so for what arrives while it waits.
 */

/** Runs one job; the seam to rsync, faked in the scheduler's tests. */
export type JobRunner = (job: Job, signal: AbortSignal) => Promise<Outcome>;

/** What syncNow() resolves with: everything was sent, or the run that failed. */
export type SyncResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly outcome: Outcome & { ok: false } };

const STOPPING: Outcome & { ok: false } = {
  ok: false,
  reason: 'cancelled',
  exitCode: undefined,
  message: 'filesync is stopping',
  hint: 'Run it again once filesync is back.',
};

export interface SchedulerOptions {
  readonly debounceMs: number;
  readonly maxDelayMs: number;
  /** Beyond this many pending paths, a full pass is cheaper than a list. */
  readonly maxPendingPaths?: number;
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** The retry schedule of a path that fails on its own: 10 s, 20 s, … 5 min by default. */
  readonly pathRetryMinMs?: number;
  readonly pathRetryMaxMs?: number;
  readonly clock?: Clock;
  readonly onEvent?: (event: SchedulerEvent) => void;
}

/** Which reason a merged full pass keeps: the first that applies. */
const FULL_PRECEDENCE: readonly FullReason[] = ['start', 'rescan', 'overflow', 'resync'];

export class Scheduler {
  readonly #run: JobRunner;
  readonly #clock: Clock;
  readonly #options: Required<
    Omit<SchedulerOptions, 'clock' | 'onEvent' | 'pathRetryMinMs' | 'pathRetryMaxMs'>
  >;
  readonly #retries: PathRetries;
  #retryTimer: unknown;
  readonly #emit: (event: SchedulerEvent) => void;

  #state: SchedulerState = 'idle';
  #pending = new Set<string>();
  #pendingFull: FullReason | undefined;
  /** A fast start's difference, sent before any batch (a full pass subsumes it). */
  #pendingStart: readonly SurveyedPath[] | undefined;
  /** A change was reported since the last job was taken. */
  #changed = false;
  #firstChangeAt = 0;
  #lastChangeAt = 0;
  #timer: unknown;
  #failures = 0;
  #inFlight: { job: Job; controller: AbortController; done: Promise<void> } | undefined;
  #idleWaiters: (() => void)[] = [];
  /** `filesync pause`: no transfer starts; the timer of a pause that ends by itself. */
  #paused = false;
  #resumeTimer: unknown;
  /**
   * The lag: when the oldest change not yet on the target was seen, among those pending and
   * those of the run in flight. A path's own retry is no change (failing paths are reported
   * apart), nor is a periodic full pass; start-up, rescans and overflows are (what they find
   * may be missing since then).
   */
  #pendingChangeAt: number | undefined;
  #inFlightChangeAt: number | undefined;
  /** Callers of syncNow() waiting for what was pending to be sent, or for a failure. */
  #syncWaiters: ((result: SyncResult | undefined) => void)[] = [];

  constructor(run: JobRunner, options: SchedulerOptions) {
    this.#run = run;
    this.#clock = options.clock ?? systemClock;
    this.#emit = options.onEvent ?? (() => {});
    this.#options = {
      debounceMs: options.debounceMs,
      maxDelayMs: options.maxDelayMs,
      maxPendingPaths: options.maxPendingPaths ?? 100_000,
      backoffMinMs: options.backoffMinMs ?? 1000,
      backoffMaxMs: options.backoffMaxMs ?? 60_000,
    };
    this.#retries = new PathRetries({
      ...(options.pathRetryMinMs === undefined ? {} : { minMs: options.pathRetryMinMs }),
      ...(options.pathRetryMaxMs === undefined ? {} : { maxMs: options.pathRetryMaxMs }),
    });
  }

  /** Paths failing on their own, with rsync's reasons. */
  get failingPaths(): FailedPath[] {
    return this.#retries.failing();
  }

  get state(): SchedulerState {
    return this.#state;
  }

  /** Consecutive failed runs; 0 after any success. */
  get failures(): number {
    return this.#failures;
  }

  /** The job being sent, if any. */
  get inFlight(): Job | undefined {
    return this.#inFlight?.job;
  }

  get pendingCount(): number {
    return this.#pending.size;
  }

  /** When the oldest change not yet on the target was seen (epoch ms); undefined when none. */
  get oldestChangeAt(): number | undefined {
    const times = [this.#pendingChangeAt, this.#inFlightChangeAt].filter((at) => at !== undefined);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** Records changed paths (relative to the source) for the next batch. */
  add(paths: Iterable<string>): void {
    if (this.#state === 'stopped') return;
    this.#changed = true;
    this.#pendingChangeAt ??= this.#clock.now();
    this.#queue(paths);
  }

  /** Queues paths for the next batch: a change, or a failing path's retry (no change). */
  #queue(paths: Iterable<string>): void {
    if (this.#pendingFull === undefined) {
      for (const path of paths) this.#pending.add(path);
      if (this.#pending.size > this.#options.maxPendingPaths) this.#setFull('overflow');
    }
    this.#noteChange();
  }

  /** Asks for a full pass at once, skipping the debounce (start-up, periodic resync, rescans). */
  requestFull(reason: FullReason): void {
    if (this.#state === 'stopped') return;
    if (reason !== 'resync') this.#pendingChangeAt ??= this.#clock.now();
    this.#setFull(reason);
    this.#noteChange(true);
  }

  /**
   * A fast start: sends `paths` (the difference from the manifest) at once, as the job that
   * makes the target ready; changes seen meanwhile follow as the next batch.
   */
  requestStart(paths: readonly SurveyedPath[]): void {
    if (this.#state === 'stopped') return;
    this.#pendingChangeAt ??= this.#clock.now();
    if (this.#pendingFull === undefined) this.#pendingStart = paths;
    this.#noteChange(true);
  }

  /** Resolves once nothing is pending or running. */
  whenIdle(): Promise<void> {
    if (this.#state === 'idle' || this.#state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /**
   * Sends what is pending now, skipping the debounce (and a backoff), and resolves once nothing
   * is pending or running: `ok`, or the outcome of the first run that fails meanwhile. Changes
   * that arrive while it waits are sent at once too, and waited for. Resolves undefined when
   * `signal` aborts first.
   */
  syncNow(signal?: AbortSignal): Promise<SyncResult | undefined> {
    if (this.#state === 'stopped') return Promise.resolve({ ok: false, outcome: STOPPING });
    if (this.#state === 'idle') return Promise.resolve({ ok: true });
    const result = new Promise<SyncResult | undefined>((resolve) => {
      this.#syncWaiters.push(resolve);
      // Given up on (a timeout): no longer waited for, so later batches keep their debounce.
      signal?.addEventListener(
        'abort',
        () => {
          this.#syncWaiters = this.#syncWaiters.filter((waiter) => waiter !== resolve);
          resolve(undefined);
        },
        { once: true },
      );
    });
    this.sendNow();
    return result;
  }

  /**
   * Starts no transfer from now on (a run in flight finishes) and collects changes as usual;
   * after `forMs`, resumes by itself. Pausing again replaces the end of the pause.
   */
  pause(forMs?: number): void {
    if (this.#state === 'stopped') return;
    this.#paused = true;
    if (this.#resumeTimer !== undefined) this.#clock.clearTimeout(this.#resumeTimer);
    this.#resumeTimer = forMs === undefined ? undefined : this.#clock.setTimeout(() => this.resume(), forMs);
    if (this.#state === 'idle' || this.#state === 'waiting' || this.#state === 'backoff') {
      this.#clearTimer();
      this.#state = 'paused';
    }
    const at = this.#clock.now();
    this.#emit({ type: 'paused', at, until: forMs === undefined ? undefined : at + forMs });
  }

  /** Ends a pause: what was collected meanwhile goes out at once. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (this.#resumeTimer !== undefined) this.#clock.clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
    this.#emit({ type: 'resumed', at: this.#clock.now() });
    if (this.#state !== 'paused') return; // a run in flight goes on as usual
    if (this.#hasWork()) {
      this.#state = 'waiting';
      this.#arm(0);
    } else {
      this.#state = 'idle';
      this.#wakeIdleWaiters();
    }
  }

  /** Sends what is pending now, skipping the debounce and a backoff (`filesync sync --no-wait`). */
  sendNow(): void {
    if (this.#state === 'waiting' || this.#state === 'backoff') this.#fire();
  }

  /**
   * Sends what is pending now, retrying failures until `timeoutMs` has passed; then cancels
   * whatever runs and stops. Resolves true when everything was sent.
   */
  async flush(timeoutMs: number): Promise<boolean> {
    const deadline = this.#clock.now() + timeoutMs;
    // A periodic pass not yet begun that carries no change is nothing to send: the next start
    // makes its own comparison.
    if (this.#pendingFull === 'resync' && this.#pendingChangeAt === undefined) this.#pendingFull = undefined;
    while (this.#hasWork() && this.#clock.now() < deadline) {
      // Paused: nothing more is sent; the next start's full pass sends what was collected.
      if (this.#state === 'paused') break;
      if (this.#state === 'waiting' || this.#state === 'backoff') this.#fire();
      const done = this.#inFlight?.done ?? Promise.resolve();
      const left = deadline - this.#clock.now();
      const timedOut = await this.#raceTimer(done, left);
      if (timedOut) break;
      if (this.#state === 'backoff') await this.#raceTimer(new Promise(() => {}), Math.min(1000, left));
    }
    const flushed = !this.#hasWork();
    await this.stop();
    return flushed;
  }

  /** Cancels timers and the run in flight; pending paths are dropped (a restart resyncs). */
  async stop(): Promise<void> {
    this.#clearTimer();
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    if (this.#resumeTimer !== undefined) this.#clock.clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
    this.#state = 'stopped';
    const inFlight = this.#inFlight;
    inFlight?.controller.abort();
    await inFlight?.done;
    this.#wakeIdleWaiters();
    this.#settleSyncs({ ok: false, outcome: STOPPING });
  }

  #hasWork(): boolean {
    return (
      this.#inFlight !== undefined ||
      this.#pendingFull !== undefined ||
      this.#pendingStart !== undefined ||
      this.#pending.size > 0
    );
  }

  #setFull(reason: FullReason): void {
    const current = this.#pendingFull;
    this.#pendingFull =
      current === undefined || FULL_PRECEDENCE.indexOf(reason) < FULL_PRECEDENCE.indexOf(current)
        ? reason
        : current;
    this.#pending.clear();
    this.#pendingStart = undefined;
  }

  #noteChange(immediate = false): void {
    const now = this.#clock.now();
    if (this.#firstChangeAt === 0) this.#firstChangeAt = now;
    this.#lastChangeAt = immediate ? now - this.#options.debounceMs : now;
    this.#emit({ type: 'pending', paths: this.#pending.size, full: this.#pendingFull !== undefined });
    switch (this.#state) {
      case 'idle':
      case 'waiting':
        this.#state = 'waiting';
        this.#arm(this.#syncWaiters.length > 0 ? 0 : this.#dueIn());
        return;
      case 'running':
      case 'backoff':
      case 'paused':
      case 'stopped':
        return;
      default:
        assertNever(this.#state);
    }
  }

  #dueIn(): number {
    const { debounceMs, maxDelayMs } = this.#options;
    const due = Math.min(this.#lastChangeAt + debounceMs, this.#firstChangeAt + maxDelayMs);
    return Math.max(0, due - this.#clock.now());
  }

  #arm(ms: number): void {
    this.#clearTimer();
    this.#timer = this.#clock.setTimeout(() => this.#fire(), ms);
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #fire(): void {
    this.#clearTimer();
    let job: Job;
    if (this.#pendingFull !== undefined) job = { kind: 'full', reason: this.#pendingFull };
    else if (this.#pendingStart !== undefined) job = { kind: 'start', paths: this.#pendingStart };
    else job = { kind: 'batch', paths: [...this.#pending] };
    // A fast start goes first, alone: changes seen meanwhile stay pending for the next batch.
    if (job.kind !== 'start') this.#pending = new Set();
    this.#pendingFull = undefined;
    this.#pendingStart = undefined;
    this.#firstChangeAt = 0;
    this.#inFlightChangeAt = this.#pendingChangeAt;
    if (this.#pending.size === 0) this.#pendingChangeAt = undefined;
    this.#state = 'running';
    const controller = new AbortController();
    const done = this.#execute(job, controller.signal);
    this.#inFlight = { job, controller, done };
  }

  async #execute(job: Job, signal: AbortSignal): Promise<void> {
    const attempt = this.#failures + 1;
    // Paths failing when the job is taken may be repaired by it: that is no missed change.
    const changedBefore = this.#changed || this.#retries.size > 0;
    this.#changed = false;
    const startedAt = this.#clock.now();
    this.#emit({ type: 'started', job, attempt });
    const outcome = await this.#run(job, signal).catch(
      (error: unknown): Outcome => ({
        ok: false,
        reason: 'unknown',
        exitCode: undefined,
        message: String(error),
        hint: 'This is a bug in filesync; please report it.',
      }),
    );
    this.#inFlight = undefined;
    const durationMs = this.#clock.now() - startedAt;
    const changeAt = this.#inFlightChangeAt;
    this.#inFlightChangeAt = undefined;
    if (!outcome.ok && changeAt !== undefined)
      this.#pendingChangeAt = Math.min(changeAt, this.#pendingChangeAt ?? changeAt);
    if (outcome.ok) {
      this.#failures = 0;
      this.#settlePaths(job, outcome.failedPaths ?? []);
    } else {
      this.#failures += 1;
      this.#mergeBack(job);
    }
    const stopped = this.#state === 'stopped';
    const retryInMs = outcome.ok || stopped ? undefined : this.#backoff();
    const quiet = !changedBefore && !this.#changed;
    this.#emit({ type: 'finished', job, outcome, durationMs, attempt, retryInMs, quiet });
    if (stopped) return;
    if (this.#paused) {
      // Whatever is left waits for resume(); a sync waiting meanwhile hears of a failure.
      this.#state = 'paused';
      if (!outcome.ok) this.#settleSyncs({ ok: false, outcome });
      return;
    }
    if (retryInMs !== undefined) {
      this.#state = 'backoff';
      this.#arm(retryInMs);
      if (!outcome.ok) this.#settleSyncs({ ok: false, outcome });
    } else if (this.#hasWork()) {
      this.#state = 'waiting';
      this.#arm(this.#syncWaiters.length > 0 ? 0 : this.#dueIn());
    } else {
      this.#state = 'idle';
      this.#wakeIdleWaiters();
      this.#settleSyncs({ ok: true });
    }
  }

  /** A run went through: paths it failed get (or keep) a retry of their own, the rest heal. */
  #settlePaths(job: Job, failed: readonly FailedPath[]): void {
    const failedNow = new Set(failed.map((failure) => failure.path));
    for (const path of this.#retries.succeeded(pathsOf(job) ?? 'all', failedNow)) {
      this.#emit({ type: 'path-recovered', path, failing: this.#retries.size });
    }
    for (const failure of this.#retries.fail(failed, this.#clock.now())) {
      this.#emit({ type: 'path-failed', failure, failing: this.#retries.size });
    }
    this.#armRetries();
  }

  #armRetries(): void {
    if (this.#retryTimer !== undefined) this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const next = this.#retries.nextDueAt();
    if (next === undefined || this.#state === 'stopped') return;
    this.#retryTimer = this.#clock.setTimeout(
      () => {
        this.#retryTimer = undefined;
        const due = this.#retries.take(this.#clock.now());
        if (due.length > 0 && this.#state !== 'stopped') this.#queue(due);
        this.#armRetries();
      },
      Math.max(0, next - this.#clock.now()),
    );
  }

  #mergeBack(job: Job): void {
    if (job.kind === 'full') {
      this.#setFull(job.reason);
    } else if (job.kind === 'start') {
      if (this.#pendingFull === undefined) this.#pendingStart = job.paths;
    } else if (this.#pendingFull === undefined) {
      for (const path of job.paths) this.#pending.add(path);
    }
    if (this.#firstChangeAt === 0) this.#firstChangeAt = this.#clock.now();
  }

  #backoff(): number {
    const { backoffMinMs, backoffMaxMs } = this.#options;
    return Math.min(backoffMaxMs, backoffMinMs * 2 ** Math.min(this.#failures - 1, 16));
  }

  #raceTimer(promise: Promise<unknown>, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      const handle = this.#clock.setTimeout(() => resolve(true), Math.max(0, ms));
      void promise.then(() => {
        this.#clock.clearTimeout(handle);
        resolve(false);
      });
    });
  }

  #settleSyncs(result: SyncResult): void {
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const settle of waiters) settle(result);
  }

  #wakeIdleWaiters(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
  }
}
