import type { Filter } from '../filter.ts';
import { comparePaths, type Entry, SLICE } from './entry.ts';
import { byName, type Listing, listDirectory, rootEntry, type Scanner, statOf } from './scan.ts';

// The source as the manifest sees it: the source directory itself (the entry ''), then every
// entry the filter accepts, lstat()ed (no symlink is followed), in the order of entry.ts, a
// slice at a time so the event loop (the watcher, the health port) keeps turning. Memory stays
// flat: only the directories on the current path are held, never the tree. Each directory is
// listed by scan.ts, natively where it can.

/**
 * A part of the walk's order: paths from `from` (included) to `to` (excluded), open-ended when
 * unset; or what the directory `below` holds (the walk starts there, no directory above listed).
 */
export interface WalkRange {
  readonly from?: string;
  readonly to?: string;
  readonly below?: string;
}

export async function* walkSource(
  sourceDir: string,
  filter: Filter,
  range: WalkRange = {},
  scanner?: Scanner,
): AsyncGenerator<Entry[]> {
  const root = sourceDir.replace(/\/+$/, '');
  const absolute = (path: string) => (path === '' ? root : `${root}/${path}`);
  /** Each open directory: its path, its listing and the next of its names to visit. */
  const stack: { dir: string; listing: Listing; next: number }[] = [];
  const open = (dir: string) => {
    const listing = listDirectory(absolute(dir), scanner);
    if (listing === undefined) return undefined; // gone, or not readable: rsync reports it
    const frame = { dir, listing, next: 0 };
    stack.push(frame);
    return frame;
  };
  let slice: Entry[] = [];
  if (range.below !== undefined) open(range.below);
  else if (range.from === undefined) {
    // The source directory itself first, as '': rsync sends its mode, owner and times too.
    const top = rootEntry(root);
    if (top !== undefined) slice.push(top);
    open('');
  } else enter(range.from);
  const { to } = range;
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top === undefined) break;
    const index = top.next++;
    const name = top.listing.names[index];
    if (name === undefined) {
      stack.pop();
      continue;
    }
    const path = top.dir === '' ? name : `${top.dir}/${name}`;
    if (to !== undefined && comparePaths(path, to) >= 0) break; // the rest is the next range's
    const entry = top.listing.entryAt(index, path);
    if (entry === undefined) continue; // vanished since the listing: the watcher reports it
    if (!filter.acceptsChild(path, entry.type === 'd')) continue; // its directory was accepted
    slice.push(entry);
    if (entry.type === 'd') open(path);
    if (slice.length >= SLICE) {
      yield slice;
      slice = [];
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  if (slice.length > 0) yield slice;

  /**
   * Starts the walk at `from`: the directories above it are entered but not listed (they come
   * before it, in an earlier range), and each resumes after them once they are done.
   */
  function enter(from: string): void {
    const names = from.split('/');
    let dir = '';
    for (let i = 0; i < names.length; i++) {
      const name = names[i] ?? '';
      const frame = open(dir);
      if (frame === undefined) return;
      const listed = frame.listing.names;
      frame.next = firstAtOrAfter(listed, name);
      if (i === names.length - 1 || listed[frame.next] !== name) return;
      const path = dir === '' ? name : `${dir}/${name}`;
      // The directory above `from` itself: an earlier range's; gone or replaced, no descent.
      if (frame.listing.entryAt(frame.next++, path)?.type !== 'd') return;
      dir = path;
    }
  }
}

/** The index of the first of the sorted `names` that is not before `name`. */
function firstAtOrAfter(names: readonly string[], name: string): number {
  let low = 0;
  let high = names.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (byName(names[middle] ?? '', name) < 0) low = middle + 1;
    else high = middle;
  }
  return low;
}

/**
 * The highest directory above `path` that the source no longer holds as a directory: what the
 * manifest lists below it went with it, and the range that holds it sends that. Undefined when
 * every directory above is still there.
 */
export function goneAbove(sourceDir: string, path: string): string | undefined {
  const root = sourceDir.replace(/\/+$/, '');
  const names = path.split('/');
  let dir = '';
  for (let i = 0; i < names.length - 1; i++) {
    dir = dir === '' ? (names[i] ?? '') : `${dir}/${names[i]}`;
    if (statOf(`${root}/${dir}`)?.isDirectory() !== true) return dir;
  }
  return undefined;
}
