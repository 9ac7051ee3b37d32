import { lstat, opendir } from 'node:fs/promises';
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
  const known = new Map<string, 'file' | 'dir' | 'missing'>();
  const kindOf = async (path: string) => {
    let kind = known.get(path);
    if (kind === undefined) {
      const stats = await lstat(join(sourceDir, path)).catch(() => undefined);
      kind = stats === undefined ? 'missing' : stats.isDirectory() ? 'dir' : 'file';
      known.set(path, kind);
    }
    return kind;
  };
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
  const handle = await opendir(join(sourceDir, dir)).catch(() => undefined);
  if (handle === undefined) return; // vanished meanwhile: rsync reports it, the watcher follows up
  for await (const entry of handle) {
    const path = `${dir}/${entry.name}`;
    const isDir = entry.isDirectory();
    if (!filter.accepts(path, isDir) || walked.has(path)) continue;
    if (isDir) await walk(sourceDir, path, filter, into, walked);
    else into.push({ path, kind: 'file' });
  }
}
