import { assertNever } from './assert.ts';
import { Counter, Gauge, Histogram, loadDefaultMetrics, Registry } from './prom.ts';
import type { SchedulerEvent } from './schedule/events.ts';
import { driftOf } from './status/drift.ts';
import type { BackendChange } from './watch/watcher.ts';

/** Prometheus metrics, fed from scheduler and watcher events. */
const TARGET_STATES = ['starting', 'syncing', 'failing'] as const;
type TargetState = (typeof TARGET_STATES)[number];

export class Metrics {
  readonly registry = new Registry();
  readonly #syncs = new Counter({
    name: 'filesync_syncs_total',
    help: 'rsync runs by kind (batch or full) and outcome (ok or the failure reason).',
    labelNames: ['target', 'kind', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly #duration = new Histogram({
    name: 'filesync_sync_duration_seconds',
    help: 'Duration of rsync runs.',
    labelNames: ['target', 'kind'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800],
    registers: [this.registry],
  });
  readonly #files = new Counter({
    name: 'filesync_files_transferred_total',
    help: 'Regular files sent to the target.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly #deleted = new Counter({
    name: 'filesync_files_deleted_total',
    help: 'Files deleted on the target.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly #bytes = new Counter({
    name: 'filesync_transferred_bytes_total',
    help: 'Size of the files sent to the target.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly #drift = new Counter({
    name: 'filesync_drift_repaired_total',
    help: 'Paths a periodic full pass repaired although no change was reported: live changes missed, or edits on the target.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly #pending = new Gauge({
    name: 'filesync_pending_paths',
    help: 'Changed paths waiting for the next batch.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly #lastSuccess = new Gauge({
    name: 'filesync_last_success_timestamp_seconds',
    help: 'When a sync last succeeded (Unix time).',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });
  readonly #watchErrors = new Counter({
    name: 'filesync_watch_errors_total',
    help: 'Watcher errors, each followed by a full pass.',
    registers: [this.registry],
  });

  readonly #watchBackend = new Gauge({
    name: 'filesync_watch_backend',
    help: 'The watcher in use: 1 for the running backend (native, chokidar or poll), 0 for the others.',
    labelNames: ['backend'] as const,
    registers: [this.registry],
  });

  /** Read when scraped: the watcher's directories as they are then. */
  #directories: () => number | undefined = () => undefined;

  readonly #watchedDirectories = new Gauge({
    name: 'filesync_watched_directories',
    help: 'Directories the native watcher holds an inotify watch on (0 while polling).',
    registers: [this.registry],
    collect: () => {
      this.#watchedDirectories.set(this.#directories() ?? 0);
    },
  });

  readonly #watchFallback = new Gauge({
    name: 'filesync_watch_fallback',
    help: '1 once a watcher gave up (the kernel refused a watch, the source went away) and filesync polls instead, until it is restarted; 0 otherwise (SYNC_WATCH_MODE=poll chosen is 0).',
    registers: [this.registry],
  });

  /** Read when scraped: each target's state. */
  readonly #states = new Map<string, () => TargetState>();

  readonly #targetState = new Gauge({
    name: 'filesync_target_state',
    help: "1 for the target's state (starting: the initial pass is not done; syncing; failing: runs fail and are retried), 0 for the others; /status says why.",
    labelNames: ['target', 'state'] as const,
    registers: [this.registry],
    collect: () => {
      for (const [target, state] of this.#states) {
        const now = state();
        for (const name of TARGET_STATES)
          this.#targetState.set({ target, state: name }, name === now ? 1 : 0);
      }
    },
  });

  /** Read when scraped: each target's oldest change not yet on it. */
  readonly #oldestChanges = new Map<string, () => number | undefined>();

  readonly #lag = new Gauge({
    name: 'filesync_oldest_pending_change_seconds',
    help: 'How far behind the target is: the age of the oldest change not yet on it (pending, or in a run not yet finished), 0 when none. Grows while the target is down or syncing is paused.',
    labelNames: ['target'] as const,
    registers: [this.registry],
    collect: () => {
      const now = Date.now();
      for (const [target, oldest] of this.#oldestChanges) {
        const at = oldest();
        this.#lag.set({ target }, at === undefined ? 0 : Math.max(0, now - at) / 1000);
      }
    },
  });

  readonly #buildInfo = new Gauge({
    name: 'filesync_build_info',
    help: "1, labelled with filesync's version, Node's and the local rsync's.",
    labelNames: ['version', 'node', 'rsync'] as const,
    registers: [this.registry],
  });

  readonly #watchLimit = new Gauge({
    name: 'filesync_watch_limit',
    help: "The kernel's inotify watch limit for filesync's uid (fs.inotify.max_user_watches, or the user namespace's lower one), shared by every process of that uid.",
    registers: [this.registry],
    collect: () => {
      const limit = this.#limit();
      if (limit !== undefined) this.#watchLimit.set(limit);
    },
  });

  /** Read when scraped: the watch limit. */
  #limit: () => number | undefined = () => undefined;

  readonly #failingPaths = new Gauge({
    name: 'filesync_failing_paths',
    help: 'Paths that fail on their own (unreadable here, refused there) while the rest syncs; each is retried on its own schedule.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });

  readonly #paused = new Gauge({
    name: 'filesync_paused',
    help: '1 while syncing to the target is paused (filesync pause), else 0; a pause is no failure.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });

  readonly #alerts = new Counter({
    name: 'filesync_webhook_alerts_total',
    help: 'Webhook alerts by result: delivered, failed (after its retries) or dropped (too many waiting).',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly #unsafeLinks = new Counter({
    name: 'filesync_unsafe_symlinks_total',
    help: 'Symlinks not sent under SYNC_SYMLINKS=safe (absolute, or pointing out of the source), each counted once.',
    labelNames: ['target'] as const,
    registers: [this.registry],
  });

  readonly #starts = new Counter({
    name: 'filesync_starts_total',
    help: 'Starts by kind: fast (SYNC_STATE_DIR: the difference from the manifest, then the full comparison after readiness) or full (a full pass before readiness).',
    labelNames: ['target', 'kind'] as const,
    registers: [this.registry],
  });

  readonly #hooks = new Counter({
    name: 'filesync_hooks_total',
    help: 'Hook calls after a sync (SYNC_HOOK_COMMAND, SYNC_HOOK_URL) by hook (command, url) and result: ok, failed or timeout. Failed calls are retried.',
    labelNames: ['target', 'hook', 'result'] as const,
    registers: [this.registry],
  });

  /** The labels of filesync_build_info, read on the first scrape (the local rsync's version). */
  #buildLabels: (() => Promise<{ version: string; node: string; rsync: string }>) | undefined;

  /** build_info's labels, once set (see scrape()). */
  #labelled: Promise<void> | undefined;

  #processMetrics = false;

  /** The text exposition's content type, for /metrics. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * prom-client's process and Node.js metrics (`filesync_process_*`, `filesync_nodejs_*`). Loading
   * them costs a start ~30 ms of CPU, so the daemon registers them once its initial passes are
   * done (watch.ts), or the first scrape does if it comes before. Their CPU counters count from
   * their registration: what the process used before is added to them, so they are cumulative
   * from its start all the same.
   */
  processMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    const collect = loadDefaultMetrics();
    const before = process.cpuUsage(); // after the load: prom-client reads its own at registration
    // The event-loop-lag sampler wakes the process every `precision` ms; prom-client's 10 ms
    // default cost 0.07 s of CPU per idle 30 s on the 100,000-file tree (npm run bench).
    collect({ register: this.registry, prefix: 'filesync_', eventLoopMonitoringPrecision: 1000 });
    const add = (name: string, micros: number) =>
      (this.registry.getSingleMetric(`filesync_${name}`) as Counter | undefined)?.inc(micros / 1e6);
    add('process_cpu_user_seconds_total', before.user);
    add('process_cpu_system_seconds_total', before.system);
    add('process_cpu_seconds_total', before.user + before.system);
  }

  /**
   * Every metric as Prometheus reads it. The first scrape labels build_info, which runs
   * `rsync --version` (up to its 5 s timeout, within a scrape's default 10 s), off the start's path.
   */
  async scrape(): Promise<string> {
    this.processMetrics();
    this.#labelled ??= this.#labelBuild();
    await this.#labelled;
    return this.registry.metrics();
  }

  async #labelBuild(): Promise<void> {
    if (this.#buildLabels === undefined) return;
    try {
      this.#buildInfo.set(await this.#buildLabels(), 1);
    } catch {
      this.#labelled = undefined; // the next scrape asks again; this one goes without build_info
    }
  }

  /** The sink of one target's scheduler events; its series carry `target="host:port/dir"`. */
  forTarget(target: string): {
    observe(event: SchedulerEvent): void;
    hook(hook: 'command' | 'url', result: 'ok' | 'failed' | 'timeout'): void;
    unsafeLink(): void;
    start(kind: 'fast' | 'full'): void;
  } {
    // Every per-target series exists from the start at 0, so a rate() or an alert's expression
    // has a series to read before the first event of its kind.
    this.#paused.set({ target }, 0);
    this.#pending.set({ target }, 0);
    this.#failingPaths.set({ target }, 0);
    for (const counter of [this.#files, this.#deleted, this.#bytes, this.#drift, this.#unsafeLinks])
      counter.inc({ target }, 0);
    for (const kind of ['fast', 'full']) this.#starts.inc({ target, kind }, 0);
    return {
      observe: (event) => this.#observe(target, event),
      hook: (hook, result) => this.#hooks.inc({ target, hook, result }),
      unsafeLink: () => this.#unsafeLinks.inc({ target }),
      start: (kind) => this.#starts.inc({ target, kind }),
    };
  }

  #observe(target: string, event: SchedulerEvent): void {
    switch (event.type) {
      case 'started':
        this.#pending.set({ target }, 0);
        return;
      case 'pending':
        this.#pending.set({ target }, event.paths);
        return;
      case 'finished': {
        const { outcome, job } = event;
        this.#syncs.inc({ target, kind: job.kind, outcome: outcome.ok ? 'ok' : outcome.reason });
        this.#duration.observe({ target, kind: job.kind }, event.durationMs / 1000);
        if (outcome.ok) {
          this.#files.inc({ target }, outcome.stats.filesTransferred);
          this.#deleted.inc({ target }, outcome.stats.filesDeleted);
          this.#bytes.inc({ target }, outcome.stats.bytesTransferred);
          this.#lastSuccess.setToCurrentTime({ target });
          this.#drift.inc({ target }, driftOf(event)?.total ?? 0);
        }
        return;
      }
      case 'path-failed':
      case 'path-recovered':
        this.#failingPaths.set({ target }, event.failing);
        return;
      case 'paused':
      case 'resumed':
        this.#paused.set({ target }, event.type === 'paused' ? 1 : 0);
        return;
      default:
        assertNever(event);
    }
  }

  /** A watcher started; one that took over from another counts as a watcher error. */
  watchBackend({ backend, previous }: BackendChange): void {
    if (previous !== undefined) this.#watchErrors.inc();
    this.#watchFallback.set(previous === undefined ? 0 : 1);
    for (const name of ['native', 'chokidar', 'poll'] as const)
      this.#watchBackend.set({ backend: name }, name === backend ? 1 : 0);
  }

  webhookResult(result: 'delivered' | 'failed' | 'dropped'): void {
    this.#alerts.inc({ result });
  }

  /** The state of `target`, read when scraped. */
  targetState(target: string, state: () => TargetState): void {
    this.#states.set(target, state);
  }

  /** The lag of `target`, read from `oldest` (epoch ms of its oldest change not on it) when scraped. */
  lag(target: string, oldest: () => number | undefined): void {
    this.#oldestChanges.set(target, oldest);
    this.#lag.set({ target }, 0);
  }

  /** filesync_build_info's labels, read when first scraped (see scrape()). */
  buildInfo(labels: () => Promise<{ version: string; node: string; rsync: string }>): void {
    this.#buildLabels = labels;
  }

  /** The watch budget: the watcher's directories and the kernel's limit, read when scraped. */
  watchBudget(directories: () => number | undefined, limit: () => number | undefined): void {
    this.#directories = directories;
    this.#limit = limit;
  }

  watchError(): void {
    this.#watchErrors.inc();
  }
}
