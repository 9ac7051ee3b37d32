// npm run bench:ab -- <other checkout>: this build against another one, side by side on the
// same tree and target, interleaved round by round (these machines are noisy): start → ready on
// a tree in sync, and one file written → on the target. Build the other checkout first, e.g.
//   git worktree add /tmp/base <commit> && (cd /tmp/base && ln -s "$PWD/node_modules" . && npm run build)
// FILESYNC_AB_FILES (100,000) and FILESYNC_AB_DIRS (1,000) size the tree; FILESYNC_AB_ROUNDS (5).
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Daemon } from '../test/integration/support/daemon.ts';
import { buildTargetImage, startTarget } from '../test/integration/support/target.ts';
import { waitFor } from '../test/integration/support/wait.ts';
import { daemonFor, median, rsyncOnce, writeTree } from './support.ts';

const other = process.argv[2];
if (other === undefined || !existsSync(join(other, 'dist/cli.js'))) {
  console.error('usage: npm run bench:ab -- <checkout with a built dist/>');
  process.exit(64);
}
const files = Number(process.env.FILESYNC_AB_FILES ?? 100_000);
const dirs = Number(process.env.FILESYNC_AB_DIRS ?? 1_000);
const rounds = Number(process.env.FILESYNC_AB_ROUNDS ?? 5);
const builds = { this: resolve('dist/cli.js'), other: resolve(other, 'dist/cli.js') };

const mirror = await mkdtemp(join(tmpdir(), 'filesync-ab-mirror-'));
await chmod(mirror, 0o777);
await buildTargetImage();
await using target = await startTarget({ mirrorDir: mirror });
const { source, remoteDir, env, local } = await daemonFor(target, mirror, 'ab', { SYNC_DEBOUNCE: '200ms' });
await writeTree(source, files, dirs);
await rsyncOnce(target, source, remoteDir); // in sync before the first start

/** Runs a build: Daemon spawns `node dist/cli.js watch`; the prefix swaps in the other file. */
const start = (cli: string) =>
  Daemon.start(
    { ...env, CLI: cli },
    ['watch'],
    ['sh', '-c', 'node=$1; shift 2; exec "$node" "$CLI" "$@"', 'sh'],
  );

const results: Record<keyof typeof builds, { readyMs: number[]; latencyMs: number[] }> = {
  this: { readyMs: [], latencyMs: [] },
  other: { readyMs: [], latencyMs: [] },
};
let sample = 0;
// One start of each first, unmeasured: the copy that made the tree is still being written back
// to disk, and each build compiles into Node's compile cache once.
for (const cli of Object.values(builds)) {
  const daemon = start(cli);
  await daemon.waitForLog('ready', (line) => line.msg.startsWith('initial sync complete'), 3_600_000, 5);
  await daemon.stop();
}
for (let round = 0; round < rounds; round++) {
  for (const name of round % 2 === 0 ? (['this', 'other'] as const) : (['other', 'this'] as const)) {
    const begin = performance.now();
    const daemon = start(builds[name]);
    await daemon.waitForLog('ready', (line) => line.msg.startsWith('initial sync complete'), 3_600_000, 5);
    results[name].readyMs.push(performance.now() - begin);
    for (let i = 0; i < 5; i++) {
      const file = `ab-${sample++}.txt`;
      const written = performance.now();
      await writeFile(join(source, file), file);
      await waitFor('arrival', () => existsSync(join(local, file)), { intervalMs: 5, timeoutMs: 30_000 });
      results[name].latencyMs.push(performance.now() - written);
      await delay(300);
    }
    await daemon.stop();
  }
}
const summary = Object.fromEntries(
  Object.entries(results).map(([name, { readyMs, latencyMs }]) => [
    name,
    { build: builds[name as keyof typeof builds], readyMs: median(readyMs), latencyMs: median(latencyMs) },
  ]),
);
console.log(JSON.stringify({ files, dirs, rounds, ...summary }, null, 2));
