import type { StartBackend } from './backend.ts';

/**
 * No kernel watches at all: a full pass every `pollIntervalMs`, which rsync's quick check keeps
 * cheap. For sources whose other writers inotify cannot see (NFS, SMB, some FUSE mounts), and
 * the fallback when the kernel has no watches left.
 */
export const startPoll: StartBackend = async ({ pollIntervalMs }, events) => {
  const timer = setInterval(() => events.rescan(), pollIntervalMs);
  return {
    name: 'poll',
    async close() {
      clearInterval(timer);
    },
  };
};
