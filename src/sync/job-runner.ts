import type { Logger } from '../log.ts';
import { type Job, type PlanContext, planJob } from './plan.ts';
import type { PlanRunner } from './runner.ts';
import type { JobRunner } from './scheduler.ts';
import { surveyPaths } from './survey.ts';

/**
 * Survey, plan, run: what one scheduled job takes, given the real runner. `treeSize` says how
 * many entries the source holds, where the watcher counted them; otherwise the last full pass's
 * own count serves (see WHOLE_LIST_MAX_ENTRIES).
 */
export function createJobRunner(
  context: PlanContext,
  runner: PlanRunner,
  log: Logger,
  treeSize: () => number | undefined = () => undefined,
): JobRunner {
  let lastFullPassEntries: number | undefined;
  return async (job: Job, signal: AbortSignal) => {
    const surveyed =
      job.kind === 'full'
        ? { ...job, entries: treeSize() ?? lastFullPassEntries }
        : ({
            kind: 'batch',
            paths: await surveyPaths(context.config.sourceDir, job.paths, context.filter),
          } as const);
    const plan = planJob(surveyed, context);
    if (log.isLevelEnabled('debug')) {
      const listed = plan.stdin === undefined ? 0 : plan.stdin.split('\0').length - 1;
      log.debug({ file: plan.file, args: plan.args, listed }, 'running rsync');
    }
    const outcome = await runner.run(plan, signal);
    if (job.kind === 'full' && outcome.ok) lastFullPassEntries = outcome.stats.files;
    return outcome;
  };
}
