import { parentOf } from '../names.ts';
import type { SurveyedPath } from '../plan/survey.ts';
import { comparePaths, type Entry, inodeOf, sameEntry } from './entry.ts';

// The fast start's core, pure: the source as walked now against the manifest of what the target
// holds, both in the walk's order, merged in one pass. What differs becomes a batch the planner
// already knows how to send: a file or link as itself, a directory as `dir/` (its entries one
// level deep, so what it lost is deleted), a vanished entry by its nearest directory still there.

export interface StartDiff {
  /** What to send, in the walk's order. */
  readonly paths: SurveyedPath[];
  readonly created: number;
  readonly changed: number;
  readonly deleted: number;
  /** Created entries that carry the inode of a deleted one: moved while filesync was down. */
  readonly moved: number;
  /** Entries the source holds. */
  readonly entries: number;
  /** More than the most paths asked for differ: the comparison stopped there, its counts partial. */
  readonly truncated: boolean;
}

/** The difference over one range of the walk's order; ranges in order combine into a StartDiff. */
export interface RangeDiff extends Omit<StartDiff, 'moved'> {
  /** Inode numbers (inodeOf) of the files and links created, and of those deleted: a move has one in each. */
  readonly createdInodes: string[];
  readonly deletedInodes: string[];
}

/** The ranges' differences, in the walk's order, as one. */
export function combineDiffs(parts: readonly RangeDiff[]): StartDiff {
  const deletedInodes = new Set(parts.flatMap((part) => part.deletedInodes));
  const sum = (count: (part: RangeDiff) => number) => parts.reduce((total, part) => total + count(part), 0);
  return {
    paths: parts.flatMap((part) => part.paths),
    created: sum((part) => part.created),
    changed: sum((part) => part.changed),
    deleted: sum((part) => part.deleted),
    moved: sum((part) => part.createdInodes.filter((ino) => deletedInodes.has(ino)).length),
    entries: sum((part) => part.entries),
    truncated: parts.some((part) => part.truncated),
  };
}

/** Reads sorted slices one entry at a time, awaiting only when a slice runs out. */
class Cursor {
  readonly #source: AsyncIterator<Entry[]>;
  #slice: Entry[] = [];
  #at = 0;
  #done = false;

  constructor(source: AsyncIterable<Entry[]>) {
    this.#source = source[Symbol.asyncIterator]();
  }

  /** The next entry, or undefined at the end. */
  async peek(): Promise<Entry | undefined> {
    while (this.#at >= this.#slice.length && !this.#done) {
      const next = await this.#source.next();
      if (next.done === true) this.#done = true;
      else {
        this.#slice = next.value;
        this.#at = 0;
      }
    }
    return this.#slice[this.#at];
  }

  /** The next entry when one is in the slice at hand (no await); else undefined. */
  peekNow(): Entry | undefined {
    return this.#slice[this.#at];
  }

  advance(): void {
    this.#at++;
  }
}

/**
 * Merges one range of the walk with the same range of the manifest. `goneAbove`: a directory
 * above the range that the source no longer holds; what the manifest lists below it is sent with
 * it by the range that holds it. Past `maxPaths` differences it stops (truncated): a start that
 * would send that many takes a full pass, and a tree that is all new is not held path by path.
 */
export async function diffAgainstManifest(
  source: AsyncIterable<Entry[]>,
  manifest: AsyncIterable<Entry[]>,
  goneAbove?: string,
  maxPaths = Number.POSITIVE_INFINITY,
): Promise<RangeDiff> {
  const now = new Cursor(source);
  const then = new Cursor(manifest);
  const paths: SurveyedPath[] = [];
  let created = 0;
  let changed = 0;
  let deleted = 0;
  let entries = 0;
  const createdInodes: string[] = [];
  const deletedInodes: string[] = [];
  /** The last path sent as missing, or a directory the source replaced with something else: */
  /** what the manifest holds below it goes with it. */
  let gone: string | undefined = goneAbove;
  const below = (path: string, top: string | undefined) =>
    top !== undefined && path.length > top.length && path.startsWith(top) && path[top.length] === '/';

  let truncated = false;
  for (;;) {
    if (paths.length > maxPaths) {
      truncated = true;
      break;
    }
    const a = now.peekNow() ?? (await now.peek());
    const b = then.peekNow() ?? (await then.peek());
    if (a === undefined && b === undefined) break;
    // Most paths are in both (a restart changes few): equal strings settle it without a loop.
    const order =
      a === undefined ? 1 : b === undefined ? -1 : a.path === b.path ? 0 : comparePaths(a.path, b.path);
    if (order < 0 && a !== undefined) {
      now.advance();
      entries++;
      created++;
      if (a.type !== 'd') createdInodes.push(inodeOf(a));
      paths.push({ path: a.path, kind: a.type === 'd' ? 'dir' : 'file' });
    } else if (order > 0 && b !== undefined) {
      then.advance();
      if (below(b.path, gone)) continue;
      deleted++;
      if (b.type !== 'd') deletedInodes.push(inodeOf(b));
      gone = b.path;
      paths.push({ path: b.path, kind: 'missing', ancestor: parentOf(b.path) });
    } else if (a !== undefined && b !== undefined) {
      now.advance();
      then.advance();
      entries++;
      if (sameEntry(a, b)) continue;
      changed++;
      // A directory that became a file or a link: rsync replaces it whole (--force).
      if (b.type === 'd' && a.type !== 'd') gone = b.path;
      paths.push({ path: a.path, kind: a.type === 'd' ? 'dir' : 'file' });
    }
  }
  return { paths, created, changed, deleted, entries, createdInodes, deletedInodes, truncated };
}
