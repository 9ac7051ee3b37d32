import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ItemizedTally } from './itemize.ts';
import { classify, failure, type Outcome } from './outcome.ts';
import type { Plan } from './plan.ts';
import { type Progress, parseProgress } from './progress.ts';

/** How the scheduler runs a plan; the seam its tests fake. */
export interface PlanRunner {
  /** `onProgress` hears each progress line of a plan that asks rsync for them. */
  run(plan: Plan, signal: AbortSignal, onProgress?: (progress: Progress) => void): Promise<Outcome>;
}

/** Grace between SIGTERM and SIGKILL for a cancelled rsync. */
const KILL_GRACE_MS = 5000;

/**
 * Runs plans as real processes, argv only, never through a shell.
 *
 * With node:child_process rather than execa: this runs every transfer of `watch`, the first one
 * on the path to ready, and importing execa costs 120 ms there on a 2-core machine (npm run
 * bench: large). `check`, off that path, keeps execa.
 */
export const processRunner: PlanRunner = {
  async run(plan, signal, onProgress) {
    if (signal.aborted) return failure('cancelled', 'the transfer was cancelled');
    const child = spawn(plan.file, plan.args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      // A fixed locale keeps rsync's --stats numbers parseable and escapes every non-ASCII byte
      // of an itemized name (see itemize.ts).
      env: { ...process.env, LC_ALL: 'C' },
    });
    let cancelled = false;
    let forceKill: NodeJS.Timeout | undefined;
    const cancel = () => {
      cancelled = true;
      child.kill('SIGTERM');
      forceKill = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    signal.addEventListener('abort', cancel, { once: true });

    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
      child.once('error', resolve);
      child.once('close', (code, killedBy) => resolve({ code, signal: killedBy }));
    });
    // rsync may exit before reading its list (a refused login, say): that is its exit to report.
    child.stdin.on('error', () => {});
    child.stdin.end(plan.stdin ?? '');
    const stderr: string[] = [];
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    // Read line by line: an itemized pass over a large tree is never held whole.
    const tally = plan.itemize === undefined ? undefined : new ItemizedTally(plan.itemize.keep);
    const rest: string[] = [];
    const reading = (async () => {
      for await (const line of createInterface({ input: child.stdout, crlfDelay: Infinity })) {
        const progress = plan.progress === true ? parseProgress(line) : undefined;
        if (progress !== undefined) onProgress?.(progress);
        else if (tally?.addLine(line) !== true) rest.push(line);
      }
    })();

    const [result] = await Promise.all([exited, reading]);
    signal.removeEventListener('abort', cancel);
    clearTimeout(forceKill);
    if (cancelled) return failure('cancelled', 'the transfer was cancelled');
    if (result instanceof Error)
      return failure('local', `${plan.file} could not be started: ${result.message}`);
    if (result.code === null)
      return failure('local', `${plan.file} was killed by ${result.signal ?? 'a signal'}`);
    return classify(
      result.code,
      stderr.join('').replace(/\n$/, ''),
      rest.join('\n'),
      tally?.result(),
      plan.roots,
    );
  },
};
