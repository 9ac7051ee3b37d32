// The cold start as a user meets it (issue #23's first step): a tree already in sync, each tool
// spawned cold, in interleaved rounds so the machine's drift weighs on all alike:
//   rsync -a           — one no-op through the same sshd (the floor)
//   rsync -a --delete  — the same with deletions, what a mirror's start must do
//   lsyncd             — with its defaults (default.rsync: archive, delete = true), spawn →
//                        "Startup of … finished"
//   filesync           — spawn → GET /readyz answers 200 (as a kubelet's startup probe sees it):
//                        a start no partial file can wait for (the bare rsync --delete before
//                        it removed the partial-dirs, as a clean stop removes the running
//                        marker), so its full pass leaves out the partial-dir
//   filesync after a kill — the same with the running marker left on the target, as a kill
//                        leaves it: the full pass looks for a partial file beside each file, a
//                        stat more per file on the receiver (lsyncd keeps no partial files)
// plus one traced filesync start (LOG_LEVEL=debug): where its time goes, phase by phase, from
// the process's spawn to the watcher, the SSH connection, the first pass, rsync's exit and readiness.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { PARTIAL_DIR } from '../src/filter.ts';
import { RUNNING_MARKER } from '../src/plan/resume-marker.ts';
import { TARGET_USER, type Target } from '../test/integration/support/target.ts';
import { startLsyncd } from './lsyncd.ts';
import { daemonFor, median, rsyncOnce, spawnUntilReady, sshArgs, writeTree } from './support.ts';

export interface ColdStartOptions {
  readonly files: number;
  readonly dirs: number;
  readonly rounds: number;
}

export async function coldStart(target: Target, mirror: string, { files, dirs, rounds }: ColdStartOptions) {
  const name = `cold-${files}`;
  const { source, remoteDir, env } = await daemonFor(target, mirror, name);
  await writeTree(source, files, dirs);
  await rsyncOnce(target, source, remoteDir); // in sync, for every tool alike
  const lsyncd = await lsyncdStarter(target, source, remoteDir);
  const times: Record<'rsync' | 'rsyncDelete' | 'lsyncd' | 'filesync' | 'filesyncAfterKill', number[]> = {
    rsync: [],
    rsyncDelete: [],
    lsyncd: [],
    filesync: [],
    filesyncAfterKill: [],
  };
  const leaveMarker = async () => {
    const dir = `${remoteDir}/${PARTIAL_DIR}`;
    const made = await target.exec(['sh', '-c', 'mkdir -p "$1" && touch "$1/$2"', 'sh', dir, RUNNING_MARKER]);
    if (made.exitCode !== 0) throw new Error(`cannot leave the running marker: ${made.output}`);
  };
  for (let round = 0; round < rounds; round++) {
    times.rsync.push(await rsyncOnce(target, source, remoteDir));
    times.rsyncDelete.push(await rsyncOnce(target, source, remoteDir, ['--delete']));
    if (lsyncd !== undefined) times.lsyncd.push(await lsyncd());
    times.filesync.push((await filesyncStart(env)).readyMs);
    await leaveMarker();
    times.filesyncAfterKill.push((await filesyncStart(env)).readyMs);
  }
  const trace = await tracedStart(env);
  await rm(source, { recursive: true, force: true });
  const ms = (values: number[]) => (values.length === 0 ? undefined : Math.round(median(values)));
  const filesyncMs = ms(times.filesync) ?? Number.NaN;
  const lsyncdMs = ms(times.lsyncd);
  const rsyncDeleteMs = ms(times.rsyncDelete) ?? Number.NaN;
  return {
    files,
    dirs,
    rounds,
    rsyncNoopMs: ms(times.rsync),
    rsyncDeleteNoopMs: rsyncDeleteMs,
    lsyncdReadyMs: lsyncdMs ?? 'lsyncd is not installed (apt-get install lsyncd)',
    filesyncReadyMs: filesyncMs,
    filesyncOverLsyncd: lsyncdMs === undefined ? undefined : Number((filesyncMs / lsyncdMs).toFixed(2)),
    filesyncOverRsyncDelete: Number((filesyncMs / rsyncDeleteMs).toFixed(2)),
    filesyncAfterKillReadyMs: ms(times.filesyncAfterKill),
    filesyncAfterKillOverLsyncd:
      lsyncdMs === undefined
        ? undefined
        : Number(((ms(times.filesyncAfterKill) ?? Number.NaN) / lsyncdMs).toFixed(2)),
    // Each round's own ratio, whose median the machine's drift between rounds moves less.
    byRound: {
      overLsyncd: roundRatio(times.filesync, times.lsyncd),
      overRsyncDelete: roundRatio(times.filesync, times.rsyncDelete),
      fasterThanLsyncd: `${times.filesync.filter((ms, i) => ms < (times.lsyncd[i] ?? 0)).length} of ${times.lsyncd.length} rounds`,
    },
    targets: { overLsyncd: 1, overRsyncDelete: 1.1 },
    rounds_ms: Object.fromEntries(Object.entries(times).map(([tool, list]) => [tool, list.map(Math.round)])),
    trace,
  };
}

