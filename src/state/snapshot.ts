import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { Filter } from '../filter.ts';
import { readdirNamed } from '../names.ts';
import { type EncodedPart, encodePart, openManifest, SECTION } from './manifest.ts';
import { byName } from './scan.ts';
import { type WalkRange, walkSource } from './walk.ts';
import { inWorkers } from './worker.ts';

// The stop's walk of the source into a manifest, off the event loop and in parallel: the walk's
// order split into a few contiguous ranges, each walked and encoded by a worker thread of its own
// (snapshot-worker.ts), the parts then written in order. The ranges are cut where the last
// manifest's sections start (so they hold about as many entries each), or, with none, at the
// source's top-level names. On 1,000,000 entries one walker takes seconds, and a stop must fit
// in the grace that `docker stop` or the kubelet gives it.

/** One range of the walk, encoded as a part of the manifest. */
export interface SnapshotTask {
  readonly sourceDir: string;
  readonly filter: { readonly include: readonly string[]; readonly exclude: readonly string[] };
  readonly range: WalkRange;
  readonly sectionSize: number;
  /** Where the part is written. */
  readonly file: string;
}

/**
 * Workers at most, as for the comparison (compare.ts). On 2 cores, a snapshot of 202,000 entries
 * took 1,079–1,519 ms in 2 workers, 1,297–1,621 ms in 4 and 1,695–2,463 ms in 1 (3 rounds each).
 */
const MAX_WORKERS = 4;

/** Walks and encodes one range (in the worker thread that runs it, or in this one). */
export function snapshotRange(task: SnapshotTask): Promise<EncodedPart> {
  return encodePart(
    walkSource(task.sourceDir, new Filter(task.filter), task.range),
    task.file,
    task.sectionSize,
  );
}

/** `parts` contiguous ranges of the walk's order, cut at evenly spaced ones of the sorted `points`. */
export function rangesAt(points: readonly string[], parts: number): WalkRange[] {
  const count = Math.max(1, Math.min(parts, points.length));
  // Cut k starts range k; the first range starts at the beginning, whatever points[0] is.
  const cuts = Array.from(
    { length: count - 1 },
    (_, k) => points[Math.round(((k + 1) * points.length) / count)],
  )
    .filter((cut): cut is string => cut !== undefined)
    .filter((cut, k, all) => k === 0 || cut !== all[k - 1]);
  return [undefined, ...cuts].map((from, k) => {
    const to = cuts[k];
    return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
  });
}

/** Where to cut the walk: the last manifest's section starts, or else the top-level names. */
export function cutPoints(sourceDir: string, lastManifest: string | undefined): string[] {
  if (lastManifest !== undefined) {
    try {
      const opened = openManifest(lastManifest);
      opened.close();
      if (opened.file.sections.length > 1) return opened.file.sections.map((section) => section.first);
    } catch {
      // none, or not whole: the top-level names will do
    }
  }
  try {
    return readdirNamed(sourceDir)
      .map((entry) => entry.name)
      .sort(byName);
  } catch {
    return []; // the walk reports what it cannot read
  }
}

/**
 * The source's entries encoded as manifest parts, in the walk's order, walked by workers; each
 * part in a file of its own, `spool`.part<k> (the caller removes them once copied: removeParts).
 */
export async function snapshotInParts(
  base: Omit<SnapshotTask, 'range' | 'sectionSize' | 'file'>,
  lastManifest: string | undefined,
  spool: string,
  {
    workers = Math.min(MAX_WORKERS, availableParallelism()),
    sectionSize = SECTION,
    signal = undefined as AbortSignal | undefined,
  } = {},
): Promise<EncodedPart[]> {
  const ranges = rangesAt(cutPoints(base.sourceDir, lastManifest), workers);
  const tasks = ranges.map(
    (range, k): SnapshotTask => ({ ...base, range, sectionSize, file: `${spool}.part${k}` }),
  );
  try {
    return await inWorkers<EncodedPart>(WORKER, tasks, signal);
  } catch (error) {
    await removeParts(tasks.map((task) => task.file));
    throw error;
  }
}

/**
 * Removes the parts' files, once they are copied (or were not all written); at best effort, so
 * that it never hides the outcome: what stays is removed by the next start (markRunning).
 */
export async function removeParts(files: readonly string[]): Promise<void> {
  await Promise.all(files.map((file) => rm(file, { force: true }).catch(() => {})));
}

const WORKER = new URL(
  import.meta.url.endsWith('.ts') ? './snapshot-worker.ts' : './snapshot-worker.js',
  import.meta.url,
);
