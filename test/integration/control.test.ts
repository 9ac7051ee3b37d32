import { mkdtemp, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { runCli } from './support/daemon.ts';
import { scenario as scenarioOn, stopCleanly, useTarget, watching } from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// Control from outside: `filesync sync` as a CI step runs it (`docker exec filesync filesync
// sync`, the same environment as the daemon's), against a real daemon and the sshd target.

let target: Target;
useTarget((started) => {
  target = started;
});

/** A python3 that every uid may run (not a shim under /root). */
const PYTHON = '/usr/bin/python3';

/** The daemon's control socket, as it makes it: TMPDIR is /tmp for the daemons of these tests. */
const socketOf = () => join('/tmp', `filesync-control-${process.getuid?.()}`, 'control.sock');

describe('filesync sync', () => {
  it('returns only once the file is on the target, without waiting out the debounce', async () => {
    const s = await scenarioOn(target, { SYNC_DEBOUNCE: '30s', SYNC_MAX_DELAY: '60s' });
    const daemon = await watching(s.env);
    await writeFile(s.file('built.txt'), 'the artifact');
    const result = await runCli(s.env, ['sync']);
    // Read the instant it returns: no polling.
    expect(await target.read(`${s.remoteDir}/built.txt`)).toBe('the artifact');
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^synced +\\S+:${s.remoteDir}$`, 'm'));
    // Nothing pending: the next one answers at once, and so does --no-wait.
    expect((await runCli(s.env, ['sync'])).exitCode).toBe(0);
    await writeFile(s.file('later.txt'), 'asked for');
    const asked = await runCli(s.env, ['sync', '--no-wait']);
    expect(asked.exitCode).toBe(0);
    expect(asked.stdout).toMatch(/not waiting/);
    await stopCleanly(daemon);
  });

  it('exits 1 within --timeout while the target is frozen, naming it and what is pending', async () => {
    const s = await scenarioOn(target);
    const daemon = await watching(s.env);
    await execa('docker', ['pause', target.container.getId()]);
    try {
      await writeFile(s.file('stuck.txt'), 'waiting');
      const began = Date.now();
      const result = await runCli(s.env, ['sync', '--timeout', '3s']);
      const tookMs = Date.now() - began;
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toMatch(new RegExp(`^NOT SYNCED +\\S+:${s.remoteDir}$`, 'm'));
      expect(result.stderr).toMatch(
        /timeout: not synced within 3s; 1 path being sent, \d+ paths? pending after that/,
      );
      expect(result.stderr).toMatch(/hint: /);
      // It never waits past its timeout (the daemon answers at it; a start of the CLI aside).
      expect(tookMs).toBeLessThan(3000 + 5000);
    } finally {
      await execa('docker', ['unpause', target.container.getId()]);
    }
    const after = await runCli(s.env, ['sync', '--timeout', '90s']);
    expect(after.exitCode, after.stderr).toBe(0);
    expect(await target.read(`${s.remoteDir}/stuck.txt`)).toBe('waiting');
    await stopCleanly(daemon);
  });

  it('says so when no daemon answers, exits 2, and refuses a bad --timeout with 64', async () => {
    const s = await scenarioOn(target);
    const alone = await runCli({ ...s.env, TMPDIR: tmpdir() }, ['sync']);
    expect(alone.exitCode).toBe(2);
    expect(alone.stderr).toMatch(/no filesync daemon answered at .*control\.sock \(ENOENT\)/);
    const bad = await runCli(s.env, ['sync', '--timeout', 'soon']);
    expect(bad.exitCode).toBe(64);
    expect(bad.stderr).toMatch(/--timeout: expected a duration such as 30s/);
  });

  it("keeps its socket to the daemon's uid: 0600 in a 0700 directory, refused to another uid", async () => {
    const s = await scenarioOn(target);
    const daemon = await watching(s.env);
    const socket = socketOf();
    expect((await stat(socket)).mode & 0o777).toBe(0o600);
    expect((await stat(join(socket, '..'))).mode & 0o777).toBe(0o700);
    // Another uid (nobody) connects as any client would; the system's python3 (.ci/run
    // installs it), so that nothing of the checkout needs to be readable by that uid. The test
    // runs as root, as CI does.
    expect(process.getuid?.(), 'this test switches to another uid: run it as root').toBe(0);
    const probe = `import socket\ntry:\n  socket.socket(socket.AF_UNIX).connect(${JSON.stringify(socket)}); print("connected")\nexcept OSError as e:\n  print(type(e).__name__)`;
    const other = await execa('setpriv', [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      PYTHON,
      '-c',
      probe,
    ]);
    expect(other.stdout.trim()).toBe('PermissionError');
    const same = await execa(PYTHON, ['-c', probe]);
    expect(same.stdout.trim()).toBe('connected');
    await stopCleanly(daemon);
  });
});

describe('pause and resume', () => {
  it('keeps changes while paused and sends none, says so, and resume sends them; --for resumes by itself', async () => {
    const s = await scenarioOn(target);
    const daemon = await watching(s.env);
    const paused = await runCli(s.env, ['pause']);
    expect(paused.exitCode, paused.stderr).toBe(0);
    expect(paused.stdout).toMatch(new RegExp(`^paused +\\S+:${s.remoteDir} since \\d{4}-`, 'm'));
    await writeFile(s.file('held.txt'), 'held back');
    // Nothing arrives while paused: the target is watched for 5 s, well past the debounce.
    for (const until = Date.now() + 5000; Date.now() < until; await delay(250))
      expect((await s.remote()).has('held.txt')).toBe(false);
    const status = JSON.parse((await s.health('/status')).body);
    expect(status.targets[0].paused.since).toMatch(/^\d{4}-/);
    expect(status.targets[0].failure).toBeUndefined(); // a pause is no failure
    expect((await s.health('/readyz')).status).toBe(200);
    expect((await s.health('/metrics')).body).toMatch(/^filesync_paused\{target="[^"]+"\} 1$/m);
    expect((await runCli(s.env, ['status'])).stdout).toMatch(/^paused {8}since /m);
    const sync = await runCli(s.env, ['sync', '--timeout', '5s']);
    expect(sync.exitCode).toBe(1);
    expect(sync.stderr).toMatch(/paused: paused since .*: nothing is sent/);
    const resumed = await runCli(s.env, ['resume']);
    expect(resumed.exitCode, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/^syncing +\S+/m);
    await waitFor('the held file', async () => (await s.remote()).has('held.txt'));
    expect((await s.health('/metrics')).body).toMatch(/^filesync_paused\{target="[^"]+"\} 0$/m);

    expect((await runCli(s.env, ['pause', '--for', '2s'])).stdout).toMatch(/, until \d{4}-/);
    await writeFile(s.file('later.txt'), 'after the pause');
    await waitFor('the pause to end by itself', async () => (await s.remote()).has('later.txt'), {
      timeoutMs: 20_000,
    });
    expect((await runCli(s.env, ['pause', '--for', '2'])).exitCode).toBe(64); // a unit is needed
    await stopCleanly(daemon);
  });
});

describe('control over the network', () => {
  it('exists only with a token: refused without it and with a wrong one, done with it, the token in no log line', async () => {
    const token = 'f00d'.repeat(10);
    const plain = await scenarioOn(target);
    const closed = await watching(plain.env);
    const port = plain.env.SYNC_HEALTH_PORT;
    const post = (path: string, body: unknown, authorization?: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      });
    expect((await post('/sync', { timeoutMs: 5000 }, `Bearer ${token}`)).status).toBe(404);
    await stopCleanly(closed);

    const dir = await mkdtemp(join(tmpdir(), 'filesync-secret-'));
    await writeFile(join(dir, 'token'), `${token}\n`, { mode: 0o600 });
    const s = await scenarioOn(target, {
      SYNC_CONTROL_TOKEN_FILE: join(dir, 'token'),
      SYNC_DEBOUNCE: '30s',
      SYNC_MAX_DELAY: '60s',
    });
    const daemon = await watching(s.env);
    const at = (path: string, body: unknown, authorization?: string) =>
      fetch(`http://127.0.0.1:${s.env.SYNC_HEALTH_PORT}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      });
    await writeFile(s.file('deployed.txt'), 'by CI');
    expect((await at('/sync', { timeoutMs: 30_000 })).status).toBe(401);
    expect((await at('/sync', { timeoutMs: 30_000 }, `Bearer ${token.slice(0, -1)}x`)).status).toBe(401);
    expect((await s.remote()).has('deployed.txt')).toBe(false); // refused, so nothing was sent
    const synced = await at('/sync', { timeoutMs: 30_000 }, `Bearer ${token}`);
    expect(synced.status).toBe(200);
    expect(await synced.json()).toMatchObject({ ok: true, waited: true });
    expect(await target.read(`${s.remoteDir}/deployed.txt`)).toBe('by CI');
    const paused = await at('/pause', { forMs: 60_000 }, `Bearer ${token}`);
    expect(((await paused.json()) as { targets: { paused: unknown }[] }).targets[0]?.paused).toBeDefined();
    expect((await at('/resume', {}, `Bearer ${token}`)).status).toBe(200);
    expect(JSON.parse((await s.health('/status')).body).targets[0].paused).toBeUndefined();
    await stopCleanly(daemon);
    const logged = JSON.stringify([...daemon.logs]);
    expect(logged).toMatch(/POST \/sync, \/pause and \/resume with the control token/);
    expect(logged).not.toContain(token);
  });
});
