import type { Logger } from '../log.ts';
import { type Job, type PlanContext, planJob } from './plan.ts';
import type { PlanRunner } from './runner.ts';
import type { JobRunner } from './scheduler.ts';
import { surveyPaths } from './survey.ts';

/** Survey, plan, run: what one scheduled job takes, given the real runner. */
export function createJobRunner(context: PlanContext, runner: PlanRunner, log: Logger): JobRunner {
  return async (job: Job, signal: AbortSignal) => {
    const surveyed =
      job.kind === 'full'
        ? job
        : ({
            kind: 'batch',
            paths: await surveyPaths(context.config.sourceDir, job.paths, context.filter),
          } as const);
    const plan = planJob(surveyed, context);
    if (log.isLevelEnabled('debug')) {
      const listed = plan.stdin === undefined ? 0 : plan.stdin.split('\0').length - 1;
      log.debug({ file: plan.file, args: plan.args, listed }, 'running rsync');
    }
    return runner.run(plan, signal);
  };
}
