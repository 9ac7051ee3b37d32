import { chmod, chown, copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon } from './support/daemon.ts';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// A fault stays where it is: one path that fails never holds back the rest, nor readiness.

let target: Target;
useTarget((started) => {
  target = started;
});

const scenario = (extra: Record<string, string> = {}) => scenarioOn(target, extra);

/** Runs a command as root in the target container (the sync user cannot undo it). */
async function asRoot(command: string[]): Promise<void> {
  const result = await target.container.exec(command, { user: 'root' });
  expect(result.exitCode, result.output).toBe(0);
}

describe('a target directory that refuses writes', () => {
  it('fails that path alone: the rest arrives, /readyz stays 200, and the path heals once fixed', async () => {
    const s = await scenario();
    await mkdir(s.file('ro'));
    await writeFile(s.file('ro/first.txt'), 'arrived before');
    const daemon = await watching(s.env);
    await asRoot(['chown', 'root:root', `${s.remoteDir}/ro`]);

    await writeFile(s.file('ro/blocked.txt'), 'blocked');
    await writeFile(s.file('ok.txt'), 'ok');
    await waitForRemote('the rest of the batch', s.remote, (e) => e.get('ok.txt') === 'f');
    const failed = await daemon.waitForLog(
      'the failing path',
      (line) => line.msg === 'path failed: ro/blocked.txt',
    );
    expect(failed.reason).toBe('Permission denied');
    expect(String(failed.hint)).toMatch(/writable by SYNC_REMOTE_USER/);
    expect((await s.health('/readyz')).status).toBe(200);
    expect((await s.health('/metrics')).body).toMatch(/^filesync_failing_paths [1-9]$/m);
    expect(daemon.logs.some((line) => line.msg.startsWith('sync failed'))).toBe(false);

    // New changes elsewhere go out at once, not behind a backoff.
    await writeFile(s.file('later.txt'), 'later');
    await waitForRemote('a later change', s.remote, (e) => e.get('later.txt') === 'f');

    // Fixed on the target: the path's own retry (10 s after it failed) brings it over.
    await asRoot(['chown', 'filesync:filesync', `${s.remoteDir}/ro`]);
    await waitFor(
      'the healed path',
      async () => (await target.read(`${s.remoteDir}/ro/blocked.txt`).catch(() => '')) === 'blocked',
      { timeoutMs: 40_000, intervalMs: 250 },
    );
    await daemon.waitForLog('the recovery', (line) => line.msg === 'path recovered: ro/blocked.txt');
    expect(daemon.logs.filter((line) => line.msg === 'path failed: ro/blocked.txt')).toHaveLength(1);
    await waitFor(
      'no failing path',
      async () => /^filesync_failing_paths 0$/m.test((await s.health('/metrics')).body),
      { timeoutMs: 10_000 },
    );
    await stopCleanly(daemon);
  });
});

/** uid and gid of the unprivileged user the daemon runs as where permissions matter (as root they are bypassed). */
const USER = 1000;

/** The scenario's environment for a daemon run as USER: its own key, known_hosts, source and TMPDIR. */
async function asUser(env: Record<string, string>, source: string): Promise<Record<string, string>> {
  const home = await mkdtemp(join(tmpdir(), 'filesync-user-'));
  const key = join(home, 'id');
  const knownHosts = join(home, 'known_hosts');
  await copyFile(target.keyPath, key);
  await copyFile(target.knownHostsPath, knownHosts);
  for (const path of [home, key, knownHosts, source]) await chown(path, USER, USER);
  await chmod(key, 0o600);
  return { ...env, SYNC_SSH_KEY: key, SYNC_KNOWN_HOSTS: knownHosts, HOME: home, TMPDIR: home };
}

const UNPRIVILEGED = ['setpriv', `--reuid=${USER}`, `--regid=${USER}`, '--clear-groups'];

describe('a source file filesync cannot read', () => {
  it('fails that file alone, from the initial pass on, and sends it once it is readable', async () => {
    const s = await scenario();
    await writeFile(s.file('ok.txt'), 'ok');
    await writeFile(s.file('secret.txt'), 'secret');
    await chmod(s.file('secret.txt'), 0o000);
    const env = await asUser(s.env, s.source);
    const daemon = Daemon.start(env, ['watch'], UNPRIVILEGED);
    await daemon.waitForLog('the initial sync', (line) => line.msg.startsWith('initial sync complete'));
    const failed = await daemon.waitForLog(
      'the failing file',
      (line) => line.msg === 'path failed: secret.txt',
    );
    expect(failed.reason).toBe('Permission denied');
    expect((await s.remote()).get('ok.txt')).toBe('f');
    expect((await s.remote()).has('secret.txt')).toBe(false);
    expect((await s.health('/readyz')).status).toBe(200);

    await chmod(s.file('secret.txt'), 0o644); // a change of its own: sent at once, not at its retry
    await waitForRemote('the readable file', s.remote, (e) => e.get('secret.txt') === 'f');
    await daemon.waitForLog('the recovery', (line) => line.msg === 'path recovered: secret.txt');
    await stopCleanly(daemon);
  });
});
