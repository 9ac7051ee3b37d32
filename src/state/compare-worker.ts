import { parentPort, workerData } from 'node:worker_threads';
import { messageOf } from '../errors.ts';
import { type CompareTask, compareRange, type WorkerAnswer } from './compare.ts';
import { ManifestError } from './manifest.ts';

// A worker thread of compare.ts: one range of the walk against the manifest, its difference
// posted back.

const post = (answer: WorkerAnswer) => parentPort?.postMessage(answer);
try {
  post({ ok: true, diff: await compareRange(workerData as CompareTask) });
} catch (error) {
  post({ ok: false, message: messageOf(error), manifest: error instanceof ManifestError });
}
