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
 * A path is never resolved through a symlink: its ancestors are checked top down (one lstat
 * per distinct directory per batch), and when one is no longer a real directory — a symlink,
 * a file, or gone — that ancestor is sent instead of the path, so the target replaces the
 * directory rather than filling it with what the link points at. A directory is walked whole:
 * whatever was created in it before the watcher could watch it is listed too, so a new or
 * moved-in tree never depends on watcher timing.
 */
export async function surveyPaths(
  sourceDir: string,
  paths: readonly string[],
  filter: Filter,
): Promise<SurveyedPath[]> {
  const known = new Map<string, Promise<Kind>>();
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
  const wanted = new Set<string>();
  for (const path of paths) for (const prefix of [...ancestorsOf(path), path]) wanted.add(prefix);
  const all = [...wanted];
  for (let i = 0; i < all.length; i += LSTAT_SLICE)
    await Promise.all(all.slice(i, i + LSTAT_SLICE).map(kindOf));

  const surveyed: SurveyedPath[] = [];
  const walked = new Set<string>();
  for (const changed of paths) {
    const path = await realPath(changed, kindOf);
    const kind = await kindOf(path);
    if (kind === 'file') {
      surveyed.push({ path, kind });
    } else if (kind === 'dir') {
      if (!walked.has(path)) await walk(sourceDir, path, filter, surveyed, walked);
    } else {
      const ancestor = posix.dirname(path);
      surveyed.push({ path, kind, ancestor: ancestor === '.' ? '' : ancestor });
    }
  }
  return surveyed;
}

type Kind = 'file' | 'dir' | 'missing';

/** `a/b/c` → `a`, `a/b`: the directories a path is reached through, top down. */
function ancestorsOf(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

/** The path itself, or its topmost ancestor that is no longer a real directory. */
async function realPath(path: string, kindOf: (path: string) => Promise<Kind>): Promise<string> {
  for (const ancestor of ancestorsOf(path)) if ((await kindOf(ancestor)) !== 'dir') return ancestor;
  return path;
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
