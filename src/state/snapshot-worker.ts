import { snapshotRange } from './snapshot.ts';
import { serve } from './worker.ts';

// A worker thread of snapshot.ts: one range of the walk, encoded and handed back (its bytes
// transferred, not copied).

await serve(snapshotRange, (part) => [part.bytes.buffer as ArrayBuffer]);
