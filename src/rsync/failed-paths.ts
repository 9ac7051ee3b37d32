import { posix } from 'node:path';
import { decodeName } from './itemize.ts';

// Which paths a run that exited 23 (some files or attributes not transferred) failed on, read
// from rsync's own messages. Pure. Each message names a path on one side — the source
// (`send_files failed to open "/data/x"`), the target (`mkdir "/srv/mirror/x" failed`,
// `mkstemp "/srv/mirror/d/.x.Ab12Cd" failed`) or relative to the transfer's root
// (`delete_file: unlink(d/x) failed`) — and ends with the reason and errno. When any message
// cannot be tied to a path, or rsync skipped every deletion of the run because of an I/O error,
// the failure is not confined to paths and the caller treats the run as failed.

/** A path (relative to the source) that one run could not bring in line, and why. */
export interface FailedPath {
  readonly path: string;
  /** rsync's reason, e.g. "Permission denied", "No space left on device". */
  readonly reason: string;
  /** rsync's whole message, for the log. */
  readonly message: string;
}

/** The two directories a run's paths are relative to. */
export interface Roots {
  readonly source: string;
  readonly target: string;
}

const ERROR_LINE = /^rsync: \[(sender|receiver|generator)\] (.*)$/;
const QUOTED = /"((?:[^"\\]|\\.)*)"/;
const CALL = /\b(?:unlink|rmdir|delete_file|delete_dir_contents)\((.*?)\)/;
const REASON = /: ([^:()]+?) \(\d+\)\s*$/;
/** Messages about rsync's temporary file for a name, which it writes beside it. */
const TEMP_FILE_OPS = /^(?:mkstemp|rename) /;
/** rsync's temporary file for `name` in the same directory: `.name.XXXXXX`. */
const TEMP_NAME = /^\.(.+)\.[A-Za-z0-9]{6}$/;
/** Lines around the errors that name nothing and change nothing. */
const NOISE = [
  /^\*\*\* Skipping any contents from this failed directory \*\*\*$/,
  /^rsync error: /,
  /^file has vanished: /, // gone since it was listed: the next change to it is a hint of its own
];
/** rsync skipped every deletion of the run: the failure reaches beyond the paths it names. */
const DELETIONS_SKIPPED = /IO error encountered -- skipping file deletion/;

/**
 * The failing paths of a run, or undefined when its failure is not confined to paths. rsync
 * reports skipped deletions on stdout, the errors on stderr: both are read.
 */
export function parseFailedPaths(stderr: string, stdout: string, roots: Roots): FailedPath[] | undefined {
  if (DELETIONS_SKIPPED.test(stdout)) return undefined;
  const failed = new Map<string, FailedPath>();
  for (const raw of stderr.split('\n')) {
    const line = raw.trim();
    if (line === '' || NOISE.some((pattern) => pattern.test(line))) continue;
    if (DELETIONS_SKIPPED.test(line)) return undefined;
    const [, role, message] = ERROR_LINE.exec(line) ?? [];
    if (role === undefined || message === undefined) return undefined;
    const quoted = QUOTED.exec(message)?.[1] ?? CALL.exec(message)?.[1];
    // rsync escapes a name's bytes as it does in itemized lines (LC_ALL=C): `\#ooo`.
    const named = quoted === undefined ? undefined : decodeName(quoted);
    // The sender names source paths; the generator and the receiver, target paths.
    const root = role === 'sender' ? roots.source : roots.target;
    const path = named === undefined ? undefined : relativePath(named, root, TEMP_FILE_OPS.test(message));
    if (path === undefined) return undefined;
    const reason = REASON.exec(message)?.[1] ?? 'failed';
    if (!failed.has(path)) failed.set(path, { path, reason, message: line });
  }
  return failed.size === 0 ? undefined : [...failed.values()];
}

/** A path from rsync's message, relative to the transfer; undefined when it is outside `root`. */
function relativePath(named: string, root: string, temporary: boolean): string | undefined {
  const prefix = `${root.replace(/\/+$/, '')}/`;
  let path = named.startsWith('/') ? undefined : named;
  if (named.startsWith(prefix)) path = named.slice(prefix.length);
  if (path === undefined) return undefined;
  path = path.replace(/\/+$/, '').replace(/^\.\//, '');
  if (path === '' || path === '.') return undefined; // the root itself is no single path
  const dir = posix.dirname(path);
  const original = temporary ? TEMP_NAME.exec(posix.basename(path))?.[1] : undefined;
  return original === undefined ? path : dir === '.' ? original : `${dir}/${original}`;
}
