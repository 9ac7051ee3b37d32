// Control and hooks (issue #20's targets), against the real sshd target:
//   sync   — `filesync sync` right after one write, on a 10,000-file tree at the default 1 s
//            debounce: the time from the call to its return, and the file there when it does
//   paused — 50,000 changes arrive while paused: the daemon's RSS; then `resume` until all are
//            on the target, next to one `rsync -a` of the same tree
//   hook   — a hook that sleeps 10 s: a change made while it runs, until it is on the target
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { runCli } from '../test/integration/support/daemon.ts';
import { TARGET_HOME, type Target } from '../test/integration/support/target.ts';
import { waitFor } from '../test/integration/support/wait.ts';
import { countFiles, daemonFor, percentile, processStats, rsyncOnce, started, writeTree } from './support.ts';

const SYNC_SAMPLES = 20;
const HOOK_SAMPLES = 5;
const PAUSED_ROUNDS = 3;

export async function measureControl(target: Target, mirror: string, parts = ['sync', 'paused', 'hook']) {
  return {
    ...(parts.includes('sync') ? { sync: await measureSync(target, mirror) } : {}),
    ...(parts.includes('paused') ? { paused: await measurePaused(target, mirror) } : {}),
    ...(parts.includes('hook') ? { hook: await measureHook(target, mirror) } : {}),
  };
}

async function measureSync(target: Target, mirror: string) {
  const { source, env, local } = await daemonFor(target, mirror, 'control-sync');
  await writeTree(source, 10_000, 100);
  const { daemon } = await started(env); // SYNC_DEBOUNCE: the default, 1 s
  const samples: number[] = [];
  let there = 0;
  for (let i = 0; i < SYNC_SAMPLES; i++) {
    await writeFile(join(source, `dir${i}`, `built${i}.txt`), `artifact ${i}`);
    const begin = performance.now();
    const result = await runCli(env, ['sync']);
    samples.push(performance.now() - begin);
    if (result.exitCode !== 0) throw new Error(`filesync sync exited ${result.exitCode}: ${result.stderr}`);
    if (existsSync(join(local, `dir${i}`, `built${i}.txt`))) there += 1;
    await delay(200);
  }
  await daemon.stop();
  // Of the call's time, the rsync run the daemon made for it (the rest: the CLI's start, the
  // watcher handing over, the answer).
  const runs = daemon.logs
    .filter((line) => line.msg === 'synced' && line.kind === 'batch')
    .map((line) => Number(line.durationMs));
  return {
    treeFiles: 10_000,
    rsyncRunP50Ms: Math.round(percentile(runs, 50)),
    debounceMs: 1000,
    samples: SYNC_SAMPLES,
    p50Ms: Math.round(percentile(samples, 50)),
    p95Ms: Math.round(percentile(samples, 95)),
    onTargetWhenItReturned: `${there}/${SYNC_SAMPLES}`,
    targetP50Ms: 300,
  };
}

async function measurePaused(target: Target, mirror: string) {
  const files = 50_000;
  const dirs = 500;
  const rounds: {
    rssMiB: number;
    convergedMs: number;
    runMs: number;
    oneShotMs: number;
    pending: unknown;
  }[] = [];
  for (let round = 0; round < PAUSED_ROUNDS; round++) {
    const { source, env, local } = await daemonFor(target, mirror, `control-paused-${round}`);
    await writeFile(join(source, 'seed.txt'), 'so the initial pass has something to send');
    const { daemon } = await started(env);
    const paused = await runCli(env, ['pause']);
    if (paused.exitCode !== 0) throw new Error(`filesync pause exited ${paused.exitCode}: ${paused.stderr}`);
    await writeTree(source, files, dirs);
    // Collected: the pending count (or the collapse into a full pass) has stopped moving.
    const pendingOf = async () =>
      JSON.stringify(
        (
          (await (await fetch(`http://127.0.0.1:${env.SYNC_HEALTH_PORT}/status`)).json()) as {
            targets: { pending: number }[];
          }
        ).targets[0]?.pending,
      );
    let last = '';
    await waitFor(
      'the watcher to have every change',
      async () => {
        const now = await pendingOf();
        const steady = now === last;
        last = now;
        return steady;
      },
      { intervalMs: 1000, timeoutMs: 600_000 },
    );
    const { rssMiB } = processStats(daemon.pid ?? 0);
    const runsBefore = daemon.logs.filter((line) => line.msg === 'synced').length;
    const begin = performance.now();
    const resumed = await runCli(env, ['resume']);
    if (resumed.exitCode !== 0)
      throw new Error(`filesync resume exited ${resumed.exitCode}: ${resumed.stderr}`);
    // Converged: the run resume started has ended (the daemon's log, read every 5 ms).
    const run = await waitFor(
      'the run after resume',
      () => daemon.logs.filter((line) => line.msg === 'synced')[runsBefore],
      { intervalMs: 5, timeoutMs: 600_000 },
    );
    const convergedMs = performance.now() - begin;
    await daemon.stop();
    const onTarget = await countFiles(local);
    if (onTarget !== files + 1)
      throw new Error(`${onTarget} files on the target after resume, not ${files + 1}`);
    const oneShotMs = await rsyncOnce(target, source, `${TARGET_HOME}/control-paused-rsync-${round}`);
    rounds.push({ rssMiB, convergedMs, runMs: Number(run.durationMs), oneShotMs, pending: JSON.parse(last) });
  }
  const med = (pick: (r: (typeof rounds)[number]) => number) => Math.round(percentile(rounds.map(pick), 50));
  return {
    changes: files,
    rounds: PAUSED_ROUNDS,
    pendingWhilePaused: rounds.map((r) => r.pending),
    rssMiB: Math.max(...rounds.map((r) => r.rssMiB)),
    targetRssMiB: 150,
    resumeToConvergedMs: med((r) => r.convergedMs),
    itsRsyncRunMs: med((r) => r.runMs),
    oneShotRsyncMs: med((r) => r.oneShotMs),
    targetMs: Math.round(1.2 * med((r) => r.oneShotMs)),
  };
}

async function measureHook(target: Target, mirror: string) {
  const { source, env, local } = await daemonFor(target, mirror, 'control-hook', {
    SYNC_HOOK_COMMAND: JSON.stringify(['sleep', '10']),
  });
  await writeFile(join(source, 'seed.txt'), 'the initial pass starts the first hook');
  const { daemon } = await started(env); // SYNC_DEBOUNCE: the default, 1 s
  const began = performance.now();
  const samples: number[] = [];
  for (let i = 0; i < HOOK_SAMPLES; i++) {
    const start = performance.now();
    await writeFile(join(source, `during${i}.txt`), `written while the hook sleeps ${i}`);
    await waitFor('arrival', () => existsSync(join(local, `during${i}.txt`)), {
      intervalMs: 5,
      timeoutMs: 30_000,
    });
    samples.push(performance.now() - start);
  }
  const withinHookMs = performance.now() - began;
  await daemon.stop();
  const hookRuns = daemon.logs.filter((line) => line.msg === 'hook command ran').length;
  return {
    hook: 'sleep 10',
    debounceMs: 1000,
    samples: HOOK_SAMPLES,
    allWrittenWithinMs: Math.round(withinHookMs),
    p50Ms: Math.round(percentile(samples, 50)),
    maxMs: Math.round(Math.max(...samples)),
    targetMs: 1300,
    hookRunsCompleted: hookRuns,
  };
}
