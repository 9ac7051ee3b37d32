import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FilesyncError } from '../../../src/errors.ts';
import { Filter } from '../../../src/filter.ts';
import { startNative } from '../../../src/watch/native.ts';
import { inotifyQueueLimit, overflowGuard } from '../../../src/watch/overflow.ts';
import { waitFor } from '../../integration/support/wait.ts';

describe('the overflow guard', () => {
  it('reports a turn that delivers half the queue or more, once, and nothing for smaller turns', () => {
    const turns: (() => void)[] = [];
    const overflows: FilesyncError[] = [];
    const count = overflowGuard(
      100,
      (error) => overflows.push(error),
      (callback) => turns.push(callback),
    );
    for (let i = 0; i < 49; i++) count();
    turns.shift()?.();
    expect(overflows).toEqual([]);
    for (let i = 0; i < 50; i++) count();
    expect(turns).toHaveLength(1); // one end-of-turn check a turn, however many events
    turns.shift()?.();
    expect(overflows).toHaveLength(1);
    expect(overflows[0]?.code).toBe('watch-overflow');
    expect(overflows[0]?.message).toMatch(/50 change events arrived at once.*max_queued_events=100/);
    expect(overflows[0]?.hint).toMatch(/sysctl fs\.inotify\.max_queued_events=65536/);
    count();
    turns.shift()?.();
    expect(overflows).toHaveLength(1);
  });

  it("reads the kernel's queue size", () => {
    expect(inotifyQueueLimit()).toBeGreaterThan(0);
  });
});

describe('the native watcher, when the kernel queue overflows for real', () => {
  it('reports the overflow as an error (so a full pass follows) after a burst it could not read in time', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-overflow-'));
    mkdirSync(join(root, 'dir'));
    const errors: Error[] = [];
    const backend = await startNative(
      { root, filter: new Filter({ include: [], exclude: [] }), pollIntervalMs: 1000 },
      { paths: () => {}, error: (error) => errors.push(error), rescan: () => {} },
    );
    try {
      // Written synchronously, the event loop blocked, as a stopped or throttled daemon would
      // be: each file is two events (created, modified), more than the queue holds.
      const files = Math.ceil(inotifyQueueLimit() / 2) + 500;
      for (let i = 0; i < files; i++) writeFileSync(join(root, 'dir', `f${i}`), 'x');
      await waitFor('the overflow', () => errors.length > 0, { timeoutMs: 10_000 });
      expect(errors[0]).toBeInstanceOf(FilesyncError);
      expect((errors[0] as FilesyncError).code).toBe('watch-overflow');
    } finally {
      await backend.close();
    }
  });

  it('reports nothing for an ordinary burst', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-overflow-'));
    const errors: Error[] = [];
    const seen = new Set<string>();
    const backend = await startNative(
      { root, filter: new Filter({ include: [], exclude: [] }), pollIntervalMs: 1000 },
      {
        paths: (paths) => {
          for (const path of paths) seen.add(path);
        },
        error: (error) => errors.push(error),
        rescan: () => {},
      },
    );
    try {
      for (let i = 0; i < 500; i++) writeFileSync(join(root, `f${i}`), 'x');
      await waitFor('every file reported', () => seen.size === 500, { timeoutMs: 10_000 });
      expect(errors).toEqual([]);
    } finally {
      await backend.close();
    }
  });
});
