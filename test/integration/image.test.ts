import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { GenericContainer, Network, type StartedNetwork } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/daemon.ts';
import { buildTargetImage, startTarget, TARGET_HOME, TARGET_USER, type Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// The container image and its three ways to run: docker run (as systemd does) and docker
// compose, against the same sshd target as the engine's tests. Kubernetes manifests are
// validated offline in test/unit/kubernetes.test.ts.

const IMAGE = 'filesync:test';
let network: StartedNetwork;
let target: Target;
let secrets: string;
let counter = 0;

beforeAll(async () => {
  await buildTargetImage();
  await GenericContainer.fromDockerfile('.').build(IMAGE, { deleteOnExit: false });
  network = await new Network().start();
  target = await startTarget({ network: network.getName(), alias: 'target' });
  // The key as a Secret often arrives: world-readable and owned by someone else.
  secrets = await mkdtemp(join(tmpdir(), 'filesync-secrets-'));
  await chmod(secrets, 0o755);
  await copyFile(target.keyPath, join(secrets, 'id_ed25519'));
  await chmod(join(secrets, 'id_ed25519'), 0o644);
  const hostKey = (await readFile(target.knownHostsPath, 'utf8')).split(' ').slice(1, 3).join(' ').trim();
  await writeFile(join(secrets, 'known_hosts'), `target ${hostKey}\n`);
});

afterAll(async () => {
  await target?.[Symbol.asyncDispose]();
  await network?.stop();
});

async function sourceDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-image-source-'));
  await chmod(dir, 0o755);
  return dir;
}

/** `docker run` arguments for the image as docs/deployment.md shows them, against the test target. */
function runArgs(source: string, remoteDir: string, env: Record<string, string> = {}): string[] {
  const settings = {
    SYNC_REMOTE_HOST: 'target',
    SYNC_REMOTE_USER: TARGET_USER,
    SYNC_REMOTE_DIR: remoteDir,
    SYNC_DEBOUNCE: '200ms',
    ...env,
  };
  return [
    '--network',
    network.getName(),
    '--read-only',
    '--tmpfs',
    '/tmp',
    '--volume',
    `${source}:/data:ro`,
    '--volume',
    `${secrets}:/run/secrets:ro`,
    ...Object.entries(settings).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
  ];
}

const docker = (args: string[]) => execa('docker', args, { reject: false });

/**
 * The filesync command lines README.md and docs/ show for use inside the container
 * (`docker exec <name> filesync …`, `kubectl exec … -- filesync …`), as the arguments after
 * `filesync`.
 */
