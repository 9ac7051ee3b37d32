import type { BigIntStats } from 'node:fs';
import { lstatSync, readlinkSync } from 'node:fs';
import type { Filter } from '../filter.ts';
import { bytesOf, hasRawBytes, nameOf, readdirNamed } from '../names.ts';
import type { Entry, EntryType } from './entry.ts';

// The source as the manifest sees it: every entry the filter accepts, lstat()ed (no symlink is
// followed), in the order of entry.ts, a slice at a time so the event loop (the watcher, the
// health port) keeps turning. Memory stays flat: only the directories on the current path are
// held, never the tree.

/** Entries per slice: about 10 ms of lstat()s between turns of the event loop. */
const SLICE = 4096;

export async function* walkSource(sourceDir: string, filter: Filter): AsyncGenerator<Entry[]> {
  const root = sourceDir.replace(/\/+$/, '');
  const absolute = (path: string) => (path === '' ? root : `${root}/${path}`);
  /** Each open directory: its path and its sorted names still to visit. */
  const stack: { dir: string; names: string[]; next: number }[] = [];
  const open = (dir: string) => {
    let names: string[];
    try {
      names = readdirNamed(absolute(dir)).map((entry) => entry.name);
    } catch {
      return; // gone, or not readable: rsync reports what it cannot read
    }
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    stack.push({ dir, names, next: 0 });
  };
  open('');
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
