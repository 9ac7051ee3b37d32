import { type FailedPath, parseFailedPaths, type Roots } from './failed-paths.ts';
import { decodeName, type Itemized } from './itemize.ts';

// What a finished rsync run meant. rsync's exit code and its stderr together name the cause;
// each cause gets a hint that tells the user what to do about it.

/** Why a run failed, in the terms a user acts on. */
export type FailureReason =
  | 'host-key'
  | 'auth'
  | 'unreachable'
  | 'remote-rsync-missing'
  | 'remote-path'
  | 'restricted'
  | 'partial'
  | 'max-delete'
  | 'ownership'
  | 'empty-source'
  | 'timeout'
  | 'usage'
  | 'cancelled'
  | 'local'
  | 'unknown';

/** Counts rsync reports with --stats. */
export interface TransferStats {
  /** Entries rsync listed: files, directories and links (a full pass: the whole tree). */
  readonly files: number;
  readonly filesTransferred: number;
  readonly filesDeleted: number;
  readonly bytesTransferred: number;
}

export type Outcome =
  | {
      readonly ok: true;
      readonly stats: TransferStats;
      readonly vanished: boolean;
      /** What the run changed, by kind, when its plan itemized (full passes, verify). */
      readonly itemized: Itemized | undefined;
      /** Links rsync did not send under SYNC_SYMLINKS=safe: absolute, or out of the source. */
      readonly unsafeLinks?: readonly UnsafeLink[];
      /**
       * Paths this run could not bring in line (rsync's exit 23 confined to them): everything
       * else it was given counts as sent.
       */
      readonly failedPaths?: readonly FailedPath[];
    }
  | {
      readonly ok: false;
      readonly reason: FailureReason;
      readonly exitCode: number | undefined;
      readonly message: string;
      readonly hint: string;
    };

/** A symlink rsync skipped as unsafe, and what it points to. */
export interface UnsafeLink {
  readonly path: string;
  readonly target: string;
}

const UNSAFE_LINK = /^ignoring unsafe symlink "(.*)" -> "(.*)"$/gm;

/** The links a run skipped as unsafe (--safe-links at --info=name1), names unescaped. */
export function unsafeLinksOf(stdout: string): UnsafeLink[] {
  return [...stdout.matchAll(UNSAFE_LINK)].map((match) => ({
    path: decodeName(match[1] ?? ''),
    target: decodeName(match[2] ?? ''),
  }));
}

/** rsync's exit codes (rsync(1), EXIT VALUES). */
export const RsyncExit = {
  ok: 0,
  syntax: 1,
  protocolIncompatible: 2,
  fileSelection: 3,
  unsupportedAction: 4,
  startupProtocol: 5,
  socketIo: 10,
  fileIo: 11,
  streamProtocol: 12,
  signal: 20,
  partialTransfer: 23,
  vanishedSourceFiles: 24,
  maxDeleteReached: 25,
  ioTimeout: 30,
  remoteShell: 255,
} as const;

// What to do about each failure, true of every command: whether and when it is retried is for the
// caller to say (watch logs retryInMs; once and check do not retry).
const HINTS: Readonly<Record<FailureReason, string>> = {
  'host-key':
    "The target's host key is not the one pinned in SYNC_KNOWN_HOSTS. If the target was rebuilt on purpose, replace its line (ssh-keyscan -p PORT HOST); otherwise the connection may be intercepted.",
  auth: 'The target refused the key: add the public half of SYNC_SSH_KEY to ~/.ssh/authorized_keys of SYNC_REMOTE_USER (or the user of its SYNC_TARGETS entry) on the target.',
  unreachable:
    'Cannot reach the target: check SYNC_REMOTE_HOST and SYNC_REMOTE_PORT (or its SYNC_TARGETS entry) and that sshd runs there.',
  'remote-rsync-missing': 'rsync is not installed on the target: install it there (apt-get install rsync).',
  'remote-path':
    'The target refused a file operation: check that SYNC_REMOTE_DIR (or the directory of its SYNC_TARGETS entry) is writable by its user and its disk is not full.',
  restricted:
    "The target's forced command, rrsync, refused the run (see the message). filesync needs rrsync without -ro, without -no-del while SYNC_DELETE is on, and with -no-lock, so that its runs may overlap (a prune beside a batch, a check beside the daemon); SYNC_REMOTE_DIR is read inside rrsync's directory, where / is that directory itself.",
  'max-delete':
    'A run reached SYNC_MAX_DELETE and deleted no more. If the deletions are meant, raise SYNC_MAX_DELETE (or unset it) and start filesync again; otherwise find out what removed so much from the source first.',
  ownership:
    "The target refused the owner or group asked for (SYNC_CHOWN, SYNC_USERMAP, SYNC_GROUPMAP): giving files to another user needs root there, and a group needs the SSH user's membership of it. Log in as root, add the user to the group, or ask only for what it may give (SYNC_CHOWN=:group). What was sent meanwhile belongs to the SSH user; every run tries the owner again.",
  'empty-source':
    'The source directory is empty or missing while the mirror is not, so filesync deletes nothing: check that the source volume is mounted (Docker creates an empty directory for a missing host path). To empty the mirror on purpose, set SYNC_ALLOW_EMPTY_SOURCE=true.',
  partial: 'Some files could not be transferred: see the message for which, and why.',
  timeout: 'No data moved for SYNC_IO_TIMEOUT: the link or the target is stalled.',
  usage: 'rsync rejected its options: check SYNC_RSYNC_EXTRA_ARGS and that rsync ≥ 3.2.3 runs on both ends.',
  cancelled: 'The transfer was stopped by filesync (shutting down).',
  local: 'rsync could not be started here: install rsync and openssh-client on this machine.',
  unknown: 'rsync failed unexpectedly; see the message.',
};