async function inContainerCommands(): Promise<string[][]> {
  const pages = ['README.md', ...(await readdir('docs')).map((page) => `docs/${page}`)];
  const found = new Map<string, string[]>();
  for (const page of pages) {
    const text = await readFile(page, 'utf8');
    for (const match of text.matchAll(
      /(?:docker exec \S+|kubectl exec [^`\n]*? --) filesync((?: [a-z0-9-]+)*)/g,
    )) {
      const args = (match[1] ?? '').trim().split(' ').filter(Boolean);
      found.set(args.join(' '), args);
    }
  }
  // A pause last, and its resume after it, so that it holds back none of the others.
  const rank = (args: string[]) => ({ pause: 1, resume: 2 })[args[0] ?? ''] ?? 0;
  return [...found.values()].sort((a, b) => rank(a) - rank(b));
}

async function inspect(container: string, format: string): Promise<string> {
  return (await docker(['inspect', '--format', format, container])).stdout.trim();
}

describe('the image under docker run', () => {
  it('syncs from a read-only, non-root container with a 0644 key, and answers health checks', async () => {
    const source = await sourceDir();
    const remoteDir = `${TARGET_HOME}/image-${++counter}`;
    await writeFile(join(source, 'first.txt'), 'initial pass');
    const name = `filesync-test-${process.pid}-${counter}`;
    const started = await docker([
      'run',
      '--detach',
      '--name',
      name,
      '--publish',
      '127.0.0.1::8080',
      ...runArgs(source, remoteDir),
      IMAGE,
    ]);
    expect(started.stderr).toBe('');
    try {
      const port = (await docker(['port', name, '8080/tcp'])).stdout.trim().split(':').at(-1);
      const url = (path: string) => `http://127.0.0.1:${port}${path}`;
      await waitFor('readiness', async () => (await fetch(url('/readyz'))).status === 200, {
        timeoutMs: 30_000,
      });
      expect((await fetch(url('/healthz'))).status).toBe(200);
      expect((await target.list(remoteDir)).has('first.txt')).toBe(true);

      await writeFile(join(source, 'created.txt'), 'new');
      await waitFor('the new file', async () => (await target.list(remoteDir)).has('created.txt'));
      await writeFile(join(source, 'created.txt'), 'changed content');
      await waitFor(
        'the change',
        async () => (await target.read(`${remoteDir}/created.txt`)) === 'changed content',
      );
      await rm(join(source, 'first.txt'));
      await waitFor('the deletion', async () => !(await target.list(remoteDir)).has('first.txt'));

      // Every command line the docs show for use inside the container works there, as shown:
      // `filesync` is on the image's PATH, and the mirror is in sync and healthy by now.
      const commands = await inContainerCommands();
      expect(commands.map((args) => args[0])).toEqual(
        expect.arrayContaining(['status', 'verify', 'sync', 'pause', 'resume']),
      );
      for (const args of commands) {
        const result = await docker(['exec', name, 'filesync', ...args]);
        expect({ args, exitCode: result.exitCode, stderr: result.stderr }).toEqual({
          args,
          exitCode: 0,
          stderr: '',
        });
        expect(result.stdout).not.toBe('');
      }

      expect((await docker(['exec', name, 'id', '-u'])).stdout.trim()).toBe('1000');
      expect(await inspect(name, '{{.HostConfig.ReadonlyRootfs}}')).toBe('true');
      expect((await docker(['exec', name, 'touch', '/app/probe'])).exitCode).not.toBe(0);
      // The HEALTHCHECK command, as the image defines it, passes.
      const check = JSON.parse(await inspect(IMAGE, '{{json .Config.Healthcheck.Test}}')) as string[];
      expect(check[0]).toBe('CMD');
      expect((await docker(['exec', name, ...check.slice(1)])).exitCode).toBe(0);
      expect(await inspect(name, '{{.Path}} {{join .Args " "}}')).toMatch(
        /^tini -- node \/app\/dist\/cli\.js watch$/,
      );
    } finally {
      await docker(['rm', '--force', name]);
    }
  });

  it('sends pending changes when docker stop arrives, then exits 0', async () => {
    const source = await sourceDir();
    const remoteDir = `${TARGET_HOME}/image-${++counter}`;
    const name = `filesync-test-${process.pid}-${counter}`;
    await docker([
      'run',
      '--detach',
      '--name',
      name,
      ...runArgs(source, remoteDir, { SYNC_DEBOUNCE: '30s', SYNC_MAX_DELAY: '1m' }),
      IMAGE,
    ]);
    try {
      await waitFor('the initial sync', async () =>
        (await docker(['logs', name])).stdout.includes('initial sync complete'),
      );
      await writeFile(join(source, 'pending.txt'), 'sent on stop');
      const stopped = await docker(['stop', '--time', '30', name]);
      expect(stopped.exitCode).toBe(0);
      expect(await inspect(name, '{{.State.ExitCode}}')).toBe('0');
      expect(await target.read(`${remoteDir}/pending.txt`)).toBe('sent on stop');
      expect((await docker(['logs', name])).stdout).toContain('stopped; every change was sent');
    } finally {
      await docker(['rm', '--force', name]);
    }
  });

  it('exits 78 with the message for a bad setting', async () => {
    const source = await sourceDir();
    const result = await docker([
      'run',
      '--rm',
      ...runArgs(source, '/x', { SYNC_MAX_DELAY: 'whenever' }),
      IMAGE,
    ]);
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toContain(
      'SYNC_MAX_DELAY: expected a duration such as 500ms, 5s, 2m or 1h, got "whenever"',
    );
  });

  it('walks the source with its native scanner (the fast start)', async () => {
    const result = await docker([
      'run',
      '--rm',
      '--read-only',
      '--entrypoint',
      'node',
      IMAGE,
      '--input-type=module',
      '-e',
      "console.log((await import('/app/dist/state/scan.js')).defaultScanner)",
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim()).toBe('native');
  });

  it('runs check and once', async () => {
    const source = await sourceDir();
    const remoteDir = `${TARGET_HOME}/image-${++counter}`;
    await writeFile(join(source, 'once.txt'), 'once');
    const check = await docker(['run', '--rm', ...runArgs(source, remoteDir), IMAGE, 'check']);
    expect(check.stdout).toContain('all checks passed');
    expect(check.exitCode).toBe(0);
    const once = await docker(['run', '--rm', ...runArgs(source, remoteDir), IMAGE, 'once']);
    expect(once.exitCode).toBe(0);
    expect(await target.read(`${remoteDir}/once.txt`)).toBe('once');
  });
});

describe('systemd/filesync.service', () => {
  const unitFile = 'systemd/filesync.service';

  /** The unit's own lines: Environment= defaults and the Exec* command lines. */
  async function unit() {
    const lines = (await readFile(unitFile, 'utf8')).split('\n');
    const value = (key: string) =>
      lines.filter((line) => line.startsWith(`${key}=`)).map((line) => line.slice(key.length + 1));
    const environment = Object.fromEntries(
      value('Environment').map((pair) => pair.split('=', 2) as [string, string]),
    );
    return { value, environment };
  }

  /** Expands ${VAR} as systemd does and splits at spaces (the unit quotes nothing). */
  function command(line: string, env: Record<string, string>): string[] {
    return line
      .replace(/^-/, '')
      .replace(/\$\{(\w+)\}/g, (_, name: string) => env[name] ?? '')
      .split(/\s+/)
      .filter((word) => word !== '');
  }

  it('passes systemd-analyze verify and says what docs/deployment.md promises', async () => {
    const result = await execa('systemd-analyze', ['verify', unitFile], { reject: false });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const { value } = await unit();
    expect(value('Restart')).toEqual(['on-failure']);
    expect(value('RestartPreventExitStatus')).toEqual(['78']);
    expect(value('ExecStart')[0]).toMatch(/--rm --name filesync --env-file .* --log-driver=journald /);
    expect(value('ExecStop')[0]).toMatch(/docker stop --time 30 filesync/);
  });

  it('syncs files when its own ExecStart runs, and ExecStop flushes and stops it', async () => {
    const { value, environment } = await unit();
    const etc = await mkdtemp(join(tmpdir(), 'filesync-etc-'));
    const source = await sourceDir();
    const remoteDir = `${TARGET_HOME}/systemd-${++counter}`;
    // The unit's container runs on the default bridge: reach the target by its address there.
    await docker(['network', 'connect', 'bridge', target.container.getId()]);
    const address = await inspect(target.container.getId(), '{{.NetworkSettings.Networks.bridge.IPAddress}}');
    await mkdir(join(etc, 'secrets'), { mode: 0o755 });
    await chmod(etc, 0o755);
    // As docs/deployment.md installs them: the directory and key owned by uid 1000, the key 0400.
    await copyFile(join(secrets, 'id_ed25519'), join(etc, 'secrets/id_ed25519'));
    await chmod(join(etc, 'secrets/id_ed25519'), 0o400);
    await chown(join(etc, 'secrets/id_ed25519'), 1000, 1000);
    await chmod(join(etc, 'secrets'), 0o700);
    await chown(join(etc, 'secrets'), 1000, 1000);
    const hostKey = (await readFile(join(secrets, 'known_hosts'), 'utf8')).replace(/^target /, `${address} `);
    await writeFile(join(etc, 'secrets/known_hosts'), hostKey);
    await writeFile(
      join(etc, 'filesync.env'),
      `SYNC_REMOTE_HOST=${address}\nSYNC_REMOTE_USER=${TARGET_USER}\nSYNC_REMOTE_DIR=${remoteDir}\nSYNC_DEBOUNCE=200ms\n`,
    );
    const healthPort = await freePort();
    const env = {
      ...environment,
      FILESYNC_IMAGE: IMAGE,
      FILESYNC_SOURCE: source,
      FILESYNC_ETC: etc,
      FILESYNC_HEALTH: `127.0.0.1:${healthPort}`,
    };
    let start = command(value('ExecStart')[0] ?? '', env);
    // This machine has no journald for Docker's journald log driver; everything else is as written.
    if (!existsSync('/run/systemd/journal/socket')) {
      start = start.map((arg) => (arg === '--log-driver=journald' ? '--log-driver=json-file' : arg));
    }
    expect(start.slice(0, 3)).toEqual(['/usr/bin/docker', 'run', '--rm']);

    const [removeStale = '', sourceCheck = ''] = value('ExecStartPre');
    const removal = command(removeStale, env);
    await execa(removal[0] ?? '', removal.slice(1), { reject: false });
    // The source check is a shell line: systemd hands sh the script with $$ made $.
    const script = /^\/bin\/sh -c '(.*)'$/.exec(sourceCheck)?.[1]?.replaceAll('$$', '$') ?? '';
    const missing = await execa('/bin/sh', ['-c', script], {
      env: { ...env, FILESYNC_SOURCE: join(etc, 'missing') },
      reject: false,
    });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/FILESYNC_SOURCE=.*missing is not a directory/);
    expect((await execa('/bin/sh', ['-c', script], { env, reject: false })).exitCode).toBe(0);
    const service = execa(start[0] ?? '', start.slice(1), { reject: false });
    try {
      await writeFile(join(source, 'from-systemd.txt'), 'unit');
      await waitFor('the file', async () => (await target.list(remoteDir)).has('from-systemd.txt'), {
        timeoutMs: 30_000,
      });
      await waitFor(
        'readiness',
        async () => (await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status === 200,
      );
      await writeFile(join(source, 'at-stop.txt'), 'flushed');
      const stop = command(value('ExecStop')[0] ?? '', env);
      expect((await execa(stop[0] ?? '', stop.slice(1), { reject: false })).exitCode).toBe(0);
      expect((await service).exitCode).toBe(0);
      expect(await target.read(`${remoteDir}/at-stop.txt`)).toBe('flushed');
    } finally {
      service.kill();
      await docker(['rm', '--force', 'filesync']);
      await docker(['network', 'disconnect', 'bridge', target.container.getId()]);
    }
  });
});

describe('docker-compose.yml', () => {
  /** Compose v2 where the plugin is there, else v1 (Debian's docker-compose), as the README says. */
  const compose = async (): Promise<string[]> => {
    const v2 = await execa('docker', ['compose', 'version'], { reject: false });
    return v2.exitCode === 0 ? ['docker', 'compose'] : ['docker-compose'];
  };
  /** A README line as typed on this machine: `docker-compose` where Compose v2 is missing. */
  const asWritten = (line: string, v2: boolean) =>
    v2 ? line : line.replace(/\bdocker compose\b/g, 'docker-compose');

  /** The Quick start's shell blocks, as the README has them. */
  async function quickStart(): Promise<string[][]> {
    const readme = await readFile('README.md', 'utf8');
    const section = readme.slice(
      readme.indexOf('## Quick start'),
      readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1),
    );
    return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((block) => (block[1] ?? '').trim().split('\n'));
  }

  it('is a valid compose file', async () => {
    const [file = 'docker-compose', ...pre] = await compose();
    const result = await execa(file, [...pre, 'config', '--quiet'], { reject: false });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it("follows the README's Quick start literally: up, a file into data/, on the target, ready, down", async () => {
    const [[up = ''] = [], demo = []] = await quickStart();
    expect(up).toBe('docker compose up');
    // What each line of the demo block must show; a README edit that changes them fails here.
    const shows = ['', 'hello.txt', '{"status":"ready"}', 'filesync_syncs_total{', ''];
    expect(demo).toHaveLength(shows.length);
    expect(demo[0]).toBe('echo hello > data/hello.txt');
    expect(demo[4]).toMatch(/^docker compose down/);

    // In a copy of the repository as a clone has it: never the user's own ./data. The health
    // port is the one thing changed (8080 may be taken here), through the file's own variable.
    const clone = await mkdtemp(join(tmpdir(), 'filesync-quickstart-'));
    const files = await execa('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      stripFinalNewline: false,
    });
    for (const file of files.stdout.split('\0').filter((name) => name !== '' && existsSync(name))) {
      await mkdir(dirname(join(clone, file)), { recursive: true });
      await copyFile(file, join(clone, file));
    }
    const port = await freePort();
    const env = { ...process.env, FILESYNC_HEALTH_PORT: String(port) };
    const v2 = (await compose()).length === 2;
    const sh = (line: string) =>
      execa('sh', ['-c', asWritten(line, v2).replaceAll('localhost:8080', `localhost:${port}`)], {
        cwd: clone,
        env,
        reject: false,
      });
    // `up` builds images only where none exists: build this checkout's, never test stale ones.
    const built = await sh('docker compose build');
    expect(built.exitCode, built.stderr).toBe(0);
    const running = sh(up);
    try {
      await waitFor('the initial sync', async () => (await sh(demo[2] ?? '')).stdout.includes('"ready"'), {
        timeoutMs: 120_000,
        intervalMs: 1000,
      });
      for (const [i, line] of demo.slice(0, 4).entries()) {
        const shown = await waitFor(`"${line}" to show ${shows[i]}`, async () => {
          const result = await sh(line);
          return result.exitCode === 0 && result.stdout.includes(shows[i] ?? '') ? result.stdout : undefined;
        });
        expect(shown).toContain(shows[i]);
      }
      expect((await sh(demo[4] ?? '')).exitCode).toBe(0);
      expect((await running).exitCode).toBe(0);
    } finally {
      await sh('docker compose down --volumes --timeout 30');
      running.kill();
      await rm(clone, { recursive: true, force: true });
    }
  }, 600_000); // the build takes minutes where Docker's cache is cold

  it('refuses a FILESYNC_DATA that does not exist, rather than mirroring an empty directory', async () => {
    const [file = 'docker-compose', ...pre] = await compose();
    const project = `filesync-e2e-${process.pid}`;
    const missing = join(tmpdir(), `filesync-missing-${process.pid}`);
    const env = { ...process.env, FILESYNC_HEALTH_PORT: String(await freePort()), FILESYNC_DATA: missing };
    const run = (args: string[]) =>
      execa(file, [...pre, '--project-name', project, ...args], { env, reject: false });
    try {
      const up = await run(['up', '--detach', '--no-deps', 'filesync']);
      expect(up.exitCode).not.toBe(0);
      expect(up.stderr).toMatch(/does not exist|no such file/i);
      expect(existsSync(missing)).toBe(false);
    } finally {
      await run(['down', '--volumes', '--timeout', '30']);
    }
  });
});
