import { compareRange } from './compare.ts';
import { serve } from './worker.ts';

// A worker thread of compare.ts: one range of the walk against the manifest, its difference
// posted back.

await serve(compareRange);
