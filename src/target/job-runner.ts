import { loggableFailure } from '../errors.ts';
import type { Logger } from '../log.ts';
import { planDeletionCount } from '../plan/dry-runs.ts';
import type { Job } from '../plan/job.ts';
import { movePrepasses } from '../plan/moves.ts';
import {
  NO_INC_RECURSIVE,
  type PlanContext,
  planJob,
  planMovePrepass,
  planMoveRoots,
  planStagedCleanup,
  WHOLE_LIST_MAX_ENTRIES,
} from '../plan/plan.ts';
import { withoutPartialDir } from '../plan/resume-marker.ts';
import { type SurveyedPath, surveyPaths } from '../plan/survey.ts';
import { withPaths } from '../rsync/itemize.ts';
import { failure, type Outcome } from '../rsync/outcome.ts';
import type { Progress } from '../rsync/progress.ts';
import { CANCEL_AT_ONCE, type PlanRunner } from '../rsync/runner.ts';
import type { JobRunner } from '../schedule/scheduler.ts';
import { sourceIsEmpty } from './empty-source.ts';
import type { RunningMarker } from './resume-marker.ts';

export interface JobRunnerOptions {
  /**
   * How many entries the source holds, where the watcher counted them; otherwise the last full
   * pass's own count serves (see wholeListFits).
   */
  readonly treeSize?: () => number | undefined;
  /**
   * The memory still available to this process, in bytes (the container's limit where one is
   * set): whether a large tree's full pass may send rsync's whole list at once (wholeListFits).
   */
  readonly availableMemory?: () => number | undefined;
  readonly progressEveryMs?: number;
  /**
   * `watch`'s running marker, put on the target before any run that may leave a partial file;
   * while no partial file waits, full passes leave out the partial-dir (see
   * plan/resume-marker.ts).
   */
  readonly marker?: RunningMarker | undefined;
}

