import { parentPort, type Transferable, Worker, workerData } from 'node:worker_threads';
import { messageOf } from '../errors.ts';
import { ManifestError } from './manifest.ts';

// The state's work off the event loop (the comparison of a fast start, the walk of a stop): one
// task per worker thread, its answer or its error posted back; a ManifestError stays one.

type Answer<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly message: string; readonly manifest: boolean };

/** Runs the worker module at `url` on `task`; terminated when `signal` aborts. */
export function inWorker<T>(url: URL, task: unknown, signal?: AbortSignal): Promise<T> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const worker = new Worker(url, { workerData: task });
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
  });
}

/** The worker's side: runs `work` on the task it was given and posts the answer back. */
export async function serve<T>(
  work: (task: never) => Promise<T>,
  transfer: (value: T) => readonly Transferable[] = () => [],
): Promise<void> {
  try {
    const value = await work(workerData as never);
    parentPort?.postMessage({ ok: true, value } satisfies Answer<T>, [...transfer(value)]);
  } catch (error) {
    parentPort?.postMessage({
      ok: false,
      message: messageOf(error),
      manifest: error instanceof ManifestError,
    } satisfies Answer<T>);
  }
}
