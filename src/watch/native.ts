import { type FSWatcher, lstatSync, type Stats, statfsSync, watch } from 'node:fs';
import { basename } from 'node:path';
import { FilesyncError } from '../errors.ts';
import type { Filter } from '../filter.ts';
import { fsPathOf, type NamedEntry, nameOf, parentOf, readdirNamed } from '../names.ts';
import type { BackendEvents, StartBackend } from './backend.ts';
import { inotifyQueueLimit, overflowGuard } from './overflow.ts';

/**
 * One kernel watch per directory (inotify through Node's own fs.watch), and no state per file:
 * memory and watches grow with directories, not files. A directory that appears (created,
 * `mkdir -p`, moved in) is walked and watched whole before it is reported, so the survey that
 * follows sees whatever was written into it before its watch existed; one that disappears is
 * unwatched with everything below it. Symlinks are never followed.
 *
 * Listing is what start-up costs (100,000 names for 1,000 directories), and a directory only
 * needs listing for its subdirectories. Where a directory's link count is 2 + its subdirectories
 * (ext2/3/4, XFS, tmpfs), one with a count of 2 has none: only a sample of those is listed, to
 * estimate the tree's size (which only picks how rsync recurses; npm run bench: large).
 *
 * Events the kernel dropped from a full queue are noticed by their number (overflow.ts) and
 * reported as an error: the front then asks for a full pass.
 */
export const startNative: StartBackend = async ({ root, filter }, events) => {
  const tree = new WatchedTree(root, filter, events);
  try {
    tree.add('');
    if (!tree.watches('')) throw new Error(`${root} is gone or not a directory`);
  } catch (error) {
    tree.close(); // out of watches (ENOSPC, EMFILE) or no directory there: the front decides
    throw error;
  }
  return {
    name: 'native',
    get entries() {
      return tree.entries;
    },
    get directories() {
      return tree.directories;
    },
    async close() {
      tree.close();
    },
  };
};

interface Watched {
  readonly watcher: FSWatcher;
  readonly children: Set<string>;
  /** Entries the directory held when it was listed; undefined for a leaf left unlisted. */
  entries: number | undefined;
  /** A leaf listed as part of the sample. */
  sampled: boolean;
}

/** Filesystems whose directories count their subdirectories in their link count. */
const NLINK_COUNTS_SUBDIRS = new Set([0xef53 /* ext2/3/4 */, 0x58465342 /* XFS */, 0x01021994 /* tmpfs */]);

/** One leaf directory in this many is listed, for the estimate of the tree's size. */
const LEAF_SAMPLE = 16;

class WatchedTree {
  readonly #root: string;
  readonly #filter: Filter;
  readonly #events: BackendEvents;
  readonly #dirs = new Map<string, Watched>();
  /** Where leaves can be told by their link count: the device they must be on. */
  #leafDevice: number | undefined;
  /** Entries of the listed directories. */
  #entries = 0;
  #leaves = { seen: 0, sampled: 0, sampledEntries: 0, unlisted: 0 };
  #closed = false;
  /** Counts each event; reports a turn of the event loop that an overflowed queue explains. */
  readonly #counted: () => void;

