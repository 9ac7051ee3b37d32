import type { Config } from '../../src/config/config.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { SshTarget } from '../../src/rsync/ssh.ts';

// What the planner's and the job runner's tests start from: a valid configuration (parsed
// as the daemon would, without touching the filesystem) and the SSH target derived from it.

export function testConfig(env: Record<string, string> = {}): Config {
  const result = parseConfig({
    SYNC_SOURCE_DIR: '/data',
    SYNC_REMOTE_HOST: 'backup.example.com',
    SYNC_REMOTE_USER: 'sync',
    SYNC_REMOTE_DIR: '/srv/mirror',
    SYNC_SSH_KEY: '/keys/id',
    SYNC_KNOWN_HOSTS: '/keys/known_hosts',
    ...env,
  });
  if (!result.ok) throw new Error(result.problems.join('\n'));
  return result.config;
}

export const testSsh: SshTarget = {
  host: 'backup.example.com',
  port: 2222,
  user: 'sync',
  identityFile: '/run/filesync-x/id',
  knownHostsFile: '/keys/known_hosts',
  hostKeyPolicy: 'strict',
  controlPath: '/run/filesync-x/ssh-control',
};
