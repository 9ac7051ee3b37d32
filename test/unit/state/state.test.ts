import { Buffer } from 'node:buffer';
import { existsSync } from 'node:fs';
import {
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { nameOf } from '../../../src/names.ts';
import { combineDiffs, diffAgainstManifest } from '../../../src/state/diff.ts';
import { comparePaths, type Entry, type EntryFields, entryOf, fieldsOf } from '../../../src/state/entry.ts';
import { ManifestError, ManifestWriter, openManifest } from '../../../src/state/manifest.ts';
import { prestartTarget } from '../../../src/state/prestart.ts';
import {
  commitManifest,
  markRunning,
  snapshotSource,
  targetState,
  trustManifest,
} from '../../../src/state/store.ts';
import { walkSource } from '../../../src/state/walk.ts';
import { testConfig } from '../fixtures.ts';
import { collect } from './support.ts';

function entry(path: string, change: Partial<EntryFields> = {}): Entry {
  return entryOf({
    path,
    type: 'f',
    size: 10n,
    mtimeNs: 1_700_000_000_123_456_789n,
    mode: 0o644,
    uid: 1000,
    gid: 1000,
    ino: 1n,
    link: '',
    ...change,
  });
}

async function* slices(entries: readonly Entry[], size = 2): AsyncGenerator<Entry[]> {
  for (let i = 0; i < entries.length; i += size) yield entries.slice(i, i + size);
}

describe('comparePaths', () => {
  it('orders a directory before what it holds, and what it holds before its next sibling', () => {
    const paths = ['a-b', 'a/x', 'a', 'ab/x', 'a/x/y', 'b', 'a.txt'];
    expect([...paths].sort(comparePaths)).toEqual(['a', 'a/x', 'a/x/y', 'a-b', 'a.txt', 'ab/x', 'b']);
  });
});

describe('walkSource', () => {
  it('lists every accepted entry depth first, names sorted, with what the manifest records', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-walk-'));
    await mkdir(join(root, 'a/deep'), { recursive: true });
    await writeFile(join(root, 'a/deep/f'), 'hello');
    await writeFile(join(root, 'a-b'), '');
    await writeFile(join(root, 'skip.tmp'), '');
    await symlink('../a-b', join(root, 'a/link'));
    await utimes(join(root, 'a/deep/f'), 1_700_000_000.5, 1_700_000_000.5);
    const filter = new Filter({ include: [], exclude: ['*.tmp'] });
    const walked = await collect(walkSource(root, filter));
    expect(walked.map(({ path, type }) => `${type} ${path}`)).toEqual([
      'd ', // the source directory itself
      'd a',
      'd a/deep',
      'f a/deep/f',
      'l a/link',
      'f a-b',
    ]);
    const file = walked.find(({ path }) => path === 'a/deep/f');
    expect(file && fieldsOf(file)).toMatchObject({ size: 5n, mtimeNs: 1_700_000_000_500_000_000n });
    expect(walked.find(({ path }) => path === 'a/link')?.link).toBe('../a-b');
    // A source given as a symlink to its directory is walked through it, as rsync takes `source/`.
    const linked = join(await mkdtemp(join(tmpdir(), 'filesync-walk-link-')), 'source');
    await symlink(root, linked);
    const through = await collect(walkSource(linked, filter));
    expect(through).toEqual(walked);
  });
});

