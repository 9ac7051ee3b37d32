import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { messageOf } from '../errors.ts';
import { bytesOf } from '../names.ts';
import type { Roots } from './failed-paths.ts';
import { ItemizedTally } from './itemize.ts';
import { classify, failure, type Outcome } from './outcome.ts';
import { type Progress, parseProgress } from './progress.ts';

/** One process to run: its program, argv and standard input. */
export interface Plan {
  readonly file: string;
  readonly args: readonly string[];
  readonly stdin: string | undefined;
  /** The source and target directories, which rsync's messages name paths by. */
  readonly roots?: Roots;
  /** Set when rsync itemizes its changes (ITEMIZE_FORMAT): how many paths of each kind to keep. */
  readonly itemize?: { readonly keep: number };
  /** Set when rsync reports its progress (--info=progress2). */
  readonly progress?: boolean;
}

/** How the scheduler runs a plan; the seam its tests fake. */
export interface PlanRunner {
  /** `onProgress` hears each progress line of a plan that asks rsync for them. */
  run(plan: Plan, signal: AbortSignal, onProgress?: (progress: Progress) => void): Promise<Outcome>;
}

/** Grace between SIGTERM and SIGKILL for a cancelled rsync. */
const KILL_GRACE_MS = 5000;

/**
 * The abort reason that ends a run with SIGKILL at once, where nothing of it is worth rsync's
 * own stop: on SIGTERM rsync sleeps 400 ms first (main.c's sig_int, so that ssh may restore a
 * terminal), then signals ssh and exits. The target's rsync sees its connection close either
 * way, and cleans up as it then does (a run without a partial-dir leaves no partial file).
 */
export const CANCEL_AT_ONCE: unique symbol = Symbol('cancel at once');

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
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
      child.once('error', resolve);
      child.once('close', (code, killedBy) => resolve({ code, signal: killedBy }));
    });
    // Out of file descriptors, say: Node gives up before making the pipes.
    const { stdin, stdout, stderr } = child;
    if (stdin === null || stdout === null || stderr === null) {
      const error = await exited;
      return failure('local', `${plan.file} could not be started: ${messageOf(error)}`);
    }
    running.add(child);
    let cancelled = false;
    let forceKill: NodeJS.Timeout | undefined;
    const cancel = () => {
      cancelled = true;
      if (signal.reason === CANCEL_AT_ONCE) {
        child.kill('SIGKILL');
        return;
      }
      child.kill('SIGTERM');
      forceKill = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE_MS);
    };
    signal.addEventListener('abort', cancel, { once: true });
    try {
      // rsync may exit before reading its list (a refused login, say): its exit is what counts.
      stdin.on('error', () => {});
      stdin.end(plan.stdin === undefined ? '' : bytesOf(plan.stdin)); // names as bytes (names.ts)
      const errors: string[] = [];
      stderr.setEncoding('utf8').on('data', (chunk: string) => errors.push(chunk));
      // Read line by line: an itemized pass over a large tree is never held whole.
      const tally = plan.itemize === undefined ? undefined : new ItemizedTally(plan.itemize.keep);
      const rest: string[] = [];
      const reading = (async () => {
        for await (const read of createInterface({ input: stdout, crlfDelay: Infinity })) {
          const progress = plan.progress === true ? parseProgress(read) : undefined;
          if (progress !== undefined) onProgress?.(progress.progress);
          const line = progress?.rest ?? read;
          // Each progress update ends a line of its own (\r): nothing to keep of those.
          if (line !== '' && tally?.addLine(line) !== true) rest.push(line);
        }
      })();
      const [result] = await Promise.all([exited, reading]);
      if (cancelled) return failure('cancelled', 'the transfer was cancelled');
      if (result instanceof Error)
        return failure('local', `${plan.file} could not be started: ${result.message}`);
      if (result.code === null) {
        return failure(
          'unknown',
          `${plan.file} was killed by ${result.signal ?? 'a signal'} (out of memory, or stopped from outside)`,
        );
      }
      return classify(
        result.code,
        errors.join('').replace(/\n$/, ''),
        rest.join('\n'),
        tally?.result(),
        plan.roots,
      );
    } finally {
      signal.removeEventListener('abort', cancel);
      clearTimeout(forceKill);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      running.delete(child);
    }
  },
};

/** Transfers under way; filesync exiting, however it does, ends them (as execa's cleanup did). */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
