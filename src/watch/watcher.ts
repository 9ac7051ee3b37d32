import { relative, sep } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { type FSWatcher, watch } from 'chokidar';
import type { Filter } from '../filter.ts';

// A thin adapter over chokidar: absolute paths in, filtered source-relative paths out. Events
// are hints; rsync works out the real difference, and a watcher error asks for a full pass.

export interface WatchHandlers {
  /** A path below the source changed: created, modified, deleted or renamed. */
  onChange(path: string): void;
  /** The watcher failed or lost events (e.g. inotify limits); a full pass should follow. */
  onError(error: Error): void;
}

export interface Watcher {
  /** Waits until no event has arrived for `quietMs` (at most `maxMs`), so none is in flight. */
  settle(quietMs: number, maxMs: number): Promise<void>;
  close(): Promise<void>;
  readonly closed: boolean;
}

/** Watches `sourceDir` recursively; resolves once the initial scan is done. */
export async function startWatcher(
  sourceDir: string,
  filter: Filter,
  handlers: WatchHandlers,
): Promise<Watcher> {
  const toRelative = (path: string) => relative(sourceDir, path).split(sep).join('/');
  const watcher: FSWatcher = watch(sourceDir, {
    ignoreInitial: true,
    followSymlinks: false,
    persistent: true,
    ignored: (path, stats) => {
      const rel = toRelative(path);
      if (rel === '' || rel.startsWith('..')) return false;
      if (stats === undefined) return filter.isExcluded(rel, false);
      return stats.isDirectory() ? filter.isExcluded(rel, true) : filter.rejectsFile(rel);
    },
  });

  let lastEventAt = Date.now();
  watcher.on('all', (event, path) => {
    lastEventAt = Date.now();
    const rel = toRelative(path);
    if (rel === '' || rel.startsWith('..')) return;
    const isDir = event === 'addDir' || event === 'unlinkDir';
    if (filter.accepts(rel, isDir)) handlers.onChange(rel);
  });
  watcher.on('error', (error) => handlers.onError(error instanceof Error ? error : new Error(String(error))));

  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  let closed = false;
  return {
    get closed() {
      return closed;
    },
    async settle(quietMs, maxMs) {
      // Events already queued in inotify reach chokidar, which stats them, within milliseconds.
      const start = Date.now();
      const deadline = start + maxMs;
      const quietFor = (now: number) => now - Math.max(lastEventAt, start);
      for (let now = start; now < deadline && quietFor(now) < quietMs; now = Date.now()) {
        await delay(Math.min(quietMs - quietFor(now), deadline - now));
      }
    },
    async close() {
      closed = true;
      await watcher.close();
    },
  };
}
