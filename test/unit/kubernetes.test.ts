import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { ConfigMap, Secret } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';

// No cluster runs here: the manifests are checked offline against the Kubernetes OpenAPI
// schemas that kubernetes-models ships, plus what docs/deployment.md promises about them.

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
  startupProbe?: { httpGet?: { path: string }; periodSeconds?: number; failureThreshold?: number };
  resources?: { requests?: object; limits?: object };
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[] };
  };
  volumeMounts?: { mountPath: string; readOnly?: boolean }[];
};

const files = readdirSync(DIR, { recursive: true, encoding: 'utf8' }).filter((file) =>
  file.endsWith('.yaml'),
);

describe('Kubernetes manifests', () => {
  it.each(files)('%s validates against the Kubernetes schemas', (file) => {
    const docs = documents(file);
    expect(docs.length).toBeGreaterThan(0);
    for (const doc of docs) validate(doc);
  });

  it('applies one Deployment and its ConfigMaps, and no placeholder Secret, with `kubectl apply -f` of the folder', () => {
    // kubectl apply -f DIR takes the folder's own files, not its subfolders (that needs -R).
    const top = readdirSync(DIR).filter((file) => file.endsWith('.yaml'));
    const kinds = top.flatMap((file) => documents(file).map((doc) => doc.kind));
    expect(kinds.filter((kind) => kind === 'Deployment')).toHaveLength(1);
    expect(kinds).not.toContain('Secret');
    expect(files).toContain('examples/secret.example.yaml');
  });

  it('names the image as the README, compose and systemd do: filesync:<version>', () => {
    const { version } = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const image = `filesync:${version}`;
    for (const file of ['deployment.yaml', 'native-sidecar/deployment.yaml']) {
      expect(readFileSync(join(DIR, file), 'utf8')).toContain(`image: ${image}\n`);
    }
    expect(readFileSync('docker-compose.yml', 'utf8')).toContain(`image: ${image}\n`);
    expect(readFileSync('systemd/filesync.service', 'utf8')).toContain(
      `Environment=FILESYNC_IMAGE=${image}\n`,
    );
    const readme = readFileSync('README.md', 'utf8');
    expect(readme).toContain(`docker build -t ${image} .`);
    const tags = new Set(readme.match(/\bfilesync:[\w.-]+/g));
    expect([...tags]).toEqual([image]);
  });

  it('would reject an invalid manifest (the check can fail)', () => {
    const [deployment] = documents('deployment.yaml');
    const broken = structuredClone(deployment) as { spec: { replicas: unknown } };
    broken.spec.replicas = 'three';
    expect(() => validate(broken as unknown as Record<string, unknown>)).toThrow();
  });

  it.each([
    ['deployment.yaml', 'containers', undefined],
    ['native-sidecar/deployment.yaml', 'initContainers', 'Always'],
  ] as const)('%s runs filesync locked down, probed and sized', (file, list, restartPolicy) => {
    const [deployment] = documents(file) as { spec: { template: { spec: Record<string, unknown> } } }[];
    const pod = deployment?.spec.template.spec ?? {};
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
  });
});