const STDERR_PATTERNS: readonly [RegExp, FailureReason][] = [
  // rrsync (a forced command in authorized_keys) refuses before rsync starts: exit 1 or 12.
  [/\brrsync error: /, 'restricted'],
  [
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed/i,
    'host-key',
  ],
  [/Permission denied \((publickey|password|keyboard)|Too many authentication failures/i, 'auth'],
  [
    /Connection refused|Connection timed out|No route to host|Could not resolve hostname|Name or service not known|Network is unreachable|Connection closed by|Connection reset|Broken pipe|kex_exchange_identification/i,
    'unreachable',
  ],
  [/\b(?:l?chown|chgrp) .*failed: Operation not permitted/, 'ownership'],
  [/rsync: (command )?not found|rsync: No such file or directory|exec: rsync/i, 'remote-rsync-missing'],
  [
    /(mkdir|recv_generator|rename|open) .*failed: (Permission denied|Read-only file system|No space left)/i,
    'remote-path',
  ],
];

/**
 * Classifies a finished rsync run from its exit code, stderr, stdout (for --stats) and, when it
 * itemized, what it changed.
 */
export function classify(
  exitCode: number | undefined,
  stderr: string,
  stdout: string,
  itemized?: Itemized,
  roots?: Roots,
): Outcome {
  const failedPaths =
    exitCode === RsyncExit.partialTransfer && roots !== undefined && !wholeTarget(stderr)
      ? parseFailedPaths(stderr, stdout, roots)
      : undefined;
  const unsafe = unsafeLinksOf(stdout);
  const unsafeLinks = unsafe.length > 0 ? { unsafeLinks: unsafe } : {};
  if (failedPaths !== undefined) {
    return { ok: true, stats: parseStats(stdout), vanished: false, itemized, failedPaths, ...unsafeLinks };
  }
  if (exitCode === RsyncExit.ok || exitCode === RsyncExit.vanishedSourceFiles) {
    return {
      ok: true,
      stats: parseStats(stdout),
      vanished: exitCode === RsyncExit.vanishedSourceFiles,
      itemized,
      ...unsafeLinks,
    };
  }
  const reason = reasonFor(exitCode, stderr);
  const message = lastLines(stderr) || `rsync exited with code ${exitCode ?? 'unknown'}`;
  return { ok: false, reason, exitCode, message, hint: HINTS[reason] };
}

/** A failure that never reached rsync's exit code: not started, or stopped by us. */
export function failure(reason: FailureReason, message: string): Outcome {
  return { ok: false, reason, exitCode: undefined, message, hint: HINTS[reason] };
}

/** The stderr names a cause that stops every transfer, not one path (see STDERR_PATTERNS). */
function wholeTarget(stderr: string): boolean {
  return STDERR_PATTERNS.some(([pattern, reason]) => reason !== 'remote-path' && pattern.test(stderr));
}

function reasonFor(exitCode: number | undefined, stderr: string): FailureReason {
  for (const [pattern, reason] of STDERR_PATTERNS) if (pattern.test(stderr)) return reason;
  switch (exitCode) {
    case RsyncExit.syntax:
    case RsyncExit.protocolIncompatible:
    case RsyncExit.unsupportedAction:
      return 'usage';
    case RsyncExit.fileSelection:
    case RsyncExit.fileIo:
      return 'remote-path';
    case RsyncExit.partialTransfer:
      return 'partial';
    case RsyncExit.maxDeleteReached:
      return 'max-delete';
    case RsyncExit.ioTimeout:
      return 'timeout';
    case RsyncExit.signal:
      // A signal from outside filesync: its own cancels never reach here (see runner.ts), and
      // only those are 'cancelled', which is neither a success nor a failure (status/status.ts).
      return 'unknown';
    case RsyncExit.remoteShell:
    case RsyncExit.socketIo:
    case RsyncExit.startupProtocol:
    case RsyncExit.streamProtocol:
      return 'unreachable';
    default:
      return 'unknown';
  }
}

function lastLines(text: string, count = 5): string {
  return text.trim().split('\n').slice(-count).join('\n');
}

/** Reads the counters of `rsync --stats`; numbers may carry thousands separators. */
export function parseStats(stdout: string): TransferStats {
  const read = (label: string): number => {
    const match = new RegExp(`^${label}: ([\\d,]+)`, 'm').exec(stdout);
    return match ? Number((match[1] ?? '0').replaceAll(',', '')) : 0;
  };
  return {
    files: read('Number of files'),
    filesTransferred: read('Number of regular files transferred'),
    filesDeleted: read('Number of deleted files'),
    bytesTransferred: read('Total transferred file size'),
  };
}