/** Survey, plan, run: what one scheduled job takes, given the real runner. */
export function createJobRunner(
  context: PlanContext,
  runner: PlanRunner,
  log: Logger,
  {
    treeSize = () => undefined,
    availableMemory = () => process.availableMemory(),
    progressEveryMs = PROGRESS_EVERY_MS,
    marker,
  }: JobRunnerOptions = {},
): JobRunner {
  let lastFullPassEntries: number | undefined;
  /**
   * A large tree's pass with the whole list failed (the target's rsync out of memory, say): the
   * process's later passes recurse incrementally, rather than fail the same way each time.
   */
  let wholeListFailed = false;
  let halted: Outcome | undefined;
  // SYNC_DELAY_UPDATES: a run killed before this process started, or one that failed since,
  // may have left staged files on the target (see planStagedCleanup).
  let stagedMayRemain = context.config.rsync.delayUpdates;
  const runJob = async (job: Job, signal: AbortSignal): Promise<Outcome> => {
    // A run reached SYNC_MAX_DELETE: retrying would delete that many more each time.
    if (halted !== undefined) return halted;
    if (job.kind === 'full' && marker?.answering === true) return aheadOfMarker(marker, job, signal);
    const unmarked = await marker?.beforeRun(signal);
    if (unmarked !== undefined) return unmarked;
    const clean = job.kind === 'full' && marker?.noPartialWaits === true;
    if (clean) log.debug(LEFT_OUT);
    return send(job, clean ? withoutPartialDir(context) : context, signal);
  };
  /**
   * A full pass while the running marker's first answer is not in (a start): it goes ahead
   * without the partial-dir, which leaves no partial file, so the marker's rule holds whatever
   * the answer. Kept when no partial file waits; otherwise, unless it has finished already, it
   * is stopped and run again with the partial-dir, to resume what a killed run left.
   */
  const aheadOfMarker = async (marker: RunningMarker, job: Job, signal: AbortSignal): Promise<Outcome> => {
    const ahead = new AbortController();
    const pass = send(job, withoutPartialDir(context), AbortSignal.any([signal, ahead.signal]));
    const unmarked = await marker.beforeRun(signal);
    if (unmarked === undefined && marker.noPartialWaits) {
      log.debug(LEFT_OUT);
      return pass;
    }
    ahead.abort(CANCEL_AT_ONCE); // without a partial-dir, nothing of it is worth a graceful stop
    const first = await pass;
    if (first.ok) return first; // done before the answer: the mirror is whole all the same
    if (unmarked !== undefined) return unmarked; // the target cannot be used yet, or a stop
    if (first.reason !== 'cancelled' || signal.aborted) return first;
    log.debug('the running marker was on the target: the full pass starts again, to resume partial files');
    const again = await send(job, context, signal);
    // What the killed pass had sent is no difference to this one: its hook is told the list may be short.
    return again.ok && again.itemized !== undefined
      ? { ...again, itemized: { ...again.itemized, uncounted: true } }
      : again;
  };
  const send = async (job: Job, jobContext: PlanContext, signal: AbortSignal): Promise<Outcome> => {
    const held = await holdDeletions(jobContext, runner, signal);
    if (held !== undefined) return held;
    if (stagedMayRemain) {
      const cleaned = await runner.run(planStagedCleanup(context), signal);
      if (!cleaned.ok && cleaned.reason === 'cancelled') return cleaned;
      // Otherwise the job meets whatever failed here itself, and says so; it is tried again.
      if (cleaned.ok) stagedMayRemain = false;
    }
    // A fast start's paths were surveyed against the manifest; it may find nothing to send.
    if (job.kind === 'start' && job.paths.length === 0) return NOTHING_SENT;
    const surveyed =
      job.kind === 'full'
        ? {
            ...job,
            entries: largest(treeSize(), lastFullPassEntries),
            availableMemory: wholeListFailed ? undefined : availableMemory(),
          }
        : job.kind === 'start'
          ? ({ kind: 'batch', paths: job.paths } as const)
          : ({
              kind: 'batch',
              paths: await surveyPaths(context.config.sourceDir, job.paths, context.filter),
            } as const);
    let placed: readonly string[] = [];
    if (surveyed.kind === 'batch') {
      const moved = await sendMoves(surveyed.paths, context, runner, log, signal);
      if ('ok' in moved) return moved; // cancelled
      placed = moved;
    }
    const plan = planJob(surveyed, jobContext);
    if (log.isLevelEnabled('debug')) {
      const listed = plan.stdin === undefined ? 0 : plan.stdin.split('\0').length - 1;
      log.debug({ file: plan.file, args: plan.args, listed }, 'running rsync');
    }
    const sent = await withProgress(log, job.kind, progressEveryMs, (onProgress) =>
      runner.run(plan, signal, onProgress),
    );
    // Moved files were put in place before the batch, which then finds nothing to do for them:
    // they are still what this job created there (the hook's changes file lists them).
    const outcome =
      sent.ok && sent.itemized !== undefined && placed.length > 0 && plan.itemize !== undefined
        ? { ...sent, itemized: withPaths(sent.itemized, 'missing', placed, plan.itemize.keep) }
        : sent;
    if (job.kind === 'full' && outcome.ok) lastFullPassEntries = outcome.stats.files;
    if (
      !outcome.ok &&
      RUN_DIED.has(outcome.reason) &&
      surveyed.kind === 'full' &&
      (surveyed.entries ?? 0) > WHOLE_LIST_MAX_ENTRIES &&
      plan.args.includes(NO_INC_RECURSIVE) &&
      !wholeListFailed
    ) {
      wholeListFailed = true;
      log.info(
        { entries: surveyed.entries },
        "a full pass with rsync's whole file list failed: later full passes recurse incrementally, with less memory on both sides",
      );
    }
    if (!outcome.ok && context.config.rsync.delayUpdates) stagedMayRemain = true;
    if (!outcome.ok && outcome.reason === 'max-delete') {
      halted = failure(
        'max-delete',
        `a run reached SYNC_MAX_DELETE=${context.config.rsync.maxDelete}; syncing has stopped until filesync is restarted, so the mirror loses no more`,
      );
    }
    return outcome;
  };
  return async (job, signal) => {
    const outcome = await runJob(job, signal);
    marker?.afterRun(outcome);
    return outcome;
  };
}

/**
 * A batch's move pre-passes (see plan/moves.ts), before the batch itself. What they fail to place,
 * the batch sends as usual, so a failure here is only logged. Returns the paths placed by the
 * pre-passes that went through, or an outcome only when the job was cancelled.
 */
