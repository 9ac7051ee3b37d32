import { lstat, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Filter } from '../filter.ts';

/** What a changed path is now: rsync is told differently about each. */
export type SurveyedPath =
  | { readonly path: string; readonly kind: 'file' | 'dir' }
  /** Gone from the source; `ancestor` is its nearest directory still there ('' for the root). */
  | { readonly path: string; readonly kind: 'missing'; readonly ancestor: string };

/**
 * lstat()s each changed path (symlinks are not followed) and finds where vanished ones were.
 * A directory is walked whole: whatever was created in it before the watcher could watch it
 * is listed too, so a new or moved-in tree never depends on watcher timing.
 */
export async function surveyPaths(
  sourceDir: string,
  paths: readonly string[],
  filter: Filter,
): Promise<SurveyedPath[]> {
  const known = new Map<string, Promise<'file' | 'dir' | 'missing'>>();
  const kindOf = (path: string) => {
    let kind = known.get(path);
    if (kind === undefined) {
      kind = lstat(join(sourceDir, path)).then(
        (stats) => (stats.isDirectory() ? 'dir' : 'file'),
        () => 'missing' as const,
      );
      known.set(path, kind);
    }
    return kind;
  };
  // lstat()s run side by side, a slice at a time: one after another, 10,000 of them took 300 ms.
  for (let i = 0; i < paths.length; i += LSTAT_SLICE)
    await Promise.all(paths.slice(i, i + LSTAT_SLICE).map(kindOf));
  const surveyed: SurveyedPath[] = [];
  const walked = new Set<string>();
  for (const path of paths) {
    const kind = await kindOf(path);
    if (kind === 'file') {
      surveyed.push({ path, kind });
    } else if (kind === 'dir') {
      if (!walked.has(path)) await walk(sourceDir, path, filter, surveyed, walked);
    } else {
      let ancestor = posix.dirname(path);
      while (ancestor !== '.' && (await kindOf(ancestor)) !== 'dir') ancestor = posix.dirname(ancestor);
      surveyed.push({ path, kind, ancestor: ancestor === '.' ? '' : ancestor });
    }
  }
  return surveyed;
}

/** How many lstat()s are in flight at once. */
const LSTAT_SLICE = 256;

/** Lists `dir` and every accepted path below it, skipping excluded subtrees. */
async function walk(
  sourceDir: string,
  dir: string,
  filter: Filter,
  into: SurveyedPath[],
  walked: Set<string>,
) {
  walked.add(dir);
  into.push({ path: dir, kind: 'dir' });
  const entries = await readdir(join(sourceDir, dir), { withFileTypes: true }).catch(() => undefined);
  if (entries === undefined) return; // vanished meanwhile: rsync reports it, the watcher follows up
  for (const entry of entries) {
    const path = `${dir}/${entry.name}`;
    const isDir = entry.isDirectory();
    if (!filter.accepts(path, isDir) || walked.has(path)) continue;
    if (isDir) await walk(sourceDir, path, filter, into, walked);
    else into.push({ path, kind: 'file' });
  }
}
