import { opendir } from 'node:fs/promises';
import type { Filter } from '../filter.ts';

// The empty-source guard's look at the source: an unmounted volume, a wrong path or a host
// directory Docker created because it was missing all look like an empty source, and a pass
// with --delete would then empty the mirror. See job-runner.ts for where the guard applies.

/** True when the source root holds nothing the filter syncs, or is not there at all. */
export async function sourceIsEmpty(root: string, filter: Filter): Promise<boolean> {
  let dir: Awaited<ReturnType<typeof opendir>>;
  try {
    dir = await opendir(root);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return true;
    throw error;
  }
  // Stops at the first entry that counts: a root of a million names costs one read.
  for await (const entry of dir) if (filter.accepts(entry.name, entry.isDirectory())) return false;
  return true;
}
