import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { WatchMode } from '../../../src/config/config.ts';
import { FilesyncError } from '../../../src/errors.ts';
import { Filter } from '../../../src/filter.ts';
import type { BackendEvents, BackendName, StartBackend } from '../../../src/watch/backend.ts';
import { type BackendChange, startWatcher, type Watcher } from '../../../src/watch/watcher.ts';
import { waitFor } from '../../integration/support/wait.ts';

// The front over the backends: relative, filtered hints; which backend runs; polling.

const open: Watcher[] = [];
afterEach(async () => {
  for (const watcher of open.splice(0)) await watcher.close();
});

async function start(mode: WatchMode, exclude: string[] = []) {
  const sourceDir = await mkdtemp(join(tmpdir(), 'filesync-front-'));
  const changes: string[] = [];
  const rescans: (Error | undefined)[] = [];
  const backends: BackendChange[] = [];
  const watcher = await startWatcher(
    { sourceDir, filter: new Filter({ include: [], exclude }), mode, pollIntervalMs: 50 },
    {
      onChanges: (paths) => changes.push(...paths),
      onRescan: (cause) => rescans.push(cause),
      onBackend: (change) => backends.push(change),
    },
  );
  open.push(watcher);
  return { sourceDir, watcher, changes, rescans, backends };
}

it.each(['auto', 'native', 'chokidar'] as const)(
  '%s: reports source-relative paths and leaves out excluded ones',
  async (mode) => {
    const w = await start(mode, ['*.tmp', 'cache/']);
    expect(w.backends).toEqual([{ backend: mode === 'auto' ? 'native' : mode }]);
    expect(w.watcher.backend).toBe(w.backends[0]?.backend);
    await mkdir(join(w.sourceDir, 'cache'));
    await writeFile(join(w.sourceDir, 'cache/no.txt'), 'x');
    await writeFile(join(w.sourceDir, 'skip.tmp'), 'x');
    await mkdir(join(w.sourceDir, 'dir'));
    await writeFile(join(w.sourceDir, 'dir/yes.txt'), 'x');
    await waitFor('the wanted file', () => w.changes.includes('dir/yes.txt'), { timeoutMs: 5000 });
    await w.watcher.settle(100, 2000);
    expect(w.changes.filter((path) => path.includes('no.txt') || path.endsWith('.tmp'))).toEqual([]);
    expect(w.changes.every((path) => !path.startsWith('/') && !path.startsWith('..'))).toBe(true);
    expect(w.rescans).toEqual([]);
  },
);

it('poll: asks for a full pass every interval and watches nothing', async () => {
  const w = await start('poll');
  expect(w.backends).toEqual([{ backend: 'poll' }]);
  await writeFile(join(w.sourceDir, 'file.txt'), 'x');
  await waitFor('three rescans', () => w.rescans.length >= 3, { timeoutMs: 5000 });
  expect(w.rescans.every((cause) => cause === undefined)).toBe(true);
  expect(w.changes).toEqual([]);
  await w.watcher.close();
  const after = w.rescans.length;
  await new Promise((resolve) => setTimeout(resolve, 150));
  expect(w.rescans.length).toBe(after);
});

it('auto: polls where the source cannot be watched at all; native alone refuses to start', async () => {
  const handlers = { onChanges: () => {}, onRescan: () => {}, onBackend: (_: BackendChange) => {} };
  const backends: BackendChange[] = [];
  const options = {
    sourceDir: join(tmpdir(), 'filesync-front-missing', String(process.pid)),
    filter: new Filter({ include: [], exclude: [] }),
    pollIntervalMs: 10_000,
  };
  const watcher = await startWatcher(
    { ...options, mode: 'auto' },
    { ...handlers, onBackend: (change) => backends.push(change) },
  );
  open.push(watcher);
  expect(watcher.backend).toBe('poll');
  expect(backends).toMatchObject([
    { backend: 'poll', previous: { backend: 'native', hint: expect.stringMatching(/polls/) } },
  ]);
  await expect(startWatcher({ ...options, mode: 'native' }, handlers)).rejects.toMatchObject({
    code: 'watch',
    hint: expect.stringMatching(/SYNC_WATCH_MODE=auto/),
  });
});

describe('falling back to polling', () => {
  /** A backend the test drives by hand, and a poll backend that only records that it ran. */
  function fakes() {
    const driven: { events?: BackendEvents; closed: boolean; startError?: Error } = { closed: false };
    const native: StartBackend = async (_options, events) => {
      driven.events = events;
      if (driven.startError !== undefined) events.error(driven.startError); // as chokidar does
      return {
        name: 'native',
        close: async () => {
          driven.closed = true;
        },
      };
    };
    let polls = 0;
    const poll: StartBackend = async () => {
      polls += 1;
      return { name: 'poll', close: async () => {} };
    };
    return { driven, backends: { native, poll }, polls: () => polls };
  }
  const limitError = () =>
    Object.assign(new Error('ENOSPC: System limit for number of file watchers reached'), { code: 'ENOSPC' });

  async function started(mode: WatchMode, backends: Partial<Record<BackendName, StartBackend>>) {
    const backendChanges: BackendChange[] = [];
    const rescans: (Error | undefined)[] = [];
    const watcher = await startWatcher(
      {
        sourceDir: tmpdir(),
        filter: new Filter({ include: [], exclude: [] }),
        mode,
        pollIntervalMs: 1000,
        backends,
      },
      {
        onChanges: () => {},
        onRescan: (cause) => rescans.push(cause),
        onBackend: (change) => backendChanges.push(change),
      },
    );
    open.push(watcher);
    return { watcher, backendChanges, rescans };
  }

  it('once, when the kernel refuses a watch while running, with the sysctl to raise', async () => {
    const f = fakes();
    const w = await started('native', f.backends);
    f.driven.events?.error(limitError());
    f.driven.events?.error(limitError());
    await waitFor('the switch', () => w.watcher.backend === 'poll');
    expect(f.driven.closed).toBe(true);
    expect(f.polls()).toBe(1);
    expect(w.backendChanges).toMatchObject([
      { backend: 'native' },
      {
        backend: 'poll',
        previous: { backend: 'native', hint: expect.stringMatching(/fs\.inotify\.max_user_watches/) },
      },
    ]);
    expect(w.rescans).toEqual([undefined]); // a full pass makes good what the watcher missed
  });

  it('when a watch is refused while the backend starts (chokidar reports it as an event)', async () => {
    const f = fakes();
    f.driven.startError = limitError();
    const w = await started('native', f.backends);
    await waitFor('the switch', () => w.watcher.backend === 'poll');
    expect(w.backendChanges.map((change) => change.backend)).toEqual(['native', 'poll']);
  });

  it('when the source directory disappears; other errors only ask for a full pass', async () => {
    const f = fakes();
    const w = await started('native', f.backends);
    f.driven.events?.error(new Error('something else'));
    expect(w.watcher.backend).toBe('native');
    expect(w.rescans.map((cause) => cause?.message)).toEqual(['something else']);
    f.driven.events?.error(new FilesyncError('source-gone', 'the source directory /data is gone'));
    await waitFor('the switch', () => w.watcher.backend === 'poll');
    expect(w.backendChanges[1]?.previous?.hint).toMatch(/disappeared/);
  });
});
