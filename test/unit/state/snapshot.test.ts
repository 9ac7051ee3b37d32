import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { comparePaths, type Entry, entryOf } from '../../../src/state/entry.ts';
import { encodePart, ManifestWriter, openManifest } from '../../../src/state/manifest.ts';
import { rangesAt, snapshotInParts, snapshotRange } from '../../../src/state/snapshot.ts';
import { walkSource } from '../../../src/state/walk.ts';
import { collect, FILTER } from './support.ts';

/** A tree of several top-level directories, names that sort around `/`, a link, a dropped file. */
async function tree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'filesync-snapshot-'));
  for (const dir of ['a/b/c', 'a/b-c', 'a-b', 'ab/x/y', 'm', 'z'])
    await mkdir(join(root, dir), { recursive: true });
  for (const file of ['a/1', 'a/b/2', 'a/b/c/3', 'a/b-c/5', 'a-b/6', 'a.txt', 'ab/x/y/8', 'm/9', 'z/10'])
    await writeFile(join(root, file), file);
  for (let i = 0; i < 20; i++) await writeFile(join(root, 'm', `f${i}`), `${i}`);
  await writeFile(join(root, 'a/skip.tmp'), '');
  await symlink('../a.txt', join(root, 'z/link'));
  return root;
}

/** A manifest of the parts, read back whole. */
async function written(parts: Parameters<ManifestWriter['addPart']>[0][], sectionSize = 3) {
  const file = join(await mkdtemp(join(tmpdir(), 'filesync-snapshot-m-')), 'm');
  const writer = await ManifestWriter.create(file, { id: 1 }, sectionSize);
  for (const part of parts) await writer.addPart(part);
  await writer.finish();
  const opened = openManifest(file);
  try {
    return { entries: await collect(opened.entries()), sections: opened.file.sections, count: opened.count };
  } finally {
    opened.close();
  }
}

describe('rangesAt', () => {
  it('cuts the order at evenly spaced points into contiguous ranges', () => {
    const points = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
    expect(rangesAt(points, 1)).toEqual([{}]);
    expect(rangesAt(points, 2)).toEqual([{ to: 'e' }, { from: 'e' }]);
    expect(rangesAt(points, 4)).toEqual([
      { to: 'c' },
      { from: 'c', to: 'e' },
      { from: 'e', to: 'g' },
      { from: 'g' },
    ]);
    expect(rangesAt(['a', 'b'], 4)).toEqual([{ to: 'b' }, { from: 'b' }]);
    expect(rangesAt([], 4)).toEqual([{}]);
    expect(rangesAt(['a', 'b', 'b', 'b'], 4)).toEqual([{ to: 'b' }, { from: 'b' }]);
  });
});

