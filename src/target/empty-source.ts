import type { Dirent } from 'node:fs';
import { opendir } from 'node:fs/promises';
import type { Filter } from '../filter.ts';
import { bytesOf, nameOf } from '../names.ts';

// The empty-source guard's look at the source: an unmounted volume, a wrong path or a host
// directory Docker created because it was missing all look like an empty source, and a pass
// with --delete would then empty the mirror. See job-runner.ts for where the guard applies.

/**
 * True when the source holds no file, symlink or other non-directory that the filter syncs, or
 * is not there at all. Directories alone do not count: a fresh filesystem's `lost+found`, empty
 * mount points, or directories with no file SYNC_INCLUDE wants are still an empty source.
 * Depth first, into each directory as it is met and stopping at the first entry that counts: a
 * normal tree costs a read or two, also where the top holds only directories (10,000 of them
 * took 45–120 ms to go through before the first was entered; it runs before every run that may
 * delete).
 */
export async function sourceIsEmpty(root: string, filter: Filter): Promise<boolean> {
  const later = [''];
  for (let dir = later.pop(); dir !== undefined; dir = later.pop())
    if (await holdsAny(root, dir, filter, later, 1)) return false;
  return true;
}

/** Directories read at once, at most: deeper ones wait in `later`, so a deep tree opens no more. */
const MAX_OPEN = 8;

/** Whether `dir` holds an entry that counts, looking into its directories as they come. */
async function holdsAny(
  root: string,
  dir: string,
  filter: Filter,
  later: string[],
  open: number,
): Promise<boolean> {
  const entries = await listing(dir === '' ? root : `${root}/${dir}`);
  if (entries === undefined) return false; // gone, or unreadable: nothing there that counts
  for await (const entry of entries) {
    const name = nameOf(entry.name);
    const rel = dir === '' ? name : `${dir}/${name}`;
    if (!entry.isDirectory()) {
      if (filter.accepts(rel, false)) return true;
    } else if (filter.accepts(rel, true)) {
      if (open >= MAX_OPEN) later.push(rel);
      else if (await holdsAny(root, rel, filter, later, open + 1)) return true;
    }
  }
  return false;
}

/** A directory's entries, their names as bytes (names.ts); undefined when it cannot be read. */
async function listing(path: string): Promise<AsyncIterable<Dirent<Buffer>> | undefined> {
  try {
    // `encoding: 'buffer'` works at run time (names come as Buffers); @types/node lacks it.
    const dir = await opendir(bytesOf(path), { encoding: 'buffer' as BufferEncoding });
    return dir as unknown as AsyncIterable<Dirent<Buffer>>;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EPERM') return undefined;
    throw error;
  }
}
