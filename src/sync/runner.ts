import { execa } from 'execa';
import { classify, failure, type Outcome } from './outcome.ts';
import type { Plan } from './plan.ts';

/** How the scheduler runs a plan; the seam its tests fake. */
export interface PlanRunner {
  run(plan: Plan, signal: AbortSignal): Promise<Outcome>;
}

/** Grace between SIGTERM and SIGKILL for a cancelled rsync. */
const KILL_GRACE_MS = 5000;

/** Runs plans as real processes, argv only, never through a shell. */
export const processRunner: PlanRunner = {
  async run(plan, signal) {
    const result = await execa(plan.file, plan.args, {
      input: plan.stdin ?? '',
      cancelSignal: signal,
      forceKillAfterDelay: KILL_GRACE_MS,
      reject: false,
      stripFinalNewline: true,
      // A fixed locale keeps rsync's --stats numbers parseable.
      env: { LC_ALL: 'C' },
    });
    if (result.isCanceled) return failure('cancelled', 'the transfer was cancelled');
    if (result.exitCode === undefined) {
      return failure('local', result.originalMessage ?? result.shortMessage ?? 'rsync could not be started');
    }
    return classify(result.exitCode, result.stderr, result.stdout);
  },
};
