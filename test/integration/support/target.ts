import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { GenericContainer, type StartedTestContainer, Wait } from 'testcontainers';

/** A real sshd + rsync container to sync into, with a key pair made for this run. */
export interface Target extends AsyncDisposable {
  readonly container: StartedTestContainer;
  readonly host: string;
  readonly port: number;
  readonly keyPath: string;
  readonly publicKey: string;
  readonly knownHostsPath: string;
  /**
   * What filesync's SYNC_REMOTE_DIR is read inside: '' for a plain key, TARGET_HOME for a key
   * that rrsync restricts to it (rrsync reads every path inside its directory).
   */
  readonly root: string;
  /** Entries below `dir` on the target: relative path → type (f, d, l) — names may hold newlines. */
  list(dir: string): Promise<Map<string, string>>;
  read(path: string): Promise<string>;
  exec(command: string[]): Promise<{ exitCode: number; output: string }>;
  /** Bytes the container's network interface has received so far: what was sent to it. */
  receivedBytes(): Promise<number>;
}

export const TARGET_IMAGE = 'filesync-test-sshd:latest';
export const TARGET_USER = 'filesync';
export const TARGET_HOME = '/home/filesync/mirror';
/** The authorized_keys options of a restricted key, exactly as docs/operations.md gives them. */
export const RESTRICTED_KEY_OPTIONS = `restrict,command="rrsync -no-lock ${TARGET_HOME}"`;

/** Builds the target image (cached by Docker after the first time). */
export async function buildTargetImage(): Promise<void> {
  await GenericContainer.fromDockerfile(resolve('test/integration/sshd')).build(TARGET_IMAGE, {
    deleteOnExit: false,
  });
}

export async function makeKeyPair(
  dir: string,
  name = 'id_ed25519',
): Promise<{ keyPath: string; publicKey: string }> {
  const keyPath = join(dir, name);
  await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'filesync-test', '-f', keyPath]);
  return { keyPath, publicKey: (await readFile(`${keyPath}.pub`, 'utf8')).trim() };
}

export async function startTarget(
  options: {
    network?: string;
    alias?: string /** host directory to mount as the mirror */;
    mirrorDir?: string;
    /** tmpfs mounts in the container: path → mount options (size=…, uid=…). */
    tmpfs?: Record<string, string>;
    /** Restrict the key to rsync into TARGET_HOME with rrsync, as docs/operations.md shows. */
    restricted?: boolean;
    /** The key pair to trust (several targets of one filesync share its key); else a new one. */
    keyPair?: { keyPath: string; publicKey: string };
  } = {},
): Promise<Target> {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-target-'));
  const { keyPath, publicKey } = options.keyPair ?? (await makeKeyPair(dir));
  let builder = new GenericContainer(TARGET_IMAGE)
    .withEnvironment({
      AUTHORIZED_KEY: options.restricted ? `${RESTRICTED_KEY_OPTIONS} ${publicKey}` : publicKey,
    })
    .withExposedPorts(22)
    .withWaitStrategy(Wait.forLogMessage(/Server listening on/));
  if (options.mirrorDir !== undefined) {
    builder = builder.withBindMounts([{ source: options.mirrorDir, target: TARGET_HOME, mode: 'rw' }]);
  }
  if (options.tmpfs !== undefined) builder = builder.withTmpFs(options.tmpfs);
  if (options.network !== undefined) {
    builder = builder.withNetworkMode(options.network).withNetworkAliases(options.alias ?? 'target');
  }
  const container = await builder.start();
  const host = container.getHost();
  const port = container.getMappedPort(22);
  const hostKey = await container.exec(['cat', '/etc/ssh/ssh_host_ed25519_key.pub']);
  const [type, key] = hostKey.output.trim().split(/\s+/);
  const knownHostsPath = join(dir, 'known_hosts');
  await writeFile(knownHostsPath, `[${host}]:${port} ${type} ${key}\n`);

  const exec = async (command: string[]) => {
    const result = await container.exec(command, { user: TARGET_USER });
    return { exitCode: result.exitCode, output: result.output };
  };
  return {
    container,
    host,
    port,
    keyPath,
    publicKey,
    knownHostsPath,
    root: options.restricted ? TARGET_HOME : '',
    exec,
    async list(path) {
      const result = await container.exec(['find', path, '-mindepth', '1', '-printf', '%y %P\\0']);
      if (result.exitCode !== 0) return new Map();
      const entries = result.output.split('\0').filter((entry) => entry !== '');
      return new Map(entries.map((entry) => [entry.slice(2), entry.slice(0, 1)]));
    },
    async receivedBytes() {
      const { output } = await exec(['cat', '/sys/class/net/eth0/statistics/rx_bytes']);
      return Number(output.trim());
    },
    async read(path) {
      const result = await container.exec(['cat', path]);
      if (result.exitCode !== 0) throw new Error(`cannot read ${path} on the target: ${result.output}`);
      return result.output;
    },
    async [Symbol.asyncDispose]() {
      await container.stop({ timeout: 1000 });
    },
  };
}
