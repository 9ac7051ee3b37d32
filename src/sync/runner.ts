import { createInterface } from 'node:readline';
import { execa } from 'execa';
import { ItemizedTally } from './itemize.ts';
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
    const subprocess = execa(plan.file, plan.args, {
      input: plan.stdin ?? '',
      cancelSignal: signal,
      forceKillAfterDelay: KILL_GRACE_MS,
      reject: false,
      stripFinalNewline: true,
      // Read line by line below: an itemized pass over a large tree is never held whole.
      buffer: { stdout: false },
      // A fixed locale keeps rsync's --stats numbers parseable and escapes every non-ASCII byte
      // of an itemized name (see itemize.ts).
      env: { LC_ALL: 'C' },
    });
    const tally = plan.itemize === undefined ? undefined : new ItemizedTally(plan.itemize.keep);
    const rest: string[] = [];
    const reading = (async () => {
      if (subprocess.stdout === null) return;
      for await (const line of createInterface({ input: subprocess.stdout, crlfDelay: Infinity })) {
        if (tally?.addLine(line) !== true) rest.push(line);
      }
    })();
    const [result] = await Promise.all([subprocess, reading]);
    if (result.isCanceled) return failure('cancelled', 'the transfer was cancelled');
    if (result.exitCode === undefined) {
      return failure('local', result.originalMessage ?? result.shortMessage ?? 'rsync could not be started');
    }
    return classify(result.exitCode, result.stderr, rest.join('\n'), tally?.result(), plan.roots);
  },
};
