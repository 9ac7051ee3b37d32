import { copyFile, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from './support/daemon.ts';
import { scenario as scenarioOn, stopCleanly, useTarget, watching } from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';
import { webhookReceiver } from './support/webhook-receiver.ts';

// The dashboard and the alert rules against a live Prometheus (Debian's `prometheus` package,
// as .ci/run installs it) scraping a real daemon that syncs to the sshd container: every
// expression parses and returns series, the lag grows while the target is frozen, and the
// failing alert's expression turns true then and false once it thaws.

let target: Target;
useTarget((started) => {
  target = started;
});

interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** A Prometheus of the test's own: scrapes `metricsPort` every second, with filesync's rules. */
async function startPrometheus(metricsPort: number) {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-prometheus-'));
  await copyFile(resolve('monitoring/filesync.rules.yml'), join(dir, 'filesync.rules.yml'));
  await writeFile(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'rule_files: [filesync.rules.yml]',
      'scrape_configs:',
      '  - job_name: filesync',
      `    static_configs: [{ targets: ["127.0.0.1:${metricsPort}"] }]`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const server = execa(
    'prometheus',
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { reject: false, all: true },
  );
  const query = async (expr: string): Promise<Sample[]> => {
    const url = `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`;
    const body = (await (await fetch(url)).json()) as {
      status: string;
      error?: string;
      data?: { result: Sample[] };
    };
    if (body.status !== 'success') throw new Error(`${expr}: ${body.error ?? body.status}`);
    return body.data?.result ?? [];
  };
  /** The alerts Prometheus holds now, pending or firing. */
  const alerts = async (): Promise<{ labels: Record<string, string>; state: string }[]> => {
    const body = (await (await fetch(`http://127.0.0.1:${port}/api/v1/alerts`)).json()) as {
      data: { alerts: { labels: Record<string, string>; state: string }[] };
    };
    return body.data.alerts;
  };
  await waitFor('Prometheus to answer', async () => (await fetch(`http://127.0.0.1:${port}/-/ready`)).ok, {
    timeoutMs: 30_000,
  });
  return {
    query,
    alerts,
    async [Symbol.asyncDispose]() {
      server.kill('SIGTERM');
      await server;
    },
  };
}

/** Every expression of the dashboard, its variables as Grafana would fill them for "All". */
async function dashboardExpressions(): Promise<string[]> {
  const dashboard = JSON.parse(await readFile('monitoring/filesync.dashboard.json', 'utf8')) as {
    panels: { targets: { expr: string }[] }[];
  };
  return dashboard.panels
    .flatMap((panel) => panel.targets.map((target) => target.expr))
    .map((expr) => expr.replaceAll('$target', '.*').replaceAll('$__rate_interval', '30s'));
}

/** Every series selector in the rules (`metric{labels}`), each of which must find series. */
async function ruleSelectors(): Promise<string[]> {
  const rules = parse(await readFile('monitoring/filesync.rules.yml', 'utf8')) as {
    groups: { rules: { expr: string }[] }[];
  };
  const exprs = rules.groups.flatMap((group) => group.rules.map((rule) => rule.expr));
  return [
    ...new Set(
      exprs.flatMap((expr) => [...expr.matchAll(/\b(?:filesync_\w+|up)(?:\{[^}]*\})?/g)].map((m) => m[0])),
    ),
  ];
}

it('every dashboard and rule expression returns series; the lag grows while the target is frozen, and the failing alert turns true and back', async () => {
  // A webhook receiver, so that the webhook's panel has results to show.
  await using receiver = await webhookReceiver();
  const s = await scenarioOn(target, {
    SYNC_IO_TIMEOUT: '2s',
    SYNC_WEBHOOK_URL: receiver.url('/alerts'),
  });
  await writeFile(s.file('first.txt'), 'before the daemon starts');
  const daemon = await watching(s.env);
  const metricsPort = Number(s.env.SYNC_HEALTH_PORT);
  await using prometheus = await startPrometheus(metricsPort);
  for (let i = 0; i < 5; i++) await writeFile(s.file(`live-${i}.txt`), `change ${i}`);
  // Enough scrapes for every rate() over 30 s to have two samples of every counter.
  await waitFor(
    'a few scrapes',
    async () => Number((await prometheus.query('count_over_time(up[1m])'))[0]?.value[1] ?? 0) >= 5,
    { timeoutMs: 60_000 },
  );

  const frozen = target.container.getId();
  await execa('docker', ['pause', frozen]);
  try {
    await writeFile(s.file('while-frozen.txt'), 'waits for the thaw');
    const failing = 'filesync_target_state{state="failing"} == 1';
    await waitFor(
      'the failing expression to be true',
      async () => (await prometheus.query(failing)).length === 1,
      {
        timeoutMs: 60_000,
      },
    );
    const lag = async () =>
      Number((await prometheus.query('filesync_oldest_pending_change_seconds'))[0]?.value[1]);
    const before = await lag();
    expect(before).toBeGreaterThan(0);
    await waitFor('the lag to grow', async () => (await lag()) > before + 2, { timeoutMs: 30_000 });
    const targetFailing = async () =>
      (await prometheus.alerts()).filter((alert) => alert.labels.alertname === 'FilesyncTargetFailing');
    await waitFor(
      'FilesyncTargetFailing pending in Prometheus',
      async () => (await targetFailing()).length === 1,
      {
        timeoutMs: 30_000,
      },
    );
    expect((await targetFailing())[0]).toMatchObject({
      state: 'pending',
      labels: { severity: 'critical' },
    });
    // Every expression, while there are failures, lag and webhook results to show.
    for (const expr of [...(await dashboardExpressions()), ...(await ruleSelectors())]) {
      await waitFor(`series for ${expr}`, async () => (await prometheus.query(expr)).length > 0, {
        timeoutMs: 40_000,
        intervalMs: 500,
      });
    }
  } finally {
    await execa('docker', ['unpause', frozen]);
  }
  await waitFor(
    'the failing expression to turn false',
    async () => (await prometheus.query('filesync_target_state{state="failing"} == 1')).length === 0,
    { timeoutMs: 90_000 },
  );
  await waitFor(
    'the lag back to 0',
    async () => (await prometheus.query('filesync_oldest_pending_change_seconds == 0')).length === 1,
    { timeoutMs: 30_000 },
  );
  await waitFor('no alert held any more', async () => (await prometheus.alerts()).length === 0);
  await stopCleanly(daemon);
});
