// Shared parts of the benchmark: the target, daemons under test, trees, and /proc readings.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { Agent, get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { PARTIAL_DIR } from '../src/filter.ts';
import { Daemon, freePort } from '../test/integration/support/daemon.ts';

export { inotifyWatches } from '../test/support/proc.ts';

import { syncEnv } from '../test/integration/support/scenario.ts';
import { TARGET_HOME, TARGET_USER, type Target } from '../test/integration/support/target.ts';
import { waitFor } from '../test/integration/support/wait.ts';

/** A source directory, a remote directory for it, and the environment that syncs one to the other. */
export async function daemonFor(
  target: Target,
  mirror: string,
  name: string,
  extra: Record<string, string> = {},
) {
  const source = await mkdtemp(join(tmpdir(), `filesync-bench-${name}-`));
  const remoteDir = `${TARGET_HOME}/${name}`;
  const env = {
    ...syncEnv(target, source, remoteDir, await freePort()),
    // As the image runs it (see the Dockerfile).
    NODE_OPTIONS: '--max-semi-space-size=4',
    ...extra,
  };
  return { source, remoteDir, env, local: join(mirror, name) };
}

/** Starts filesync and resolves once its initial pass is done, with the time that took. */
export async function started(env: Record<string, string>): Promise<{ daemon: Daemon; readyMs: number }> {
  const begin = performance.now();
  const daemon = Daemon.start(env);
  await daemon.waitForLog(
    'the initial sync',
    (line) => line.msg.startsWith('initial sync complete'),
    3_600_000,
    5, // the default 100 ms poll would add 50 ms on average to every reading
  );
  return { daemon, readyMs: performance.now() - begin };
}

/** Writes `files` small files spread over `dirs` directories, a directory at a time. */
export async function writeTree(root: string, files: number, dirs: number, prefix = 'dir') {
  const perDir = Math.ceil(files / dirs);
  for (let d = 0; d < dirs; d++) {
    const dir = join(root, `${prefix}${d}`);
    await mkdir(dir, { recursive: true });
    const writes = [];
    for (let i = d * perDir; i < Math.min(files, (d + 1) * perDir); i++) {
      writes.push(writeFile(join(dir, `file${i}.txt`), `content of file ${i}\n`));
    }
    await Promise.all(writes);
  }
}

/** The files of a tree; on a mirror, without the top's partial-dir (filesync's running marker). */
export async function countFiles(dir: string): Promise<number> {
  const top = join(dir, PARTIAL_DIR);
  const args = [dir, '-path', top, '-prune', '-o', '-type', 'f', '-print'];
  const result = await execa('find', args, { reject: false, lines: true });
  return result.stdout.filter((line) => line !== '').length;
}

export const percentile = (values: readonly number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ??
  Number.NaN;

export const median = (values: readonly number[]) => percentile(values, 50);

/** ssh and rsync as a person would run them against the same target. */
export function sshArgs(target: Target): string[] {
  return [
    '-i',
    target.keyPath,
    '-p',
    String(target.port),
    '-o',
    `UserKnownHostsFile=${target.knownHostsPath}`,
    '-o',
    'BatchMode=yes',
  ];
}

/** One `rsync -a` of `source` to `remoteDir`; returns how long it took. */
export async function rsyncOnce(target: Target, source: string, remoteDir: string, extra: string[] = []) {
  const begin = performance.now();
  await execa('rsync', [
    '-a',
    ...extra,
    '-e',
    `ssh ${sshArgs(target).join(' ')}`,
    `${source}/`,
    `${TARGET_USER}@${target.host}:${remoteDir}/`,
  ]);
  return performance.now() - begin;
}

/** What /proc says of a process: resident memory now and at its peak, CPU time so far. */
export function processStats(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  // utime and stime are fields 14 and 15 of /proc/PID/stat, in clock ticks (100 a second).
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / 100;
  return { rssMiB: Math.round(kib('VmRSS') / 1024), peakRssMiB: Math.round(kib('VmHWM') / 1024), cpuSeconds };
}

/** CPU seconds the process used over `ms` while nothing changed. */
export async function idleCpu(pid: number, ms: number): Promise<number> {
  const before = processStats(pid).cpuSeconds;
  await delay(ms);
  return Math.round((processStats(pid).cpuSeconds - before) * 100) / 100;
}

/**
 * The latency row: one file written, then until it is on the target, `samples` times at a
 * 200 ms debounce (plus `extra` settings); the samples in ms.
 */
export async function latencySamples(
  target: Target,
  mirror: string,
  name: string,
  extra: Record<string, string> = {},
  samples = 20,
): Promise<number[]> {
  const { source, env, local } = await daemonFor(target, mirror, name, { SYNC_DEBOUNCE: '200ms', ...extra });
  const { daemon } = await started(env);
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    await writeFile(join(source, `f${i}.txt`), `sample ${i}`);
    await waitFor('arrival', () => existsSync(join(local, `f${i}.txt`)), {
      intervalMs: 5,
      timeoutMs: 30_000,
    });
    times.push(performance.now() - start);
    await delay(300);
  }
  await daemon.stop();
  return times;
}

/**
 * The burst row: `files` small files in `dirs` directories written at once, until all are on
 * the target. Arrival is the daemon saying so (a batch synced after the last write), then a
 * count: counting the mirror every few ms instead would compete with rsync for the 2 cores.
 */
export async function burstRun(
  target: Target,
  mirror: string,
  name: string,
  extra: Record<string, string> = {},
  { files = 10_000, dirs = 100 } = {},
) {
  const { source, env, local } = await daemonFor(target, mirror, name, extra);
  const { daemon } = await started(env);
  const start = performance.now();
  await writeTree(source, files, dirs);
  const written = performance.now();
  const synced = () => daemon.logs.filter((l) => l.msg === 'synced' && l.kind === 'batch').length;
  const before = synced();
  await waitFor('a batch after the last write', () => synced() > before, {
    intervalMs: 5,
    timeoutMs: 600_000,
  });
  await waitFor('every file', async () => (await countFiles(local)) === files, {
    intervalMs: 5,
    timeoutMs: 600_000,
  });
  const arrived = performance.now();
  await daemon.stop(); // its last log lines are complete once it has exited
  return {
    source,
    writeMs: written - start,
    allOnTargetMs: arrived - start,
    afterLastWriteMs: arrived - written,
    batches: synced(),
  };
}

/** Spawns filesync and polls /readyz every 10 ms until it answers 200: spawn → ready, as a probe sees it. */
export async function spawnUntilReady(
  env: Record<string, string>,
): Promise<{ daemon: Daemon; readyMs: number }> {
  const begin = performance.now();
  const daemon = Daemon.start(env);
  // Every 10 ms over one kept-alive connection, the body read: a new connection per poll, as
  // fetch() makes when the body is left unread, cost the daemon and this process 40-100 ms of
  // CPU during the start on 2 cores (a kubelet's probe asks once a second at most).
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (;;) {
      const status = await readyz(Number(env.SYNC_HEALTH_PORT), agent);
      if (status === 200) break;
      if (performance.now() - begin > 3_600_000) throw new Error('filesync never became ready');
      await delay(10);
    }
  } finally {
    agent.destroy();
  }
  return { daemon, readyMs: performance.now() - begin };
}

/** GET /readyz's status, 0 while nothing answers. */
function readyz(port: number, agent: Agent): Promise<number> {
  return new Promise((resolve) => {
    const request = get({ host: '127.0.0.1', port, path: '/readyz', agent }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', () => resolve(0));
    });
    request.on('error', () => resolve(0));
  });
}
