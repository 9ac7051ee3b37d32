import type { BigIntStats } from 'node:fs';
import { lstatSync, readlinkSync } from 'node:fs';
import type { Filter } from '../filter.ts';
import { bytesOf, hasRawBytes, nameOf, readdirNamed } from '../names.ts';
import { comparePaths, type Entry, type EntryType, SLICE } from './entry.ts';

// The source as the manifest sees it: every entry the filter accepts, lstat()ed (no symlink is
// followed), in the order of entry.ts, a slice at a time so the event loop (the watcher, the
// health port) keeps turning. Memory stays flat: only the directories on the current path are
// held, never the tree.

/** A part of the walk's order: paths from `from` (included) to `to` (excluded); open-ended when unset. */
export interface WalkRange {
  readonly from?: string;
  readonly to?: string;
}

export async function* walkSource(
  sourceDir: string,
  filter: Filter,
  range: WalkRange = {},
): AsyncGenerator<Entry[]> {
  const root = sourceDir.replace(/\/+$/, '');
  const absolute = (path: string) => (path === '' ? root : `${root}/${path}`);
  /** Each open directory: its path and its sorted names still to visit. */
  const stack: { dir: string; names: string[]; next: number }[] = [];
  const open = (dir: string) => {
    let names: string[];
    try {
      names = readdirNamed(absolute(dir)).map((entry) => entry.name);
    } catch {
      return undefined; // gone, or not readable: rsync reports what it cannot read
    }
    names.sort(byName);
    const frame = { dir, names, next: 0 };
    stack.push(frame);
    return frame;
  };
  if (range.from === undefined) open('');
  else enter(range.from);
  const { to } = range;
  let slice: Entry[] = [];
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    if (top === undefined) break;
    const name = top.names[top.next++];
    if (name === undefined) {
      stack.pop();
      continue;
    }
    const path = top.dir === '' ? name : `${top.dir}/${name}`;
    if (to !== undefined && comparePaths(path, to) >= 0) break; // the rest is the next range's
    const stats = statOf(absolute(path));
    if (stats === undefined) continue; // vanished since the listing: the watcher reports it
    const type = typeOf(stats);
    if (!filter.acceptsChild(path, type === 'd')) continue; // its directory was accepted
    slice.push({
      path,
      type,
      size: stats.size,
      mtimeNs: stats.mtimeNs,
      mode: Number(stats.mode & 0o7777n),
      uid: Number(stats.uid),
      gid: Number(stats.gid),
      ino: stats.ino,
      link: type === 'l' ? linkOf(absolute(path)) : '',
    });
    if (type === 'd') open(path);
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
      frame.next = firstAtOrAfter(frame.names, name);
      if (i === names.length - 1 || frame.names[frame.next] !== name) return;
      frame.next++; // the directory above `from` itself: an earlier range's
      const path = dir === '' ? name : `${dir}/${name}`;
      if (statOf(absolute(path))?.isDirectory() !== true) return; // gone or replaced: no descent
      dir = path;
    }
  }
}

/** Names in the walk's order (a name holds no `/`, so code units decide as comparePaths does). */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
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

function statOf(path: string): BigIntStats | undefined {
  try {
    // A name that is not UTF-8 as its bytes; any other as the string itself (no copy).
    return lstatSync(hasRawBytes(path) ? bytesOf(path) : path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined; // EACCES on the way: rsync reports it
  }
}

function typeOf(stats: BigIntStats): EntryType {
  return stats.isFile() ? 'f' : stats.isDirectory() ? 'd' : stats.isSymbolicLink() ? 'l' : 'o';
}

function linkOf(path: string): string {
  try {
    return nameOf(readlinkSync(bytesOf(path), { encoding: 'buffer' }));
  } catch {
    return '';
  }
}
