// The large-tree scenario: a tree already in sync, and what it costs to start watching it.
//   rsync no-op — one `rsync -a` of the tree through the same sshd, nothing to send (the floor),
//                 and the same with `--delete --partial-dir`, as a mirror's pass runs it
//   filesync    — start → initial pass done (ready), RSS, inotify watches, idle CPU; and start →
//                 ready with SYNC_DELETE=false, the pass that compares with the plain no-op
//   verify      — `filesync verify` of the tree in sync, next to the `rsync --dry-run` it is
//                 built on (same deletions, partial-dir and itemizing) through the same sshd
//   lsyncd      — the same readings, when lsyncd is installed
import { rm } from 'node:fs/promises';
import { runCli } from '../test/integration/support/daemon.ts';
import type { Target } from '../test/integration/support/target.ts';
import { measureLsyncd } from './lsyncd.ts';
import {
  daemonFor,
  idleCpu,
  inotifyWatches,
  median,
  processStats,
  rsyncOnce,
  started,
  writeTree,
} from './support.ts';

export interface LargeTreeOptions {
  readonly files: number;
  readonly dirs: number;
  /** Starts measured per tool; the median is reported. */
  readonly runs: number;
  readonly idleMs: number;
}

export async function largeTree(target: Target, mirror: string, options: LargeTreeOptions) {
  const { files, dirs, runs, idleMs } = options;
  const name = `large-${files}`;
  const { source, remoteDir, env } = await daemonFor(target, mirror, name);
  const createStart = performance.now();
  await writeTree(source, files, dirs);
  const createMs = performance.now() - createStart;
  const initialCopyMs = await rsyncOnce(target, source, remoteDir); // now in sync
  // Interleaved, one of each a round, so that the machine's drift over the minutes this takes
  // (other work, the page cache, the disk) weighs on the floor and on filesync alike.
  const noop: number[] = [];
  const mirrorNoop: number[] = [];
  const ready: number[] = [];
  // The same with SYNC_DELETE=false: a pass that is `rsync -a` but for the partial-dir, so its
  // reading sits next to the plain no-op (deletions cost rsync itself a receiver-side scan).
  const readyKeeping: number[] = [];
  let readings: ReturnType<typeof processStats> & { inotifyWatches: number; idleCpuSeconds: number } = {
    rssMiB: 0,
    peakRssMiB: 0,
    cpuSeconds: 0,
    inotifyWatches: 0,
    idleCpuSeconds: 0,
  };
  for (let i = 0; i < runs; i++) {
    noop.push(await rsyncOnce(target, source, remoteDir));
    // What a mirror must run (deletions, resumable transfers): filesync's pass, and lsyncd's
    // minus the partial-dir.
    mirrorNoop.push(
      await rsyncOnce(target, source, remoteDir, ['--delete', '--partial-dir=.filesync-partial']),
    );
    const { daemon, readyMs } = await started(env);
    ready.push(readyMs);
    const pid = daemon.pid ?? 0;
    if (i === runs - 1) {
      const idleCpuSeconds = await idleCpu(pid, idleMs);
      readings = { ...processStats(pid), inotifyWatches: inotifyWatches(pid), idleCpuSeconds };
    }
    await daemon.stop();
    const keeping = await started({ ...env, SYNC_DELETE: 'false' });
    readyKeeping.push(keeping.readyMs);
    await keeping.daemon.stop();
  }
  const rsyncNoopMs = median(noop);
  const rsyncMirrorNoopMs = median(mirrorNoop);
  const verify = await measureVerify(target, source, remoteDir, env, runs);
  const readyMs = median(ready);
  const filesync = {
    readyMs: Math.round(readyMs),
    readyOverRsyncNoop: Math.round((readyMs / rsyncNoopMs) * 100) / 100,
    readyOverMirrorNoop: Math.round((readyMs / rsyncMirrorNoopMs) * 100) / 100,
    withoutDeletions: {
      readyMs: Math.round(median(readyKeeping)),
      readyOverRsyncNoop: Math.round((median(readyKeeping) / rsyncNoopMs) * 100) / 100,
    },
    rssMiB: readings.rssMiB,
    peakRssMiB: readings.peakRssMiB,
    inotifyWatches: readings.inotifyWatches,
    idleCpuSeconds: readings.idleCpuSeconds,
  };
  const lsyncd = await measureLsyncd(target, source, `${remoteDir}-lsyncd`, { runs, idleMs });
  await rm(source, { recursive: true, force: true });
  return {
    files,
    dirs,
    createMs: Math.round(createMs),
    initialCopyMs: Math.round(initialCopyMs),
    rsyncNoopMs: Math.round(rsyncNoopMs),
    rsyncDeletePartialNoopMs: Math.round(rsyncMirrorNoopMs),
    idleSeconds: idleMs / 1000,
    filesync,
    verify,
    lsyncd,
  };
}

/** `filesync verify` on the tree in sync, and the plain rsync dry run it is measured against. */
async function measureVerify(
  target: Target,
  source: string,
  remoteDir: string,
  env: Record<string, string>,
  runs: number,
) {
  const dryRun: number[] = [];
  const verify: number[] = [];
  let exitCode: number | undefined;
  for (let i = 0; i < runs; i++) {
    const flags = ['--dry-run', '--delete', '--partial-dir=.filesync-partial', '--itemize-changes'];
    dryRun.push(await rsyncOnce(target, source, remoteDir, flags));
    const begin = performance.now();
    exitCode = (await runCli(env, ['verify'])).exitCode;
    verify.push(performance.now() - begin);
  }
  const rsyncDryRunMs = median(dryRun);
  const verifyMs = median(verify);
  return {
    rsyncDryRunMs: Math.round(rsyncDryRunMs),
    verifyMs: Math.round(verifyMs),
    verifyOverRsyncDryRun: Math.round((verifyMs / rsyncDryRunMs) * 100) / 100,
    /** 0 when verify found the tree in sync, as it should. */
    verifyExitCode: exitCode,
  };
}