async function sendMoves(
  paths: readonly SurveyedPath[],
  context: PlanContext,
  runner: PlanRunner,
  log: Logger,
  signal: AbortSignal,
): Promise<Outcome | readonly string[]> {
  const moves = movePrepasses(paths, (file) => context.filter.accepts(file, false));
  if (moves.length === 0) return [];
  const roots = moves.map(({ root }) => root).filter((root) => root !== '');
  // Each plan with the files it places: the move roots' directories place none.
  const plans = [
    ...(roots.length > 0 ? [{ plan: planMoveRoots(roots, context), files: [] }] : []),
    ...moves.map((move) => ({
      plan: planMovePrepass(move, context),
      files: move.list.map((file) => (move.root === '' ? file : `${move.root}/${file}`)),
    })),
  ];
  const placed: string[] = [];
  for (const { plan, files } of plans) {
    const outcome = await runner.run(plan, signal);
    if (outcome.ok) {
      placed.push(...files);
      continue;
    }
    if (outcome.reason === 'cancelled') return outcome;
    // The batch meets an unreachable or stalled target itself, and says so; anything else is
    // worth a word, since the batch will send these files whole.
    if (outcome.reason !== 'unreachable' && outcome.reason !== 'timeout')
      log.warn(
        { err: loggableFailure(outcome.reason, outcome.message, outcome.hint) },
        'placing moved files from their old copies failed; the batch sends them whole',
      );
    return placed;
  }
  log.debug({ moves: moves.map(({ root, list }) => ({ root, files: list.length })) }, 'moved files placed');
  return placed;
}

/**
 * How a run ends when an rsync of its, here or on the target, is killed for its memory: the
 * connection closes (`unreachable`), a signal or an allocation fails (`unknown`), or it stops
 * answering (`timeout`). A failure of one path (`partial`) is none of these.
 */
const RUN_DIED: ReadonlySet<string> = new Set(['unreachable', 'unknown', 'timeout']);

const LEFT_OUT = 'full pass without the partial-dir: no interrupted transfer waits to be resumed';

/** A run that had nothing to send. */
const NOTHING_SENT: Outcome = {
  ok: true,
  stats: { files: 0, filesTransferred: 0, filesDeleted: 0, bytesTransferred: 0 },
  vanished: false,
  itemized: undefined,
};

/** How often a long run says how far it has got. */
export const PROGRESS_EVERY_MS = 5000;

/**
 * Runs `run`, logging its latest progress every `everyMs` while it lasts: a run shorter than
 * that says nothing, and nothing ticks between runs.
 */
async function withProgress(
  log: Logger,
  kind: Job['kind'],
  everyMs: number,
  run: (onProgress: (progress: Progress) => void) => Promise<Outcome>,
): Promise<Outcome> {
  const begin = Date.now();
  let latest: Progress | undefined;
  let logged: Progress | undefined;
  const timer = setInterval(() => {
    if (latest === undefined || latest === logged) return;
    logged = latest;
    const { bytes, percent, rate, files } = latest;
    log.info({ kind, bytes, percent, rate, ...files, elapsedMs: Date.now() - begin }, 'sync progress');
  }, everyMs);
  try {
    return await run((progress) => {
      latest = progress;
    });
  } finally {
    clearInterval(timer);
  }
}

/**
 * The empty-source guard, checked before every run that may delete: when the source is empty or
 * missing and the mirror is not, nothing runs and the outcome says why. The scheduler keeps the
 * job and retries it with backoff, so syncing resumes by itself once files appear.
 */
async function holdDeletions(
  context: PlanContext,
  runner: PlanRunner,
  signal: AbortSignal,
): Promise<Outcome | undefined> {
  const { config, filter } = context;
  if (!config.rsync.delete || config.rsync.allowEmptySource) return undefined;
  if (!(await sourceIsEmpty(config.sourceDir, filter))) return undefined;
  const probe = await runner.run(planDeletionCount(context), signal);
  if (!probe.ok) return probe; // the target cannot be reached: that is the failure to report
  const entries = probe.itemized?.kinds.extra.count ?? 0;
  if (entries === 0) return undefined; // both sides empty: nothing to lose
  return failure(
    'empty-source',
    `the source directory ${config.sourceDir} is empty or missing, and a run would delete ${entries} entries on the target: nothing was deleted`,
  );
}

/** The larger of two estimates of the tree's size: the watcher's count only grows when it lists. */
function largest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}
