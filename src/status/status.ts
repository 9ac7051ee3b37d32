import type { ReadinessMode } from '../config/config.ts';
import { printable } from '../names.ts';
import type { FailedPath } from '../rsync/failed-paths.ts';
import type { FailureReason } from '../rsync/outcome.ts';
import type { SchedulerEvent } from '../schedule/events.ts';
import type { BackendName } from '../watch/backend.ts';
import { count, type Limit } from '../watch/budget.ts';

// The one owner of a target's readiness and status: a pure fold of its scheduler's events that
// `/readyz`, `GET /status`, `filesync status` and the webhook all read. Each target's tracker
// follows its scheduler's events, and the target adds what it knows at the moment.

export interface Status {
  /** `starting` until the initial pass is done, `failing` while runs fail, else `syncing`. */
  readonly state: 'starting' | 'syncing' | 'failing';
  readonly ready: boolean;
  /** user@host:port:dir */
  readonly target: string;
  readonly lastSuccess: string | undefined;
  readonly failure:
    | {
        readonly reason: FailureReason;
        readonly message: string;
        readonly hint: string;
        readonly since: string;
        readonly attempts: number;
      }
    | undefined;
  readonly failingPaths: readonly { readonly path: string; readonly reason: string }[];
  /** Set while `filesync pause` holds transfers back; `until` when it ends by itself. */
  readonly paused: { readonly since: string; readonly until: string | undefined } | undefined;
  readonly pending: number;
  /**
   * How far behind the target is: the age of the oldest change not yet on it, in seconds (0
   * when none), and when that change was seen.
   */
  readonly lagSeconds: number;
  readonly oldestPendingChange: string | undefined;
  /** Which start this target took (SYNC_STATE_DIR), and why; undefined until it has chosen. */
  readonly start?: StartKind | undefined;
  readonly counters: {
    readonly runs: number;
    readonly failedRuns: number;
    readonly filesTransferred: number;
  };
}

/**
 * A change between healthy and failing runs, for alerts: `failing` (the status then holds the
 * failure), or `recovered` from a failure that began at `since` and took `attempts` runs.
 */
export type Transition =
  | { readonly type: 'failing' }
  | { readonly type: 'recovered'; readonly since: string; readonly attempts: number };

/** What `/readyz` answers for one target, with the reason when it is not ready. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

/**
 * `fast`: the difference from the manifest was sent, and the full comparison follows after
 * readiness; `full`: a full pass before readiness (no state directory, or no manifest to trust).
 */
export interface StartKind {
  readonly kind: 'fast' | 'full';
  readonly reason: string;
}

/** What the daemon knows at the moment of asking. */
export interface Now {
  readonly start?: StartKind | undefined;
  readonly target: string;
  readonly pending: number;
  /** When the oldest change not yet on the target was seen (epoch ms), if one is. */
  readonly oldestChangeAt?: number | undefined;
  readonly failingPaths: readonly FailedPath[];
}

/**
 * Follows the scheduler's events into readiness and what a status report needs. A run cancelled
 * by a shutdown is neither a success nor a failure: it changes nothing here.
 */
export class StatusTracker {
  readonly #clock: () => Date;
  readonly #mode: ReadinessMode;
  #initialPassDone = false;
  #lastSuccess: Date | undefined;
  #failure:
    | { reason: FailureReason; message: string; hint: string; since: Date; attempts: number }
    | undefined;
  #paused: Status['paused'];
  #runs = 0;
  #failedRuns = 0;
  #filesTransferred = 0;

  /** `mode`: what readiness means (SYNC_READINESS). */
  constructor(mode: ReadinessMode = 'started', clock: () => Date = () => new Date()) {
    this.#mode = mode;
    this.#clock = clock;
  }

