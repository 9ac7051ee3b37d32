import { closeSync, openSync, writeSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { compareRange, compareWithManifest, splitTasks } from '../../../src/state/compare.ts';
import { combineDiffs } from '../../../src/state/diff.ts';
import { ManifestError, ManifestWriter, openManifest } from '../../../src/state/manifest.ts';
import { hasNativeCompare } from '../../../src/state/native-compare.ts';
import type { Scanner } from '../../../src/state/scan.ts';
import { walkSource } from '../../../src/state/walk.ts';
import { collect, FILTER } from './support.ts';

/** A tree with depth, siblings that sort around `/`, and entries the filter drops. */
async function tree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'filesync-compare-'));
  for (const dir of ['a/b/c', 'a/b-c', 'a-b', 'ab/x/y', 'z'])
    await mkdir(join(root, dir), { recursive: true });
  const files = [
    'a/1',
    'a/b/2',
    'a/b/c/3',
    'a/b/c/4',
    'a/b-c/5',
    'a-b/6',
    'a.txt',
    'ab/x/7',
    'ab/x/y/8',
    'z/9',
  ];
  for (const file of files) await writeFile(join(root, file), file);
  await writeFile(join(root, 'a/b/skip.tmp'), '');
  await symlink('../a.txt', join(root, 'z/link'));
  return root;
}

describe('walkSource over a range', () => {
  it.each<Scanner>(['native', 'node'])(
    '%s: walks any split of the order into the whole walk, whether the split path exists or not',
    async (scanner) => {
      const root = await tree();
      const filter = new Filter(FILTER);
      const whole = (await collect(walkSource(root, filter, {}, scanner))).map(({ path }) => path);
      expect(whole).toContain('ab/x/y/8');
      const splits = [...whole, 'a/0', 'a/b/c/35', 'a/b/zz', 'a0', 'aa/q', 'zz'];
      for (const at of splits) {
        const before = await collect(walkSource(root, filter, { to: at }, scanner));
        const after = await collect(walkSource(root, filter, { from: at }, scanner));
        expect(
          [...before, ...after].map(({ path }) => path),
          `split at ${at}`,
        ).toEqual(whole);
      }
      const middle = await collect(walkSource(root, filter, { from: 'a/b/c/3', to: 'ab/x/7' }, scanner));
      expect(middle.map(({ path }) => path)).toEqual([
        'a/b/c/3',
        'a/b/c/4',
        'a/b-c',
        'a/b-c/5',
        'a-b',
        'a-b/6',
        'a.txt',
        'ab',
        'ab/x',
      ]);
    },
  );
});

