import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inotifyWatches } from '../support/proc.ts';
import { Daemon, freePort, runCli } from './support/daemon.ts';
import {
  buildTargetImage,
  makeKeyPair,
  startTarget,
  TARGET_HOME,
  TARGET_USER,
  type Target,
} from './support/target.ts';
import { waitFor } from './support/wait.ts';

// SYNC_TARGETS: one watcher feeding several targets, each on its own schedule. Two real sshd
// containers (one of them behind an rrsync-restricted key) and a third target where nothing
// listens: the healthy two get every change while the third fails on its own.

let plain: Target;
let restricted: Target;
let knownHosts: string;
let keyPath: string;

beforeAll(async () => {
  await buildTargetImage();
  const dir = await mkdtemp(join(tmpdir(), 'filesync-targets-'));
  const keyPair = await makeKeyPair(dir);
  keyPath = keyPair.keyPath;
  [plain, restricted] = await Promise.all([
    startTarget({ keyPair }),
    startTarget({ keyPair, restricted: true }),
  ]);
  // One known_hosts file pins every target.
  knownHosts = join(dir, 'known_hosts');
  const lines = await Promise.all([plain, restricted].map((t) => readFile(t.knownHostsPath, 'utf8')));
  await writeFile(knownHosts, lines.join(''));
});

afterAll(async () => {
  await Promise.all([plain, restricted].map((target) => target?.[Symbol.asyncDispose]()));
});

describe('several targets', () => {
  it('sends every change to each healthy target while another is down, with one watcher', async () => {
    const source = await mkdtemp(join(tmpdir(), 'filesync-source-'));
    await mkdir(join(source, 'a/b'), { recursive: true });
    await writeFile(join(source, 'a/before.txt'), 'before');
    const name = `multi-${process.pid}`;
    const down = await freePort();
    const healthPort = await freePort();
    const env = {
      SYNC_SOURCE_DIR: source,
      SYNC_TARGETS: [
        `ssh://${TARGET_USER}@${plain.host}:${plain.port}${TARGET_HOME}/${name}`,
        `ssh://${TARGET_USER}@127.0.0.1:${down}/nowhere`,
        `ssh://${TARGET_USER}@${restricted.host}:${restricted.port}/${name}`, // inside rrsync's dir
      ].join(','),
      SYNC_SSH_KEY: keyPath,
      SYNC_KNOWN_HOSTS: knownHosts,
      SYNC_HEALTH_PORT: String(healthPort),
      SYNC_DEBOUNCE: '200ms',
      SYNC_MAX_DELAY: '2s',
      SYNC_SHUTDOWN_TIMEOUT: '3s',
    };
    const health = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${healthPort}${path}`);
      return { status: response.status, body: await response.text() };
    };
    const onBoth = (path: string, content: string) =>
      waitFor(`${path} on both healthy targets`, async () => {
        const [a, b] = await Promise.all([
          plain.exec(['cat', `${TARGET_HOME}/${name}/${path}`]),
          restricted.exec(['cat', `${TARGET_HOME}/${name}/${path}`]),
        ]);
        return a.output === content && b.output === content;
      });

    const daemon = Daemon.start(env);
    try {
      await onBoth('a/before.txt', 'before');
      await daemon.waitForLog('the down target failing', (line) => line.msg.startsWith('sync failed'));
      await writeFile(join(source, 'a/b/live.txt'), 'live');
      await onBoth('a/b/live.txt', 'live');

      // One watcher for all: a watch per directory (the root, a, a/b), not one per target.
      expect(inotifyWatches(daemon.pid ?? 0)).toBe(3);

      const status = JSON.parse((await health('/status')).body);
      expect(status).toMatchObject({ state: 'failing', ready: false });
      expect(status.targets.map((t: { state: string }) => t.state)).toEqual([
        'syncing',
        'failing',
        'syncing',
      ]);
      expect(status.targets[1].failure.reason).toBe('unreachable');
      const ready = await health('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body).toMatch(
        new RegExp(`127\\.0\\.0\\.1:${down}/nowhere: syncing is failing \\(unreachable`),
      );
      const metrics = (await health('/metrics')).body;
      expect(metrics).toMatch(
        new RegExp(
          `filesync_syncs_total\\{target="127\\.0\\.0\\.1:${down}/nowhere",kind="full",outcome="unreachable"\\} [1-9]`,
        ),
      );
      expect(metrics).toMatch(
        new RegExp(`filesync_syncs_total\\{target="[^"]+:\\d+/${name}",kind="batch",outcome="ok"\\} [1-9]`),
      );
      const human = await runCli(env, ['status']);
      expect(human.exitCode).toBe(1);
      expect(human.stdout).toMatch(/^state {9}failing, not ready$/m);

      // A target that stalls (frozen, as on a cut link) does not hold up the others either.
      await execa('docker', ['pause', restricted.container.getId()]);
      try {
        await writeFile(join(source, 'a/while-stalled.txt'), 'stalled');
        await waitFor('the change on the healthy target', async () => {
          const { output } = await plain.exec(['cat', `${TARGET_HOME}/${name}/a/while-stalled.txt`]);
          return output === 'stalled';
        });
      } finally {
        await execa('docker', ['unpause', restricted.container.getId()]);
      }
      await onBoth('a/while-stalled.txt', 'stalled');

      const check = await runCli(env, ['check']);
      expect(check.exitCode).toBe(1);
      expect(check.stdout).toMatch(new RegExp(`^failing: 127\\.0\\.0\\.1:${down}/nowhere$`, 'm'));
      expect(check.stdout.match(/^all checks passed$/gm)).toHaveLength(2);
    } finally {
      const { exitCode } = await daemon.stop();
      // The down target still had its changes pending: they are for its next start.
      expect(exitCode).toBe(1);
      expect(daemon.logs.find((line) => line.msg.startsWith('stopped with changes unsent'))).toMatchObject({
        targets: [`127.0.0.1:${down}/nowhere`],
      });
    }
  });
});
