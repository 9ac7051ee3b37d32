import { Buffer } from 'node:buffer';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, expect } from 'vitest';
import { PARTIAL_DIR } from '../../../src/filter.ts';
import { nameOf } from '../../../src/names.ts';
import { RUNNING_MARKER } from '../../../src/plan/resume-marker.ts';
import { Daemon, freePort } from './daemon.ts';
import { buildTargetImage, startTarget, TARGET_HOME, TARGET_USER, type Target } from './target.ts';
import { waitFor } from './wait.ts';

let counter = 0;

/** One sshd target for a whole test file: started before its tests, stopped after them. */
export function useTarget(use: (target: Target) => void, options: { restricted?: boolean } = {}): void {
  let started: Target | undefined;
  beforeAll(async () => {
    await buildTargetImage();
    started = await startTarget(options);
    use(started);
  });
  afterAll(async () => {
    await started?.[Symbol.asyncDispose]();
  });
}

/** A fresh source directory and the environment that syncs it into a fresh remote directory. */
export async function scenario(target: Target, extra: Record<string, string> = {}) {
  const source = await mkdtemp(join(tmpdir(), 'filesync-source-'));
  const remoteDir = `${TARGET_HOME}/t${++counter}-${process.pid}`;
  const healthPort = await freePort();
  const env = {
    ...syncEnv(target, source, remoteDir, healthPort),
    SYNC_DEBOUNCE: '200ms',
    SYNC_MAX_DELAY: '2s',
    ...extra,
  };
  const file = (path: string) => join(source, path);
  const remote = async () => withoutMarker(await target.list(remoteDir));
  const health = async (path: string) => {
    const response = await fetch(`http://127.0.0.1:${healthPort}${path}`);
    return { status: response.status, body: await response.text() };
  };
  return { source, remoteDir, env, file, remote, health };
}

/**
 * A listing of the mirror without the running marker `watch` keeps at its top (see
 * plan/resume-marker.ts), nor its directory when that holds nothing else.
 */
function withoutMarker(entries: Map<string, string>): Map<string, string> {
  if (!entries.delete(`${PARTIAL_DIR}/${RUNNING_MARKER}`)) return entries;
  const inside = [...entries.keys()].some((path) => path.startsWith(`${PARTIAL_DIR}/`));
  if (!inside) entries.delete(PARTIAL_DIR);
  return entries;
}

/** The environment that syncs `source` into `remoteDir` on the target. */
export function syncEnv(target: Target, source: string, remoteDir: string, healthPort: number) {
  return {
    SYNC_SOURCE_DIR: source,
    SYNC_REMOTE_HOST: target.host,
    SYNC_REMOTE_PORT: String(target.port),
    SYNC_REMOTE_USER: TARGET_USER,
    SYNC_REMOTE_DIR: remoteDir.slice(target.root.length),
    SYNC_SSH_KEY: target.keyPath,
    SYNC_KNOWN_HOSTS: target.knownHostsPath,
    SYNC_HEALTH_PORT: String(healthPort),
  };
}

/** Starts the daemon and waits for its initial pass. */
export async function watching(env: Record<string, string>, prefix: readonly string[] = []): Promise<Daemon> {
  const daemon = Daemon.start(env, ['watch'], prefix);
  await daemon.waitForLog('the initial sync', (line) => line.msg.startsWith('initial sync complete'));
  return daemon;
}

/** Stops the daemon and asserts a clean exit with nothing on stderr (no Node warnings). */
export async function stopCleanly(daemon: Daemon): Promise<void> {
  const { exitCode, stderr } = await daemon.stop();
  expect(stderr).toBe('');
  expect(exitCode).toBe(0);
}

/** Polls the target's listing until `check` accepts it; the error shows the last listing. */
export async function waitForRemote(
  what: string,
  remote: () => Promise<Map<string, string>>,
  check: (entries: Map<string, string>) => boolean,
) {
  let last = new Map<string, string>();
  try {
    return await waitFor(what, async () => {
      last = await remote();
      return check(last) ? last : undefined;
    });
  } catch (error) {
    throw new Error(`${String(error)}; the target has ${JSON.stringify([...last])}`);
  }
}

// Type, permissions, size, mtime to the nanosecond and link target of every entry, and a
// content hash of every file: two trees that print the same are the same mirror. Directory
// times are left out (rsync sets them, but a later batch into the directory moves them).
const FIND_FORMAT = '%y %m %s %T@ %l\t%P\\0';

function parseTree(findOutput: string, hashes: string): string[] {
  const sums = new Map<string, string>();
  for (const line of hashes.split('\0')) {
    const match = /^([0-9a-f]{40}) {2}\.\/(.*)$/s.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) sums.set(match[2], match[1]);
  }
  return findOutput
    .split('\0')
    .filter((entry) => entry !== '')
    .map((entry) => {
      const [meta = '', path = ''] = entry.split('\t');
      const [type, mode, size, mtime, ...link] = meta.split(' ');
      if (type === 'd') return `${path} d ${mode}`;
      return `${path} ${type} ${mode} ${size} ${mtime} ${link.join(' ')} ${sums.get(path) ?? ''}`.trim();
    })
    .sort();
}

// Sent through base64, so that a name that is not UTF-8 arrives byte for byte (names.ts) from
// the container's exec as well as from here.
const TREE_SCRIPT = `{ ${[
  'cd "$1" 2>/dev/null || exit 0',
  `find . -mindepth 1 -not -path './.filesync-partial*' -printf '${FIND_FORMAT}'`,
  "printf '\\001'",
  "find . -type f -not -path './.filesync-partial*' -print0 | xargs -0 -r sha1sum -z",
].join('; ')}; } | base64 -w0`;

/** The tree script's output: its bytes, names decoded as filesync decodes them. */
function treeOutput(base64: string): [string, string] {
  const [listing = '', hashes = ''] = nameOf(Buffer.from(base64.trim(), 'base64')).split('\u0001');
  return [listing, hashes];
}

/** The source's state, in the form `remoteTree` gives the target's. */
export async function localTree(dir: string): Promise<string[]> {
  const { stdout } = await execa('sh', ['-c', TREE_SCRIPT, 'sh', dir]);
  return parseTree(...treeOutput(stdout));
}

export async function remoteTree(target: Target, dir: string): Promise<string[]> {
  const { output } = await target.container.exec(['sh', '-c', TREE_SCRIPT, 'sh', dir]);
  return parseTree(...treeOutput(output));
}

/** Waits until the target mirrors the source exactly; on a timeout, says what differs. */
export async function waitForMirror(target: Target, source: string, remoteDir: string, timeoutMs = 20_000) {
  let diff: { missing: string[]; extra: string[] } = { missing: [], extra: [] };
  try {
    await waitFor(
      'the mirror to match the source',
      async () => {
        const [want, have] = await Promise.all([localTree(source), remoteTree(target, remoteDir)]);
        const haveSet = new Set(have);
        const wantSet = new Set(want);
        diff = { missing: want.filter((e) => !haveSet.has(e)), extra: have.filter((e) => !wantSet.has(e)) };
        return diff.missing.length === 0 && diff.extra.length === 0;
      },
      { timeoutMs },
    );
  } catch (error) {
    throw new Error(
      `${String(error)}\nnot on the target: ${diff.missing.join('\n  ')}\nonly on the target: ${diff.extra.join('\n  ')}`,
    );
  }
}
