import { hostname } from 'node:os';
import { alertOf } from '../alerts/payload.ts';
import type { Webhook } from '../alerts/webhook.ts';
import type { Config } from '../config/config.ts';
import { formatDuration } from '../config/duration.ts';
import { describeTarget, targetName } from '../config/targets.ts';
import type { TargetSync } from '../control/protocol.ts';
import { loggableFailure, messageOf } from '../errors.ts';
import type { Filter } from '../filter.ts';
import { hookBatchOf } from '../hooks/batch.ts';
import { type HookName, type HookResult, Hooks } from '../hooks/hooks.ts';
import type { Logger } from '../log.ts';
import { printable } from '../names.ts';
import type { FullReason } from '../plan/job.ts';
import { HOOK_PATHS } from '../plan/plan.ts';
import { connectedRunner } from '../rsync/connected-runner.ts';
import type { FailedPath } from '../rsync/failed-paths.ts';
import type { UnsafeLink } from '../rsync/outcome.ts';
import { processRunner } from '../rsync/runner.ts';
import type { Runtime } from '../rsync/runtime.ts';
import type { SshMaster } from '../rsync/ssh-master.ts';
import type { SchedulerEvent } from '../schedule/events.ts';
import { Scheduler } from '../schedule/scheduler.ts';
import { ManifestError } from '../state/manifest.ts';
import type { Bridge } from '../state/native-compare.ts';
import { FAST_START_MAX_PATHS, type Prepared, type Prestart, prestartTarget } from '../state/prestart.ts';
import { defaultScanner } from '../state/scan.ts';
import { markRunning, type TargetState, targetState } from '../state/store.ts';
import { type Readiness, type StartKind, type Status, StatusTracker } from '../status/status.ts';
import { createJobRunner } from './job-runner.ts';
import { logSchedulerEvent } from './log-events.ts';
import { RunningMarker } from './resume-marker.ts';
import { createTrashPruner, type TrashPruner } from './trash-pruner.ts';

// One target of `watch`: its SSH connection, scheduler, job runner, trash pruner and outcome
// history. The watcher feeds every target the same changes; each sends them on its own
// schedule, so a slow or unreachable target never delays another.

/** What a target is handed already started: the shared SSH connection comes up while we load. */
/** Past this many unsafe links, further ones are neither logged nor counted (memory stays bounded). */
const UNSAFE_LINKS_REMEMBERED = 100_000;

export interface Connection {
  readonly runtime: Runtime;
  readonly master: SshMaster;
}

/** Where a target's scheduler events and hook results go besides its own history: metrics. */
export interface EventSink {
  observe(event: SchedulerEvent): void;
  hook(hook: HookName, result: HookResult): void;
  unsafeLink(): void;
  start(kind: StartKind['kind']): void;
}

export interface TargetOptions {
  /** The configuration as this target sees it: `remote` is this target. */
  readonly config: Config;
  readonly filter: Filter;
  readonly connection: Connection;
  readonly log: Logger;
  readonly metrics: EventSink;
  readonly webhook: Webhook | undefined;
  /** How many entries the source holds, where the watcher counted them. */
  readonly treeSize: () => number | undefined;
  /**
   * This target's part of the memory still available (bytes): the targets' full passes may run
   * at once, so each is given its share (see wholeListFits).
   */
  readonly availableMemory?: () => number | undefined;
  /** The manifest's judgement and comparison, when the watch command began them early. */
  readonly prestart?: Prestart | undefined;
}

