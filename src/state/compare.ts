import { availableParallelism } from 'node:os';
import { Filter } from '../filter.ts';
import { combineDiffs, diffAgainstManifest, type RangeDiff, type StartDiff } from './diff.ts';
import { type ManifestFile, readSections } from './manifest.ts';
import { type Bridge, compareNatively, hasNativeCompare } from './native-compare.ts';
import { goneAbove, type WalkRange, walkSource } from './walk.ts';
import { inWorkers } from './worker.ts';

// The fast start's comparison, off the event loop. Natively where `npm run build` built it
// (native-compare.ts: the thread pool, only differences handed back); else, and where that
// cannot decide, the manifest's sections split into a few contiguous ranges of the walk's order,
// each walked and merged by a worker thread of its own (compare-worker.ts), the results joined
// in order. One lstat per entry is what it costs, and the event loop (the watcher, the health
// port) keeps turning meanwhile.

/** One range: the source between two paths, against the manifest's sections [from, to). */
export interface CompareTask {
  readonly sourceDir: string;
  readonly filter: { readonly include: readonly string[]; readonly exclude: readonly string[] };
  readonly manifest: ManifestFile;
  readonly sections: readonly [from: number, to: number];
  readonly range: WalkRange;
  /** Past this many differences in its range, the comparison stops (see diffAgainstManifest). */
  readonly maxPaths?: number;
}

/**
 * Workers at most: the walk is lstat() after lstat(), and the kernel serves parallel ones only
 * somewhat faster. On 2 cores, the fast start's comparison of 101,000 entries took 975–1,108 ms
 * in 2 workers against about 1,300 ms in the event loop's thread (npm run bench -- restart).
 */
const MAX_WORKERS = 4;

/** Compares one range (in the worker thread that runs it, or in this one). */
export async function compareRange(task: CompareTask): Promise<RangeDiff> {
  const { sourceDir, range, manifest, sections } = task;
  const filter = new Filter(task.filter);
  const gone = range.from === undefined ? undefined : goneAbove(sourceDir, range.from);
  return diffAgainstManifest(
    walkSource(sourceDir, filter, range),
    readSections(manifest, sections[0], sections[1]),
    gone,
    task.maxPaths,
  );
}

/** Splits the manifest's sections into `workers` ranges of the walk's order. */
export function splitTasks(
  base: Pick<CompareTask, 'sourceDir' | 'filter' | 'manifest' | 'maxPaths'>,
  workers: number,
): CompareTask[] {
  const { sections } = base.manifest;
  const parts = Math.max(1, Math.min(workers, sections.length));
  const bounds = Array.from({ length: parts + 1 }, (_, k) => Math.round((k * sections.length) / parts));
  return bounds.slice(0, -1).map((from, k): CompareTask => {
    const to = bounds[k + 1] ?? sections.length;
    const first = sections[from]?.first;
    const next = sections[to]?.first;
    return {
      ...base,
      sections: [from, to],
      range: {
        ...(k === 0 || first === undefined ? {} : { from: first }),
        ...(k === parts - 1 || next === undefined ? {} : { to: next }),
      },
    };
  });
}

/**
 * Walks the source and merges it with the manifest, once `gate` opens (the watcher runs);
 * aborted with `signal`. Natively where it was built (native-compare.ts: no thread to start, no
 * object made for what is the same); else, or where that cannot decide, in worker threads, which
 * start at once and walk only once the gate opens (a worker takes 100–200 ms to start on 2 cores,
 * time the watcher's own start can hide).
 */
export async function compareWithManifest(
  base: Pick<CompareTask, 'sourceDir' | 'filter' | 'manifest' | 'maxPaths'>,
  {
    signal,
    gate,
    workers = Math.min(MAX_WORKERS, availableParallelism()),
    native = hasNativeCompare,
    bridge,
  }: CompareOptions = {},
): Promise<Compared> {
  const began = performance.now();
  let waited = 0;
  const done = (found: StartDiff, comparison: Compared['comparison']): Compared => ({
    ...found,
    comparison,
    durationMs: Math.round(performance.now() - began - waited),
  });
  const waitFor = async (gate: Promise<void> | undefined) => {
    const from = performance.now();
    await untilOpen(gate, signal);
    waited += performance.now() - from;
  };
  if (native && bridge !== undefined) {
    // At once: the bridge watches each directory before it is listed, while the watcher starts.
    const found = await compareNatively(base, signal, undefined, bridge, () => waitFor(gate));
    if (found !== undefined) return done(found, 'native');
  }
  if (native) {
    await waitFor(gate);
    const found = await compareNatively(base, signal);
    if (found !== undefined) return done(found, 'native');
  }
  const tasks = splitTasks(base, workers);
  const found = combineDiffs(await inWorkers<RangeDiff>(WORKER, tasks, signal, native ? undefined : gate));
  return done(found, 'workers');
}

/**
 * A comparison's findings, which way it ran (native/compare.c, or the walk in worker threads),
 * and how long it took, a wait at the gate left out (workers starting there count).
 */
export type Compared = StartDiff & { readonly comparison: 'native' | 'workers'; readonly durationMs: number };

export interface CompareOptions {
  readonly signal?: AbortSignal;
  /** The walk begins once it resolves (the watcher runs); at once without one. */
  readonly gate?: Promise<void>;
  readonly workers?: number;
  /** Natively (native/compare.c) when built; false: in worker threads, as where it is not. */
  readonly native?: boolean;
  /** Natively, begin before the gate opens, each directory watched by this before it is listed. */
  readonly bridge?: Bridge | undefined;
}

/** Resolves once `gate` opens (at once without one); rejects with `signal`'s reason if it aborts first. */
function untilOpen(gate: Promise<void> | undefined, signal?: AbortSignal): Promise<void> {
  if (gate === undefined || signal === undefined) return Promise.resolve(gate);
  signal.throwIfAborted();
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    void gate.then(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    });
  });
}

const WORKER = new URL(
  import.meta.url.endsWith('.ts') ? './compare-worker.ts' : './compare-worker.js',
  import.meta.url,
);
