import { assertNever } from '../assert.ts';
import type { Config } from '../config/config.ts';
import type { Filter } from '../filter.ts';
import { PARTIAL_DIR } from '../filter.ts';
import { ITEMIZE_FORMAT } from '../rsync/itemize.ts';
import type { Plan } from '../rsync/runner.ts';
import { remoteSpec, rsyncShell, type SshTarget } from '../rsync/ssh.ts';
import type { SurveyedJob } from './job.ts';
import type { MovePrepass } from './moves.ts';
import type { SurveyedPath } from './survey.ts';
import { DAY_PATTERN, keptDays, runDir } from './trash.ts';

// The pure planner: a job and the configuration in, one rsync command out. It decides
// everything about a transfer; rsync/runner.ts only executes what it returns.

/**
 * Up to this many entries, a full pass sends rsync's whole file list at once
 * (--no-inc-recursive): on a tree in sync that is 15–20 % faster than incremental recursion
 * (npm run bench), and the list costs rsync about 7 MiB per 100,000 entries on this side and
 * 13 MiB on the target's (measured at 1,000,000 entries).
 * Above it the whole list is sent where memory allows it (wholeListFits); otherwise, or when
 * the size is unknown, incremental recursion keeps rsync's memory flat.
 */
export const WHOLE_LIST_MAX_ENTRIES = 250_000;

/**
 * What the whole list is reckoned to cost rsync per entry, on one side, with room for longer
 * names than the bench's: at 1,000,000 entries the sender measured 73 MiB (76 B an entry), the
 * target's generator and receiver 127 MiB together (pages they share counted twice).
 */
export const WHOLE_LIST_BYTES_PER_ENTRY = 160;

/** rsync's option that sends the whole file list at once. */
export const NO_INC_RECURSIVE = '--no-inc-recursive';

/** The share of the memory still available to filesync that the whole list may take. */
export const WHOLE_LIST_MEMORY_SHARE = 0.25;

/**
 * Never past this many entries, whatever the memory here: the target's rsync holds the list
 * too (about 130 B an entry), and its memory is not known here; 2,000,000 entries is about
 * 260 MB there.
 */
export const WHOLE_LIST_CEILING = 2_000_000;

/**
 * Whether a full pass sends the whole file list at once: always for a small tree; for a larger
 * one up to WHOLE_LIST_CEILING, when its list would take at most a quarter of the memory still
 * available here (`availableMemory`: the container's limit, where one is set, less what it
 * uses, page cache included: process.availableMemory(); the caller's share of it). At
 * 1,000,000 entries that needs 640 MB, and the pass is 15–25 % faster (docs/performance.md).
 */
export function wholeListFits(entries: number | undefined, availableMemory: number | undefined): boolean {
  if (entries === undefined) return false;
  if (entries <= WHOLE_LIST_MAX_ENTRIES) return true;
  if (availableMemory === undefined || entries > WHOLE_LIST_CEILING) return false;
  return entries * WHOLE_LIST_BYTES_PER_ENTRY <= availableMemory * WHOLE_LIST_MEMORY_SHARE;
}

/** Paths of each kind a full pass keeps from its itemized output, for the drift warning. */
export const FULL_PASS_PATHS = 20;

/**
 * With a hook (SYNC_HOOK_COMMAND, SYNC_HOOK_URL), every run itemizes and keeps up to this many
 * paths of each kind, which the hook's changes file lists (and says when there were more).
 */
export const HOOK_PATHS = 10_000;

/** What a run keeps of its itemized output: the hook's list, or the drift warning's few. */
function itemizeOf(config: Config): { readonly keep: number } | undefined {
  if (hooked(config)) return { keep: HOOK_PATHS };
  // SYNC_SYMLINKS=safe names the links it skips at --info=name1, which would also print every
  // name sent: itemized, those lines are counted and dropped (rsync/runner.ts), not kept.
  return config.rsync.symlinks === 'safe' ? { keep: 0 } : undefined;
}

function hooked(config: Config): boolean {
  return config.hooks.command !== undefined || config.hooks.url !== undefined;
}

/** The parts of the runtime a plan depends on. */
export interface PlanContext {
  readonly config: Config;
  readonly filter: Filter;
  readonly ssh: SshTarget;
  /** The time a plan is made at (the trash's run directory is named by it). */
  readonly now?: () => Date;
}

