// What lands on the target (issue #21's targets), against the real sshd target:
//   mix  — a 2,000-file batch replacing an older generation, with a reader polling the mirror
//          as fast as it can: how long a reader could see old and new files together, next to
//          the batch's transfer time; without and with SYNC_DELAY_UPDATES, rounds interleaved
//   cost — the latency (p50 over the 200 ms debounce) and burst (10,000 files) rows with the
//          mapping, the symlink policy and delayed updates on, interleaved with the defaults
import { randomBytes } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Target } from '../test/integration/support/target.ts';
import { waitFor } from '../test/integration/support/wait.ts';
import { burstRun, daemonFor, latencySamples, median, percentile, started } from './support.ts';

const MIX_FILES = 2_000;
const MIX_DIRS = 20;
/** Small files, where rsync's rename loop weighs most against the transfer, and larger ones. */
const MIX_SIZES = [8_192, 65_536];
const MIX_ROUNDS = 3;
const COST_ROUNDS = 3;

/** Every setting of the issue at once: group and modes mapped, links judged, updates delayed. */
const LANDING = {
  SYNC_CHOWN: ':www-data',
  SYNC_CHMOD: 'D2775,F664',
  SYNC_SYMLINKS: 'safe',
  SYNC_DELAY_UPDATES: 'true',
};

export async function measureLanding(target: Target, mirror: string, parts = ['mix', 'cost']) {
  return {
    ...(parts.includes('mix') ? { mix: await measureMix(target, mirror) } : {}),
    ...(parts.includes('cost') ? { cost: await measureCost(target, mirror) } : {}),
  };
}

const path = (root: string, i: number) => join(root, `dir${i % MIX_DIRS}`, `file${i}`);

async function writeGeneration(root: string, generation: number, size: number) {
  for (let d = 0; d < MIX_DIRS; d++) await mkdir(join(root, `dir${d}`), { recursive: true });
  // Random after the marker: nothing of the old generation matches, so all of it is sent.
  const writes = [];
  for (let i = 0; i < MIX_FILES; i++) {
    const body = Buffer.concat([Buffer.from(`gen${generation}`), randomBytes(size - 4)]);
    writes.push(writeFile(path(root, i), body));
  }
  await Promise.all(writes);
}

/**
 * One pass over the mirror's files, by inode: rsync puts each new file in place by a rename, so
 * a path still on its old inode shows the old generation. One lstat a file (a third of an
 * open/read/close), so a pass takes a few ms: the resolution of the window measured.
 */
function readAll(
  local: string,
  old: ReadonlyMap<number, bigint>,
): { begin: number; end: number; gen1: number; gen2: number } {
  const begin = performance.now();
  let gen1 = 0;
  let gen2 = 0;
  for (let i = 0; i < MIX_FILES; i++) {
    const ino = lstatSync(path(local, i), { bigint: true, throwIfNoEntry: false })?.ino;
    if (ino === undefined) continue;
    if (ino === old.get(i)) gen1++;
    else gen2++;
  }
  return { begin, end: performance.now(), gen1, gen2 };
}

async function mixRound(target: Target, mirror: string, name: string, delayed: boolean, size: number) {
  const { source, env, local } = await daemonFor(target, mirror, name, {
    SYNC_DELAY_UPDATES: String(delayed),
  });
  await writeGeneration(source, 1, size);
  const { daemon } = await started(env);
  const batches = () => daemon.logs.filter((line) => line.msg === 'synced' && line.kind === 'batch');
  const before = batches().length;
  const old = new Map<number, bigint>();
  for (let i = 0; i < MIX_FILES; i++) old.set(i, lstatSync(path(local, i), { bigint: true }).ino);
  const reads: ReturnType<typeof readAll>[] = [];
  await writeGeneration(source, 2, size);
  // The reader: as fast as it can, yielding between passes so the daemon's output is read.
  for (;;) {
    const read = readAll(local, old);
    reads.push(read);
    if (read.gen2 === MIX_FILES) break;
    if (reads.length > 100_000) throw new Error('the new generation never arrived');
    await delay(0);
  }
  await waitFor('the batch logged', () => batches().length > before, { timeoutMs: 60_000, intervalMs: 5 });
  await daemon.stop();
  const runs = batches().slice(before);
  const transferMs = runs.reduce((sum, line) => sum + Number(line.durationMs), 0);
  const mixed = reads.filter((read) => read.gen1 > 0 && read.gen2 > 0);
  const first = mixed[0];
  const last = mixed.at(-1);
  // The reads that saw both generations span this long; one read's length is the resolution.
  const mixMs = first === undefined || last === undefined ? 0 : last.end - first.begin;
  // At the least, the window ran from the end of the first mixed read to the start of the last.
  const mixAtLeastMs = first === undefined || last === undefined ? 0 : Math.max(0, last.begin - first.end);
  return {
    transferMs,
    batches: runs.length,
    mixMs,
    mixAtLeastMs,
    mixedReads: mixed.length,
    reads: reads.length,
    readMs: median(reads.map((read) => read.end - read.begin)),
  };
}

