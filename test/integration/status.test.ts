import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Daemon, freePort, runCli } from './support/daemon.ts';
import { scenario as scenarioOn, stopCleanly, useTarget, watching } from './support/scenario.ts';
import { makeKeyPair, type Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';
import { webhookReceiver } from './support/webhook-receiver.ts';

// For the people on call: `GET /status` and `filesync status`, asked of a real daemon syncing to
// the sshd target as `docker exec` or `kubectl exec` would (the same environment as the
// daemon), and the webhook's alerts, received by a server in the test.

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
    expect(parsed).toMatchObject({ state: 'syncing', ready: true });
    expect(parsed.targets).toHaveLength(1);
    expect(parsed.targets[0]).toMatchObject({ state: 'syncing', ready: true, pending: 0, failingPaths: [] });
    expect(parsed.targets[0].failure).toBeUndefined();
    expect(parsed.targets[0].counters.runs).toBeGreaterThan(0);
    const http = JSON.parse((await s.health('/status')).body);
    expect(http.targets[0]).toMatchObject({ state: 'syncing', ready: true, pending: 0, failingPaths: [] });
    expect(http.targets[0].target).toMatch(new RegExp(`:${s.remoteDir}$`));
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
    expect(json).toMatchObject({ state: 'failing', ready: false });
    expect(json.targets[0]).toMatchObject({ state: 'failing', failure: { reason: 'auth' } });
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

  it("needs only SYNC_HEALTH_PORT, not the daemon's key files, and refuses a bad one with 78", async () => {
    const port = await freePort();
    const alone = await runCli({ SYNC_HEALTH_PORT: String(port) }, ['status']);
    expect(alone.exitCode).toBe(2);
    expect(alone.stderr).toMatch(
      new RegExp(`no filesync daemon answered at http://127\\.0\\.0\\.1:${port}/status`),
    );
    const bad = await runCli({ SYNC_HEALTH_PORT: 'eighty' }, ['status']);
    expect(bad.exitCode).toBe(78);
    expect(bad.stderr).toMatch(/SYNC_HEALTH_PORT: expected a port number/);
  });
});