describe('the stop’s snapshot in parts', () => {
  it('writes from any cut of the walk the manifest that one walk writes', async () => {
    const root = await tree();
    const whole = await collect(walkSource(root, new Filter(FILTER)));
    const paths = whole.map(({ path }) => path);
    expect(paths).toContain('z/link');
    expect(paths).not.toContain('a/skip.tmp');
    const base = { sourceDir: root, filter: FILTER, sectionSize: 3 };
    for (const parts of [1, 2, 3, 5, paths.length]) {
      const ranges = rangesAt([...paths, 'a/b/zz', 'm/f10x'].sort(comparePaths), parts);
      const spool = join(await mkdtemp(join(tmpdir(), 'filesync-snapshot-parts-')), 'p');
      const encoded = await Promise.all(
        ranges.map((range, k) => snapshotRange({ ...base, range, file: `${spool}${k}` })),
      );
      const read = await written(encoded);
      expect(read.entries, `${parts} parts`).toEqual(whole);
      expect(read.count).toBe(whole.length);
      // Each section starts afresh, so a part's sections stand alone in the index.
      expect(read.sections.map(({ first }) => first)).toEqual(
        encoded.flatMap((part) => part.sections.map(({ first }) => Buffer.from(first).toString())),
      );
    }
  });

  it('walks in worker threads, cut at the top-level names or at the last manifest’s sections', async () => {
    const root = await tree();
    const whole = await collect(walkSource(root, new Filter(FILTER)));
    const base = { sourceDir: root, filter: FILTER };
    const spool = join(await mkdtemp(join(tmpdir(), 'filesync-snapshot-spool-')), 'm.1');
    const byNames = await snapshotInParts(base, undefined, spool, { workers: 3, sectionSize: 3 });
    expect(byNames).toHaveLength(3);
    expect((await written(byNames)).entries).toEqual(whole);
    // A last manifest in sections of 3: cut where they start, into parts of about equal size.
    const last = join(await mkdtemp(join(tmpdir(), 'filesync-snapshot-last-')), 'm');
    const writer = await ManifestWriter.create(last, {}, 3);
    await writer.add(whole);
    await writer.finish();
    const bySections = await snapshotInParts(base, last, spool, { workers: 3, sectionSize: 3 });
    expect(bySections).toHaveLength(3);
    for (const { count } of bySections) expect(Math.abs(count - whole.length / 3)).toBeLessThanOrEqual(3);
    expect((await written(bySections)).entries).toEqual(whole);
    // A last manifest that is not whole is no help: the top-level names cut the walk.
    await writeFile(last, 'filesync-manifest 2\n{}\n');
    expect((await written(await snapshotInParts(base, last, spool, { workers: 2 }))).entries).toEqual(whole);
  });

  it('removes the parts written when one range fails, and fails with its reason', async () => {
    const root = await tree();
    const spool = join(await mkdtemp(join(tmpdir(), 'filesync-snapshot-fail-')), 'm.1');
    await writeFile(`${spool}.part0`, 'a part left by an earlier stop');
    await mkdir(`${spool}.part1`); // where part 1 goes: its worker cannot write there
    await expect(
      snapshotInParts({ sourceDir: root, filter: FILTER }, undefined, spool, { workers: 2, sectionSize: 3 }),
    ).rejects.toThrow(/EISDIR/);
    expect(existsSync(`${spool}.part0`)).toBe(false);
  });

  it('writes and reads back megabytes of records: long paths, across chunks, reads and slices', async () => {
    // Paths longer than the encoder's first buffer, each differing early (little shared), so a
    // section outgrows one read and the records many drains; names of every kind of bytes.
    const tail = `${'x'.repeat(400)}/é`;
    const entries = Array.from(
      { length: 12_000 },
      (_, i): Entry =>
        entryOf({
          path: `${i.toString(36).padStart(4, '0')}-${tail}${i % 5 === 0 ? '\udc80' : ''}`,
          type: i % 7 === 0 ? 'l' : 'f',
          size: BigInt(i),
          mtimeNs: 1_700_000_000_000_000_000n + BigInt(i),
          mode: 0o644,
          uid: 1000,
          gid: 1000,
          ino: BigInt(i + 1),
          link: i % 7 === 0 ? `../${'t'.repeat(300)}${i}` : '',
        }),
    ).sort((a, b) => comparePaths(a.path, b.path));
    const dir = await mkdtemp(join(tmpdir(), 'filesync-snapshot-big-'));
    const whole = join(dir, 'whole');
    const added = await ManifestWriter.create(whole, {});
    await added.add(entries);
    await added.finish();
    const inParts = join(dir, 'parts');
    const writer = await ManifestWriter.create(inParts, {});
    async function* of(slice: Entry[]) {
      yield slice;
    }
    for (const [k, [from, to]] of [
      [0, 5_000],
      [5_000, 5_001],
      [5_001, 12_000],
    ].entries())
      await writer.addPart(await encodePart(of(entries.slice(from, to)), join(dir, `part${k}`)));
    await writer.finish();
    for (const file of [whole, inParts]) {
      const opened = openManifest(file);
      expect((await stat(file)).size).toBeGreaterThan(4 * 1024 * 1024);
      expect(await collect(opened.entries()), file).toEqual(entries);
      opened.close();
    }
  });

  it('mixes parts with records added one by one, each part opening a section', async () => {
    const root = await tree();
    const whole = await collect(walkSource(root, new Filter(FILTER)));
    const file = join(await mkdtemp(join(tmpdir(), 'filesync-snapshot-mix-')), 'm');
    const writer = await ManifestWriter.create(file, {}, 4);
    async function* of(entries: Entry[]) {
      yield entries;
    }
    const spool = await mkdtemp(join(tmpdir(), 'filesync-snapshot-mix-parts-'));
    await writer.add(whole.slice(0, 5));
    await writer.addPart(await encodePart(of(whole.slice(5, 12)), join(spool, '1'), 4));
    await writer.add(whole.slice(12, 14));
    await writer.addPart(await encodePart(of([]), join(spool, '2'), 4));
    await writer.addPart(await encodePart(of(whole.slice(14)), join(spool, '3'), 4));
    await writer.finish();
    const opened = openManifest(file);
    expect(await collect(opened.entries())).toEqual(whole);
    const rest = whole.length - 14;
    expect(opened.file.sections.map(({ count }) => count)).toEqual([
      ...[4, 1, 4, 3, 2],
      ...Array.from({ length: Math.ceil(rest / 4) }, (_, k) => Math.min(4, rest - 4 * k)),
    ]);
    opened.close();
  });
});
