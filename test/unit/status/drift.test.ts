import { describe, expect, it } from 'vitest';
import type { Job } from '../../../src/plan/job.ts';
import { ItemizedTally } from '../../../src/rsync/itemize.ts';
import type { Outcome } from '../../../src/rsync/outcome.ts';
import { driftOf } from '../../../src/status/drift.ts';

const tally = new ItemizedTally(20);
tally.addLine('>f+++++++++ missed.txt');
const itemized = tally.result();
const ok: Outcome = {
  ok: true,
  stats: { files: 1, filesTransferred: 1, filesDeleted: 0, bytesTransferred: 1 },
  vanished: false,
  itemized,
};

const finished = (job: Job, quiet: boolean, outcome: Outcome = ok) =>
  ({ type: 'finished', job, outcome, durationMs: 1, attempt: 1, retryInMs: undefined, quiet }) as const;

describe('driftOf', () => {
  it('counts what a quiet periodic pass repaired', () => {
    expect(driftOf(finished({ kind: 'full', reason: 'resync' }, true))).toBe(itemized);
  });

  it('does not count the start-up pass, rescans, overflows, busy passes, batches or failures', () => {
    expect(driftOf(finished({ kind: 'full', reason: 'start' }, true))).toBeUndefined();
    expect(driftOf(finished({ kind: 'full', reason: 'rescan' }, true))).toBeUndefined();
    expect(driftOf(finished({ kind: 'full', reason: 'overflow' }, true))).toBeUndefined();
    expect(driftOf(finished({ kind: 'full', reason: 'resync' }, false))).toBeUndefined();
    expect(driftOf(finished({ kind: 'batch', paths: ['a'] }, true))).toBeUndefined();
    const down: Outcome = { ok: false, reason: 'unreachable', exitCode: 255, message: '', hint: '' };
    expect(driftOf(finished({ kind: 'full', reason: 'resync' }, true, down))).toBeUndefined();
  });
});
