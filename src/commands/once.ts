import type { Config } from '../config/config.ts';
import { ExitCode, loggableFailure } from '../errors.ts';
import { Filter } from '../filter.ts';
import type { Logger } from '../log.ts';
import { processRunner } from '../rsync/runner.ts';
import { createRuntime } from '../rsync/runtime.ts';
import { createJobRunner } from '../target/job-runner.ts';
import { logSchedulerEvent } from '../target/log-events.ts';
import { logPruned, pruneTrash } from '../target/trash-pruner.ts';

/** One full pass, then exit: for cron, Kubernetes Jobs and init containers. */
export async function onceCommand(config: Config, log: Logger, stop: Promise<string>): Promise<ExitCode> {
  await using runtime = await createRuntime(config);
  const job = { kind: 'full', reason: 'start' } as const;
  const syncLog = log.child({ component: 'sync' });
  const context = { config, filter: new Filter(config.filter), ssh: runtime.ssh };
  const controller = new AbortController();
  void stop.then(() => controller.abort());
  const startedAt = Date.now();
  const outcome = await createJobRunner(context, processRunner, syncLog)(job, controller.signal);
  const durationMs = Date.now() - startedAt;
  logSchedulerEvent(syncLog, {
    type: 'finished',
    job,
    outcome,
    durationMs,
    attempt: 1,
    retryInMs: undefined,
    quiet: false,
  });
  // The daemon prunes the trash hourly; a pass run from cron or a Job prunes it after itself.
  if (outcome.ok && config.backup !== undefined) {
    const pruned = await pruneTrash(context, processRunner, runtime.dir, controller.signal);
    if (pruned?.ok) logPruned(log.child({ component: 'trash' }), pruned.stats.filesDeleted);
    else if (pruned !== undefined && !pruned.ok)
      log
        .child({ component: 'trash' })
        .warn(
          { err: loggableFailure(pruned.reason, pruned.message, pruned.hint) },
          'pruning the trash failed; the next run tries again',
        );
  }
  // Nothing retries a path that failed here: the run as a whole did not bring the mirror in line.
  return outcome.ok && (outcome.failedPaths ?? []).length === 0 ? ExitCode.ok : ExitCode.failure;
}
