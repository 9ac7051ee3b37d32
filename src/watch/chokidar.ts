import { relative, sep } from 'node:path';
import { watch } from 'chokidar';
import type { StartBackend } from './backend.ts';

/**
 * The pure-JavaScript watcher: one fs.watch per file and directory, so it costs memory and
 * kernel watches in proportion to files. The fallback where the native module cannot load.
 */
export const startChokidar: StartBackend = async ({ root, filter }, events) => {
  const toRelative = (path: string) => relative(root, path).split(sep).join('/');
  const watcher = watch(root, {
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
  watcher.on('all', (_event, path) => events.paths([path]));
  watcher.on('error', (error) => events.error(error instanceof Error ? error : new Error(String(error))));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  return {
    name: 'chokidar',
    close: () => watcher.close(),
  };
};
