import type { Itemized } from '../rsync/itemize.ts';
import type { SchedulerEvent } from '../schedule/events.ts';

// Drift: what a periodic full pass had to repair although no change was reported. Only such a
// pass counts. The pass at start-up repairs what happened while nothing watched; a rescan after
// a watcher error or overflow, and every pass while polling, exist to repair what the watcher
// could not report; and a pass during which changes were reported may just have sent them
// before their batch did. What remains is a change the live path missed, or an edit made on
// the target behind filesync's back.

/** The repairs a finished pass counts as drift; undefined when the pass does not count. */
export function driftOf(event: Extract<SchedulerEvent, { type: 'finished' }>): Itemized | undefined {
  const { job, outcome } = event;
  if (job.kind !== 'full' || job.reason !== 'resync' || !event.quiet || !outcome.ok) return undefined;
  return outcome.itemized;
}