export function planJob(job: SurveyedJob, context: PlanContext): Plan {
  const { config } = context;
  const deletion = deletionArgs(config);
  if (job.kind === 'full') {
    const wholeList = wholeListFits(job.entries, job.availableMemory);
    const args = [
      ...(wholeList ? [NO_INC_RECURSIVE] : []),
      ...deletion,
      ...backupArgs(context),
      ...context.filter.rsyncRules(),
      `--out-format=${ITEMIZE_FORMAT}`,
      PROGRESS_ARG,
    ];
    return {
      ...rsyncPlan(context, args),
      itemize: itemizeOf(config) ?? { keep: FULL_PASS_PATHS },
      progress: true,
    };
  }
  // A batch that removes paths may have renamed them: --fuzzy makes a file of the same size and
  // time (or a similar name) in the same directory the basis of a new one, and --delete-delay
  // keeps it there until the transfers are done (see moves.ts).
  const moved = job.paths.some((entry) => entry.kind === 'missing')
    ? ['--fuzzy', ...(deletion.length > 0 ? ['--delete-delay'] : [])]
    : [];
  const plan = rsyncPlan(
    context,
    [
      '--dirs',
      '--files-from=-',
      '--from0',
      ...deletion,
      ...moved,
      ...backupArgs(context),
      ...context.filter.rsyncRules(),
      ...(itemizeOf(config) === undefined ? [] : [`--out-format=${ITEMIZE_FORMAT}`]),
      PROGRESS_ARG,
    ],
    batchList(job.paths, config.rsync.delete),
  );
  const itemize = itemizeOf(config);
  return { ...plan, ...(itemize === undefined ? {} : { itemize }), progress: true };
}

/** One line for the whole run, rewritten as it goes (see rsync/progress.ts). */
export const PROGRESS_ARG = '--info=progress2';

/**
 * The --files-from list of a batch, one run without recursion. A file is listed as itself; a
 * directory as `dir/`, which sends its entries one level deep and, with --delete, removes
 * entries the source no longer has; a vanished path as its nearest remaining directory, for
 * the same reason. (rsync's --delete-missing-args would be the direct way, but receivers with
 * the 2025 flist.c hardening reject its entries for any nested path.) New directories arrive
 * level by level, as the watcher reports each one.
 */
export function batchList(paths: readonly SurveyedPath[], deletions: boolean): string[] {
  const entries = new Set<string>();
  for (const entry of paths) {
    switch (entry.kind) {
      case 'file':
        entries.add(entry.path);
        break;
      case 'dir':
        // '' is the source directory itself (a fast start found its mode or owner changed).
        entries.add(entry.path === '' ? './' : `${entry.path}/`);
        break;
      case 'missing':
        if (deletions) entries.add(entry.ancestor === '' ? './' : `${entry.ancestor}/`);
        break;
      default:
        assertNever(entry);
    }
  }
  // A file in a directory that is listed as `dir/` is sent by that entry already: listing it
  // too makes rsync stat it twice (a 10,000-file burst in 100 new directories: 10,100 entries
  // become 100).
  const listedDir = (file: string) => {
    const slash = file.lastIndexOf('/');
    return entries.has(slash === -1 ? './' : `${file.slice(0, slash)}/`);
  };
  return [...entries].filter((entry) => entry.endsWith('/') || !listedDir(entry)).sort();
}

/** rsync's NUL-terminated --files-from input; undefined when there is nothing to send. */
function listInput(list: readonly string[]): string | undefined {
  return list.length === 0 ? undefined : `${list.join('\0')}\0`;
}

export function rsyncPlan(context: PlanContext, args: readonly string[], list?: readonly string[]): Plan {
  const { config, ssh } = context;
  const source = `${config.sourceDir.replace(/\/+$/, '')}/`;
  const target = remoteSpec(ssh, config.remote.dir);
  const stdin = list === undefined ? undefined : listInput(list);
  const roots = { source: config.sourceDir, target: config.remote.dir };
  return { file: 'rsync', args: [...commonArgs(context), ...args, source, target], stdin, roots };
}

