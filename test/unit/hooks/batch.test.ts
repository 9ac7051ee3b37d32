import { describe, expect, it } from 'vitest';
import { coalesce, type HookBatch, hookBatchOf, summaryOf } from '../../../src/hooks/batch.ts';
import { ItemizedTally } from '../../../src/rsync/itemize.ts';

const stats = { files: 10, filesTransferred: 0, filesDeleted: 0, bytesTransferred: 0 };

/** A successful outcome whose itemized output is `lines`, `keep` paths of each kind kept. */
function outcome(lines: readonly string[], keep = 100, bytes = 0) {
  const tally = new ItemizedTally(keep);
  for (const line of lines) tally.addLine(line);
  return {
    ok: true,
    stats: { ...stats, bytesTransferred: bytes },
    vanished: false,
    itemized: tally.result(),
  } as const;
}

const batch = (paths: string[], extra: Partial<HookBatch> = {}): HookBatch => ({
  kind: 'batch',
  files: paths.length,
  deleted: 0,
  bytes: 1,
  paths,
  truncated: false,
  runs: 1,
  ...extra,
});

describe('hookBatchOf', () => {
  it('lists what the run changed and deleted, counts them, and leaves out the top directory', () => {
    const made = hookBatchOf(
      'batch',
      outcome(['cd+++++++++ ./', '>f+++++++++ a.txt', '>f.st...... b/c.txt', '*deleting   old.txt'], 100, 42),
      100,
    );
    expect(made).toEqual({
      kind: 'batch',
      files: 2,
      deleted: 1,
      bytes: 42,
      paths: ['a.txt', 'old.txt', 'b/c.txt'],
      truncated: false,
      runs: 1,
    });
  });

  it('is nothing after a run that changed nothing, but the initial pass calls its hook once anyway', () => {
    expect(hookBatchOf('batch', outcome([]), 100)).toBeUndefined();
    expect(hookBatchOf('full', outcome(['.d..t...... dir/']), 100)).toBeUndefined(); // a directory's time only
    expect(hookBatchOf('initial', outcome([]), 100)).toMatchObject({ kind: 'initial', files: 0, paths: [] });
  });

  it('says when there were more paths than it lists', () => {
    const lines = Array.from({ length: 5 }, (_, i) => `>f+++++++++ f${i}`);
    expect(hookBatchOf('batch', outcome(lines, 3), 100)).toMatchObject({ files: 5, truncated: true });
    expect(hookBatchOf('batch', outcome(lines, 100), 2)).toMatchObject({
      paths: ['f0', 'f1'],
      truncated: true,
    });
    // A run before it in the same job, killed, may have changed paths it does not list.
    const after = outcome(lines);
    const uncounted = { ...after, itemized: { ...after.itemized, uncounted: true } } as const;
    expect(hookBatchOf('initial', uncounted, 100)).toMatchObject({ files: 5, truncated: true });
    expect(hookBatchOf('initial', after, 100)).toMatchObject({ files: 5, truncated: false });
  });
});

describe('coalesce', () => {
  it('sums the counts, unites the paths up to the cap, and keeps the weightiest kind', () => {
    const both = coalesce(batch(['a', 'b']), batch(['b', 'c'], { kind: 'full' }), 10);
    expect(both).toEqual({
      kind: 'full',
      files: 4,
      deleted: 0,
      bytes: 2,
      paths: ['a', 'b', 'c'],
      truncated: false,
      runs: 2,
    });
    expect(coalesce(batch(['a'], { kind: 'initial' }), batch(['b'], { kind: 'full' }), 10).kind).toBe(
      'initial',
    );
    expect(coalesce(batch(['a', 'b']), batch(['c']), 2)).toMatchObject({
      paths: ['a', 'b'],
      truncated: true,
    });
    expect(coalesce(batch(['a'], { truncated: true }), batch(['c']), 9).truncated).toBe(true);
  });

  it('reads as one line', () => {
    expect(summaryOf(batch(['a', 'b'], { runs: 3 }), 'u@h:22:/m')).toBe(
      'filesync batch sync to u@h:22:/m: 2 changed, 0 deleted, 1 bytes of files transferred (3 runs)',
    );
  });
});
