import { hasRawBytes } from '../names.ts';
import type { SurveyedPath } from './survey.ts';

// Renames and moves without re-uploading, with rsync alone (so it works through rrsync). A batch
// that removes some paths and adds others may have moved them; the old copies are still on the
// target when the batch starts. Within one directory, the batch's own --fuzzy finds them (and
// --delete-delay keeps them until the end of the run). Across directories, a pre-pass sends each
// directory that received new entries with the directories that lost entries as --link-dest
// bases: rsync hard-links an identical file there on the target (no data, no extra space), or
// uses a similar one as the basis of a delta, so only checksums cross the wire. Where no old
// copy fits, rsync sends the data. "Identical" is rsync's quick check (size, time, and with
// --link-dest the attributes too), the trust every pass places in it.

/** rsync takes at most 20 --copy-dest directories. */
const MAX_BASES = 20;
/** Pre-passes per batch: a move is one or two directories; a burst of unrelated ones gains little. */
const MAX_ROOTS = 4;

/** One pre-pass: send `list` below `root` with `bases` as the places old copies may be. */
export interface MovePrepass {
  /** Relative to the source and the mirror; '' is the top. */
  readonly root: string;
  /** Files, relative to `root` (their directories come along as rsync's implied ones). */
  readonly list: readonly string[];
  /** Relative to the mirror: directories that lost entries in this batch ('' is the top). */
  readonly bases: readonly string[];
}

const parentOf = (path: string) => {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
};

/**
 * The pre-passes of a batch. `accepts` is the filter's word on a file: the survey checks only
 * the files its walks find, and the pre-pass has no filter rules of its own (they are anchored at
 * the mirror's top, and a pre-pass is rooted below it).
 */
export function movePrepasses(
  paths: readonly SurveyedPath[],
  accepts: (file: string) => boolean,
): MovePrepass[] {
  const missing = paths.filter((entry) => entry.kind === 'missing').map((entry) => entry.path);
  if (missing.length === 0) return [];
  const dirs = new Set(paths.filter((entry) => entry.kind === 'dir').map((entry) => entry.path));
  // Where an old copy may be: the directory a file was moved out of, or the vanished path itself
  // (a directory moved away); the directories first, as rsync takes only 20.
  // A name that is not UTF-8 cannot be an argument (names.ts): such a directory is no base.
  const candidates = [...new Set([...missing.map(parentOf), ...missing])].filter(
    (base) => !hasRawBytes(base),
  );
  const lostFrom = new Set(missing.map(parentOf));

  const roots = new Map<string, string[]>();
  for (const entry of paths) {
    // Files only, each one the filter accepts: the pre-pass walks nothing.
    if (entry.kind !== 'file' || !accepts(entry.path)) continue;
    // The topmost directory of the batch above the entry is a tree that arrived whole (a
    // directory moved in); otherwise the entry's own directory received it.
    let top: string | undefined;
    for (let dir = parentOf(entry.path); dir !== ''; dir = parentOf(dir)) if (dirs.has(dir)) top = dir;
    const root = top ?? parentOf(entry.path);
    // A file whose directory also lost entries is a rename within it: the batch's --fuzzy has it.
    if (top === undefined && lostFrom.has(root)) continue;
    const listed = roots.get(root) ?? [];
    listed.push(entry.path.slice(root === '' ? 0 : root.length + 1));
    roots.set(root, listed);
  }
  return [...roots]
    .map(([root, list]) => ({
      root,
      list: list.sort(),
      bases: candidates.filter((base) => base !== root).slice(0, MAX_BASES),
    }))
    .filter(({ root, bases }) => bases.length > 0 && !hasRawBytes(root))
    .sort((a, b) => b.list.length - a.list.length)
    .slice(0, MAX_ROOTS);
}
