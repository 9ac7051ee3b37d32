import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PodMonitor, PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { PROMETHEUS_RULE, prometheusRule, RULES } from '../../scripts/prometheus-rule.ts';

// No cluster runs here: the Kustomize base and overlays are rendered by a small renderer of the
// parts of Kustomize they use (resources, and JSON 6902 patches), and every object is checked
// offline against the Kubernetes OpenAPI schemas (kubernetes-models) and prometheus-operator's
// (@kubernetes-models/prometheus-operator), plus what the docs promise about them.

const DIR = 'deploy/kubernetes';
const MODELS = { Deployment, ConfigMap, Secret, PodMonitor, PrometheusRule } as const;

type Doc = Record<string, unknown> & { kind: string; metadata: { name: string } };

function documents(path: string): Doc[] {
  return parseAllDocuments(readFileSync(path, 'utf8')).map((doc) => doc.toJS() as Doc);
}

function validate(doc: Record<string, unknown>): void {
  const Model = MODELS[doc.kind as keyof typeof MODELS];
  if (Model === undefined) throw new Error(`no schema for kind ${String(doc.kind)}`);
  new Model(doc as never).validate();
}

interface Kustomization {
  resources: string[];
  patches?: { target: { kind: string; name: string }; patch: string }[];
}

type Operation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move'; from: string; path: string };

/** What `kubectl kustomize dir` renders, for the parts of Kustomize these files use. */
function kustomize(dir: string): Doc[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization;
  const docs = kustomization.resources.flatMap((resource) => {
    const path = join(dir, resource);
    return statSync(path).isDirectory() ? kustomize(path) : documents(path);
  });
  for (const { target, patch } of kustomization.patches ?? []) {
    const doc = docs.find((d) => d.kind === target.kind && d.metadata.name === target.name);
    if (doc === undefined) throw new Error(`${dir}: no ${target.kind} ${target.name} to patch`);
    for (const operation of parse(patch) as Operation[]) apply(doc, operation);
  }
  return docs;
}

/** One JSON Patch (RFC 6902) operation, in place. */
function apply(doc: unknown, operation: Operation): void {
  const locate = (pointer: string) => {
    const keys = pointer.split('/').slice(1);
    const last = keys.pop() ?? '';
    let parent = doc as Record<string, unknown>;
    for (const key of keys) {
      parent = parent[key] as Record<string, unknown>;
      if (parent === undefined) throw new Error(`no ${pointer}`);
    }
    return { parent, last };
  };
  const take = (pointer: string) => {
    const { parent, last } = locate(pointer);
    if (!(last in parent)) throw new Error(`no ${pointer}`);
    const value = parent[last];
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
    return value;
  };
  const put = (pointer: string, value: unknown) => {
    const { parent, last } = locate(pointer);
    if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, value);
    else parent[last] = value;
  };
  switch (operation.op) {
    case 'test': {
      const { parent, last } = locate(operation.path);
      expect(parent[last], `test ${operation.path}`).toEqual(operation.value);
      return;
    }
    case 'add':
      put(operation.path, structuredClone(operation.value));
      return;
    case 'replace':
      take(operation.path);
      put(operation.path, structuredClone(operation.value));
      return;
    case 'remove':
      take(operation.path);
      return;
    case 'move':
      put(operation.path, take(operation.from));
      return;
  }
}

type Container = {
  name: string;
  restartPolicy?: string;
  ports?: { name: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
  startupProbe?: { httpGet?: { path: string }; periodSeconds?: number; failureThreshold?: number };
  resources?: { requests?: object; limits?: object };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { mountPath: string; readOnly?: boolean }[];
};

type PodSpec = Record<string, unknown> & { containers: Container[]; initContainers?: Container[] };

function podOf(docs: Doc[]): { labels: Record<string, string>; spec: PodSpec } {
  const deployment = docs.find((doc) => doc.kind === 'Deployment') as unknown as {
    spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec } };
  };
  return { labels: deployment.spec.template.metadata.labels, spec: deployment.spec.template.spec };
}

const BUILDS = {
  base: DIR,
  'overlays/native-sidecar': join(DIR, 'overlays/native-sidecar'),
  'overlays/monitoring': join(DIR, 'overlays/monitoring'),
} as const;

