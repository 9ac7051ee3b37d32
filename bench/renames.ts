// Renames and moves: bytes the target receives when a 100 MB file is renamed, then moved to
// another directory, and when a directory of 1,000 files is renamed — filesync, and lsyncd in
// its default (rsync) and rsyncssh (`ssh mv`) modes when it is installed.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { TARGET_HOME, TARGET_USER, type Target } from '../test/integration/support/target.ts';
import { waitFor } from '../test/integration/support/wait.ts';
import { daemonFor, rsyncOnce, sshArgs, started } from './support.ts';

const MiB = 1024 * 1024;

/** A tree with a 100 MB file and a directory of 1,000 files of 20 KiB. */
async function makeTree(): Promise<string> {
  const source = await mkdtemp(join(tmpdir(), 'filesync-bench-renames-'));
  await writeFile(join(source, 'big.bin'), randomBytes(100 * MiB));
  await mkdir(join(source, 'archive'));
  await mkdir(join(source, 'photos'));
  for (let i = 0; i < 1000; i++) await writeFile(join(source, `photos/p${i}.jpg`), randomBytes(20 * 1024));
  return source;
}

/** The three operations, each waited for on the target's mirror; MiB received for each. */
async function operate(target: Target, source: string, local: string) {
  const step = async (what: string, act: () => Promise<void>, arrived: () => boolean) => {
    const before = await target.receivedBytes();
    const begin = performance.now();
    await act();
    await waitFor(what, arrived, { intervalMs: 20, timeoutMs: 300_000 });
    const ms = performance.now() - begin;
    // Late bytes (the deletion's, the last acknowledgements) count too.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    return {
      MiB: Math.round((((await target.receivedBytes()) - before) / MiB) * 100) / 100,
      ms: Math.round(ms),
    };
  };
  const at = (path: string) => existsSync(join(local, path));
  return {
    rename100MB: await step(
      'the rename',
      () => rename(join(source, 'big.bin'), join(source, 'big-renamed.bin')),
      () => at('big-renamed.bin') && !at('big.bin'),
    ),
    moveToOtherDir: await step(
      'the move',
      () => rename(join(source, 'big-renamed.bin'), join(source, 'archive/big.bin')),
      () => at('archive/big.bin') && !at('big-renamed.bin'),
    ),
    renameDirOf1000: await step(
      'the directory rename',
      () => rename(join(source, 'photos'), join(source, 'photos-2026')),
      () => at('photos-2026/p999.jpg') && !at('photos'),
    ),
  };
}

export async function measureRenames(target: Target, mirror: string) {
  const results: Record<string, unknown> = {};
  {
    const { env, local } = await daemonFor(target, mirror, 'renames');
    const source = await makeTree();
    const { daemon } = await started({ ...env, SYNC_SOURCE_DIR: source });
    results.filesync = await operate(target, source, local);
    await daemon.stop();
  }
  const which = await execa('lsyncd', ['--version'], { reject: false });
  if (which.exitCode !== 0) return { ...results, lsyncd: { skipped: 'lsyncd is not installed' } };
  for (const mode of ['rsync', 'rsyncssh'] as const) {
    const name = `renames-lsyncd-${mode}`;
    const source = await makeTree();
    const remoteDir = `${TARGET_HOME}/${name}`;
    await rsyncOnce(target, source, remoteDir);
    const ssh = sshArgs(target);
    const config = join(await mkdtemp(join(tmpdir(), 'filesync-bench-lsyncd-')), 'lsyncd.lua');
    const rsh = JSON.stringify(`/usr/bin/ssh ${ssh.join(' ')}`);
    await writeFile(
      config,
      mode === 'rsync'
        ? `settings { nodaemon = true, insist = false }
sync { default.rsync, source = ${JSON.stringify(source)}, target = ${JSON.stringify(`${TARGET_USER}@${target.host}:${remoteDir}/`)}, delay = 1,
  rsync = { archive = true, rsh = ${rsh} } }
`
        : `settings { nodaemon = true, insist = false }
sync { default.rsyncssh, source = ${JSON.stringify(source)}, host = ${JSON.stringify(`${TARGET_USER}@${target.host}`)}, targetdir = ${JSON.stringify(`${remoteDir}/`)}, delay = 1,
  rsync = { archive = true },
  ssh = { port = ${target.port}, identityFile = ${JSON.stringify(target.keyPath)}, options = { UserKnownHostsFile = ${JSON.stringify(target.knownHostsPath)}, BatchMode = "yes" } } }
`,
    );
    const child = execa('lsyncd', ['-log', 'Normal', config], { reject: false, buffer: false, all: true });
    let seen = '';
    child.all?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
    });
    try {
      await waitFor('lsyncd to start', () => /Startup of .* finished/.test(seen), { timeoutMs: 120_000 });
      results[`lsyncd-${mode}`] = await operate(target, source, join(mirror, name));
    } catch (error) {
      results[`lsyncd-${mode}`] = { failed: String(error), log: seen.slice(-500) };
    } finally {
      child.kill('SIGTERM');
      await child;
    }
  }
  return results;
}