  constructor(root: string, filter: Filter, events: BackendEvents, queueLimit = inotifyQueueLimit()) {
    this.#root = root;
    this.#filter = filter;
    this.#events = events;
    this.#counted = overflowGuard(queueLimit, (error) => {
      if (!this.#closed) events.error(error);
    });
  }

  /** Watches `rel` and every directory below it that the filter keeps. */
  add(rel: string): void {
    const stack = [rel];
    for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
      // In name order, so that the same tree is sampled the same way every time.
      const entries = this.#watch(dir).sort().reverse();
      for (const entry of entries) {
        const child = dir === '' ? entry : `${dir}/${entry}`;
        if (!this.#filter.isExcluded(child, true)) stack.push(child);
      }
    }
  }

  /** Directories holding a watch. */
  get directories(): number {
    return this.#dirs.size;
  }

  watches(rel: string): boolean {
    return this.#dirs.has(rel);
  }

  /**
   * Entries in the watched directories as last listed, the unlisted leaves estimated from the
   * sampled ones: the tree's size, give or take.
   */
  get entries(): number {
    const { sampled, sampledEntries, unlisted } = this.#leaves;
    return this.#entries + (sampled === 0 ? 0 : Math.round((unlisted * sampledEntries) / sampled));
  }

  close(): void {
    this.#closed = true;
    for (const { watcher } of this.#dirs.values()) watcher.close();
    this.#dirs.clear();
    this.#entries = 0;
    this.#leaves = { seen: 0, sampled: 0, sampledEntries: 0, unlisted: 0 };
  }

  /** Watches one directory; returns the names of its subdirectories ([] when it is gone). */
  #watch(rel: string): string[] {
    const path = this.#absolute(rel);
    const stats = statOf(path);
    if (stats === undefined || !stats.isDirectory()) return [];
    this.#remove(rel); // whatever was watched here before is gone or stale
    let watcher: FSWatcher;
    try {
      // Names as bytes (names.ts): one that is not UTF-8 still names what is on disk.
      watcher = watch(fsPathOf(path), { persistent: true, encoding: 'buffer' }, (type, name) =>
        this.#onEvent(rel, type, name === null ? null : nameOf(name)),
      );
    } catch (error) {
      if (isGone(error)) return [];
      throw error;
    }
    // fs.watch follows symlinks: if the directory was swapped for one meanwhile, let go of it.
    const after = statOf(path);
    if (after === undefined || !after.isDirectory() || after.ino !== stats.ino) {
      watcher.close();
      return [];
    }
    watcher.on('error', (error) => {
      this.#remove(rel);
      if (!isGone(error)) this.#events.error(error);
    });
    const watched: Watched = { watcher, children: new Set(), entries: 0, sampled: false };
    this.#dirs.set(rel, watched);
    if (rel === '') this.#leafDevice = leafDevice(path, after);
    else this.#dirs.get(parentOf(rel))?.children.add(rel);
    // Checked once watched: a subdirectory made from now on is an event.
    const leaf = rel !== '' && after.nlink === 2 && after.dev === this.#leafDevice;
    if (leaf && this.#leaves.seen++ % LEAF_SAMPLE !== 0) {
      watched.entries = undefined;
      this.#leaves.unlisted++;
      return [];
    }
    const entries = listing(path);
    watched.entries = entries.length;
    this.#entries += entries.length;
    if (leaf) {
      watched.sampled = true;
      this.#leaves.sampled++;
      this.#leaves.sampledEntries += entries.length;
    }
    return entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  }

  /** Unwatches `rel` and everything below it. */
  #remove(rel: string): void {
    const watched = this.#dirs.get(rel);
    if (watched === undefined) return;
    this.#dirs.delete(rel);
    if (watched.entries === undefined) this.#leaves.unlisted--;
    else this.#entries -= watched.entries;
    if (watched.sampled) {
      this.#leaves.sampled--;
      this.#leaves.sampledEntries -= watched.entries ?? 0;
    }
    if (rel !== '') this.#dirs.get(parentOf(rel))?.children.delete(rel);
    watched.watcher.close();
    for (const child of [...watched.children]) this.#remove(child);
  }

  #onEvent(dir: string, type: string, name: string | null): void {
    if (this.#closed) return;
    this.#counted();
    const rel = name === null ? dir : dir === '' ? name : `${dir}/${name}`;
    try {
      // A name appeared or went away: a directory there gets (or loses) its watches first.
      // (A subdirectory's own deletion or move also reaches its parent's watch, as a name.)
      if (type === 'rename' && rel !== dir) this.#refresh(rel);
      // The kernel names the source directory itself by its own name: is it still there?
      if (dir === '' && name === basename(this.#root)) this.#refreshRoot();
    } catch (error) {
      this.#events.error(error instanceof Error ? error : new Error(String(error)));
    }
    this.#events.paths([this.#absolute(rel)]);
  }

  /** The source directory was deleted, moved or replaced: watch what is there now, or say so. */
  #refreshRoot(): void {
    const child = statOf(this.#absolute(basename(this.#root)));
    if (child !== undefined) return; // the event was about an entry of that name after all
    this.#remove('');
    this.add('');
    if (!this.watches(''))
      throw new FilesyncError('source-gone', `the source directory ${this.#root} is gone`);
    this.#events.error(new Error(`the source directory ${this.#root} was replaced; watching the new one`));
  }

  /**
   * Brings the watches at `rel` in line with what is there now. A directory there is watched
   * anew even when it looks the same: the kernel reuses the inode number of a deleted one.
   */
  #refresh(rel: string): void {
    const stats = statOf(this.#absolute(rel));
    if (stats?.isDirectory() === true && !this.#filter.isExcluded(rel, true)) this.add(rel);
    else this.#remove(rel);
  }

  #absolute(rel: string): string {
    return rel === '' ? this.#root : `${this.#root}/${rel}`;
  }
}

/** A directory's entries, names as bytes where they are not UTF-8; none when it is gone. */
function listing(path: string): NamedEntry[] {
  try {
    return readdirNamed(path);
  } catch (error) {
    if (isGone(error)) return [];
    throw error;
  }
}

/** The source's device when its filesystem counts subdirectories in link counts. */
function leafDevice(root: string, stats: Stats): number | undefined {
  try {
    return NLINK_COUNTS_SUBDIRS.has(statfsSync(root).type) ? stats.dev : undefined;
  } catch {
    return undefined; // no statfs here: list every directory
  }
}

/** The path vanished, or an ancestor stopped being a directory, or it cannot be entered. */
function isGone(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP' || code === 'EACCES' || code === 'EPERM';
}

/** lstat that answers undefined where nothing can be watched (a stale path from an event). */
function statOf(path: string): Stats | undefined {
  try {
    return lstatSync(fsPathOf(path), { throwIfNoEntry: false });
  } catch (error) {
    if (isGone(error)) return undefined;
    throw error;
  }
}
