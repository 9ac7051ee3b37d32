import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Filter } from '../filter.ts';
import { bytesOf, type NamedEntry, parentOf, readdirNamed } from '../names.ts';

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
  const known = new Map<string, Kind>();
  /** lstat, once per path; ENOTDIR and EACCES count as missing, like ENOENT. */
  const kindOf = (path: string): Kind => {
    let kind = known.get(path);
    if (kind === undefined) {
      try {
        const stats = lstatSync(bytesOf(join(sourceDir, path)), { throwIfNoEntry: false });
        kind = stats === undefined ? 'missing' : stats.isDirectory() ? 'dir' : 'file';
      } catch {
        kind = 'missing';
      }
      known.set(path, kind);
    }
    return kind;
  };
  // Synchronous lstat()s, a slice between turns of the event loop: 10,000 take 60 ms so, and
  // 150 ms as promises. Most are never made: a path in a directory that is walked anyway is
  // listed by the walk (npm run bench: burst, 10,000 files in 100 new directories).
  let sinceYield = 0;
  const pace = async () => {
    if (++sinceYield < LSTAT_SLICE) return;
    sinceYield = 0;
    await new Promise((resolve) => setImmediate(resolve));
  };
  const ancestors = new Set<string>();
  for (const path of paths) for (const ancestor of ancestorsOf(path)) ancestors.add(ancestor);
  for (const ancestor of ancestors) {
    kindOf(ancestor);
    await pace();
  }

  const surveyed: SurveyedPath[] = [];
  const walked = new Set<string>();
  // Changed directories first, top down, so that a walk covers what changed below it.
  const changedDirs = paths.filter((path) => ancestors.has(path) && known.get(path) === 'dir');
  changedDirs.sort((a, b) => a.split('/').length - b.split('/').length);
  for (const dir of changedDirs) {
    if (realPath(dir, kindOf) === dir && !walked.has(dir))
      await walk(sourceDir, dir, filter, surveyed, walked);
  }
  for (const changed of paths) {
    const path = realPath(changed, kindOf);
    // Listed by a walk, or gone from a walked directory, whose deletion pass covers it.
    if (walked.has(path) || walked.has(parentOf(path))) continue;
    const kind = kindOf(path);
    await pace();
    if (kind === 'file') {
      surveyed.push({ path, kind });
    } else if (kind === 'dir') {
      await walk(sourceDir, path, filter, surveyed, walked);
    } else {
      surveyed.push({ path, kind, ancestor: parentOf(path) });
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
function realPath(path: string, kindOf: (path: string) => Kind): string {
  for (const ancestor of ancestorsOf(path)) if (kindOf(ancestor) !== 'dir') return ancestor;
  return path;
}

/** How many lstat()s, or directory entries listed, between turns of the event loop. */
const LSTAT_SLICE = 2000;

/** Lists `dir` and every accepted path below it, skipping excluded subtrees. */
async function walk(
  sourceDir: string,
  dir: string,
  filter: Filter,
  into: SurveyedPath[],
  walked: Set<string>,
) {
  const stack = [dir];
  let sinceYield = 0;
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    walked.add(next);
    into.push({ path: next, kind: 'dir' });
    let entries: NamedEntry[];
    try {
      entries = readdirNamed(join(sourceDir, next));
    } catch {
      continue; // vanished meanwhile: rsync reports it, the watcher follows up
    }
    for (const entry of entries) {
      const path = `${next}/${entry.name}`;
      const isDir = entry.isDirectory();
      if (!filter.accepts(path, isDir) || walked.has(path)) continue;
      if (isDir) stack.push(path);
      else into.push({ path, kind: 'file' });
    }
    sinceYield += entries.length;
    if (sinceYield >= LSTAT_SLICE) {
      sinceYield = 0;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
