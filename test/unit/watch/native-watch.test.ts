import { mkdirSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { FilesyncError } from '../../../src/errors.ts';
import { Filter } from '../../../src/filter.ts';
import type { Backend } from '../../../src/watch/backend.ts';
import { startNative } from '../../../src/watch/native.ts';
import { waitFor } from '../../integration/support/wait.ts';
import { inotifyWatches } from '../../support/proc.ts';

// The directory watcher on a real filesystem: what it reports, and how many kernel watches it
// holds (read from this process's /proc/self/fdinfo, where each inotify watch is one line).

const open: Backend[] = [];
afterEach(async () => {
  for (const backend of open.splice(0)) await backend.close();
});

async function watching(exclude: string[] = []) {
  const root = await mkdtemp(join(tmpdir(), 'filesync-native-'));
  const seen = new Set<string>();
  const errors: Error[] = [];
  const before = inotifyWatches('self');
  const start = async () => {
    const backend = await startNative(
      { root, filter: new Filter({ include: [], exclude }), pollIntervalMs: 1000 },
      {
        paths: (paths) => {
          for (const path of paths) seen.add(path.slice(root.length + 1));
        },
        error: (error) => errors.push(error),
        rescan: () => {},
      },
    );
    open.push(backend);
    return backend;
  };
  const path = (rel: string) => join(root, rel);
  /** Waits until `rel` has been reported, then forgets what was seen so far. */
  const reported = async (rel: string) => {
    await waitFor(`an event for ${rel} (seen: ${[...seen].join(', ')})`, () => seen.has(rel), {
      timeoutMs: 5000,
      intervalMs: 10,
    });
    seen.clear();
  };
  const watches = () => inotifyWatches('self') - before;
  return { root, path, start, seen, errors, reported, watches };
}

describe('the native directory watcher', () => {
  it('holds one kernel watch per directory, none per file, and none for excluded directories', async () => {
    const w = await watching(['cache/']);
    for (let d = 0; d < 5; d++) {
      await mkdir(w.path(`d${d}/sub`), { recursive: true });
      for (let f = 0; f < 20; f++) await writeFile(w.path(`d${d}/sub/f${f}.txt`), 'x');
    }
    await mkdir(w.path('cache/deep'), { recursive: true });
    const backend = await w.start();
    expect(w.watches()).toBe(1 + 5 * 2);
    // Entries of the watched directories: d0…d4 and cache at the top, sub in each d, 20 files in each sub.
    expect(backend.entries).toBe(6 + 5 * 1 + 5 * 20);
  });

  it('estimates the size of leaf directories from a sample, and still watches and reports them', async () => {
    const w = await watching();
    // 32 leaves: the first holds 10 files, the rest none. Only every 16th leaf is listed where
    // link counts tell leaves apart (ext4, XFS, tmpfs); elsewhere every directory is.
    for (let d = 0; d < 32; d++)
      await mkdir(w.path(`top/d${String(d).padStart(2, '0')}`), { recursive: true });
    for (let f = 0; f < 10; f++) await writeFile(w.path(`top/d00/f${f}`), 'x');
    const backend = await w.start();
    expect(w.watches()).toBe(1 + 1 + 32);
    const sampled = [0xef53, 0x58465342, 0x01021994].includes(statfsSync(w.root).type);
    // Listed: the top (1), top/ (32), the sampled leaves d00 (10) and d16 (0); 30 estimated at 5.
    expect(backend.entries).toBe(sampled ? 1 + 32 + 10 + 30 * 5 : 1 + 32 + 10);
    await writeFile(w.path('top/d31/late.txt'), 'late');
    await w.reported('top/d31/late.txt');
    await mkdir(w.path('top/d31/sub'));
    await w.reported('top/d31/sub');
    await waitFor('the new subdirectory to be watched', () => w.watches() === 1 + 1 + 32 + 1, {
      timeoutMs: 5000,
    });
    await rm(w.path('top'), { recursive: true });
    await waitFor('the watches to be released', () => w.watches() === 1, { timeoutMs: 5000 });
    expect(backend.entries).toBe(1); // the top as listed at start; nothing below is counted now
  });

  it('reports content, permission-only and time-only changes, and dangling symlinks', async () => {
    const w = await watching();
    await writeFile(w.path('file.txt'), 'one');
    await w.start();
    await writeFile(w.path('file.txt'), 'two');
    await w.reported('file.txt');
    await chmod(w.path('file.txt'), 0o600);
    await w.reported('file.txt');
    await utimes(w.path('file.txt'), new Date('2020-01-01'), new Date('2020-01-01'));
    await w.reported('file.txt');
    await symlink('nowhere', w.path('dangling'));
    await w.reported('dangling');
    expect(w.errors).toEqual([]);
  });

  it('watches every level of `mkdir -p` and of a tree moved in, before reporting it', async () => {
    const w = await watching();
    const outside = await mkdtemp(join(tmpdir(), 'filesync-native-outside-'));
    await mkdir(join(outside, 'tree/x/y'), { recursive: true });
    await w.start();
    await mkdir(w.path('a/b/c/d'), { recursive: true });
    await w.reported('a');
    // The deepest level's watch may still be on its way (its event is queued): wait for it.
    await waitFor('every level to be watched', () => w.watches() === 1 + 4, { timeoutMs: 5000 });
    await writeFile(w.path('a/b/c/d/deep.txt'), 'deep');
    await w.reported('a/b/c/d/deep.txt');

    await rename(join(outside, 'tree'), w.path('moved-in'));
    await w.reported('moved-in');
    await writeFile(w.path('moved-in/x/y/later.txt'), 'later');
    await w.reported('moved-in/x/y/later.txt');
    expect(w.watches()).toBe(1 + 4 + 3);
  });

  it('lets go of trees moved out or deleted, and follows trees renamed inside', async () => {
    const w = await watching();
    const outside = await mkdtemp(join(tmpdir(), 'filesync-native-outside-'));
    await mkdir(w.path('out/a/b'), { recursive: true });
    await mkdir(w.path('gone/a'), { recursive: true });
    await mkdir(w.path('old/a'), { recursive: true });
    const backend = await w.start();
    expect(w.watches()).toBe(1 + 3 + 2 + 2);
    expect(backend.entries).toBe(3 + (1 + 1) + 1 + 1); // the top, out/ and out/a/, gone/, old/

    await rename(w.path('out'), join(outside, 'out'));
    await rm(w.path('gone'), { recursive: true });
    await rename(w.path('old'), w.path('new'));
    await w.reported('new');
    await waitFor('the watches to be released', () => w.watches() === 1 + 2, { timeoutMs: 5000 });
    // The top as it was listed at start (a count, not a mirror of the tree), and new/ listed anew.
    expect(backend.entries).toBe(3 + 1);

    await writeFile(join(outside, 'out/a/b/after.txt'), 'not ours');
    await writeFile(w.path('new/a/inside.txt'), 'ours');
    await w.reported('new/a/inside.txt');
    expect([...w.seen].filter((path) => path.includes('after.txt'))).toEqual([]);
  });

  it('follows a directory replaced by a symlink or a file, and back, without following the link', async () => {
    const w = await watching();
    const outside = await mkdtemp(join(tmpdir(), 'filesync-native-outside-'));
    await mkdir(join(outside, 'inner'));
    await mkdir(w.path('d/sub'), { recursive: true });
    await w.start();
    await rm(w.path('d'), { recursive: true });
    await symlink(outside, w.path('d'));
    await w.reported('d');
    await waitFor('d/ and d/sub to be let go', () => w.watches() === 1, { timeoutMs: 5000 });
    await writeFile(join(outside, 'inner/x.txt'), 'seen through the link only');
    await writeFile(w.path('marker'), 'm');
    await w.reported('marker');
    expect([...w.seen].filter((path) => path.startsWith('d/'))).toEqual([]);
    expect(w.watches()).toBe(1);

    await rm(w.path('d'));
    await writeFile(w.path('d'), 'now a file');
    await w.reported('d');
    await rm(w.path('d'));
    await mkdir(w.path('d/again'), { recursive: true });
    await w.reported('d');
    await waitFor('d/ and d/again to be watched', () => w.watches() === 3, { timeoutMs: 5000 });
    await writeFile(w.path('d/again/y.txt'), 'y');
    await w.reported('d/again/y.txt');
  });

  it('watches a directory replaced by another of the same name, whatever its inode number', async () => {
    const w = await watching();
    await mkdir(w.path('d/x'), { recursive: true });
    await w.start();
    for (let round = 0; round < 5; round++) {
      // In one tick, so both events are read after the swap; the kernel often hands the new
      // directory the inode number of the old one.
      rmSync(w.path('d'), { recursive: true });
      mkdirSync(w.path('d/x'), { recursive: true });
      await w.reported('d');
      await waitFor('d/ and d/x to be watched', () => w.watches() === 3, { timeoutMs: 5000 });
      await writeFile(w.path(`d/x/f${round}.txt`), 'f');
      await w.reported(`d/x/f${round}.txt`);
    }
  });

  it('takes events for paths below what is now a file or a symlink loop as nothing to watch', async () => {
    const w = await watching();
    await mkdir(w.path('d/x'), { recursive: true });
    await mkdir(w.path('e/y'), { recursive: true });
    await w.start();
    rmSync(w.path('d'), { recursive: true });
    writeFileSync(w.path('d'), 'a file where a directory was');
    rmSync(w.path('e'), { recursive: true });
    symlinkSync('e', w.path('e')); // a link to itself: lstat below it fails with ELOOP
    await w.reported('e');
    await writeFile(w.path('marker'), 'm');
    await w.reported('marker');
    expect(w.errors).toEqual([]);
    expect(w.watches()).toBe(1);
  });

  it('watches a source directory that was replaced, and says when it is gone', async () => {
    const w = await watching();
    await mkdir(w.path('old'));
    await w.start();
    // In one tick, so the new directory is there when the events are read.
    rmSync(w.root, { recursive: true });
    mkdirSync(join(w.root, 'fresh'), { recursive: true });
    await waitFor('the replacement to be reported', () => w.errors.some((e) => /replaced/.test(e.message)), {
      timeoutMs: 5000,
    });
    await waitFor('the new tree to be watched', () => w.watches() === 2, { timeoutMs: 5000 });
    await writeFile(join(w.root, 'fresh/new.txt'), 'n');
    await w.reported('fresh/new.txt');

    await rm(w.root, { recursive: true });
    await waitFor(
      'the loss to be reported',
      () => w.errors.some((e) => (e as FilesyncError).code === 'source-gone'),
      {
        timeoutMs: 5000,
      },
    );
  });
});