describe('the manifest file', () => {
  it('reads back every entry as written: names that are not UTF-8, links, times before 1970 and after 2262, inode numbers past 2^63', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync-manifest-'));
    const odd = nameOf(Buffer.from([0x6f, 0xff, 0x64]));
    const entries = [
      entry('a', { type: 'd', mode: 0o2775 }),
      entry('a/b c', { size: 0n }),
      entry(`a/${odd}`, { ino: 12_345_678_901n }),
      entry('a/link', { type: 'l', link: `../${odd}` }),
      entry('old', { mtimeNs: -86_400_500_000_000n }),
      entry('past-2262', { mtimeNs: 10_413_792_000_500_000_000n, ino: 2n ** 64n - 1n }),
      entry('z', { mtimeNs: 1n }),
    ];
    const file = join(dir, 'm');
    const writer = await ManifestWriter.create(file, { target: 'x' });
    await writer.add(entries);
    await writer.finish();
    const opened = openManifest(file);
    expect(opened.identity).toEqual({ target: 'x' });
    expect(await collect(opened.entries())).toEqual(entries);
  });

  it('refuses a record whose fields are not what it writes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync-manifest-'));
    const file = join(dir, 'm');
    const writer = await ManifestWriter.create(file, {});
    await writer.add([entry('a', { size: 123n }), entry('b', { size: 456n })]);
    await writer.finish();
    const whole = await readFile(file);
    // Record 2 follows the header's two lines and record 1 (50 bytes and its name, `a`).
    const second = whole.indexOf(0x0a, whole.indexOf(0x0a) + 1) + 1 + 51;
    expect(whole.toString('latin1', second + 50, second + 51)).toBe('b');
    // Each edit keeps the record's length, so the index still finds it: only its fields are wrong.
    for (const [what, at, bytes] of [
      ['a type of none', 6, [0x71]],
      ['a time neither in nanoseconds nor seconds', 7, [2]],
      ['more of the path shared than the last one had', 0, [5, 0]],
      ['a link target on a file', 2, [0, 0, 1, 0]],
    ] as const) {
      const edited = Buffer.from(whole);
      edited.set(bytes, second + at);
      await writeFile(file, edited);
      const opened = openManifest(file);
      await expect(collect(opened.entries()), what).rejects.toThrow(/record 2 of section 1 is malformed/);
      opened.close();
    }
  });

  it('fails, and does not spin, on a file cut short after it was opened', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync-manifest-'));
    const file = join(dir, 'm');
    const writer = await ManifestWriter.create(file, {}, 100);
    await writer.add(Array.from({ length: 300 }, (_, i) => entry(`file-${String(i).padStart(4, '0')}`)));
    await writer.finish();
    const opened = openManifest(file);
    const second = opened.file.sections[1];
    if (second === undefined) throw new Error('no second section');
    // Just after its first record (50 bytes and the whole name, file-0100): no partial one left.
    await truncate(file, second.offset + 50 + 'file-0100'.length);
    await expect(collect(opened.entries())).rejects.toThrow(
      /section 2 holds \d+ entries, its index says 100/,
    );
    opened.close();
  });

  it('refuses a file that was not written whole, or is not a manifest', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync-manifest-'));
    const file = join(dir, 'm');
    const writer = await ManifestWriter.create(file, {});
    await writer.add(Array.from({ length: 1000 }, (_, i) => entry(`file-${String(i).padStart(4, '0')}`)));
    await writer.finish();
    const { size } = await import('node:fs/promises').then(({ stat }) => stat(file));
    await truncate(file, size - 10);
    expect(() => openManifest(file)).toThrow(/not written whole/);
    await writeFile(join(dir, 'other'), '{"not":"a manifest"}\n');
    expect(() => openManifest(join(dir, 'other'))).toThrow(ManifestError);
  });
});

