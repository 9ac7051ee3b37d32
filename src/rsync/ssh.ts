import type { HostKeyPolicy } from '../config/config.ts';

// Builds ssh's argv. Nothing here runs anything; see ssh-master.ts and runner.ts for that.

/** Where and how to reach the target over SSH. */
export interface SshTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** The private 0600 copy of the key in the runtime directory. */
  readonly identityFile: string;
  readonly knownHostsFile: string;
  readonly hostKeyPolicy: HostKeyPolicy;
  /** Socket of the shared connection (ControlPath), a plain path in the private runtime directory. */
  readonly controlPath: string;
}

/** How long ssh may take to connect; the first pass waits at most this long for the master. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** ssh expands %-tokens in these paths; a literal % must be doubled. */
const literal = (path: string) => path.replaceAll('%', '%%');

/** Options common to every ssh filesync starts: no user config, keys only, pinned host keys. */
export function sshOptions(target: SshTarget): string[] {
  const options = {
    BatchMode: 'yes',
    IdentitiesOnly: 'yes',
    PasswordAuthentication: 'no',
    KbdInteractiveAuthentication: 'no',
    StrictHostKeyChecking: target.hostKeyPolicy === 'strict' ? 'yes' : 'accept-new',
    UserKnownHostsFile: literal(target.knownHostsFile),
    GlobalKnownHostsFile: '/dev/null',
    CheckHostIP: 'no',
    ConnectTimeout: String(CONNECT_TIMEOUT_MS / 1000),
    ServerAliveInterval: '5',
    ServerAliveCountMax: '3',
    ControlPath: literal(target.controlPath),
    LogLevel: 'ERROR',
  };
  return [
    '-F',
    'none',
    '-i',
    literal(target.identityFile),
    '-p',
    String(target.port),
    '-l',
    target.user,
    ...Object.entries(options).flatMap(([key, value]) => ['-o', `${key}=${value}`]),
  ];
}

/** argv of the long-lived master that owns the one TCP connection all transfers share. */
export function masterArgs(target: SshTarget): string[] {
  return [...sshOptions(target), '-o', 'ControlMaster=yes', '-o', 'ControlPersist=no', '-N', target.host];
}

/** argv of a one-off remote command through the shared connection when there is one. */
export function commandArgs(
  target: SshTarget,
  remoteCommand: readonly string[],
  extraOptions: readonly string[] = [],
): string[] {
  return [...sshOptions(target), '-o', 'ControlMaster=no', ...extraOptions, target.host, ...remoteCommand];
}

/**
 * The value of rsync's -e: rsync splits it at spaces itself, honouring quotes, and appends
 * `host rsync --server …`. Any argument with a space or quote is single-quoted, with inner
 * single quotes doubled, which is how rsync's splitter escapes them.
 */
export function rsyncShell(target: SshTarget): string {
  return ['ssh', ...sshOptions(target), '-o', 'ControlMaster=no'].map(quoteForRsync).join(' ');
}

export function quoteForRsync(arg: string): string {
  return /^[\w./=:@%,+-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", "''")}'`;
}

/** rsync's `user@host:dir/` form, with IPv6 addresses in brackets. */
export function remoteSpec(target: Pick<SshTarget, 'host' | 'user'>, dir: string): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${target.user}@${host}:${dir.endsWith('/') ? dir : `${dir}/`}`;
}
