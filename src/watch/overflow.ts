import { readFileSync } from 'node:fs';
import { FilesyncError } from '../errors.ts';

// When the kernel's inotify queue is full, it drops every further event and queues one
// IN_Q_OVERFLOW instead; libuv, under Node's fs.watch, throws that notice away. So the overflow
// is told from what must precede it: the queue holds max_queued_events events only when filesync
// has not read it for that long (a stopped or throttled process, a long pause), and libuv then
// reads the whole queue in one go, delivering every event before the event loop turns. A turn
// that delivers half the queue's capacity or more is taken for an overflow: a full pass follows.
// Erring on that side costs one pass that finds nothing to send; erring on the other loses files.
// It errs so when a writer keeps the queue from ever emptying while filesync reads (a git
// checkout, `tar x` of tens of thousands of files): that many pending paths would have become a
// full pass anyway. It can miss one kind: events of a directory whose watch filesync had already
// let go (moved out of the source) are dropped by libuv uncounted, so a queue filled by them
// alone goes unnoticed until the periodic full pass.

/** The kernel's default fs.inotify.max_queued_events, where /proc cannot be read. */
const DEFAULT_QUEUE_LIMIT = 16_384;

/** fs.inotify.max_queued_events, which applies to every inotify instance made after it is set. */
export function inotifyQueueLimit(): number {
  try {
    const value = Number(readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8').trim());
    return Number.isInteger(value) && value > 0 ? value : DEFAULT_QUEUE_LIMIT;
  } catch {
    return DEFAULT_QUEUE_LIMIT;
  }
}

/**
 * Counts the events one turn of the event loop delivers; calls `onOverflow` when a turn delivers
 * as many as an overflowed queue would have held. `defer` runs its callback once the turn's
 * events are all delivered (setImmediate; a fake in tests).
 */
export function overflowGuard(
  queueLimit: number,
  onOverflow: (error: FilesyncError) => void,
  defer: (callback: () => void) => void = setImmediate,
): () => void {
  const threshold = Math.max(1, Math.floor(queueLimit / 2));
  let delivered = 0;
  const endOfTurn = () => {
    const count = delivered;
    delivered = 0;
    if (count < threshold) return;
    onOverflow(
      new FilesyncError(
        'watch-overflow',
        `${count} change events arrived at once, as many as a full kernel queue holds (fs.inotify.max_queued_events=${queueLimit}): the kernel may have dropped some`,
        {
          hint: `filesync was not reading events for a while (stopped, CPU-throttled, or a burst larger than the queue); a full pass now sends whatever was missed. If it recurs, raise the queue on the host with \`sysctl fs.inotify.max_queued_events=${Math.max(queueLimit * 4, 65_536)}\` or give filesync more CPU.`,
        },
      ),
    );
  };
  return () => {
    if (delivered++ === 0) defer(endOfTurn);
  };
}
