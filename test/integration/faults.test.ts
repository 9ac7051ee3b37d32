import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Daemon } from './support/daemon.ts';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForMirror,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import { startTarget, TARGET_HOME, type Target } from './support/target.ts';
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
    expect((await s.health('/metrics')).body).toMatch(/^filesync_failing_paths\{target="[^"]+"\} [1-9]$/m);
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
      async () => /^filesync_failing_paths\{target="[^"]+"\} 0$/m.test((await s.health('/metrics')).body),
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

describe("the target's disk full", () => {
  it('reports it, keeps the change, and converges once space is freed, with nothing half-written in place', async () => {
    // A target of its own, whose mirror directory is a 2 MiB tmpfs.
    const mirror = `${TARGET_HOME}/small`;
    await using small = await startTarget({ tmpfs: { [mirror]: 'size=2m,uid=1000,gid=1000,mode=0755' } });
    const s = await scenarioOn(small, { SYNC_REMOTE_DIR: mirror });
    const filler = await small.exec(['dd', 'if=/dev/zero', `of=${mirror}/filler`, 'bs=1k', 'count=1536']);
    expect(filler.exitCode, filler.output).toBe(0);
    const daemon = Daemon.start({ ...s.env, SYNC_EXCLUDE: 'filler', SYNC_DELETE: 'false' });
    await daemon.waitForLog('the initial sync', (line) => line.msg.startsWith('initial sync complete'));

    await writeFile(s.file('big.bin'), Buffer.alloc(1024 * 1024, 7));
    await writeFile(s.file('small.txt'), 'small');
    const reported = await daemon.waitForLog(
      'the full disk',
      (line) => /No space left/.test(JSON.stringify(line.err ?? '')),
      30_000,
    );
    expect(reported.level === 'warn' || reported.level === 'error').toBe(true);
    const whole = `[ ! -e ${mirror}/big.bin ] || [ "$(stat -c %s ${mirror}/big.bin)" = 1048576 ]`;
    expect((await small.exec(['sh', '-c', whole])).exitCode, 'no half-written big.bin in place').toBe(0);

    expect((await small.exec(['rm', `${mirror}/filler`])).exitCode).toBe(0);
    await waitFor(
      'big.bin in full on the target',
      async () =>
        (await small.exec(['sh', '-c', `test "$(stat -c %s ${mirror}/big.bin)" = 1048576`])).exitCode === 0,
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(await small.read(`${mirror}/small.txt`)).toBe('small');
    expect((await small.exec(['sh', '-c', whole])).exitCode).toBe(0);
    await stopCleanly(daemon);
  });
});

/** Runs `during` with the target frozen (`docker pause`): its connections stall, as on a cut. */
async function withTargetPaused(during: () => Promise<void>): Promise<void> {
  await execa('docker', ['pause', target.container.getId()]);
  try {
    await during();
  } finally {
    await execa('docker', ['unpause', target.container.getId()]);
  }
}

const sha1 = (data: Buffer | string) => createHash('sha1').update(data).digest('hex');

async function remoteSha1(path: string): Promise<string> {
  const { output } = await target.exec(['sh', '-c', `sha1sum < '${path}' 2>/dev/null || true`]);
  return output.trim().split(/\s+/)[0] ?? '';
}

describe('the network cut in the middle of a large transfer', () => {
  it('leaves the old file in place, never part of the new one, and completes it once the target is back', async () => {
    // 16 MiB at 4 MiB/s: about four seconds to cut into.
    const s = await scenario({ SYNC_RSYNC_BWLIMIT: '4096', SYNC_IO_TIMEOUT: '3s' });
    await writeFile(s.file('big.bin'), 'the old version');
    const daemon = await watching(s.env);
    const content = randomBytes(16 * 1024 * 1024);
    await writeFile(s.file('big.bin'), content);
    const dir = `${s.remoteDir}`;
    await waitFor(
      'the transfer to be under way',
      async () =>
        (await target.exec(['sh', '-c', `ls -a '${dir}' | grep -q '^\\.big\\.bin\\.'`])).exitCode === 0,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const old = sha1('the old version');
    await withTargetPaused(async () => {
      await daemon.waitForLog('the cut', (line) => line.msg.startsWith('sync failed'), 60_000);
    });
    expect([old, sha1(content)]).toContain(await remoteSha1(`${dir}/big.bin`));
    await waitFor('the whole new file', async () => (await remoteSha1(`${dir}/big.bin`)) === sha1(content), {
      timeoutMs: 90_000,
      intervalMs: 500,
    });
    await waitFor(
      'the partial file to be gone',
      async () => (await target.exec(['test', '-e', `${dir}/.filesync-partial/big.bin`])).exitCode !== 0,
      { timeoutMs: 10_000 },
    );
    await stopCleanly(daemon);
    // A clean stop removes the top's partial-dir, the running marker in it.
    expect((await target.exec(['test', '-e', `${dir}/.filesync-partial`])).exitCode).not.toBe(0);
  });
});

describe('50,000 changes while the target is down', () => {
  it('keeps them in bounded memory and converges once the target is back', async () => {
    const s = await scenario();
    const daemon = await watching(s.env);
    let rssMiB = 0;
    await withTargetPaused(async () => {
      for (let d = 0; d < 500; d++) {
        await mkdir(s.file(`d${d}`));
        await Promise.all(
          Array.from({ length: 100 }, (_, i) => writeFile(s.file(`d${d}/f${i}.txt`), `${d}/${i}`)),
        );
      }
      await daemon.waitForLog('a failed attempt', (line) => line.msg.startsWith('sync failed'), 60_000);
      const status = readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
      rssMiB = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) / 1024;
    });
    expect(rssMiB).toBeGreaterThan(0);
    expect(rssMiB).toBeLessThan(300); // a list of 50,000 paths, not a copy of the tree
    await waitForMirror(target, s.source, s.remoteDir, 120_000);
    await stopCleanly(daemon);
  });
});