describe('compareWithManifest', () => {
  /** The tree's manifest in sections of three entries, then the tree changed in every way. */
  async function changed() {
    const root = await tree();
    const filter = new Filter(FILTER);
    const file = join(await mkdtemp(join(tmpdir(), 'filesync-compare-m-')), 'm');
    const writer = await ManifestWriter.create(file, {}, 3);
    for await (const slice of walkSource(root, filter)) await writer.add(slice);
    await writer.finish();
    await rm(join(root, 'a/b'), { recursive: true }); // a tree across sections
    await rm(join(root, 'ab/x/y'), { recursive: true });
    await writeFile(join(root, 'ab/x/y'), 'a directory became a file');
    await writeFile(join(root, 'a-b/6'), 'rewritten, longer');
    await chmod(join(root, 'a.txt'), 0o600);
    await writeFile(join(root, 'a/b-c/new'), 'created');
    await mkdir(join(root, 'zz/deep'), { recursive: true });
    return { root, file, manifest: openManifest(file) };
  }

  it('finds, in ranges, what one pass over the whole finds: each vanished tree once, by its top', async () => {
    const { root, manifest } = await changed();
    expect(manifest.file.sections.length).toBeGreaterThan(4);
    const base = { sourceDir: root, filter: FILTER, manifest: manifest.file };
    const [all] = splitTasks(base, 1);
    if (all === undefined) throw new Error('no task');
    const whole = combineDiffs([await compareRange(all)]);
    // A directory whose entries changed has a new time: listed as `dir/`, as rsync sets it; the
    // source directory itself (zz is new there) as ''.
    expect(whole.paths).toEqual([
      { path: '', kind: 'dir' },
      { path: 'a', kind: 'dir' },
      { path: 'a/b', kind: 'missing', ancestor: 'a' },
      { path: 'a/b-c', kind: 'dir' },
      { path: 'a/b-c/new', kind: 'file' },
      { path: 'a-b/6', kind: 'file' },
      { path: 'a.txt', kind: 'file' },
      { path: 'ab/x', kind: 'dir' },
      { path: 'ab/x/y', kind: 'file' },
      { path: 'zz', kind: 'dir' },
      { path: 'zz/deep', kind: 'dir' },
    ]);
    expect(whole).toMatchObject({ created: 3, deleted: 1 });
    for (let parts = 2; parts <= manifest.file.sections.length; parts++) {
      const tasks = splitTasks(base, parts);
      expect(tasks).toHaveLength(parts);
      const split = combineDiffs(await Promise.all(tasks.map((task) => compareRange(task))));
      expect(split, `${parts} ranges`).toEqual(whole);
    }
    // The same in worker threads, and natively, as the daemon runs it.
    expect(await compareWithManifest(base, { workers: 3, native: false })).toEqual({
      ...whole,
      comparison: 'workers',
      durationMs: expect.any(Number),
    });
    expect(hasNativeCompare).toBe(true); // npm run build made it
    expect(await compareWithManifest(base, { native: true })).toEqual({
      ...whole,
      comparison: 'native',
      durationMs: expect.any(Number),
    });
    manifest.close();
  });

  it.each([true, false])(
    'native %s: fails as a whole, with the reason, when one range of the manifest is malformed',
    async (native) => {
      const { root, file, manifest } = await changed();
      const last = manifest.file.sections.at(-1);
      if (last === undefined) throw new Error('no section');
      // The last section's first record: its type (after three lengths) becomes one no manifest holds.
      const fd = openSync(file, 'r+');
      writeSync(fd, 'q', last.offset + 6);
      closeSync(fd);
      const base = { sourceDir: root, filter: FILTER, manifest: manifest.file };
      await expect(compareWithManifest(base, { workers: 3, native })).rejects.toThrow(ManifestError);
      await expect(compareWithManifest(base, { workers: 3, native })).rejects.toThrow(/is malformed/);
      manifest.close();
    },
  );

  it.each([true, false])(
    'native %s: walks only once its gate opens, so it sees what changed while the watcher started',
    async (native) => {
      const { root, manifest } = await changed();
      const base = { sourceDir: root, filter: FILTER, manifest: manifest.file };
      const before = await compareWithManifest(base, { workers: 2, native });
      let open = () => {};
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const comparing = compareWithManifest(base, { workers: 2, gate, native });
      // Unopened, the workers wait: without the gate this comparison takes a fraction of this.
      const waited = await Promise.race([comparing.then(() => 'walked'), delay(1000).then(() => 'waiting')]);
      expect(waited).toBe('waiting');
      await writeFile(join(root, 'late.txt'), 'written while the workers started\n');
      open();
      const after = await comparing;
      const late = { path: 'late.txt', kind: 'file' };
      expect(before.paths).not.toContainEqual(late);
      expect(after.paths).toContainEqual(late);
      manifest.close();
    },
  );

  it.each([true, false])('native %s: stops when the target stops', async (native) => {
    const { root, manifest } = await changed();
    const stopping = new AbortController();
    const comparing = compareWithManifest(
      { sourceDir: root, filter: FILTER, manifest: manifest.file },
      { signal: stopping.signal, workers: 2, native },
    );
    stopping.abort(new Error('stopping'));
    await expect(comparing).rejects.toThrow(/stopping/);
    manifest.close();
  });
});