/** The median of each round's `mine / theirs`; undefined without rounds of theirs. */
function roundRatio(mine: readonly number[], theirs: readonly number[]): number | undefined {
  if (theirs.length === 0) return undefined;
  return Number(median(mine.map((ms, i) => ms / (theirs[i] ?? Number.NaN))).toFixed(2));
}

/** Spawn → /readyz 200; then stops it. */
async function filesyncStart(env: Record<string, string>) {
  const { daemon, readyMs } = await spawnUntilReady(env);
  await daemon.stop();
  return { readyMs, daemon };
}

/**
 * One start with the debug log: each phase from the spawn, by the log's own clock (its `time`)
 * against the wall clock at spawn.
 */
async function tracedStart(env: Record<string, string>) {
  const spawnedAt = Date.now();
  const { readyMs, daemon } = await filesyncStart({ ...env, LOG_LEVEL: 'debug' });
  const at = (match: (msg: string) => boolean) => {
    const line = daemon.logs.find((entry) => match(entry.msg));
    if (line === undefined) return undefined;
    const time = typeof line.time === 'number' ? line.time : Date.parse(String(line.time));
    return time - spawnedAt;
  };
  const synced = daemon.logs.find((entry) => entry.msg === 'synced' && entry.kind === 'full');
  return {
    firstLogLineMs: at(() => true),
    watcherUpMs: at((msg) => msg.startsWith('watching with')),
    // Its answer (see src/plan/resume-marker.ts): the first pass goes ahead of it.
    runningMarkerMs: at((msg) => msg === 'running marker on the target'),
    // The shared SSH connection accepts transfers: the planned pass is spawned at the later of the two.
    sshUpMs: at((msg) => msg === 'shared SSH connection up'),
    firstPassPlannedMs: at((msg) => msg === 'running rsync'),
    rsyncRunMs: synced === undefined ? undefined : Number(synced.durationMs),
    initialPassDoneMs: at((msg) => msg.startsWith('initial sync complete')),
    readyzMs: Math.round(readyMs),
  };
}

/** lsyncd with its defaults, when installed: a function that starts it once and times it. */
async function lsyncdStarter(target: Target, source: string, remoteDir: string) {
  const which = await execa('lsyncd', ['--version'], { reject: false });
  if (which.exitCode !== 0) return undefined;
  const config = join(await mkdtemp(join(tmpdir(), 'filesync-bench-cold-lsyncd-')), 'lsyncd.lua');
  const lua = (value: string) => JSON.stringify(value);
  await writeFile(
    config,
    `settings { nodaemon = true, insist = false }
sync {
  default.rsync,
  source = ${lua(source)},
  target = ${lua(`${TARGET_USER}@${target.host}:${remoteDir}/`)},
  rsync = { rsh = ${lua(`/usr/bin/ssh ${sshArgs(target).join(' ')}`)} },
}
`,
  );
  return async () => {
    const { child, readyMs } = await startLsyncd(config);
    child.kill('SIGTERM');
    await child;
    return readyMs;
  };
}
