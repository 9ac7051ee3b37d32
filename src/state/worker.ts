import { once } from 'node:events';
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { messageOf } from '../errors.ts';
import { ManifestError } from './manifest.ts';

// The state's work off the event loop (the comparison of a fast start, the walk of a stop): one
// task per worker thread, its answer or its error posted back; a ManifestError stays one.

/**
 * A worker's heap: a small young generation (what a walk makes is garbage at once) and an old one
 * that is collected rather than grown. A walk that needs more (a directory of millions of names)
 * ends its worker, and the caller falls back: a full start, or no manifest (the next start is a
 * full one). The image's NODE_OPTIONS=--max-semi-space-size applies to workers too (V8's flags
 * are the process's). On 1,000,000 entries, 2 workers comparing took the process from 45 MB to
 * 365 MB at first; with these limits, slices that die young (entry.ts) and no buffer made per
 * record, to about 105 MB (the stop's walk: 484 MB, now about 110).
 */
const LIMITS = { maxYoungGenerationSizeMb: 4, maxOldGenerationSizeMb: 64 };

type Answer<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string; readonly manifest: boolean };

/** What a gated worker waits for before it starts its task (see serve()). */
const GO = 'go';

/**
 * Runs the worker module at `url` on `task`; terminated when `signal` aborts. With a `gate`, the
 * worker starts (its thread, its modules) at once but begins its task only once the gate opens:
 * the fast start's workers get ready while the watcher starts, and walk only once it runs.
 */
export function inWorker<T>(url: URL, task: unknown, signal?: AbortSignal, gate?: Promise<void>): Promise<T> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const worker = new Worker(url, {
      workerData: { task, gated: gate !== undefined },
      resourceLimits: LIMITS,
    });
    const abort = () => void worker.terminate();
    signal?.addEventListener('abort', abort, { once: true });
    let answered = false;
    worker.once('message', (answer: Answer<T>) => {
      answered = true;
      if (answer.ok) resolve(answer.value);
      else reject(answer.manifest ? new ManifestError(answer.message) : new Error(answer.message));
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      signal?.removeEventListener('abort', abort);
      if (answered) return;
      reject(signal?.aborted === true ? signal.reason : new Error(`a worker of the state exited (${code})`));
    });
    if (gate !== undefined) {
      // Waiting, it keeps nothing alive (once its listeners are on: they would ref it again): a
      // daemon that fails before it opens the gate (its watcher cannot start) still exits.
      worker.unref();
      void gate.then(() => {
        worker.ref();
        worker.postMessage(GO);
      });
    }
  });
}

/**
 * Runs each task in a worker thread of its own. Settles once every task has: a task that fails
 * ends the others (their work is of no use without it) and leaves none still writing; the first
 * failure is thrown.
 */
export async function inWorkers<T>(
  url: URL,
  tasks: readonly unknown[],
  signal?: AbortSignal,
  gate?: Promise<void>,
): Promise<T[]> {
  const failed = new AbortController();
  const each = signal === undefined ? failed.signal : AbortSignal.any([signal, failed.signal]);
  const settled = await Promise.allSettled(
    tasks.map((task) =>
      inWorker<T>(url, task, each, gate).catch((error: unknown) => {
        failed.abort(error);
        throw error;
      }),
    ),
  );
  const values = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  if (values.length === settled.length) return values;
  signal?.throwIfAborted();
  throw failed.signal.reason;
}

/**
 * The worker's side: runs `work` on the task it was given (once the gate opens, if it has one)
 * and posts the answer back.
 */
export async function serve<T>(work: (task: never) => Promise<T>): Promise<void> {
  const { task, gated } = workerData as { task: never; gated: boolean };
  if (gated && parentPort !== null) await once(parentPort, 'message');
  try {
    const value = await work(task);
    parentPort?.postMessage({ ok: true, value } satisfies Answer<T>);
  } catch (error) {
    parentPort?.postMessage({
      ok: false,
      message: messageOf(error),
      manifest: error instanceof ManifestError,
    } satisfies Answer<T>);
  }
}