describe('the webhook', () => {
  it('POSTs one alert when syncing starts failing and one when it recovers, none per retry, while /readyz stays 200 and /status says failing', async () => {
    await using receiver = await webhookReceiver();
    const received = receiver.received;
    const s = await scenarioOn(target, {
      SYNC_WEBHOOK_URL: receiver.url('/hooks/filesync'),
      SYNC_IO_TIMEOUT: '2s',
    });
    const daemon = await watching(s.env);
    const failedRuns = async () =>
      JSON.parse((await s.health('/status')).body).targets[0].counters.failedRuns;
    // A mirror host that goes down takes no application Pod out of its Service: /readyz is
    // asked throughout the outage, as a kubelet would, and must answer 200 every time.
    const readiness: number[] = [];
    const asking = setInterval(() => {
      void s.health('/readyz').then(({ status }) => readiness.push(status));
    }, 250);
    await execa('docker', ['pause', target.container.getId()]);
    try {
      await writeFile(s.file('while-down.txt'), 'kept');
      await waitFor('the failing alert', () => received.length === 1, { timeoutMs: 60_000 });
      // Retries go on failing (1 s, 2 s, 4 s apart): still the one alert.
      await waitFor('two more failed runs', async () => (await failedRuns()) >= 3, { timeoutMs: 90_000 });
      expect(received).toHaveLength(1);
      const status = JSON.parse((await s.health('/status')).body);
      expect(status).toMatchObject({ state: 'failing', ready: true });
      expect(status.targets[0].failure.reason).toMatch(/^(timeout|unreachable)$/);
      // The lag: the change made while down is not on the target, and it ages.
      expect(status.targets[0].lagSeconds).toBeGreaterThan(1);
      const lag = async () =>
        Number(
          /^filesync_oldest_pending_change_seconds\{target="[^"]+"\} (\S+)$/m.exec(
            (await s.health('/metrics')).body,
          )?.[1],
        );
      const first = await lag();
      await waitFor('the lag to grow', async () => (await lag()) > first + 0.5);
    } finally {
      clearInterval(asking);
      await execa('docker', ['unpause', target.container.getId()]);
    }
    expect(readiness.length).toBeGreaterThan(10);
    expect(new Set(readiness)).toEqual(new Set([200]));
    await waitFor('the recovery alert', () => received.length === 2, { timeoutMs: 90_000 });
    await waitFor('no lag once the change is there', async () => {
      const { targets } = JSON.parse((await s.health('/status')).body);
      return targets[0].lagSeconds === 0 && targets[0].oldestPendingChange === undefined;
    });
    expect((await s.health('/metrics')).body).toMatch(
      /^filesync_oldest_pending_change_seconds\{target="[^"]+"\} 0$/m,
    );
    expect((await s.health('/metrics')).body).toMatch(
      /^filesync_build_info\{version="[^"]+",node="v\d+[^"]*",rsync="\d[^"]*"\} 1$/m,
    );
    expect(received[0]).toMatchObject({
      event: 'failing',
      contentType: 'application/json',
      target: expect.stringMatching(new RegExp(`:${s.remoteDir}$`)),
      reason: expect.stringMatching(/^(timeout|unreachable)$/),
      hint: expect.any(String),
      attempts: 1,
      pending: expect.any(Number),
    });
    expect(received[0]?.text).toMatch(/^filesync on .*: syncing to .* is failing/);
    expect(received[1]).toMatchObject({ event: 'recovered', since: received[0]?.since });
    expect(received[1]?.attempts).toBeGreaterThanOrEqual(3);
    // Counted once the receiver has answered, a moment after it has the body.
    await waitFor('both deliveries counted', async () =>
      /filesync_webhook_alerts_total\{result="delivered"\} 2/.test((await s.health('/metrics')).body),
    );
    await stopCleanly(daemon);
    expect(received).toHaveLength(2);
  });

  it('turns /readyz 503 during the outage under SYNC_READINESS=syncing, the old coupling, and 200 once it is over', async () => {
    const s = await scenarioOn(target, { SYNC_READINESS: 'syncing', SYNC_IO_TIMEOUT: '2s' });
    const daemon = await watching(s.env);
    expect((await s.health('/readyz')).status).toBe(200);
    await execa('docker', ['pause', target.container.getId()]);
    try {
      await writeFile(s.file('while-down.txt'), 'kept');
      const unready = await waitFor(
        'readiness to drop',
        async () => {
          const ready = await s.health('/readyz');
          return ready.status === 503 ? ready : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(JSON.parse(unready.body).reason).toMatch(/^syncing is failing \((timeout|unreachable), /);
    } finally {
      await execa('docker', ['unpause', target.container.getId()]);
    }
    await waitFor('readiness to return', async () => (await s.health('/readyz')).status === 200, {
      timeoutMs: 90_000,
    });
    await stopCleanly(daemon);
  });

  it('logs and counts an alert the receiver never takes, and goes on syncing', async () => {
    const s = await scenarioOn(target, {
      SYNC_WEBHOOK_URL: `http://127.0.0.1:${await freePort()}/nobody`,
    });
    const stranger = await makeKeyPair(await mkdtemp(join(tmpdir(), 'filesync-stranger-')), 'stranger');
    const daemon = Daemon.start({ ...s.env, SYNC_SSH_KEY: stranger.keyPath });
    const given = await daemon.waitForLog(
      'the undelivered alert',
      (line) => line.msg.startsWith('webhook alert not delivered'),
      30_000,
    );
    expect(given).toMatchObject({ event: 'failing', attempts: 3, problem: 'ECONNREFUSED' });
    expect(JSON.stringify(given)).not.toMatch(/nobody/); // the URL's path may hold a secret
    const metrics = (await s.health('/metrics')).body;
    expect(metrics).toMatch(/filesync_webhook_alerts_total\{result="failed"\} 1/);
    expect((await s.health('/healthz')).status).toBe(200);
    await daemon.stop();
  });
});
