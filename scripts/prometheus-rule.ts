// Generates deploy/kubernetes/overlays/monitoring/prometheusrule.yaml from the plain rule file
// monitoring/filesync.rules.yml: `npm run monitoring` rewrites it, and
// test/unit/kubernetes.test.ts fails when the two disagree.
import { readFileSync, writeFileSync } from 'node:fs';
import { parse, stringify } from 'yaml';

export const RULES = 'monitoring/filesync.rules.yml';
export const PROMETHEUS_RULE = 'deploy/kubernetes/overlays/monitoring/prometheusrule.yaml';

export function prometheusRule(rules = readFileSync(RULES, 'utf8')): string {
  const { groups } = parse(rules) as { groups: unknown[] };
  const resource = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'filesync', labels: { 'app.kubernetes.io/name': 'filesync' } },
    spec: { groups },
  };
  return `# Generated from ${RULES} by npm run monitoring: edit that file, not this one.\n${stringify(resource, { lineWidth: 0 })}`;
}

if (process.argv.includes('--write')) writeFileSync(PROMETHEUS_RULE, prometheusRule());
