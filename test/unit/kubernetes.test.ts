import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// No cluster runs here: the manifests are checked offline against the Kubernetes OpenAPI
// schemas that kubernetes-models ships, plus what the README promises about them.

const DIR = 'deploy/kubernetes';
const MODELS = { Deployment, ConfigMap, Secret } as const;

function documents(file: string): Record<string, unknown>[] {
  return parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map(
    (doc) => doc.toJS() as Record<string, unknown>,
  );
}

function validate(doc: Record<string, unknown>): void {
  const Model = MODELS[doc.kind as keyof typeof MODELS];
  if (Model === undefined) throw new Error(`no schema for kind ${String(doc.kind)}`);
  new Model(doc as never).validate();
}

type Container = {
  name: string;
  restartPolicy?: string;
  livenessProbe?: { httpGet?: { path: string } };
  readinessProbe?: { httpGet?: { path: string } };
  resources?: { requests?: object; limits?: object };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { mountPath: string; readOnly?: boolean }[];
};

const files = readdirSync(DIR).filter((file) => file.endsWith('.yaml'));

describe('Kubernetes manifests', () => {
  it.each(files)('%s validates against the Kubernetes schemas', (file) => {
    const docs = documents(file);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) validate(doc);
  });

  it('would reject an invalid manifest (the check can fail)', () => {
    const [deployment] = documents('deployment.yaml');
    const broken = structuredClone(deployment) as { spec: { replicas: unknown } };
    broken.spec.replicas = 'three';
    expect(() => validate(broken as unknown as Record<string, unknown>)).toThrow();
  });

  it.each([
    ['deployment.yaml', 'containers', undefined],
    ['deployment-native-sidecar.yaml', 'initContainers', 'Always'],
  ] as const)('%s runs filesync locked down, probed and sized', (file, list, restartPolicy) => {
    const [deployment] = documents(file) as { spec: { template: { spec: Record<string, unknown> } } }[];
    const pod = deployment?.spec.template.spec ?? {};
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(20);
    const filesync = (pod[list] as Container[]).find((c) => c.name === 'filesync');
    expect(filesync?.restartPolicy).toBe(restartPolicy);
    expect(filesync?.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(filesync?.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(filesync?.resources?.requests).toBeDefined();
    expect(filesync?.resources?.limits).toBeDefined();
    expect(filesync?.securityContext).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(filesync?.volumeMounts?.find((m) => m.mountPath === '/data')?.readOnly).toBe(true);
  });
});
