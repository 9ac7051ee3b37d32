import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, freePort, runCli } from './support/daemon.ts';
import { scenario as scenarioOn, stopCleanly, useTarget, watching } from './support/scenario.ts';
import { makeKeyPair, type Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// `GET /status` and `filesync status`, asked of a real daemon syncing to the sshd target, as
// `docker exec` or `kubectl exec` would: the same environment as the daemon.

let target: Target;
useTarget((started) => {
  target = started;
});

describe('filesync status', () => {
  it('reports a healthy daemon, for people and as JSON, and exits 0', async () => {
    const s = await scenarioOn(target);
    const daemon = await watching(s.env);
    const human = await runCli(s.env, ['status']);
    expect(human.exitCode, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^healthy: syncing, ready$/m);
    expect(human.stdout).toMatch(/^last success {2}\d{4}-\d\d-\d\dT/m);
    const json = await runCli(s.env, ['status', '--json']);
    expect(json.exitCode).toBe(0);
    const parsed = JSON.parse(json.stdout);
    expect(parsed).toMatchObject({ state: 'syncing', ready: true, pending: 0, failingPaths: [] });
    expect(parsed.failure).toBeUndefined();
    expect(parsed.counters.runs).toBeGreaterThan(0);
    const http = JSON.parse((await s.health('/status')).body);
    expect(http).toMatchObject({ state: 'syncing', ready: true, pending: 0, failingPaths: [] });
    expect(http.target).toMatch(new RegExp(`:${s.remoteDir}$`));
    await stopCleanly(daemon);
  });

  it('reports a failing daemon with the reason and the hint, and exits 1', async () => {
    const s = await scenarioOn(target);
    const stranger = await makeKeyPair(await mkdtemp(join(tmpdir(), 'filesync-stranger-')), 'stranger');
    const env = { ...s.env, SYNC_SSH_KEY: stranger.keyPath };
    const daemon = Daemon.start(env);
    await daemon.waitForLog('the refusal', (line) => line.msg.startsWith('sync failed'));
    const status = await waitFor('a failing status', async () => {
      const result = await runCli(env, ['status']);
      return result.exitCode === 1 ? result : undefined;
    });
    expect(status.stdout).toMatch(/^NOT HEALTHY: failing, not ready$/m);
    expect(status.stdout).toMatch(/^failing {7}since .*attempts?: auth: /m);
    expect(status.stdout).toMatch(/^hint {10}The target refused the key/m);
    const json = JSON.parse((await runCli(env, ['status', '--json'])).stdout);
    expect(json).toMatchObject({ state: 'failing', ready: false, failure: { reason: 'auth' } });
    await daemon.stop();
  });

  it('says so when no daemon answers, and exits 2', async () => {
    const s = await scenarioOn(target);
    const result = await runCli({ ...s.env, SYNC_HEALTH_PORT: String(await freePort()) }, ['status']);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(
      /no filesync daemon answered at http:\/\/127\.0\.0\.1:\d+\/status \(ECONNREFUSED\)/,
    );
  });
});
