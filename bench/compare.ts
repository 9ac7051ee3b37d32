// The fast start's comparison alone, in this process: 100,000 files in 1,000 directories (a tree
// of bench/support.ts), its manifest written, 1,000 files changed; then, alternating, the native
// comparison (native/compare.c) and the walk in 2 worker threads, each timed with its CPU time.
// No target, no daemon: what the comparison itself costs on this machine (docs/performance.md).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Filter } from '../src/filter.ts';
import { compareWithManifest } from '../src/state/compare.ts';
import { ManifestWriter, openManifest } from '../src/state/manifest.ts';
import { walkSource } from '../src/state/walk.ts';
import { median, writeTree } from './support.ts';

export async function measureCompare(options: { files: number; dirs: number; rounds: number }) {
  const { files, dirs, rounds } = options;
  const source = await mkdtemp(join(tmpdir(), 'filesync-bench-compare-'));
  await writeTree(source, files, dirs);
  const filter = { include: [], exclude: [] };
  const file = join(source, '..', `${source.split('/').at(-1)}.manifest`);
  const writer = await ManifestWriter.create(file, {});
  for await (const slice of walkSource(source, new Filter(filter))) await writer.add(slice);
  await writer.finish();
  const perDir = Math.ceil(files / dirs);
  const step = Math.floor(files / 1_000);
  for (let k = 0; k < 1_000; k++) {
    const i = k * step;
    await writeFile(join(source, `dir${Math.floor(i / perDir)}`, `file${i}.txt`), `changed ${k}\n`);
  }
  const manifest = openManifest(file);
  const runs: Record<'native' | 'workers', { ms: number[]; userMs: number[]; systemMs: number[] }> = {
    native: { ms: [], userMs: [], systemMs: [] },
    workers: { ms: [], userMs: [], systemMs: [] },
  };
  try {
    for (let round = 0; round < rounds; round++) {
      for (const way of round % 2 === 0
        ? (['native', 'workers'] as const)
        : (['workers', 'native'] as const)) {
        const began = performance.now();
        const cpu = process.cpuUsage();
        const found = await compareWithManifest(
          { sourceDir: source, filter, manifest: manifest.file, maxPaths: 100_000 },
          { native: way === 'native', workers: 2 },
        );
        const used = process.cpuUsage(cpu);
        if (found.changed !== 1_000) throw new Error(`${way}: ${found.changed} changed, not 1,000`);
        runs[way].ms.push(Math.round(performance.now() - began));
        runs[way].userMs.push(Math.round(used.user / 1000));
        runs[way].systemMs.push(Math.round(used.system / 1000));
      }
    }
  } finally {
    manifest.close();
    await rm(source, { recursive: true, force: true });
    await rm(file, { force: true });
  }
  const summary = (way: 'native' | 'workers') => ({
    ms: median(runs[way].ms),
    userMs: median(runs[way].userMs),
    systemMs: median(runs[way].systemMs),
    rounds: runs[way],
  });
  return { files, dirs, entries: files + dirs + 1, native: summary('native'), workers: summary('workers') };
}