describe('diffAgainstManifest', () => {
  // Both sides in the walk's order, as walkSource and the manifest give them.
  const sorted = (entries: Entry[]) => [...entries].sort((x, y) => comparePaths(x.path, y.path));
  const diff = async (now: Entry[], then: Entry[]) =>
    combineDiffs([await diffAgainstManifest(slices(sorted(now)), slices(sorted(then), 3))]);

  it('finds nothing to send when the source is what the manifest says', async () => {
    const tree = [entry('a', { type: 'd' }), entry('a/f'), entry('b')];
    expect(await diff(tree, tree)).toMatchObject({
      paths: [],
      entries: 3,
      created: 0,
      changed: 0,
      deleted: 0,
    });
  });

  it('sends what was created, changed in any attribute rsync sends or replaced by another inode, and what was deleted', async () => {
    const then = [
      entry('a', { type: 'd' }),
      entry('a/same'),
      entry('a/rewritten'),
      entry('a/chmod'),
      entry('a/gone', { ino: 7n }),
      entry('a/replaced', { ino: 8n }),
      entry('dir-gone', { type: 'd' }),
      entry('dir-gone/f'),
      entry('dir-gone/sub', { type: 'd' }),
      entry('dir-gone/sub/f'),
      entry('link', { type: 'l', link: 'a' }),
    ];
    const now = [
      entry('a', { type: 'd', mtimeNs: 2n }),
      entry('a/moved-here', { ino: 7n }),
      entry('a/new-dir', { type: 'd' }),
      entry('a/new-dir/f'),
      entry('a/same'),
      entry('a/rewritten', { mtimeNs: fieldsOf(entry('')).mtimeNs + 1n }),
      entry('a/chmod', { mode: 0o600 }),
      // Restored from a copy that kept its times: the same fields, another inode.
      entry('a/replaced', { ino: 9n }),
      entry('link', { type: 'l', link: 'b' }),
    ];
    const result = await diff(now, then);
    expect(result.paths).toEqual(
      [
        { path: 'a', kind: 'dir' },
        { path: 'a/gone', kind: 'missing', ancestor: 'a' },
        { path: 'a/moved-here', kind: 'file' },
        { path: 'a/new-dir', kind: 'dir' },
        { path: 'a/new-dir/f', kind: 'file' },
        { path: 'a/rewritten', kind: 'file' },
        { path: 'a/chmod', kind: 'file' },
        { path: 'a/replaced', kind: 'file' },
        { path: 'dir-gone', kind: 'missing', ancestor: '' },
        { path: 'link', kind: 'file' },
      ].sort((x, y) => comparePaths(x.path, y.path)),
    );
    expect(result).toMatchObject({ created: 3, changed: 5, deleted: 2, moved: 1, entries: 9 });
  });

  it("sends the source directory itself, as the entry '', when its mode or owner changed", async () => {
    const then = [entry('', { type: 'd', mode: 0o755 }), entry('f')];
    const now = [entry('', { type: 'd', mode: 0o750 }), entry('f')];
    expect(await diff(now, then)).toMatchObject({
      paths: [{ path: '', kind: 'dir' }],
      changed: 1,
      entries: 2,
    });
    const chowned = [entry('', { type: 'd', mode: 0o755, uid: 0 }), entry('f')];
    expect((await diff(chowned, then)).paths).toEqual([{ path: '', kind: 'dir' }]);
    expect((await diff(then, then)).paths).toEqual([]);
  });

  it('replaces a directory that became a file, without deleting below it on its own', async () => {
    const then = [entry('x', { type: 'd' }), entry('x/f'), entry('y', { type: 'l', link: 'x' })];
    const now = [entry('x'), entry('y', { type: 'd' }), entry('y/f')];
    expect((await diff(now, then)).paths).toEqual([
      { path: 'x', kind: 'file' },
      { path: 'y', kind: 'dir' },
      { path: 'y/f', kind: 'file' },
    ]);
  });

  it('stops past the most paths asked for, and says so: a tree that is all new is not held whole', async () => {
    const now = Array.from({ length: 10 }, (_, i) => entry(`f${i}`));
    const whole = await diffAgainstManifest(slices(sorted(now)), slices([]));
    expect(whole).toMatchObject({ truncated: false, created: 10 });
    const capped = await diffAgainstManifest(slices(sorted(now)), slices([]), undefined, 3);
    expect(capped.truncated).toBe(true);
    expect(capped.paths).toHaveLength(4);
    expect(combineDiffs([whole, capped]).truncated).toBe(true);
  });
});