export function commonArgs({ config, ssh }: PlanContext): string[] {
  const { rsync } = config;
  return [
    '--archive',
    // Nanosecond mtimes: a same-size rewrite within the same second is still seen as a change.
    // The target's side compares them, so only it is told, in the long form: rsync would pass
    // `-@-1` itself, which rrsync refuses (it takes no negative numbers in short options).
    '--remote-option=--modify-window=-1',
    '--mkpath',
    '--stats',
    `--timeout=${Math.ceil(rsync.ioTimeoutMs / 1000)}`,
    ...(rsync.compress ? ['--compress'] : []),
    ...(rsync.checksum ? ['--checksum'] : []),
    ...(rsync.update ? ['--update'] : []),
    ...(rsync.partial || rsync.delayUpdates ? [`--partial-dir=${PARTIAL_DIR}`] : []),
    ...(rsync.delayUpdates ? DELAY_UPDATE_ARGS : []),
    ...(rsync.bwlimit === undefined ? [] : [`--bwlimit=${rsync.bwlimit}`]),
    ...ownershipArgs(config),
    ...SYMLINK_ARGS[config.rsync.symlinks],
    ...rsync.extraArgs,
    '--rsh',
    rsyncShell(ssh),
  ];
}

/**
 * SYNC_DELAY_UPDATES: each updated file is staged in its directory's partial-dir and renamed
 * into place when the run ends. A run that is killed leaves what it staged there, which rsync
 * protects from deletion and would keep forever: planStagedCleanup removes it.
 */
const DELAY_UPDATE_ARGS: readonly string[] = ['--delay-updates'];

/**
 * Removes what killed runs left staged (SYNC_DELAY_UPDATES) in the partial-dirs of the target's
 * directories, and nothing else: the source's directories are sent, no file, and nothing is
 * created or updated (--existing --ignore-existing); on the target every name is protected but
 * the partial-dirs, whose risk rule comes first. Apart from the runs: no SYNC_MAX_DELETE (these
 * are filesync's own files, not the mirror's), no trash, no itemized differences, no drift.
 */
export function planStagedCleanup(context: PlanContext): Plan {
  return rsyncPlan(context, [
    '--delete',
    '--existing',
    '--ignore-existing',
    '--omit-dir-times',
    '--no-perms',
    `--filter=R ${PARTIAL_DIR}/***`,
    '--filter=P *',
    ...context.filter.rsyncRules(),
    '--filter=S */',
    '--filter=H *',
  ]);
}

/**
 * What a symlink becomes (SYNC_SYMLINKS). rsync decides which links are unsafe — absolute, or
 * climbing out of the transfer's top by their place in it — and under `safe` names each one it
 * skips at --info=name1 (see rsync/outcome.ts), which adds no line to an itemizing run (every
 * run itemizes under `safe`: see itemizeOf).
 */
const SYMLINK_ARGS: Readonly<Record<Config['rsync']['symlinks'], readonly string[]>> = {
  keep: [],
  safe: ['--safe-links', '--info=name1'],
  'copy-unsafe': ['--copy-unsafe-links'],
  ignore: ['--no-links'],
};

/**
 * Owner and modes on the target. With an owner asked for, the receiver is told to act as root
 * (--super): rsync as any other user drops an owner or group it cannot give silently, and this
 * way the target's refusal is an error (`ownership`, see rsync/outcome.ts) instead of a mirror
 * owned by the wrong user. `target` modes are rsync's recipe for the destination's defaults.
 */
export function ownershipArgs(config: Config): string[] {
  const { chown, usermap, groupmap, chmod, perms } = config.rsync.ownership;
  const [user = '', group = ''] = chown?.split(':') ?? [];
  const users = user !== '' || usermap.length > 0;
  const groups = group !== '' || groupmap.length > 0;
  // What is not asked for is left to the target (the SSH user, its group), not taken from the
  // source: acting as root, rsync would try that too, and a user that is not would be refused.
  return [
    ...(chown === undefined ? [] : [`--chown=${chown}`]),
    ...(usermap.length > 0 ? [`--usermap=${usermap.join(',')}`] : []),
    ...(groupmap.length > 0 ? [`--groupmap=${groupmap.join(',')}`] : []),
    ...(users || groups ? ['--super'] : []),
    ...(groups && !users ? ['--no-owner'] : []),
    ...(users && !groups ? ['--no-group'] : []),
    ...(chmod.length > 0 ? [`--chmod=${chmod.join(',')}`] : []),
    ...(perms === 'target' ? ['--no-perms', '--chmod=ugo=rwX'] : []),
  ];
}

