// The fast start (SYNC_STATE_DIR, issue #23): a tree in sync, filesync stopped cleanly (its
// manifest written), 1,000 files changed while it is down; then, in interleaved rounds:
//   rsync -a --delete — one run that sends the same number of changes (the one-shot floor)
//   filesync          — spawn → GET /readyz 200, after which the full comparison runs; its drift
//                       must stay 0 (every change was on the target at ready), and its clean
//                       stop writes the manifest again (size and time from its log line)
//   memory            — filesync's peak RSS from spawn to exit (its stop's walk included), with the
//                       state directory and, each round, without it (a full start): what the
//                       manifest costs
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Target } from '../test/integration/support/target.ts';
import { daemonFor, median, processStats, rsyncOnce, spawnUntilReady, writeTree } from './support.ts';

export interface RestartOptions {
  readonly files: number;
  readonly dirs: number;
  readonly rounds: number;
  readonly changes: number;
}

export async function restart(target: Target, mirror: string, options: RestartOptions) {
  const { files, dirs, rounds, changes } = options;
  const name = `restart-${files}`;
  const stateDir = await mkdtemp(join(tmpdir(), 'filesync-bench-state-'));
  const { source, remoteDir, env } = await daemonFor(target, mirror, name, {
    SYNC_STATE_DIR: stateDir,
    SYNC_RESYNC_INTERVAL: '0',
  });
  await writeTree(source, files, dirs);
  await rsyncOnce(target, source, remoteDir);
  const perDir = Math.ceil(files / dirs);
  let generation = 0;
  /** Rewrites `changes` files spread over the tree, each to a new size. */
  const change = async () => {
    generation++;
    const step = Math.floor(files / changes);
    for (let k = 0; k < changes; k++) {
      const i = k * step;
      await writeFile(
        join(source, `dir${Math.floor(i / perDir)}`, `file${i}.txt`),
        `changed ${generation}: ${'x'.repeat(generation)}\n`,
      );
    }
  };
  const stateless = Object.fromEntries(Object.entries(env).filter(([key]) => key !== 'SYNC_STATE_DIR'));
  const first = await startAndStop(env); // the start without a manifest; its stop writes one
  const rsyncDelete: number[] = [];
  const filesync: number[] = [];
  const peakFast: number[] = [];
  const peakWithout: number[] = [];
  const starts: unknown[] = [];
  let manifest = first.manifest;
  for (let round = 0; round < rounds; round++) {
    await change();
    rsyncDelete.push(await rsyncOnce(target, source, remoteDir, ['--delete']));
    // Without the state directory: a full start, nothing left to send, and a stop that writes none.
    peakWithout.push((await startAndStop(stateless)).peakRssMiB);
    await change();
    const run = await startAndStop(env);
    filesync.push(run.readyMs);
    peakFast.push(run.peakRssMiB);
    starts.push(run.start);
    manifest = run.manifest;
    if (run.drift !== 0)
      throw new Error(`the full comparison after a fast start repaired ${run.drift} entries`);
  }
  await rm(source, { recursive: true, force: true });
  await rm(stateDir, { recursive: true, force: true });
  const filesyncMs = Math.round(median(filesync));
  const rsyncMs = Math.round(median(rsyncDelete));
  return {
    files,
    dirs,
    changes,
    rounds,
    rsyncDeleteMs: rsyncMs,
    filesyncFastReadyMs: filesyncMs,
    filesyncOverRsyncDelete: Number((filesyncMs / rsyncMs).toFixed(2)),
    target: files >= 1_000_000 ? 0.3 : 0.6,
    manifest,
    peakRssMiB: {
      withStateDir: median(peakFast),
      without: median(peakWithout),
      overMiB: median(peakFast) - median(peakWithout),
      target: 64,
      rounds: { withStateDir: peakFast, without: peakWithout },
    },
    starts,
    rounds_ms: { rsyncDelete: rsyncDelete.map(Math.round), filesync: filesync.map(Math.round) },
  };
}

/**
 * Spawn → /readyz 200; then the full comparison, its drift, a clean stop's manifest line, and
 * the peak RSS from spawn to exit.
 */
async function startAndStop(env: Record<string, string>) {
  const { daemon, readyMs } = await spawnUntilReady(env);
  const peak = peakRss(daemon.pid ?? 0);
  const base = `http://127.0.0.1:${env.SYNC_HEALTH_PORT}`;
  const fast = daemon.logs.find((line) => line.msg.startsWith('fast start'));
  if (fast !== undefined)
    await daemon.waitForLog(
      'the full comparison',
      (line) => line.msg === 'synced' && line.reason === 'resync',
      3_600_000,
    );
  const metrics = await (await fetch(`${base}/metrics`)).text();
  const drift = Number(/^filesync_drift_repaired_total\{target="[^"]+"\} (\d+)$/m.exec(metrics)?.[1]);
  const stopping = performance.now();
  await daemon.stop();
  const stopMs = Math.round(performance.now() - stopping);
  const peakRssMiB = peak.stop();
  const written = daemon.logs.findLast((line) => line.msg.includes('manifest written'));
  return {
    readyMs,
    peakRssMiB,
    drift,
    start:
      fast === undefined
        ? `full: ${
            daemon.logs
              .filter((line) => line.component === 'state')
              .map((line) => line.reason ?? line.msg)
              .join('; ') || 'no state line logged'
          }`
        : { created: fast.created, changed: fast.changed, deleted: fast.deleted, compareMs: fast.durationMs },
    manifest:
      written === undefined
        ? 'no manifest line in the log'
        : {
            msg: written.msg,
            entries: written.entries,
            bytes: written.bytes,
            writeMs: written.durationMs,
            stopMs,
          },
  };
}

/** The process's peak RSS (VmHWM) in MiB, read every 20 ms until stop(), the last read kept. */
function peakRss(pid: number) {
  let peak = 0;
  const read = () => {
    try {
      const { peakRssMiB } = processStats(pid);
      if (Number.isFinite(peakRssMiB)) peak = Math.max(peak, peakRssMiB); // a zombie has none
    } catch {
      // exited: the last read stands (VmHWM only grows)
    }
  };
  read();
  const timer = setInterval(read, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}