async function measureMix(target: Target, mirror: string) {
  type Round = Awaited<ReturnType<typeof mixRound>>;
  const summary = (list: Round[]) => ({
    transferMs: Math.round(median(list.map((r) => r.transferMs))),
    mixMs: Math.round(median(list.map((r) => r.mixMs))),
    mixAtLeastMs: Math.round(median(list.map((r) => r.mixAtLeastMs))),
    mixShare: Number(median(list.map((r) => r.mixMs / Math.max(1, r.transferMs))).toFixed(3)),
    mixedReads: list.map((r) => r.mixedReads),
    reads: list.map((r) => r.reads),
    readMs: Math.round(median(list.map((r) => r.readMs))),
    batches: list.map((r) => r.batches),
  });
  const bySize = [];
  for (const size of MIX_SIZES) {
    const rounds: { plain: Round[]; delayed: Round[] } = { plain: [], delayed: [] };
    for (let round = 0; round < MIX_ROUNDS; round++) {
      rounds.plain.push(await mixRound(target, mirror, `mix-${size}-plain-${round}`, false, size));
      rounds.delayed.push(await mixRound(target, mirror, `mix-${size}-delayed-${round}`, true, size));
    }
    bySize.push({ bytesEach: size, plain: summary(rounds.plain), delayed: summary(rounds.delayed) });
  }
  return { files: MIX_FILES, rounds: MIX_ROUNDS, bySize, targetShare: 0.05 };
}

async function measureCost(target: Target, mirror: string) {
  // Each variant in turn within a round, so the machine's drift falls on all of them alike.
  const variants: Record<string, Record<string, string>> = {
    defaults: {},
    mapped: {
      SYNC_CHOWN: LANDING.SYNC_CHOWN,
      SYNC_CHMOD: LANDING.SYNC_CHMOD,
      SYNC_SYMLINKS: LANDING.SYNC_SYMLINKS,
    },
    mappedAndDelayed: LANDING,
  };
  const names = Object.keys(variants);
  const latencyOverDebounce = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  const burstAfterLastWrite = Object.fromEntries(names.map((name) => [name, [] as number[]]));
  for (let round = 0; round < COST_ROUNDS; round++) {
    for (const [name, extra] of Object.entries(variants)) {
      const samples = await latencySamples(target, mirror, `cost-lat-${name}-${round}`, extra);
      latencyOverDebounce[name]?.push(percentile(samples, 50) - 200);
      const burst = await burstRun(target, mirror, `cost-burst-${name}-${round}`, extra);
      burstAfterLastWrite[name]?.push(burst.afterLastWriteMs);
    }
  }
  const row = (values: Record<string, number[]>) =>
    Object.fromEntries(
      Object.entries(values).map(([name, list]) => [
        name,
        { medianMs: Math.round(median(list)), roundsMs: list.map(Math.round) },
      ]),
    );
  return {
    settings: variants,
    rounds: COST_ROUNDS,
    latencyP50OverDebounce: row(latencyOverDebounce),
    burstAfterLastWrite: row(burstAfterLastWrite),
  };
}
