import { Buffer } from 'node:buffer';
import { Filter } from '../filter.ts';
import { bytesOf, nameIn, parentOf } from '../names.ts';
import type { SurveyedPath } from '../plan/survey.ts';
import { combineDiffs, type StartDiff } from './diff.ts';
import { comparePaths, type EntryType, inodeOf, KEY_LENGTH } from './entry.ts';
import { ManifestError, type ManifestFile } from './manifest.ts';
import { type NativeBridge, nativeBridge, nativeCompare } from './scan.ts';
import { walkSource } from './walk.ts';

// The fast start's comparison in native/compare.c: the manifest and the source's directories
// merged in the thread pool, with no JavaScript object made for what is the same. What comes
// back is only what differs; here the filter decides on names the manifest did not hold (a new
// directory is walked here, in walk.ts, as the workers would), and the paths are put in the
// walk's order. The same findings as compareRange() over the whole tree (test/unit/state).

/** What is compared: the source, as the filter sees it, with the manifest; past `maxPaths` differences, no more. */
export interface ComparisonBase {
  readonly sourceDir: string;
  readonly filter: { readonly include: readonly string[]; readonly exclude: readonly string[] };
  readonly manifest: ManifestFile;
  readonly maxPaths?: number;
}

/** Whether this build has the native comparison (build/scan.node, made by `npm run build`). */
export const hasNativeCompare = nativeCompare !== undefined;

/**
 * Lets the comparison begin before the watcher runs (native/compare.c: "The bridge"): each
 * directory is watched by it before it is listed, and what happens there until drain() is
 * handed over as changes, as the watcher's would be.
 */
export interface Bridge {
  readonly handle: NativeBridge;
  /** Once the watcher runs: what happened meanwhile (paths as names.ts spells them), and whether events were dropped. Lets go of every watch. */
  drain(): { readonly paths: string[]; readonly overflow: boolean };
}

/** A bridge of at most `maxWatches` watches; undefined where it cannot be had (not built, no inotify instance left). */
export function openBridge(maxWatches: number): Bridge | undefined {
  const handle = nativeBridge?.open(Math.max(1, Math.floor(maxWatches)));
  if (handle === undefined || handle === null || nativeBridge === undefined) return undefined;
  const { drain } = nativeBridge;
  return {
    handle,
    drain() {
      const { paths, overflow } = drain(handle);
      const found = new Set<string>();
      for (let at = 0; at < paths.length; ) {
        const end = at + 2 + paths.readUInt16LE(at);
        found.add(nameIn(paths, at + 2, end));
        at = end;
      }
      return { paths: [...found], overflow };
    },
  };
}

// A difference's record (native/compare.c): kind, 0, the path's length, the source's key, the
// manifest's key, then the path's bytes.
const HEADER = 4 + 2 * KEY_LENGTH;
const NOW = 4;
const THEN = NOW + KEY_LENGTH;
const INO_AT = 36;

/**
 * The most a directory's listing may take in native memory (about 700,000 names of 50 bytes):
 * a directory larger than that is not compared, and that start is a full pass, as where a
 * worker's bounded heap would end it.
 */
const MAX_LISTING_BYTES = 64 * 1024 * 1024;

/**
 * Compares the whole source with the manifest natively; with a `bridge`, at once, the watcher
 * starting meanwhile. Undefined when it cannot decide: the manifest does not begin with the
 * source directory (written by a build of before it did), the source directory cannot be listed,
 * more names than it keeps were new and most of those the filter drops, or the bridge could not
 * watch a directory (past its watches: the watcher's budget comes first). `beforeSettle`: awaited
 * before the findings are settled (new trees walked). Throws ManifestError
 * for a file that is not whole, `signal`'s reason once it aborts, and an Error saying why for a
 * directory whose listing would take more than `maxListing` bytes.
 */
