// npm run bench: measures filesync against a real sshd container on this machine.
//   latency  — one file written → on the target (SYNC_DEBOUNCE=200ms), 20 samples
//   burst    — 2,000 files in 40 directories written at once → all on the target; rsync runs used
//   baseline — the tutorial's design on the same target: one `ssh mkdir` + one rsync per file
//   memory   — the daemon's peak RSS while watching a 20,000-file tree
// Results go to stdout and bench/results/latest.json. Numbers vary by machine: compare runs
// made on the same one.
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { Daemon, freePort } from '../test/integration/support/daemon.ts';
import {
  buildTargetImage,
  startTarget,
  TARGET_HOME,
  TARGET_USER,
} from '../test/integration/support/target.ts';
import { waitFor } from '../test/integration/support/wait.ts';

const mirror = await mkdtemp(join(tmpdir(), 'filesync-bench-mirror-'));
await chmod(mirror, 0o777);
await buildTargetImage();
await using target = await startTarget({ mirrorDir: mirror });
let runs = 0;

async function daemonFor(name: string, extra: Record<string, string> = {}) {
  const source = await mkdtemp(join(tmpdir(), `filesync-bench-${name}-`));
  const env = {
    SYNC_SOURCE_DIR: source,
    SYNC_REMOTE_HOST: target.host,
    SYNC_REMOTE_PORT: String(target.port),
    SYNC_REMOTE_USER: TARGET_USER,
    SYNC_REMOTE_DIR: `${TARGET_HOME}/${name}`,
    SYNC_SSH_KEY: target.keyPath,
    SYNC_KNOWN_HOSTS: target.knownHostsPath,
    SYNC_HEALTH_PORT: String(await freePort()),
    // As the image runs it (see the Dockerfile).
    NODE_OPTIONS: '--max-semi-space-size=4',
    ...extra,
  };
  return { source, env, local: join(mirror, name) };
}

async function started(env: Record<string, string>): Promise<Daemon> {
  const daemon = Daemon.start(env);
  await daemon.waitForLog(
    'the initial sync',
    (line) => line.msg.startsWith('initial sync complete'),
    600_000,
  );
  return daemon;
}

const syncedBatches = (daemon: Daemon) =>
  daemon.logs.filter((l) => l.msg === 'synced' && l.kind === 'batch').length;
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))] ??
  NaN;

// --- latency ---------------------------------------------------------------------------------
const latency = await (async () => {
  const { source, env, local } = await daemonFor('latency', { SYNC_DEBOUNCE: '200ms' });
  await using daemon = await started(env);
  const samples: number[] = [];
  for (let i = 0; i < 20; i++) {
    const start = performance.now();
    await writeFile(join(source, `f${i}.txt`), `sample ${i}`);
    await waitFor('arrival', () => existsSync(join(local, `f${i}.txt`)), {
      intervalMs: 5,
      timeoutMs: 30_000,
    });
    samples.push(performance.now() - start);
    await delay(300);
  }
  await daemon.stop();
  return {
    debounceMs: 200,
    samples: samples.length,
    p50Ms: Math.round(percentile(samples, 50)),
    p95Ms: Math.round(percentile(samples, 95)),
  };
})();
console.log('latency', latency);

// --- burst -----------------------------------------------------------------------------------
async function writeTree(root: string, files: number, dirs: number) {
  for (let d = 0; d < dirs; d++) await mkdir(join(root, `dir${d}`), { recursive: true });
  for (let i = 0; i < files; i++)
    await writeFile(join(root, `dir${i % dirs}`, `file${i}.txt`), `content of file ${i}\n`);
}
async function countFiles(dir: string): Promise<number> {
  const result = await execa('find', [dir, '-type', 'f'], { reject: false });
  return result.stdout === '' ? 0 : result.stdout.split('\n').length;
}

const burst = await (async () => {
  const files = 2000;
  const { source, env, local } = await daemonFor('burst');
  await using daemon = await started(env);
  const start = performance.now();
  await writeTree(source, files, 40);
  const written = performance.now() - start;
  await waitFor('every file', async () => (await countFiles(local)) === files, {
    intervalMs: 50,
    timeoutMs: 300_000,
  });
  const total = performance.now() - start;
  await daemon.stop(); // its last log lines are complete once it has exited
  const batches = syncedBatches(daemon);
  return {
    files,
    writeMs: Math.round(written),
    allOnTargetMs: Math.round(total),
    rsyncRuns: batches,
    filesPerSecond: Math.round(files / (total / 1000)),
  };
})();
console.log('burst', burst);

// --- baseline: the tutorial's one ssh mkdir + one rsync per file ---------------------------
const baseline = await (async () => {
  const files = 200;
  const source = await mkdtemp(join(tmpdir(), 'filesync-bench-baseline-'));
  await writeTree(source, files, 40);
  const ssh = [
    '-i',
    target.keyPath,
    '-p',
    String(target.port),
    '-o',
    `UserKnownHostsFile=${target.knownHostsPath}`,
    '-o',
    'BatchMode=yes',
  ];
  const start = performance.now();
  for (let i = 0; i < files; i++) {
    const rel = `dir${i % 40}/file${i}.txt`;
    const remote = `${TARGET_HOME}/baseline/${rel}`;
    await execa('ssh', [...ssh, `${TARGET_USER}@${target.host}`, `mkdir -p ${join(remote, '..')}`]);
    await execa('rsync', [
      '-a',
      '-e',
      `ssh ${ssh.join(' ')}`,
      join(source, rel),
      `${TARGET_USER}@${target.host}:${remote}`,
    ]);
    runs++;
  }
  const total = performance.now() - start;
  return {
    files,
    allOnTargetMs: Math.round(total),
    processesStarted: runs * 2,
    filesPerSecond: Math.round(files / (total / 1000)),
  };
})();
console.log('baseline (tutorial design)', baseline);

// --- memory ----------------------------------------------------------------------------------
async function memoryFor(name: string, files: number, dirs: number) {
  const { source, env } = await daemonFor(name);
  await writeTree(source, files, dirs);
  await using daemon = await started(env);
  const status = await readFile(`/proc/${daemon.pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  await daemon.stop();
  return {
    watchedFiles: files,
    watchedDirs: dirs,
    peakRssMiB: Math.round(kib('VmHWM') / 1024),
    rssMiB: Math.round(kib('VmRSS') / 1024),
  };
}
const memory = [await memoryFor('memory-small', 100, 10), await memoryFor('memory-large', 20_000, 200)];
console.log('memory', memory);

const results = { date: new Date().toISOString(), node: process.version, latency, burst, baseline, memory };
await mkdir('bench/results', { recursive: true });
await writeFile('bench/results/latest.json', `${JSON.stringify(results, null, 2)}\n`);
console.log(
  `\nburst: ${burst.filesPerSecond} files/s with ${burst.rsyncRuns} rsync runs; tutorial design: ${baseline.filesPerSecond} files/s (${baseline.processesStarted} processes for ${baseline.files} files)`,
);
