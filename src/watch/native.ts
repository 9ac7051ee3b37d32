import { type FSWatcher, lstatSync, readdirSync, watch } from 'node:fs';
import type { Filter } from '../filter.ts';
import type { BackendEvents, StartBackend } from './backend.ts';

/**
 * One kernel watch per directory (inotify through Node's own fs.watch), and no state per file:
 * memory and watches grow with directories, not files. A directory that appears (created,
 * `mkdir -p`, moved in) is walked and watched whole before it is reported, so the survey that
 * follows sees whatever was written into it before its watch existed; one that disappears is
 * unwatched with everything below it. Symlinks are never followed.
 */
export const startNative: StartBackend = async ({ root, filter }, events) => {
  const tree = new WatchedTree(root, filter, events);
  try {
    tree.add('');
    if (!tree.watches('')) throw new Error(`${root} is gone or not a directory`);
  } catch (error) {
    tree.close(); // ENOSPC or EMFILE: the kernel has too few watches, and the front falls back
    throw error;
  }
  return {
    name: 'native',
    async close() {
      tree.close();
    },
  };
};

interface Watched {
  readonly watcher: FSWatcher;
  readonly ino: number;
  readonly children: Set<string>;
}

class WatchedTree {
  readonly #root: string;
  readonly #filter: Filter;
  readonly #events: BackendEvents;
  readonly #dirs = new Map<string, Watched>();
  #closed = false;

  constructor(root: string, filter: Filter, events: BackendEvents) {
    this.#root = root;
    this.#filter = filter;
    this.#events = events;
  }

  /** Watches `rel` and every directory below it that the filter keeps. */
  add(rel: string): void {
    const stack = [rel];
    for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
      const entries = this.#watch(dir);
      for (const entry of entries) {
        const child = dir === '' ? entry : `${dir}/${entry}`;
        if (!this.#filter.isExcluded(child, true)) stack.push(child);
      }
    }
  }

  watches(rel: string): boolean {
    return this.#dirs.has(rel);
  }

  close(): void {
    this.#closed = true;
    for (const { watcher } of this.#dirs.values()) watcher.close();
    this.#dirs.clear();
  }

  /** Watches one directory; returns the names of its subdirectories ([] when it is gone). */
  #watch(rel: string): string[] {
    const path = this.#absolute(rel);
    const stats = lstatSync(path, { throwIfNoEntry: false });
    if (stats === undefined || !stats.isDirectory()) return [];
    const existing = this.#dirs.get(rel);
    // Already watched: its subdirectories were listed after its watch began, or reported since.
    if (existing !== undefined && existing.ino === stats.ino) return [];
    if (existing !== undefined) this.#remove(rel); // replaced by another directory of that name
    let watcher: FSWatcher;
    try {
      watcher = watch(path, { persistent: true }, (type, name) => this.#onEvent(rel, type, name));
    } catch (error) {
      if (isGone(error)) return [];
      throw error;
    }
    watcher.on('error', (error) => {
      this.#remove(rel);
      if (!isGone(error)) this.#events.error(error);
    });
    this.#dirs.set(rel, { watcher, ino: stats.ino, children: new Set() });
    if (rel !== '') this.#dirs.get(parentOf(rel))?.children.add(rel);
    return this.#subdirectories(path);
  }

  #subdirectories(path: string): string[] {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch (error) {
      if (isGone(error)) return [];
      throw error;
    }
  }

  /** Unwatches `rel` and everything below it. */
  #remove(rel: string): void {
    const watched = this.#dirs.get(rel);
    if (watched === undefined) return;
    this.#dirs.delete(rel);
    if (rel !== '') this.#dirs.get(parentOf(rel))?.children.delete(rel);
    watched.watcher.close();
    for (const child of [...watched.children]) this.#remove(child);
  }

  #onEvent(dir: string, type: string, name: string | null): void {
    if (this.#closed) return;
    const rel = name === null ? dir : dir === '' ? name : `${dir}/${name}`;
    try {
      // A name appeared or went away: a directory there gets (or loses) its watches first.
      if (type === 'rename' && rel !== dir) this.#refresh(rel);
      // The kernel names the watched directory itself by its own name (deleted, moved away).
      if (name !== null && dir !== '' && name === dir.slice(dir.lastIndexOf('/') + 1)) this.#refresh(dir);
    } catch (error) {
      this.#events.error(error instanceof Error ? error : new Error(String(error)));
    }
    this.#events.paths([this.#absolute(rel)]);
  }

  /** Brings the watches at `rel` in line with what is there now. */
  #refresh(rel: string): void {
    const stats = lstatSync(this.#absolute(rel), { throwIfNoEntry: false });
    const watched = this.#dirs.get(rel);
    if (stats?.isDirectory() !== true) this.#remove(rel);
    else if (watched?.ino !== stats.ino && !this.#filter.isExcluded(rel, true)) this.add(rel);
  }

  #absolute(rel: string): string {
    return rel === '' ? this.#root : `${this.#root}/${rel}`;
  }
}

function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash === -1 ? '' : rel.slice(0, slash);
}

/** The directory vanished or cannot be entered: nothing to watch there. */
function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM';
}