export async function compareNatively(
  base: ComparisonBase,
  signal?: AbortSignal,
  maxListing = MAX_LISTING_BYTES,
  bridge?: Bridge,
  beforeSettle?: () => Promise<void>,
): Promise<StartDiff | undefined> {
  if (nativeCompare === undefined) return undefined;
  signal?.throwIfAborted();
  const { sourceDir, manifest, maxPaths = Number.POSITIVE_INFINITY } = base;
  const root = sourceDir.replace(/\/+$/, '');
  const sections = Buffer.alloc(16 * manifest.sections.length);
  manifest.sections.forEach(({ offset, count }, i) => {
    sections.writeDoubleLE(offset, 16 * i);
    sections.writeDoubleLE(count, 16 * i + 8);
  });
  const cancel = Buffer.alloc(1);
  const stop = () => {
    cancel[0] = 1;
  };
  signal?.addEventListener('abort', stop, { once: true });
  let found: Awaited<ReturnType<typeof nativeCompare>>;
  try {
    // New names the filter drops are counted too: room for as many again as a start may send.
    const maxDiffs = Number.isFinite(maxPaths) ? 2 * maxPaths : Number.MAX_SAFE_INTEGER;
    const { fd, end } = manifest;
    const watches = bridge?.handle ?? null;
    found = await nativeCompare(bytesOf(root), fd, sections, end, maxDiffs, cancel, maxListing, watches);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ECANCELED') throw signal?.reason ?? error;
    if (code === 'EMANIFEST') throw new ManifestError((error as Error).message);
    if (code === 'ESOURCE' || code === 'EBRIDGE') return undefined;
    throw new Error((error as Error).message); // ETOOLARGE, ENOMEM: a full start, with the reason
  } finally {
    signal?.removeEventListener('abort', stop);
  }
  signal?.throwIfAborted(); // done before it heard: of no use all the same
  // Through a bridge, new trees are walked only once the watcher runs: the bridge watches none
  // of the directories below a new one, the watcher does.
  await beforeSettle?.();
  const diff = await settle(found.diffs, found.entries, root, new Filter(base.filter), maxPaths, signal);
  // Cut short, yet what it kept was under the bound once filtered: the workers count exactly.
  if (found.truncated && !diff.truncated) return undefined;
  return diff;
}

/** The native differences as the start's batch: filtered, new directories walked, in the walk's order. */
async function settle(
  diffs: Buffer,
  found: number,
  root: string,
  filter: Filter,
  maxPaths: number,
  signal?: AbortSignal,
): Promise<StartDiff> {
  const paths: SurveyedPath[] = [];
  let created = 0;
  let changed = 0;
  let deleted = 0;
  let entries = found;
  const createdInodes: string[] = [];
  const deletedInodes: string[] = [];
  const typeAt = (at: number) => String.fromCharCode(diffs[at] ?? 0x6f) as EntryType;
  const inodeAt = (at: number) => diffs.toString('latin1', at + INO_AT, at + KEY_LENGTH);
  const sendCreated = (path: string, type: EntryType, inode: string) => {
    created++;
    entries++;
    if (type !== 'd') createdInodes.push(inode);
    paths.push({ path, kind: type === 'd' ? 'dir' : 'file' });
  };
  /** What a directory new to the manifest holds, walked as the workers walk it. */
  const walkNew = async (dir: string) => {
    for await (const slice of walkSource(root, filter, { below: dir })) {
      signal?.throwIfAborted();
      for (const entry of slice) sendCreated(entry.path, entry.type, inodeOf(entry));
      if (paths.length > maxPaths) return;
    }
  };
  for (let at = 0; at < diffs.length && paths.length <= maxPaths; ) {
    const kind = String.fromCharCode(diffs[at] ?? 0);
    const end = at + HEADER + diffs.readUInt16LE(at + 2);
    const path = nameIn(diffs, at + HEADER, end);
    const now = typeAt(at + NOW);
    const then = typeAt(at + THEN);
    const gone = () => {
      deleted++;
      if (then !== 'd') deletedInodes.push(inodeAt(at + THEN));
      paths.push({ path, kind: 'missing', ancestor: parentOf(path) });
    };
    if (kind === 'x') gone();
    else if (kind === 'm') {
      // Of another type now, it may be one the filter drops (a pattern for directories only).
      if (now !== then && !filter.acceptsChild(path, now === 'd')) {
        entries--;
        gone();
      } else {
        changed++;
        paths.push({ path, kind: now === 'd' ? 'dir' : 'file' });
        if (now === 'd' && then !== 'd') await walkNew(path);
      }
    } else if (filter.acceptsChild(path, now === 'd')) {
      sendCreated(path, now, inodeAt(at + NOW));
      if (now === 'd') await walkNew(path);
    }
    at = end;
  }
  paths.sort((a, b) => comparePaths(a.path, b.path));
  const truncated = paths.length > maxPaths;
  return combineDiffs([
    { paths, created, changed, deleted, entries, createdInodes, deletedInodes, truncated },
  ]);
}