  /**
   * Follows one event; returns `failing` when syncing starts failing and `recovered` when it
   * goes through again: once per transition, never per retry.
   */
  observe(event: SchedulerEvent): Transition | undefined {
    if (event.type === 'paused') {
      const { at, until } = event;
      this.#paused = {
        since: this.#paused?.since ?? new Date(at).toISOString(),
        until: until === undefined ? undefined : new Date(until).toISOString(),
      };
    }
    if (event.type === 'resumed') this.#paused = undefined;
    if (event.type !== 'finished') return undefined;
    const { outcome } = event;
    this.#runs++;
    if (outcome.ok) {
      this.#lastSuccess = this.#clock();
      this.#filesTransferred += outcome.stats.filesTransferred;
      if (event.job.kind !== 'batch') this.#initialPassDone = true; // a full pass or a fast start
      if (this.#failure === undefined) return undefined;
      const { since, attempts } = this.#failure;
      this.#failure = undefined;
      return { type: 'recovered', since: since.toISOString(), attempts };
    }
    if (outcome.reason === 'cancelled') return undefined; // stopping, not failing
    this.#failedRuns++;
    const { reason, message, hint } = outcome;
    const previous = this.#failure;
    const since = previous?.since ?? this.#clock();
    this.#failure = { reason, message, hint, since, attempts: (previous?.attempts ?? 0) + 1 };
    return previous === undefined ? { type: 'failing' } : undefined;
  }

  /** `filesync pause` holds transfers back. */
  get paused(): boolean {
    return this.#paused !== undefined;
  }

  /** The initial full pass has gone through. */
  get started(): boolean {
    return this.#initialPassDone;
  }

