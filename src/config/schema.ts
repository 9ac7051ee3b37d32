import { bool, str } from 'envalid';
import { formatDuration } from './duration.ts';
import {
  absolutePath,
  argv,
  bandwidth,
  chmodRules,
  count,
  duration,
  hostname,
  httpUrl,
  idMap,
  list,
  owner,
  port,
  text,
  topLevelName,
  username,
  words,
} from './values.ts';

// Every setting filesync reads, with its parser, default and description. The table in
// docs/configuration.md is generated from this file (`npm run docs`), and a test keeps them equal.

const hostKeyPolicy = ['strict', 'accept-new'] as const;
const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const logFormats = ['json', 'pretty'] as const;
const watchModes = ['auto', 'native', 'chokidar', 'poll'] as const;
const readinessModes = ['started', 'syncing'] as const;
const permsModes = ['preserve', 'target'] as const;
const symlinkModes = ['keep', 'safe', 'copy-unsafe', 'ignore'] as const;

/** The envalid specification of every environment variable. */
export const schema = {
  SYNC_SOURCE_DIR: text({ desc: 'Directory to watch and mirror.', example: '/data' }),
  SYNC_REMOTE_HOST: hostname({
    desc: 'Target host name or IP address. Required unless SYNC_TARGETS is set.',
    example: 'backup.example.com',
  }),
  SYNC_REMOTE_PORT: port(false)({ default: 22, desc: 'SSH port of the target.' }),
  SYNC_REMOTE_USER: username({
    desc: 'SSH user on the target. Required unless SYNC_TARGETS is set.',
    example: 'sync',
  }),
  SYNC_REMOTE_DIR: absolutePath({
    desc: 'Absolute directory on the target; created if missing. Required unless SYNC_TARGETS is set.',
    example: '/srv/mirror',
  }),
  SYNC_TARGETS: list({
    default: Object.freeze([]),
    desc: 'Several targets instead of SYNC_REMOTE_*: comma-separated `ssh://user@host[:port]/absolute/dir` (IPv6 hosts in brackets). One watcher feeds them all; each syncs on its own, so one that is down delays no other. The same key and known_hosts file serve every target.',
    example: 'ssh://sync@a.example.com/srv/mirror,ssh://sync@[2001:db8::7]:2222/backup',
  }),
  SYNC_SSH_KEY: text({ desc: 'Path of the SSH private key.', example: '/run/secrets/id_ed25519' }),
  SYNC_KNOWN_HOSTS: str({
    default: undefined,
    desc: 'Path of a known_hosts file. Under strict it pins the target host key; under accept-new the key seen first is written there (a writable volume, so it outlives restarts). Required.',
    example: '/run/secrets/known_hosts',
  }),
  SYNC_HOST_KEY_POLICY: str({
    choices: hostKeyPolicy,
    default: 'strict',
    desc: '`strict` refuses unknown or changed host keys; `accept-new` trusts on first use and refuses changes.',
  }),
  SYNC_DEBOUNCE: duration({ default: 1000, desc: 'Quiet period before a batch of changes is sent.' }),
  SYNC_MAX_DELAY: duration({
    default: 10_000,
    desc: 'Longest a change may wait while writes keep coming.',
  }),
  SYNC_DELETE: bool({ default: true, desc: 'Propagate deletions to the target.' }),
  SYNC_ALLOW_EMPTY_SOURCE: bool({
    default: false,
    desc: 'Let an empty or missing source directory empty the mirror. Off: filesync then deletes nothing and waits (an unmounted volume looks empty).',
  }),
  SYNC_MAX_DELETE: count({
    default: undefined,
    desc: 'Delete at most this many entries on the target per run (`rsync --max-delete`); the rest wait for a person.',
    example: '1000',
  }),
  SYNC_INCLUDE: list({
    default: Object.freeze([]),
    desc: 'Comma-separated globs of files to sync, relative to the source (empty: all files).',
    example: 'reports/**,*.csv',
  }),
  SYNC_EXCLUDE: list({
    default: Object.freeze([]),
    desc: 'Comma-separated globs of files and directories never to sync; excluded directories are not watched.',
    example: '*.tmp,.git,cache/',
  }),
  SYNC_EXTENSIONS: list({
    default: Object.freeze([]),
    desc: 'Comma-separated file extensions to sync (empty: all). Cannot be combined with SYNC_INCLUDE.',
    example: '.txt,.rrd,.properties',
  }),
  SYNC_RSYNC_COMPRESS: bool({ default: false, desc: 'Compress data in transit (`rsync --compress`).' }),
  SYNC_RSYNC_CHECKSUM: bool({
    default: false,
    desc: 'Compare files by checksum instead of size and time (`rsync --checksum`).',
  }),
  SYNC_RSYNC_UPDATE: bool({
    default: false,
    desc: 'Skip files that are newer on the target (`rsync --update`).',
  }),
  SYNC_RSYNC_PARTIAL: bool({
    default: true,
    desc: 'Keep interrupted transfers in a partial-dir and resume them; a half-written file never replaces a good one. Looking for partial files costs a full pass one more `stat` per file on the target (+16 % of a no-op pass at 100,000 files): full passes leave that out while none can be waiting (after a clean stop or on a first start, until a run fails; a marker on the target tells, see docs/operations.md). `false` leaves the partial-dir out of every run (SYNC_DELAY_UPDATES still stages files there).',
  }),
  SYNC_RSYNC_BWLIMIT: bandwidth({
    default: undefined,
    desc: 'Bandwidth limit in KiB/s, or with a unit such as 1.5M (`rsync --bwlimit`).',
    example: '1000',
  }),
  SYNC_RSYNC_EXTRA_ARGS: words({
    default: Object.freeze([]),
    desc: 'Further rsync options, separated by spaces (no shell quoting).',
    example: '--chmod=D755,F644',
  }),
  SYNC_CHOWN: owner({
    default: undefined,
    desc: 'Owner and group of everything filesync writes on the target: `user:group`, `user` or `:group` (rsync --chown). Giving files to another user needs root on the target; a group, membership of it. A change the target refuses fails the run with reason `ownership`, and `filesync check` tries it.',
    example: 'www-data:www-data',
  }),
  SYNC_USERMAP: idMap({
    default: Object.freeze([]),
    desc: 'Owners mapped from the source to the target (rsync --usermap), instead of SYNC_CHOWN: comma-separated `from:to`, `from` a name, id, `low-high` range or wildcard.',
    example: '1000:www-data,*:nobody',
  }),
  SYNC_GROUPMAP: idMap({
    default: Object.freeze([]),
    desc: 'Groups mapped likewise (rsync --groupmap), instead of SYNC_CHOWN.',
    example: '1000:www-data',
  }),
  SYNC_CHMOD: chmodRules({
    default: Object.freeze([]),
    desc: 'Modes applied to what is sent (rsync --chmod): `D` rules for directories, `F` for files, octal or symbolic, comma-separated.',
    example: 'D2775,F664',
  }),
  SYNC_PERMS: str({
    choices: permsModes,
    default: 'preserve',
    desc: "`preserve`: modes as on the source. `target`: modes are not sent; new files take the target user's umask (directories too), existing ones keep theirs (mutagen's portable mode).",
  }),
  SYNC_SYMLINKS: str({
    choices: symlinkModes,
    default: 'keep',
    desc: 'Symlinks on the target. `keep`: sent as links, whatever they point to. `safe`: links that are absolute or point out of the source are not sent (logged once each, counted). `copy-unsafe`: such links are sent as the files or directories they point to (not watched: the periodic pass sends their changes). `ignore`: no links are sent.',
  }),
  SYNC_DELAY_UPDATES: bool({
    default: false,
    desc: 'Put every file of a run in place at its end, in one quick rename loop (`rsync --delay-updates`), so a reader on the target sees the old or the new set of files, not a mix for the whole transfer. Files are staged in the partial-dir; symlinks and deletions are not delayed.',
  }),
  SYNC_IO_TIMEOUT: duration({
    default: 60_000,
    desc: 'Give up on a transfer when no data moves for this long (`rsync --timeout`).',
  }),
  SYNC_WATCH_MODE: str({
    choices: watchModes,
    default: 'auto',
    desc: '`native`: one inotify watch per directory, none per file. `chokidar`: the pure-JavaScript watcher, one watch per file. `poll`: a full pass every SYNC_POLL_INTERVAL, for NFS, SMB and mounts whose other writers inotify cannot see. `auto`: native, polling where directories cannot be watched. Any mode polls once the kernel runs out of watches.',
  }),
  SYNC_POLL_INTERVAL: duration({
    default: 10_000,
    desc: 'Time between full passes when polling (SYNC_WATCH_MODE=poll, or after a fallback).',
  }),
  SYNC_RESYNC_INTERVAL: duration({
    default: 3_600_000,
    desc: 'Full reconciliation pass every so often, `0` = never.',
  }),
  SYNC_SHUTDOWN_TIMEOUT: duration({
    default: 20_000,
    desc: 'How long SIGTERM may spend sending pending changes.',
  }),
  SYNC_STATE_DIR: absolutePath({
    default: undefined,
    desc: 'Keep a manifest per target here (a persistent volume), written at each clean stop, so that a restart compares the source with it instead of the whole target: it sends what changed while filesync was stopped and is ready then, and the full comparison runs after readiness and repairs (and reports as drift) what else differs. Not trusted after a kill, a crash or changed settings (a full pass then). Leave unset for targets other writers change while filesync is down. The manifest takes about 55 bytes an entry (56 MB at 1,000,000); a stop needs about twice that free there.',
    example: '/var/lib/filesync',
  }),
  SYNC_WEBHOOK_URL: httpUrl({
    default: undefined,
    desc: 'POST a JSON alert here when syncing starts failing and when it recovers (one per change, not per retry). Its `text` field suits Slack-style incoming webhooks.',
    example: 'https://hooks.example.com/services/T0/B0/XXXX',
  }),
  SYNC_HOOK_COMMAND: argv({
    default: Object.freeze([]),
    desc: 'A command run after each run that changed something on a target (and once after the initial pass), as a JSON array, without a shell, in SYNC_SOURCE_DIR. It gets FILESYNC_TARGET, FILESYNC_KIND (initial, batch or full), FILESYNC_FILES, FILESYNC_DELETED, FILESYNC_BYTES and FILESYNC_CHANGES_FILE (the changed paths, NUL-separated). One runs at a time per target; runs that end meanwhile are coalesced into one follow-up, so it must be idempotent. Never delays syncing.',
    example: '["ssh", "web", "sudo systemctl reload nginx"]',
  }),
  SYNC_HOOK_URL: httpUrl({
    default: undefined,
    desc: 'POST the same fields as JSON (with a one-line `text`) after each such run, after SYNC_HOOK_COMMAND succeeded when both are set.',
    example: 'https://ci.example.com/hooks/mirror-updated',
  }),
  SYNC_HOOK_TIMEOUT: duration({
    default: 30_000,
    desc: 'How long the hook command may run (1s to 1d) before it is stopped with its process group (SIGTERM, then SIGKILL 5 s later) and counted as `timeout`; failed and timed-out hooks are retried with backoff.',
  }),
  SYNC_BACKUP_DIR: topLevelName({
    default: undefined,
    desc: 'Trash on the target, a directory at the top of SYNC_REMOTE_DIR: every file the mirror deletes or overwrites is moved into a subdirectory per day (`YYYY-MM-DD/HHMMSS`, UTC) instead of being lost. Never synced into, never deleted by passes. Off when empty.',
    example: '.filesync-trash',
  }),
  SYNC_BACKUP_RETENTION: duration({
    default: 7 * 86_400_000,
    desc: 'Day directories of the trash older than this are deleted (in whole days; at start and every hour).',
  }),
  SYNC_HEALTH_PORT: port(true)({
    default: 8080,
    desc: 'HTTP port for /healthz, /readyz and /metrics, `0` = off.',
  }),
  SYNC_CONTROL_TOKEN_FILE: str({
    default: undefined,
    desc: 'A file (a mounted Secret) holding the bearer token that turns on POST /sync, /pause and /resume on the health port; without a token they answer 404. At least 16 characters, for example `openssl rand -hex 32`. The CLI inside the container needs no token: it uses a private socket.',
    example: '/run/secrets/filesync-control-token',
  }),
  SYNC_CONTROL_TOKEN: str({
    default: undefined,
    desc: 'The same token given directly; prefer SYNC_CONTROL_TOKEN_FILE, since environment variables show in `docker inspect`.',
  }),
  SYNC_READINESS: str({
    choices: readinessModes,
    default: 'started',
    desc: 'What /readyz answers. `started`: 200 once the initial pass has gone through, and so it stays while a target fails later (a mirror host that is down takes no application Pod out of its Service; /status, the metrics and the webhook report it). `syncing`: also 503 while runs fail, as filesync 0.1 did.',
  }),
  LOG_LEVEL: str({ choices: logLevels, default: 'info', desc: 'Log level.' }),
  LOG_FORMAT: str({
    choices: logFormats,
    default: 'json',
    desc: '`json` (one object a line, for machines) or `pretty` (for people).',
  }),
} as const;

