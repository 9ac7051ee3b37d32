// npm run bench: measures filesync against a real sshd container on this machine.
//   latency   — one file written → on the target (SYNC_DEBOUNCE=200ms), 20 samples
//   burst     — 10,000 files in 100 directories written at once → all on the target, next to
//               one `rsync -a` of the same files into an empty directory
//   baseline  — the tutorial's design on the same target: one `ssh mkdir` + one rsync per file
//   large     — 100,000 files in 1,000 directories, in sync: start → ready next to an rsync
//               no-op, RSS, inotify watches, idle CPU over 30 s; lsyncd the same, if installed
//   renames   — bytes on the wire for a 100 MB file renamed, then moved, and a directory of
//               1,000 files renamed; lsyncd's rsync and rsyncssh modes the same, if installed
//   targets   — SYNC_TARGETS with two healthy targets and one frozen: latency to both,
//               RSS and inotify watches next to one target
//   control   — `filesync sync` after one write on a 10,000-file tree (call → return), 50,000
//               changes while paused (RSS; resume → converged next to one rsync -a), and a
//               change made while a 10 s hook runs (write → on the target); see control.ts
//               (`npm run bench -- control:paused` runs one of the three)
//   landing   — a 2,000-file batch with a reader polling the mirror: how long it can see old and
//               new files mixed, next to the transfer, without and with SYNC_DELAY_UPDATES; and
//               the latency and burst rows with the mapping, symlink policy and delayed updates
//               on, interleaved with the defaults; see landing.ts (`landing:mix`, `landing:cost`)
//   cold      — the cold start as a user meets it: 100,000 files in 1,000 directories in sync,
//               rsync -a and rsync -a --delete no-ops, lsyncd with its defaults (spawn → startup
//               finished) and filesync (spawn → /readyz 200), interleaved rounds; one traced
//               filesync start; see cold-start.ts (`cold:huge`: 1,000,000 files, when asked)
//   restart   — the fast start (SYNC_STATE_DIR): 100,000 files, 1,000 changed while stopped,
//               spawn → /readyz 200 next to one rsync -a --delete sending as many; see restart.ts
//               (`restart:huge`: 1,000,000 files, when asked)
//   compare   — the fast start's comparison alone, in-process: 100,000 files, 1,000 changed,
//               native (native/compare.c) and in 2 worker threads alternately, with CPU time;
//               see compare.ts
//   huge      — the same at 1,000,000 files in 10,000 directories (minutes to create; only
//               when asked: `npm run bench -- huge`, or `npm run bench -- all`)
// `npm run bench -- latency large` runs only those. Results go to stdout and
// bench/results/latest.json. Numbers vary by machine: compare runs made on the same one.
import { chmod, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import {
  buildTargetImage,
  startTarget,
  TARGET_HOME,
  TARGET_USER,
} from '../test/integration/support/target.ts';
import { coldStart } from './cold-start.ts';
import { measureCompare } from './compare.ts';
import { measureControl } from './control.ts';
import { measureLanding } from './landing.ts';
import { largeTree } from './large-tree.ts';
import { measureRenames } from './renames.ts';
import { restart } from './restart.ts';
import { burstRun, latencySamples, percentile, rsyncOnce, sshArgs, writeTree } from './support.ts';
import { measureTargets } from './targets.ts';

const DEFAULT = ['latency', 'burst', 'baseline', 'renames', 'targets', 'control', 'landing', 'large'];
const asked = process.argv.slice(2);
const selected = new Set(asked.length === 0 ? DEFAULT : asked.includes('all') ? [...DEFAULT, 'huge'] : asked);

const mirror = await mkdtemp(join(tmpdir(), 'filesync-bench-mirror-'));
await chmod(mirror, 0o777);
await buildTargetImage();
await using target = await startTarget({ mirrorDir: mirror });
const results: Record<string, unknown> = { date: new Date().toISOString(), node: process.version };
const report = (name: string, value: unknown) => {
  results[name] = value;
  console.log(name, JSON.stringify(value, null, 2));
};

if (selected.has('latency')) {
  const samples = await latencySamples(target, mirror, 'latency');
  report('latency', {
    debounceMs: 200,
    samples: samples.length,
    p50Ms: Math.round(percentile(samples, 50)),
    p95Ms: Math.round(percentile(samples, 95)),
  });
}

if (selected.has('burst')) {
  const files = 10_000;
  const dirs = 100;
  const run = await burstRun(target, mirror, 'burst', {}, { files, dirs });
  const oneShotMs = await rsyncOnce(target, run.source, `${TARGET_HOME}/burst-rsync`);
  report('burst', {
    files,
    dirs,
    debounceMs: 1000,
    writeMs: Math.round(run.writeMs),
    allOnTargetMs: Math.round(run.allOnTargetMs),
    afterLastWriteMs: Math.round(run.afterLastWriteMs),
    rsyncRuns: run.batches,
    oneShotRsyncMs: Math.round(oneShotMs),
    targetMs: Math.round(1000 + 1.2 * oneShotMs),
  });
}

if (selected.has('baseline')) {
  // The tutorial's design: one `ssh mkdir` and one rsync per changed file.
  const files = 200;
  const source = await mkdtemp(join(tmpdir(), 'filesync-bench-baseline-'));
  await writeTree(source, files, 40);
  const ssh = sshArgs(target);
  const start = performance.now();
  for (let i = 0; i < files; i++) {
    const rel = `dir${Math.floor(i / 5)}/file${i}.txt`;
    const remote = `${TARGET_HOME}/baseline/${rel}`;
    await execa('ssh', [...ssh, `${TARGET_USER}@${target.host}`, `mkdir -p ${join(remote, '..')}`]);
    await execa('rsync', [
      '-a',
      '-e',
      `ssh ${ssh.join(' ')}`,
      join(source, rel),
      `${TARGET_USER}@${target.host}:${remote}`,
    ]);
  }
  const total = performance.now() - start;
  report('baseline', {
    files,
    allOnTargetMs: Math.round(total),
    processesStarted: files * 2,
    filesPerSecond: Math.round(files / (total / 1000)),
  });
}

if (selected.has('renames')) {
  report('renames', await measureRenames(target, mirror));
}

if (selected.has('targets')) {
  report('targets', await measureTargets(target, mirror));
}

if ([...selected].some((name) => name === 'control' || name.startsWith('control:'))) {
  const parts = ['sync', 'paused', 'hook'].filter((part) => selected.has(`control:${part}`));
  report('control', await measureControl(target, mirror, parts.length > 0 ? parts : undefined));
}

if ([...selected].some((name) => name === 'landing' || name.startsWith('landing:'))) {
  const parts = ['mix', 'cost'].filter((part) => selected.has(`landing:${part}`));
  report('landing', await measureLanding(target, mirror, parts.length > 0 ? parts : undefined));
}

if (selected.has('cold')) {
  report('cold', await coldStart(target, mirror, { files: 100_000, dirs: 1_000, rounds: 9 }));
}

if (selected.has('cold:huge')) {
  report('coldHuge', await coldStart(target, mirror, { files: 1_000_000, dirs: 10_000, rounds: 3 }));
}

if (selected.has('restart')) {
  report(
    'restart',
    await restart(target, mirror, { files: 100_000, dirs: 1_000, rounds: 5, changes: 1_000 }),
  );
}

if (selected.has('compare')) {
  report('compare', await measureCompare({ files: 100_000, dirs: 1_000, rounds: 6 }));
}

if (selected.has('restart:huge')) {
  report(
    'restartHuge',
    await restart(target, mirror, { files: 1_000_000, dirs: 10_000, rounds: 3, changes: 1_000 }),
  );
}

if (selected.has('large')) {
  report('large', await largeTree(target, mirror, { files: 100_000, dirs: 1_000, runs: 5, idleMs: 30_000 }));
}

if (selected.has('huge')) {
  report(
    'huge',
    await largeTree(target, mirror, { files: 1_000_000, dirs: 10_000, runs: 1, idleMs: 30_000 }),
  );
}

await mkdir('bench/results', { recursive: true });
await writeFile('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