describe('Kubernetes manifests', () => {
  it.each(Object.entries(BUILDS))('%s renders objects that validate against their schemas', (_, dir) => {
    const docs = kustomize(dir);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) validate(doc);
  });

  it('validates the example Secret too, which no build applies', () => {
    for (const doc of documents(join(DIR, 'examples/secret.example.yaml'))) validate(doc);
    for (const dir of Object.values(BUILDS))
      expect(kustomize(dir).map((doc) => doc.kind)).not.toContain('Secret');
  });

  it('applies with `kubectl apply -k deploy/kubernetes/` one Deployment and its ConfigMaps, nothing that needs CRDs', () => {
    const kinds = kustomize(DIR).map((doc) => doc.kind);
    expect(kinds.sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment']);
    expect(kustomize(join(DIR, 'overlays/native-sidecar')).map((doc) => doc.kind)).not.toContain(
      'PodMonitor',
    );
  });

  it('names the image as the README, compose and systemd do: filesync:<version>', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const image = `filesync:${version}`;
    expect(readFileSync(join(DIR, 'base/deployment.yaml'), 'utf8')).toContain(`image: ${image}\n`);
    expect(readFileSync('docker-compose.yml', 'utf8')).toContain(`image: ${image}\n`);
    expect(readFileSync('systemd/filesync.service', 'utf8')).toContain(
      `Environment=FILESYNC_IMAGE=${image}\n`,
    );
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain(`docker build -t ${image} .`);
    const tags = new Set(readme.match(/\bfilesync:[\w.-]+/g));
    expect([...tags]).toEqual([image]);
  });

  it('would reject an invalid manifest, and a patch that no longer finds filesync (the checks can fail)', () => {
    const [deployment] = documents(join(DIR, 'base/deployment.yaml'));
    const broken = structuredClone(deployment) as unknown as { spec: { replicas: unknown } };
    broken.spec.replicas = 'three';
    expect(() => validate(broken as unknown as Record<string, unknown>)).toThrow();
    const swapped = structuredClone(deployment) as unknown as { spec: { template: { spec: PodSpec } } };
    swapped.spec.template.spec.containers.reverse();
    expect(() =>
      apply(swapped, { op: 'test', path: '/spec/template/spec/containers/1/name', value: 'filesync' }),
    ).toThrow();
  });

  it.each([
    ['base', 'containers', undefined],
    ['overlays/native-sidecar', 'initContainers', 'Always'],
  ] as const)('%s runs filesync locked down, probed and sized', (build, list, restartPolicy) => {
    const { spec: pod } = podOf(kustomize(BUILDS[build]));
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(20);
    const filesync = (pod[list] as Container[]).find((c) => c.name === 'filesync');
    expect(filesync?.restartPolicy).toBe(restartPolicy);
    expect(filesync?.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(filesync?.readinessProbe?.httpGet?.path).toBe('/readyz');
    // Started once the initial pass is done (for the native sidecar: the application waits for
    // it), with an hour's budget before the kubelet gives up on a slow first pass.
    expect(filesync?.startupProbe?.httpGet?.path).toBe('/readyz');
    const { periodSeconds = 10, failureThreshold = 3 } = filesync?.startupProbe ?? {};
    expect(periodSeconds * failureThreshold).toBeGreaterThanOrEqual(3600);
    expect(filesync?.resources?.requests).toBeDefined();
    expect(filesync?.resources?.limits).toBeDefined();
    expect(filesync?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(filesync?.volumeMounts?.find((m) => m.mountPath === '/data')?.readOnly).toBe(true);
    // The application stays an ordinary container either way.
    expect(pod.containers.map((c) => c.name)).toEqual(list === 'containers' ? ['app', 'filesync'] : ['app']);
  });
});

describe('the monitoring overlay', () => {
  const docs = kustomize(join(DIR, 'overlays/monitoring'));
  const find = (kind: string): unknown => docs.find((doc) => doc.kind === kind);

  it('holds the PrometheusRule generated from the rule file, unchanged (run `npm run monitoring` to update)', () => {
    expect(readFileSync(PROMETHEUS_RULE, 'utf8')).toBe(prometheusRule());
    const rules = parse(readFileSync(RULES, 'utf8')) as { groups: unknown };
    expect((find('PrometheusRule') as { spec: { groups: unknown } }).spec.groups).toEqual(rules.groups);
  });

  it("scrapes the application's pods on filesync's health port, as a job the rules recognise", () => {
    const monitor = find('PodMonitor') as {
      metadata: { name: string };
      spec: {
        selector: { matchLabels: Record<string, string> };
        podMetricsEndpoints: { port: string; path: string }[];
      };
    };
    const { labels, spec } = podOf(docs);
    expect(labels).toMatchObject(monitor.spec.selector.matchLabels);
    const filesync = spec.containers.find((c) => c.name === 'filesync');
    expect(monitor.spec.podMetricsEndpoints).toEqual([
      expect.objectContaining({ port: 'health', path: '/metrics' }),
    ]);
    expect(filesync?.ports?.map((p) => p.name)).toContain('health');
    // The operator's job label is <namespace>/<name>: FilesyncDown selects job=~".*filesync.*".
    expect(monitor.metadata.name).toMatch(/filesync/);
  });

  it('is the only build that needs the CRDs, and the base does not reference it', () => {
    expect(docs.map((doc) => doc.kind).sort()).toEqual([
      'ConfigMap',
      'ConfigMap',
      'Deployment',
      'PodMonitor',
      'PrometheusRule',
    ]);
    expect(existsSync(join(DIR, 'overlays/monitoring/prometheusrule.yaml'))).toBe(true);
    expect(readdirSync(join(DIR, 'base'))).not.toContain('podmonitor.yaml');
  });
});