describe('the state directory', () => {
  async function setup(env: Record<string, string> = {}) {
    const stateDir = await mkdtemp(join(tmpdir(), 'filesync-state-'));
    const source = await mkdtemp(join(tmpdir(), 'filesync-source-'));
    await writeFile(join(source, 'f'), 'x');
    const config = testConfig({ SYNC_SOURCE_DIR: source, SYNC_STATE_DIR: stateDir, ...env });
    const filter = new Filter(config.filter);
    return { stateDir, source, config, filter, state: targetState(stateDir, config, filter) };
  }

  /** What a daemon does across one life: marks itself running, then a clean stop. */
  async function cleanStop({ stateDir, source, config, state }: Awaited<ReturnType<typeof setup>>) {
    await markRunning(state, stateDir);
    const [pending] = await snapshotSource(source, config.filter, [state]);
    if (pending === undefined) throw new Error('no manifest');
    await commitManifest(pending, stateDir);
    // The parts the walk was spooled into are gone with it.
    expect(await readdir(stateDir)).toEqual([basename(state.manifest)]);
  }

  it('trusts the manifest of a clean stop for the same target and settings', async () => {
    const setting = await setup();
    expect(await trustManifest(setting.state)).toMatchObject({ trusted: false, reason: /no manifest yet/ });
    await cleanStop(setting);
    const trust = await trustManifest(setting.state);
    expect(trust.trusted).toBe(true);
    if (trust.trusted)
      expect((await collect(trust.manifest.entries())).map(({ path }) => path)).toEqual(['', 'f']);
  });

  it('prestarts: judges the manifest and begins its comparison at once, before the watcher; stop() ends it', async () => {
    const setting = await setup();
    expect(prestartTarget(testConfig({ SYNC_SOURCE_DIR: setting.source }))).toBeUndefined();
    expect(await prestartTarget(setting.config)?.prepared).toMatchObject({
      trusted: false,
      reason: /no manifest yet/,
    });
    await cleanStop(setting);
    await writeFile(join(setting.source, 'g'), 'created while stopped');
    const early = prestartTarget(setting.config);
    const found = await early?.prepared;
    if (found?.trusted !== true) throw new Error('not trusted');
    // Natively, through the bridge, begun before the gate (the watcher) opens.
    found.comparison.open();
    expect(await found.comparison.diff).toMatchObject({ comparison: 'native', created: 1 });
    expect(found.comparison.bridge?.drain()).toEqual({ paths: [], overflow: false });
    found.manifest.close();
    const stopped = prestartTarget(setting.config);
    stopped?.stop();
    const second = await stopped?.prepared;
    if (second?.trusted !== true) throw new Error('not trusted');
    await expect(second.comparison.diff).rejects.toThrow(/abort/i);
    second.manifest.close();
  });

  it('removes at start what a stop killed while writing its manifest left, and nothing else', async () => {
    const setting = await setup();
    const { stateDir, state } = setting;
    await cleanStop(setting);
    const leftovers = [`${state.manifest}.12345.tmp`, `${state.manifest}.12345.part0`];
    for (const leftover of leftovers) await writeFile(leftover, 'filesync-manifest 2\n{}\n');
    const others = [
      `${state.manifest}.x.tmp`,
      `${state.manifest}.12345.partx`,
      `${state.manifest}.part0`,
      join(stateDir, 'other-abc.manifest.12345.tmp'),
      join(stateDir, 'notes'),
    ];
    for (const other of others) await writeFile(other, '');
    await markRunning(state, stateDir);
    for (const leftover of leftovers) expect(existsSync(leftover), leftover).toBe(false);
    for (const other of others) expect(existsSync(other), other).toBe(true);
    expect(existsSync(state.manifest)).toBe(true);
  });

  it('does not trust it while a daemon runs, or after one was killed (its marker stays)', async () => {
    const setting = await setup();
    await cleanStop(setting);
    await markRunning(setting.state, setting.stateDir);
    expect(await trustManifest(setting.state)).toMatchObject({
      trusted: false,
      reason: expect.stringMatching(/did not stop cleanly \(pid \d+, started /),
    });
  });

  it('does not trust a manifest written for another target, or with other settings', async () => {
    const setting = await setup();
    await cleanStop(setting);
    const other = targetState(
      setting.stateDir,
      testConfig({
        SYNC_SOURCE_DIR: setting.source,
        SYNC_STATE_DIR: setting.stateDir,
        SYNC_EXCLUDE: '*.log',
      }),
      new Filter({ include: [], exclude: ['*.log'] }),
    );
    // Same target, so the same file: its header says what it was written for.
    expect(other.manifest).toBe(setting.state.manifest);
    expect(await trustManifest(other)).toMatchObject({ trusted: false, reason: /another filter/ });
    const moved = targetState(
      setting.stateDir,
      testConfig({ SYNC_SOURCE_DIR: setting.source, SYNC_REMOTE_DIR: '/srv/elsewhere' }),
      setting.filter,
    );
    await rename(setting.state.manifest, moved.manifest);
    expect(await trustManifest(moved)).toMatchObject({ trusted: false, reason: /another target/ });
  });

  it('does not trust a manifest it cannot read', async () => {
    const setting = await setup();
    await cleanStop(setting);
    const text = await readFile(setting.state.manifest);
    await writeFile(setting.state.manifest, text.subarray(0, 10));
    expect(await trustManifest(setting.state)).toMatchObject({ trusted: false, reason: /unreadable/ });
  });
});
