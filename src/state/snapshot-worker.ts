import { snapshotRange } from './snapshot.ts';
import { serve } from './worker.ts';

// A worker thread of snapshot.ts: one range of the walk, encoded into a file of its own.

await serve(snapshotRange);