export class Target {
  readonly name: string;
  readonly #config: Config;
  readonly #log: Logger;
  readonly #master: SshMaster;
  readonly #scheduler: Scheduler;
  readonly #tracker: StatusTracker;
  readonly #pruner: TrashPruner;
  readonly #hooks: Hooks | undefined;
  /** Links skipped as unsafe that have been logged (`path -> target`), each once; bounded. */
  readonly #unsafeLinks = new Set<string>();
  readonly #filter: Filter;
  readonly #metrics: EventSink;
  /** The manifest's files (SYNC_STATE_DIR); undefined when there is none, or it cannot be written. */
  #state: TargetState | undefined;
  #start: StartKind | undefined;
  #resolveStarted: () => void = () => {};
  readonly #started = new Promise<void>((resolve) => {
    this.#resolveStarted = resolve;
  });
  /** What prepare() found, for start(): with a trusted manifest, its comparison under way. */
  #prepared: Prepared | undefined;
  #prestart: Prestart | undefined;
  /** The target stops: a fast start's comparison that ends so is no failure. */
  readonly #stopping = new AbortController();
  /** Says on the target whether a start must look for partial files (see plan/resume-marker.ts). */
  readonly #marker: RunningMarker;
  #stoppedCleanly = false;

  constructor({
    config,
    filter,
    connection,
    log,
    metrics,
    webhook,
    treeSize,
    availableMemory,
    prestart,
  }: TargetOptions) {
    this.name = targetName(config);
    this.#config = config;
    this.#log = log;
    this.#filter = filter;
    this.#metrics = metrics;
    this.#prestart = prestart;
    // Stopping ends a fast start's comparison still under way, begun early or in prepare().
    this.#stopping.signal.addEventListener('abort', () => this.#prestart?.stop(), { once: true });
    this.#state =
      prestart?.state ??
      (config.stateDir === undefined ? undefined : targetState(config.stateDir, config, filter));
    this.#tracker = new StatusTracker(config.readiness);
    const { runtime, master } = connection;
    this.#master = master;
    const context = { config, filter, ssh: runtime.ssh };
    const syncLog = log.child({ component: 'sync' });
    master.onUp = (durationMs) =>
      log.child({ component: 'ssh' }).debug({ durationMs }, 'shared SSH connection up');
    master.onExit = (stderr) =>
      log
        .child({ component: 'ssh' })
        .warn(
          { err: loggableFailure('ssh-master', stderr.trim() || 'ssh exited') },
          'shared SSH connection closed; transfers connect on their own until it is back',
        );
    const { command, url, timeoutMs } = config.hooks;
    this.#hooks =
      command === undefined && url === undefined
        ? undefined
        : new Hooks({
            command,
            url,
            timeoutMs,
            cwd: config.sourceDir,
            target: describeTarget(config.remote),
            changesDir: runtime.dir,
            log: log.child({ component: 'hook' }),
            onResult: (hook, result) => metrics.hook(hook, result),
            cap: HOOK_PATHS,
          });
    const runner = connectedRunner(master, processRunner, this.#stopping.signal);
    this.#marker = new RunningMarker(context, runner, runtime.dir, syncLog);
    const runJob = createJobRunner(context, runner, syncLog, {
      treeSize,
      ...(availableMemory === undefined ? {} : { availableMemory }),
      marker: this.#marker,
    });
    this.#pruner = createTrashPruner(context, runner, runtime.dir, log.child({ component: 'trash' }), {
      held: () => this.#tracker.paused,
    });
    this.#scheduler = new Scheduler(runJob, {
      debounceMs: config.debounceMs,
      maxDelayMs: config.maxDelayMs,
      onEvent: (event) => {
        metrics.observe(event);
        const wasStarted = this.#tracker.started;
        const transition = this.#tracker.observe(event);
        if (transition !== undefined && webhook !== undefined)
          webhook.send(alertOf(transition, this.status(), hostname(), new Date()));
        logSchedulerEvent(syncLog, event);
        this.#follow(event, wasStarted, treeSize);
        if (event.type === 'finished' && event.outcome.ok)
          this.#noteUnsafeLinks(event.outcome.unsafeLinks ?? [], syncLog, metrics);
        if (event.type === 'finished' && event.outcome.ok && this.#hooks !== undefined) {
          const kind =
            event.job.kind !== 'batch' && !wasStarted
              ? 'initial'
              : event.job.kind === 'start'
                ? 'batch'
                : event.job.kind;
          const batch = hookBatchOf(kind, event.outcome, HOOK_PATHS);
          if (batch !== undefined) this.#hooks.offer(batch);
        }
      },
    });
  }

  /** SYNC_SYMLINKS=safe: each link not sent is logged and counted once, not once per pass. */
  #noteUnsafeLinks(links: readonly UnsafeLink[], log: Logger, metrics: EventSink): void {
    for (const { path, target } of links) {
      const key = `${path}\0${target}`;
      if (this.#unsafeLinks.has(key) || this.#unsafeLinks.size >= UNSAFE_LINKS_REMEMBERED) continue;
      this.#unsafeLinks.add(key);
      metrics.unsafeLink();
      log.warn(
        {
          path: printable(path),
          linkTarget: printable(target),
          hint: 'SYNC_SYMLINKS=safe sends no link that is absolute or points out of the source: make it relative and inside, or set SYNC_SYMLINKS=copy-unsafe to send what it points to.',
        },
        'symlink not sent: it is absolute or points out of the source',
      );
    }
  }

  /**
   * Before the watcher feeds anything (and so before anything is sent): reads whether the
   * manifest can be trusted (SYNC_STATE_DIR), and from then on, until a clean stop writes a new
   * one, marks it as not to be trusted.
   */
  async prepare(): Promise<void> {
    // Under way while the watcher starts, over the shared connection. The first run waits for it,
    // unless it is a full pass, which goes ahead without the partial-dir (job-runner.ts).
    this.#marker.begin(() => this.#master.beforeTransfer(), this.#stopping.signal);
    const stateDir = this.#config.stateDir;
    const state = this.#state;
    if (stateDir === undefined || state === undefined) return;
    // Begun by the watch command before the rest loaded, or now.
    this.#prestart ??= prestartTarget(this.#config, this.#filter);
    const found = await this.#prestart?.prepared;
    if (found === undefined) return;
    try {
      await markRunning(state, stateDir);
      this.#prepared = found;
    } catch (error) {
      this.#state = undefined;
      if (found.trusted) await this.#discard(found);
      const reason = `SYNC_STATE_DIR=${stateDir} cannot be written (${messageOf(error)})`;
      this.#log.child({ component: 'state' }).warn(
        {
          hint: 'Mount a writable volume there, owned by the user filesync runs as, or unset SYNC_STATE_DIR.',
        },
        `${reason}: every start is a full pass until it can`,
      );
      this.#prepared = { trusted: false, reason };
    }
  }

  /**
   * The watcher runs: what the bridge saw since each directory was listed is a change, as the
   * watcher's are; events it dropped make the start a full pass.
   */
  #crossBridge(bridge: Bridge | undefined): void {
    if (bridge === undefined) return;
    const { paths, overflow } = bridge.drain();
    // What the watcher would pass on: not the source directory itself, nothing excluded.
    const accepted = paths.filter((path) => path !== '' && this.#filter.mayAccept(path));
    if (overflow) this.#scheduler.requestFull('rescan');
    else if (accepted.length > 0) this.add(accepted);
  }

  /** The watcher could not start: a comparison under way stops, and its bridge lets go. */
  abandon(): void {
    this.#stopping.abort();
    const prepared = this.#prepared;
    if (prepared?.trusted === true) prepared.comparison.bridge?.drain();
  }

  /**
   * Chooses the start (after prepare(), once the watcher runs): with a manifest it can trust,
   * sends what differs from it and is ready then, the full comparison following; otherwise a
   * full pass, as without one.
   */
  async start(): Promise<void> {
    const trust = this.#prepared;
    this.#prepared = undefined;
    if (trust === undefined) return this.#startFull('SYNC_STATE_DIR is not set');
    const log = this.#log.child({ component: 'state' });
    if (!trust.trusted) {
      if (this.#state !== undefined)
        log.info({ reason: trust.reason }, 'full start: the manifest is not trusted');
      return this.#startFull(trust.reason);
    }
    const { manifest, comparison } = trust;
    this.#crossBridge(comparison.bridge);
    try {
      const began = Date.now();
      comparison.open();
      const diff = await comparison.diff;
      manifest.close();
      const { paths, entries, created, changed, deleted, moved, truncated, durationMs } = diff;
      // How it ran: native/compare.c, or walked in workers (by build/scan.node, or Node's calls);
      // how long it took, and how long start() waited for it once the watcher ran.
      const way = {
        comparison: diff.comparison,
        scanner: diff.comparison === 'native' ? 'native' : defaultScanner,
      };
      const waitedMs = Date.now() - began;
      const compared = { entries, created, changed, deleted, moved, durationMs, waitedMs, ...way };
      if (truncated || paths.length > FAST_START_MAX_PATHS) {
        const counted = truncated ? `more than ${FAST_START_MAX_PATHS}` : `${paths.length}`;
        const reason = `${counted} entries differ from the manifest: a full pass sends that many sooner`;
        log.info(compared, `full start: ${reason}`);
        return this.#startFull(reason);
      }
      this.#start = {
        kind: 'fast',
        reason: `the manifest of the last clean stop is trusted: ${created} created, ${changed} changed, ${deleted} deleted since`,
      };
      this.#metrics.start('fast');
      log.info(
        compared,
        'fast start: sending what changed since the last clean stop; the full comparison follows once ready',
      );
      this.#scheduler.requestStart(paths);
    } catch (error) {
      manifest.close();
      if (this.#stopping.signal.aborted) return; // stopped while comparing: nothing to start
      // A worker that ran out of its heap (a directory of millions of names) is not the file's fault.
      const reason =
        error instanceof ManifestError
          ? `the manifest could not be read: ${messageOf(error)}`
          : `the source could not be compared with the manifest: ${messageOf(error)}`;
      log.warn({ reason }, 'full start: the manifest is not trusted');
      this.#startFull(reason);
    }
  }

  /** A comparison of no use: stopped, its bridge let go, and its manifest closed once it is done with it. */
  async #discard(found: Extract<Prepared, { trusted: true }>): Promise<void> {
    this.#prestart?.stop();
    found.comparison.bridge?.drain();
    await found.comparison.diff.catch(() => {});
    found.manifest.close();
  }

  #startFull(reason: string): void {
    this.#start = { kind: 'full', reason };
    this.#metrics.start('full');
    this.#scheduler.requestFull('start');
  }

  /** The initial pass, or the fast start, has gone through: the target holds the source. */
  get started(): boolean {
    return this.#tracker.started;
  }

  /** Resolves once the initial pass, or the fast start, has gone through (never, if it does not). */
  get whenStarted(): Promise<void> {
    return this.#started;
  }

  /**
   * After flush(): its start went through, every change reached the target and no path fails.
   * What the manifest and the running marker are kept or removed by.
   */
  get stoppedCleanly(): boolean {
    return this.#stoppedCleanly;
  }

  /** The manifest's files, while the state directory serves this target. */
  get state(): TargetState | undefined {
    return this.#state;
  }

  /** The initial pass's two log lines, and the pruner once it is done. */
  #follow(event: SchedulerEvent, wasStarted: boolean, treeSize: () => number | undefined): void {
    if (wasStarted) return;
    if (event.type === 'started' && event.job.kind === 'full' && event.attempt === 1) {
      // The tree's size as the watcher counted it (undefined while polling or with chokidar).
      this.#log.info({ entries: treeSize() }, 'initial sync started');
    }
    if (event.type === 'finished' && this.#tracker.started) {
      this.#log.info({ durationMs: event.durationMs }, 'initial sync complete; watching for changes');
      this.#resolveStarted();
      this.#pruner.start();
      // A fast start's full comparison, as a periodic pass: what it repairs is drift.
      if (event.job.kind === 'start') this.#scheduler.requestFull('resync');
    }
  }

  add(paths: readonly string[]): void {
    this.#scheduler.add(paths);
  }

  requestFull(reason: FullReason): void {
    this.#scheduler.requestFull(reason);
  }

  /** Ready once the initial pass is done (the status fold decides; see SYNC_READINESS). */
  ready(): Readiness {
    return this.#tracker.readiness();
  }

  status(): Status {
    return this.#tracker.status({
      target: describeTarget(this.#config.remote),
      pending: this.#scheduler.pendingCount,
      oldestChangeAt: this.#scheduler.oldestChangeAt,
      start: this.#start,
      failingPaths: this.#scheduler.failingPaths,
    });
  }

  /** When the oldest change not yet on the target was seen (epoch ms); undefined when none. */
  get oldestChangeAt(): number | undefined {
    return this.#scheduler.oldestChangeAt;
  }

  get running(): boolean {
    return this.#scheduler.state !== 'stopped';
  }

  get pendingCount(): number {
    return this.#scheduler.pendingCount;
  }

  get failingPaths(): readonly FailedPath[] {
    return this.#scheduler.failingPaths;
  }

  /**
   * `filesync sync`: sends what is pending now and answers once it is on the target, with the
   * failure of a run that fails meanwhile, or when `timeoutMs` has passed (of the `asked` the
   * caller was given). With `wait` false it only asks for the run.
   */
  async syncNow(timeoutMs: number, wait: boolean, asked = timeoutMs): Promise<TargetSync> {
    const target = describeTarget(this.#config.remote);
    const { paused } = this.status();
    if (paused !== undefined) {
      const until = paused.until === undefined ? '' : ` until ${paused.until}`;
      return {
        target,
        ok: false,
        failure: {
          reason: 'paused',
          message: `paused since ${paused.since}${until}: nothing is sent`,
          hint: 'Run `filesync resume` first, or wait for the pause to end.',
        },
        pending: this.pendingCount,
        failingPaths: [],
      };
    }
    if (!wait) {
      this.#scheduler.sendNow();
      return { target, ok: true, pending: this.pendingCount, failingPaths: [] };
    }
    const result = await this.#scheduler.syncNow(AbortSignal.timeout(timeoutMs));
    const { pending, failingPaths, failure } = this.status();
    if (result === undefined) {
      const job = this.#scheduler.inFlight;
      const sending =
        job === undefined
          ? ''
          : job.kind === 'full'
            ? 'a full pass is running, '
            : job.kind === 'start'
              ? `the fast start's ${plural(job.paths.length)} being sent, `
              : `${plural(job.paths.length)} being sent, `;
      const waiting = `not synced within ${formatDuration(asked)}; ${sending}${plural(pending)} pending after that`;
      const failing =
        failure === undefined
          ? ''
          : `; failing since ${failure.since}: ${failure.reason}: ${failure.message}`;
      const hint = failure?.hint ?? 'The target may be slow, or the change large: try a longer --timeout.';
      return {
        target,
        ok: false,
        failure: { reason: 'timeout', message: waiting + failing, hint },
        pending,
        failingPaths,
      };
    }
    if (!result.ok) {
      const { reason, message, hint } = result.outcome;
      return { target, ok: false, failure: { reason, message, hint }, pending, failingPaths };
    }
    return { target, ok: failingPaths.length === 0, pending, failingPaths };
  }

  /** `filesync pause [--for]`: starts no transfer (a run in flight finishes); changes are kept. */
  pause(forMs?: number): void {
    this.#scheduler.pause(forMs);
  }

  /** `filesync resume`: sends what was collected at once. */
  resume(): void {
    this.#scheduler.resume();
  }

  /** Sends what is pending within `timeoutMs`, then stops; false when changes were left unsent. */
  async flush(timeoutMs: number): Promise<boolean> {
    this.#stopping.abort();
    const deadline = Date.now() + timeoutMs;
    const flushed = await this.#scheduler.flush(timeoutMs);
    const left = () => Math.max(0, deadline - Date.now());
    // Stopped before its start went through, a target may lack what changed while it was down.
    this.#stoppedCleanly = flushed && this.started && this.failingPaths.length === 0;
    // A clean stop (no run left a partial file to resume) removes the running marker, beside the
    // last changes' hook, in what is left of the time (the hook's command is stopped past that).
    await Promise.all([
      this.#stoppedCleanly && left() > 0 ? this.#marker.clear(AbortSignal.timeout(left())) : undefined,
      this.#hooks?.settle(left()),
    ]);
    await this.#pruner.stop();
    await this.#master.stop();
    return flushed;
  }

  /** Stops at once, sending nothing more. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    await this.#scheduler.stop();
    await this.#hooks?.settle(0);
    await this.#pruner.stop();
  }
}

function plural(paths: number): string {
  return `${paths} path${paths === 1 ? '' : 's'}`;
}
