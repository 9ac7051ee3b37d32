import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/config.ts';
import { FilesyncError } from '../errors.ts';
import type { SshTarget } from './ssh.ts';

/** The private, writable directory a run keeps its SSH state in, and the target built on it. */
export interface Runtime extends AsyncDisposable {
  readonly dir: string;
  readonly ssh: SshTarget;
}

/**
 * Creates a 0700 directory under TMPDIR (a tmpfs in the image, so a read-only root works) with
 * a 0600 copy of the key: keys mounted from Secrets often have modes or owners ssh refuses.
 */
export async function createRuntime(config: Config): Promise<Runtime> {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-'));
  if (/[\s"']/.test(dir)) {
    await rm(dir, { recursive: true, force: true });
    throw new FilesyncError(
      'runtime-dir',
      `the temporary directory ${dir} has spaces or quotes in its path`,
      {
        hint: 'Set TMPDIR to a plain path such as /tmp.',
      },
    );
  }
  const identityFile = join(dir, 'id');
  await writeFile(identityFile, await readFile(config.ssh.keyPath), { mode: 0o600 });
  const knownHostsFile = config.ssh.knownHostsPath ?? join(dir, 'known_hosts');
  return {
    dir,
    ssh: {
      host: config.remote.host,
      port: config.remote.port,
      user: config.remote.user,
      identityFile,
      knownHostsFile,
      hostKeyPolicy: config.ssh.hostKeyPolicy,
      controlPath: join(dir, 'ssh-control'),
    },
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
