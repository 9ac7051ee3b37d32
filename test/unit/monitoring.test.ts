import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// The alert rules are checked and unit-tested by Prometheus's own promtool (Debian's
// `prometheus` package; .ci/run installs it), and held to what the README promises of them.

const RULES = 'monitoring/filesync.rules.yml';
const RULE_TESTS = 'monitoring/filesync.rules.test.yml';

interface Rule {
  readonly alert: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
}

function rules(): Rule[] {
  const file = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: Rule[] }[] };
  return file.groups.flatMap((group) => group.rules);
}

async function promtool(args: string[]) {
  const result = await execa('promtool', args, { reject: false, all: true });
  if (result.failed && (result as { code?: string }).code === 'ENOENT')
    throw new Error('promtool is not installed: apt-get install prometheus (bash .ci/run does)');
  return result;
}

describe('the alert rules', () => {
  it('pass promtool check rules', async () => {
    const result = await promtool(['check', 'rules', RULES]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toMatch(/SUCCESS: 8 rules found/);
  });

  it("pass promtool's unit tests: each alert fires when it should and stays silent when not", async () => {
    const result = await promtool(['test', 'rules', RULE_TESTS]);
    expect(result.exitCode, result.all).toBe(0);
    expect(result.all).toMatch(/SUCCESS/);
  });

  it('test every alert firing, and every alert silent somewhere', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((test) => test.alert_rule_test);
    for (const { alert } of rules()) {
      expect(
        cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0),
        `${alert} fires`,
      ).toBe(true);
      expect(
        cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0),
        `${alert} silent`,
      ).toBe(true);
    }
  });

  it('give each alert a severity, a summary, a description and a runbook in the README', () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const rule of rules()) {
      expect(['critical', 'warning', 'info'], rule.alert).toContain(rule.labels.severity);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      expect(rule.annotations.description, rule.alert).toBeTruthy();
      expect(rule.annotations.runbook_url, rule.alert).toBe(`README.md#${rule.alert.toLowerCase()}`);
      expect(readme, `a README anchor for ${rule.alert}`).toContain(
        `| <a id="${rule.alert.toLowerCase()}"></a>${rule.alert} (${rule.labels.severity}) |`,
      );
    }
  });

  it("list in the README's table the thresholds the rule file holds", () => {
    const readme = readFileSync('README.md', 'utf8');
    for (const rule of rules()) {
      const row = readme.split('\n').find((line) => line.includes(`></a>${rule.alert} (`));
      expect(row, `a row for ${rule.alert}`).toBeDefined();
      if (rule.for !== undefined) expect(row, rule.alert).toContain(`for ${rule.for}`);
      for (const threshold of rule.expr.match(/[<>] \d+/g) ?? [])
        expect(row, `${rule.alert}'s threshold ${threshold}`).toContain(threshold);
    }
  });
});

interface Panel {
  readonly title: string;
  readonly datasource: { readonly uid: string };
  readonly targets: readonly { readonly expr: string; readonly datasource: { readonly uid: string } }[];
}

describe('the Grafana dashboard', () => {
  const dashboard = JSON.parse(readFileSync('monitoring/filesync.dashboard.json', 'utf8')) as {
    panels: Panel[];
    templating: { list: { name: string; type: string; query: unknown }[] };
  };

  it('has a data source and a target variable, and every panel reads the one chosen', () => {
    const variables = dashboard.templating.list.map((variable) => [variable.name, variable.type]);
    expect(variables).toEqual([
      ['datasource', 'datasource'],
      ['target', 'query'],
    ]);
    const chosen = '$' + '{datasource}'; // Grafana's variable syntax, not a template string
    for (const panel of dashboard.panels) {
      expect(panel.datasource.uid, panel.title).toBe(chosen);
      for (const target of panel.targets) expect(target.datasource.uid, panel.title).toBe(chosen);
    }
  });

  it('shows what the issue asks for, filtered by target, with $__rate_interval windows', () => {
    const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
    for (const metric of [
      'filesync_target_state',
      'filesync_oldest_pending_change_seconds',
      'filesync_syncs_total',
      'filesync_sync_duration_seconds_bucket',
      'filesync_files_transferred_total',
      'filesync_transferred_bytes_total',
      'filesync_pending_paths',
      'filesync_failing_paths',
      'filesync_drift_repaired_total',
      'filesync_watch_backend',
      'filesync_webhook_alerts_total',
    ])
      expect(
        exprs.some((expr) => expr.includes(metric)),
        metric,
      ).toBe(true);
    expect(exprs.filter((expr) => expr.includes('histogram_quantile(0.95'))).toHaveLength(1);
    for (const expr of exprs) {
      for (const window of expr.match(/\[[^\]]*\]/g) ?? []) expect(window, expr).toBe('[$__rate_interval]');
      const perTarget = /filesync_(?!watch_|webhook_|build_info)\w+/.test(expr);
      if (perTarget) expect(expr, 'filtered by $target').toContain('target=~"$target"');
    }
  });
});
