import { readdirSync, readFileSync } from 'node:fs';

/** Kernel inotify watches a process holds: one `inotify wd:` line each in its fdinfo. */
export function inotifyWatches(pid: number | 'self' | undefined): number {
  if (pid === undefined) throw new Error('the process has no pid');
  let count = 0;
  for (const fd of readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      count += readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').match(/^inotify wd:/gm)?.length ?? 0;
    } catch {
      // the descriptor closed while we looked
    }
  }
  return count;
}