/**
 * With a trash, what a run deletes or overwrites is moved into a directory of the run's own
 * below it (see trash.ts); the trash is excluded by the filter (see load.ts), so no pass sends
 * into it or deletes from it. The directory is given absolute: rrsync 3.5 reads a relative one
 * against its own directory rather than the mirror, and every rrsync maps an absolute one into
 * its directory as it does SYNC_REMOTE_DIR.
 */
function backupArgs({ config, now = () => new Date() }: PlanContext): string[] {
  if (config.backup === undefined) return [];
  return ['--backup', `--backup-dir=${runDir(trashPath(config), now())}`];
}

/** The trash's absolute path on the target. */
function trashPath(config: Config): string {
  return `${config.remote.dir.replace(/\/+$/, '')}/${config.backup?.dir ?? ''}`;
}

/**
 * Deletes the trash's day directories older than the retention with rsync alone (so it works
 * through an rrsync-restricted key): an empty directory sent to the trash with --delete, where
 * the kept days and every name that is not a day are protected. `empty` is a local empty
 * directory.
 */
export function planTrashPrune(empty: string, context: PlanContext): Plan | undefined {
  const { config, ssh, now = () => new Date() } = context;
  if (config.backup === undefined) return undefined;
  const rules = [
    ...keptDays(now(), config.backup.retentionMs).map((day) => `--filter=P /${day}/`),
    `--filter=R /${DAY_PATTERN}/`,
    '--filter=P /*',
  ];
  // The trash keeps its own modes, owner and times: the empty directory's are not copied over.
  const keep = ['--no-perms', '--no-owner', '--no-group', '--omit-dir-times'];
  const args = [
    '--dirs',
    '--delete',
    ...keep,
    ...rules,
    `${empty.replace(/\/+$/, '')}/`,
    remoteSpec(ssh, trashPath(config)),
  ];
  return { file: 'rsync', args: [...commonArgs(context), ...args], stdin: undefined };
}

function deletionArgs({ rsync }: Config): string[] {
  if (!rsync.delete) return [];
  const cap = rsync.maxDelete === undefined ? [] : [`--max-delete=${rsync.maxDelete}`];
  return ['--delete', '--force', ...cap];
}

/** `base/path`, where '' is `base` itself and `/` stays `/`. */
export function under(base: string, path: string): string {
  const trimmed = base.replace(/\/+$/, '');
  return path === '' ? trimmed || '/' : `${trimmed}/${path}`;
}

/**
 * Before a batch's move pre-passes: their roots as directories on the target, sent from the
 * mirror's top (their entries alone, no deletions). A pre-pass writes below its root, and the
 * receiver would follow a symlink there, out of the mirror, where the source has a directory.
 */
export function planMoveRoots(roots: readonly string[], context: PlanContext): Plan {
  const args = [
    '--dirs',
    '--files-from=-',
    '--from0',
    ...backupArgs(context),
    ...context.filter.rsyncRules(),
  ];
  return rsyncPlan(context, args, roots);
}

/**
 * A move's pre-pass (see moves.ts): sends what arrived below `root` with the directories that
 * lost entries as --link-dest bases, absolute (so rrsync maps them into its directory as it
 * does SYNC_REMOTE_DIR). It deletes nothing: the batch after it does, and finds these files
 * already in place. Where rsync may update a file in place (--inplace, --append), a hard link
 * would change the old copy in the trash too: there the bases are --copy-dest.
 */
export function planMovePrepass(move: MovePrepass, context: PlanContext): Plan {
  const { config, ssh } = context;
  const inPlace = config.rsync.extraArgs.some((arg) => /^--(inplace|append)/.test(arg));
  const option = inPlace ? '--copy-dest' : '--link-dest';
  const bases = move.bases.map((base) => `${option}=${under(config.remote.dir, base)}`);
  const args = [
    '--dirs',
    '--files-from=-',
    '--from0',
    '--fuzzy',
    '--fuzzy', // twice: also look for similar names in the bases
    ...bases,
    ...backupArgs(context), // a moved file may replace one there
    `${under(config.sourceDir, move.root)}/`,
    remoteSpec(ssh, under(config.remote.dir, move.root)),
  ];
  return { file: 'rsync', args: [...commonArgs(context), ...args], stdin: listInput(move.list) };
}
