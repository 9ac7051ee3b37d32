import { lstat } from 'node:fs/promises';
import { join, posix } from 'node:path';

/** What a changed path is now: rsync is told differently about each. */
export type SurveyedPath =
  | { readonly path: string; readonly kind: 'file' | 'dir' }
  /** Gone from the source; `ancestor` is its nearest directory still there ('' for the root). */
  | { readonly path: string; readonly kind: 'missing'; readonly ancestor: string };

/** lstat()s each changed path (symlinks are not followed) and finds where vanished ones were. */
export async function surveyPaths(sourceDir: string, paths: readonly string[]): Promise<SurveyedPath[]> {
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
  for (const path of paths) {
    const kind = await kindOf(path);
    if (kind !== 'missing') {
      surveyed.push({ path, kind });
      continue;
    }
    let ancestor = posix.dirname(path);
    while (ancestor !== '.' && (await kindOf(ancestor)) !== 'dir') ancestor = posix.dirname(ancestor);
    surveyed.push({ path, kind, ancestor: ancestor === '.' ? '' : ancestor });
  }
  return surveyed;
}
