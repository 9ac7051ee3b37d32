import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loggableFailure, messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PlanContext } from '../plan/plan.ts';
import { planClearRunning, planMarkRunning, RUNNING_MARKER, resumesPartials } from '../plan/resume-marker.ts';
import { failure, type Outcome } from '../rsync/outcome.ts';
import type { PlanRunner } from '../rsync/runner.ts';

// The running marker of `watch` (see plan/resume-marker.ts): put on the target before any run of
// the process that may leave a partial file goes, removed by a clean stop. Its runs
// keep their local files below `dir` (the runtime's private directory), and remove them after.

type Marked = { readonly ok: true; readonly found: boolean } | Extract<Outcome, { ok: false }>;

/**
 * Failures of the marker's run that any run would meet the same way (the target cannot be used
 * yet): the job ends with it and is tried again, the marker with it. Any other failure is the
 * marker's alone, which must never hold the mirror up: it is given up.
 */
const RETRIED: ReadonlySet<string> = new Set([
  'unreachable',
  'timeout',
  'auth',
  'host-key',
  'remote-rsync-missing',
]);

export class RunningMarker {
  readonly #context: PlanContext;
  readonly #runner: PlanRunner;
  readonly #dir: string;
  readonly #log: Logger;
  /**
   * The target may not hold the marker yet: no run that may leave a partial file goes before it
   * is put there (or given up).
   */
  #pending: boolean;
  /** No partial file waits: the marker was not there, and no run of this process failed since. */
  #clean = false;
  /** The first try, begun before the first run so that it overlaps the watcher's start. */
  #early: Promise<Marked> | undefined;
  /** The first try has its answer (or was cancelled). */
  #earlyAnswered = false;

  constructor(context: PlanContext, runner: PlanRunner, dir: string, log: Logger) {
    this.#context = context;
    this.#runner = runner;
    this.#dir = dir;
    this.#log = log;
    this.#pending = resumesPartials(context.config);
  }

  /**
   * Puts the marker on the target ahead of the first run, once `ready` resolves; `signal` ends
   * it (the target stops).
   */
  begin(ready: () => Promise<void>, signal: AbortSignal): void {
    if (!this.#pending || this.#early !== undefined) return;
    const early = ready().then(() => this.#mark(signal));
    this.#early = early;
    const answered = () => {
      this.#earlyAnswered = true;
    };
    early.then(answered, answered);
  }

  /**
   * The first try is under way, its answer not in yet: a full pass may go ahead of it without
   * the partial-dir, which leaves no partial file whatever the answer (see job-runner.ts).
   */
  get answering(): boolean {
    return this.#pending && this.#early !== undefined && !this.#earlyAnswered;
  }

  /**
   * Before each run, while the target may not hold the marker: puts it there. Returns a failure
   * for the job to end with when the target cannot be reached (the job is tried again, and this
   * with it) or the job is cancelled; undefined when the run may go.
   */
  async beforeRun(signal: AbortSignal): Promise<Outcome | undefined> {
    if (!this.#pending) return undefined;
    const early = this.#early;
    this.#early = undefined;
    let marked = await (early ?? this.#mark(signal));
    // Begun early and ended by a stop, while this job still runs (a flush): once more, for it.
    if (early !== undefined && !marked.ok && marked.reason === 'cancelled' && !signal.aborted)
      marked = await this.#mark(signal);
    if (!marked.ok && (marked.reason === 'cancelled' || RETRIED.has(marked.reason))) return marked;
    this.#pending = false;
    if (marked.ok) {
      this.#clean = !marked.found;
      return undefined;
    }
    this.#log.info(
      { err: loggableFailure(marked.reason, marked.message, marked.hint) },
      'the running marker could not be put on the target: full passes look for partial files to resume',
    );
    return undefined;
  }

  /** Whether a full pass may leave out the partial-dir: no partial file waits to be resumed. */
  get noPartialWaits(): boolean {
    return this.#clean;
  }

  /** After each job: one that failed or was cancelled may have left a partial file. */
  afterRun(outcome: Outcome): void {
    if (!outcome.ok) this.#clean = false;
  }

  /**
   * A clean stop: removes the marker with the partial-dir of the mirror's top. Where that fails,
   * the next start looks for partial files, as after a kill.
   */
  async clear(signal: AbortSignal): Promise<void> {
    if (!resumesPartials(this.#context.config)) return;
    const cleared = await this.#withLocal(async (local) => {
      const empty = join(local, 'empty');
      await mkdir(empty);
      return this.#runner.run(planClearRunning(empty, this.#context), signal);
    });
    if (cleared.ok) this.#log.debug('running marker removed from the target');
    else
      this.#log.info(
        { err: loggableFailure(cleared.reason, cleared.message, cleared.hint) },
        'the running marker could not be removed from the target: the next start looks for partial files to resume',
      );
  }

  /** Puts the marker on the target unless it is there: whether it was, or the run's failure. */
  async #mark(signal: AbortSignal): Promise<Marked> {
    const began = Date.now();
    const outcome = await this.#withLocal(async (local) => {
      const file = join(local, RUNNING_MARKER);
      await writeFile(file, '', { mode: 0o600 });
      return this.#runner.run(planMarkRunning(file, this.#context), signal);
    });
    if (!outcome.ok) return outcome;
    const found = outcome.stats.filesTransferred === 0;
    this.#log.debug({ found, durationMs: Date.now() - began }, 'running marker on the target');
    return { ok: true, found };
  }

  /** Runs `act` with a local directory of its own, removed after; a local fault is its failure. */
  async #withLocal(act: (local: string) => Promise<Outcome>): Promise<Outcome> {
    let local: string | undefined;
    try {
      local = await mkdtemp(join(this.#dir, 'marker-'));
      return await act(local);
    } catch (error) {
      return failure('local', `the running marker's local file: ${messageOf(error)}`);
    } finally {
      if (local !== undefined) await rm(local, { recursive: true, force: true });
    }
  }
}