  /**
   * Ready once the initial pass is done. In the `started` mode it stays so, whatever happens
   * later: a target that fails is what /status, the metrics and the webhook report. In the
   * `syncing` mode it is not ready while runs fail, too.
   */
  readiness(): Readiness {
    const failure = this.#failure;
    if (this.#initialPassDone && this.#mode === 'started') return { ready: true };
    if (failure !== undefined) {
      const { reason, attempts, message } = failure;
      return { ready: false, reason: `syncing is failing (${reason}, ${attempts} attempts): ${message}` };
    }
    if (!this.#initialPassDone) return { ready: false, reason: 'the initial sync has not finished' };
    return { ready: true };
  }

  status(now: Now): Status {
    const failure = this.#failure;
    return {
      state: failure !== undefined ? 'failing' : this.#initialPassDone ? 'syncing' : 'starting',
      ready: this.readiness().ready,
      target: now.target,
      lastSuccess: this.#lastSuccess?.toISOString(),
      failure: failure === undefined ? undefined : { ...failure, since: failure.since.toISOString() },
      failingPaths: now.failingPaths.map(({ path, reason }) => ({ path: printable(path), reason })),
      paused: this.#paused,
      pending: now.pending,
      lagSeconds: lagSeconds(now.oldestChangeAt, this.#clock().getTime()),
      oldestPendingChange:
        now.oldestChangeAt === undefined ? undefined : new Date(now.oldestChangeAt).toISOString(),
      start: now.start,
      counters: { runs: this.#runs, failedRuns: this.#failedRuns, filesTransferred: this.#filesTransferred },
    };
  }
}

/** The age of the oldest change not yet on the target, in seconds to the millisecond; 0 when none. */
export function lagSeconds(oldestChangeAt: number | undefined, now: number): number {
  return oldestChangeAt === undefined ? 0 : Math.max(0, now - oldestChangeAt) / 1000;
}

/** What `GET /status` answers: the daemon as a whole, and each target. */
export interface DaemonStatus {
  /** The worst of the targets': `failing` over `starting` over `syncing`. */
  readonly state: Status['state'];
  /** Every target is ready. */
  readonly ready: boolean;
  readonly targets: readonly Status[];
  /** The watcher feeding every target. */
  readonly watch?: WatchStatus;
}

/** The watcher as /status shows it: which one runs, its watches, and a fall-back if one came. */
export interface WatchStatus {
  readonly backend: BackendName;
  /** Directories the native watcher holds a watch on. */
  readonly directories: number | undefined;
  /** The kernel's watch limit for this uid, and the sysctl that sets it. */
  readonly limit: Limit | undefined;
  /** Set once a watcher gave up and filesync polls instead: changes arrive a poll late. */
  readonly fallback:
    | {
        readonly from: BackendName;
        readonly since: string;
        readonly reason: string;
        readonly hint: string;
      }
    | undefined;
}

const SEVERITY: Readonly<Record<Status['state'], number>> = { syncing: 0, starting: 1, failing: 2 };

export function daemonStatus(targets: readonly Status[], watch?: WatchStatus): DaemonStatus {
  const state = targets.reduce<Status['state']>(
    (worst, { state }) => (SEVERITY[state] > SEVERITY[worst] ? state : worst),
    'syncing',
  );
  return { state, ready: targets.every((target) => target.ready), targets, ...(watch && { watch }) };
}

/** Healthy: ready, no run failing and no path failing on its own. */
export function isHealthy(status: Status | DaemonStatus): boolean {
  if ('targets' in status) return status.targets.length > 0 && status.targets.every(isHealthy);
  return status.ready && status.failure === undefined && status.failingPaths.length === 0;
}

/** The report for people, one line each; a block per target where there are several. */
export function formatStatus(status: DaemonStatus, shownPaths = 20): string[] {
  const lines = [
    `${isHealthy(status) ? 'healthy' : 'NOT HEALTHY'}: ${status.state}, ${status.ready ? 'ready' : 'not ready'}`,
  ];
  if (status.watch !== undefined) lines.push(...formatWatch(status.watch));
  const several = status.targets.length > 1;
  for (const target of status.targets) {
    if (several) lines.push('', `state         ${target.state}, ${target.ready ? 'ready' : 'not ready'}`);
    lines.push(...formatTarget(target, shownPaths));
  }
  return lines;
}

function formatWatch({ backend, directories, limit, fallback }: WatchStatus): string[] {
  if (fallback !== undefined) {
    return [
      `watcher       POLLING since ${fallback.since}: the ${fallback.from} watcher gave up (${fallback.reason})`,
      `hint          ${fallback.hint}`,
    ];
  }
  const watches =
    directories === undefined
      ? ''
      : `, ${count(directories)} directories watched${limit === undefined ? '' : ` of ${limit.sysctl}=${count(limit.value)}`}`;
  return [`watcher       ${backend}${watches}`];
}

function formatTarget(status: Status, shownPaths: number): string[] {
  const lines = [
    `target        ${status.target}`,
    `last success  ${status.lastSuccess ?? 'none yet'}`,
    `pending       ${status.pending} path${status.pending === 1 ? '' : 's'}`,
    `lag           ${status.oldestPendingChange === undefined ? 'none: every change seen is on the target' : `${status.lagSeconds.toFixed(1)}s (the oldest change not on the target was seen at ${status.oldestPendingChange})`}`,
  ];
  const { failure, paused, start } = status;
  if (start !== undefined) lines.push(`start         ${start.kind}: ${start.reason}`);
  if (paused !== undefined)
    lines.push(
      `paused        since ${paused.since}${paused.until === undefined ? '' : `, until ${paused.until}`}`,
    );
  if (failure !== undefined) {
    lines.push(
      `failing       since ${failure.since}, ${failure.attempts} attempt${failure.attempts === 1 ? '' : 's'}: ${failure.reason}: ${failure.message}`,
      `hint          ${failure.hint}`,
    );
  }
  if (status.failingPaths.length > 0) {
    lines.push(`failing paths ${status.failingPaths.length}:`);
    for (const { path, reason } of status.failingPaths.slice(0, shownPaths))
      lines.push(`  ${path}: ${reason}`);
    if (status.failingPaths.length > shownPaths)
      lines.push(`  … and ${status.failingPaths.length - shownPaths} more`);
  }
  const { runs, failedRuns, filesTransferred } = status.counters;
  lines.push(`runs          ${runs} (${failedRuns} failed), ${filesTransferred} files transferred`);
  return lines;
}