export type SettingName = keyof typeof schema;

/** The type column of the configuration table (docs/configuration.md). */
export const settingTypes = {
  SYNC_SOURCE_DIR: 'path',
  SYNC_REMOTE_HOST: 'host',
  SYNC_REMOTE_PORT: 'port',
  SYNC_REMOTE_USER: 'string',
  SYNC_REMOTE_DIR: 'absolute path',
  SYNC_TARGETS: 'URL list',
  SYNC_SSH_KEY: 'path',
  SYNC_KNOWN_HOSTS: 'path',
  SYNC_HOST_KEY_POLICY: hostKeyPolicy.join(' \\| '),
  SYNC_DEBOUNCE: 'duration',
  SYNC_MAX_DELAY: 'duration',
  SYNC_DELETE: 'boolean',
  SYNC_ALLOW_EMPTY_SOURCE: 'boolean',
  SYNC_MAX_DELETE: 'count',
  SYNC_INCLUDE: 'glob list',
  SYNC_EXCLUDE: 'glob list',
  SYNC_EXTENSIONS: 'list',
  SYNC_RSYNC_COMPRESS: 'boolean',
  SYNC_RSYNC_CHECKSUM: 'boolean',
  SYNC_RSYNC_UPDATE: 'boolean',
  SYNC_RSYNC_PARTIAL: 'boolean',
  SYNC_RSYNC_BWLIMIT: 'bandwidth',
  SYNC_RSYNC_EXTRA_ARGS: 'words',
  SYNC_CHOWN: 'owner',
  SYNC_USERMAP: 'map list',
  SYNC_GROUPMAP: 'map list',
  SYNC_CHMOD: 'chmod rules',
  SYNC_PERMS: permsModes.join(' \\| '),
  SYNC_SYMLINKS: symlinkModes.join(' \\| '),
  SYNC_DELAY_UPDATES: 'boolean',
  SYNC_IO_TIMEOUT: 'duration',
  SYNC_WATCH_MODE: watchModes.join(' \\| '),
  SYNC_POLL_INTERVAL: 'duration',
  SYNC_RESYNC_INTERVAL: 'duration',
  SYNC_SHUTDOWN_TIMEOUT: 'duration',
  SYNC_STATE_DIR: 'absolute path',
  SYNC_WEBHOOK_URL: 'URL',
  SYNC_HOOK_COMMAND: 'JSON argv',
  SYNC_HOOK_URL: 'URL',
  SYNC_HOOK_TIMEOUT: 'duration',
  SYNC_BACKUP_DIR: 'name',
  SYNC_BACKUP_RETENTION: 'duration',
  SYNC_HEALTH_PORT: 'port',
  SYNC_CONTROL_TOKEN_FILE: 'path',
  SYNC_CONTROL_TOKEN: 'secret',
  SYNC_READINESS: readinessModes.join(' \\| '),
  LOG_LEVEL: logLevels.join(' \\| '),
  LOG_FORMAT: logFormats.join(' \\| '),
} as const satisfies Record<SettingName, string>;

/** How a default reads in the configuration table. */
export function describeDefault(name: SettingName): string {
  const spec: { default?: unknown } = schema[name];
  if (!('default' in spec)) return 'required';
  const value = spec.default;
  if (value === undefined) return '—';
  if (settingTypes[name] === 'duration') return formatDuration(value as number);
  if (Array.isArray(value)) return value.length === 0 ? '(empty)' : value.join(',');
  return String(value);
}
