import type { Config } from '../config/config.ts';
import { PARTIAL_DIR } from '../filter.ts';
import type { Plan } from '../rsync/runner.ts';
import { remoteSpec, rsyncShell } from '../rsync/ssh.ts';
import { type PlanContext, under } from './plan.ts';

// The partial-dir on a full pass. With SYNC_RSYNC_PARTIAL, rsync's receiver stats
// `dir/.filesync-partial/<name>` for every file of a run before its quick check, to resume an
// interrupted transfer (rsync's generator.c): +16 % on a no-op pass of 100,000 files, ~3 s of
// 1,000,000. A partial file is left only by a run that is interrupted, and the run that sends its
// file again resumes it and removes it. So a full pass need not look for partial files unless
// a run failed or was cut since the last clean stop (every change sent, no path failing). That
// fact lives on the target, beside the partial files it speaks for: `watch` puts a marker into
// the partial-dir of the mirror's top before any run that may leave a partial file, and a clean
// stop removes it with that partial-dir. (The first full pass may go while the marker's answer
// is not in, without the partial-dir, which leaves no partial file: see target/job-runner.ts.)
//
// A process that puts the marker there (it was not: the last stop was clean, or this is the
// first start, or something else, a bare `rsync --delete`, removed the partial-dirs with it)
// knows that no partial file waits: its full passes leave out the partial-dir until one of its
// own runs fails or is cancelled. One that finds the marker there (a kill, a crash, a flush that
// did not finish), or cannot put it there, keeps the partial-dir, and so resumes (but for a first
// pass that finished before the answer came: it sent the cut files whole, and their partial
// files wait until each is sent again, or a clean stop removes the top's). Either way the
// mirror is the same: the choice decides only whether an interrupted transfer resumes. Live
// batches always keep it: they are where a cut transfer is resumed from.

/** The marker's name, in the partial-dir of the mirror's top. */
export const RUNNING_MARKER = '.filesync-running';

/** Whether this configuration resumes partial files, and so keeps the marker. */
export function resumesPartials(config: Config): boolean {
  // SYNC_DELAY_UPDATES stages every file in the partial-dir: it is never left out.
  return config.rsync.partial && !config.rsync.delayUpdates;
}

/**
 * The context of a full pass that no partial file waits for: no partial-dir, and no bare
 * `--partial` of the user's (SYNC_RSYNC_EXTRA_ARGS) either, which without a partial-dir would
 * put a cut file in place of the good one.
 */
export function withoutPartialDir(context: PlanContext): PlanContext {
  const { config } = context;
  const { rsync } = config;
  const extraArgs = [...rsync.extraArgs, '--no-partial'];
  return { ...context, config: { ...config, rsync: { ...rsync, partial: false, extraArgs } } };
}

/**
 * What a marker's run needs: the connection, and of the user's own options only where rsync is
 * on the target (--rsync-path): a backup suffix, xattrs or owners are not the marker's.
 */
function markerArgs({ config, ssh }: PlanContext): string[] {
  return [
    `--timeout=${Math.ceil(config.rsync.ioTimeoutMs / 1000)}`,
    ...config.rsync.extraArgs.filter((arg) => arg.startsWith('--rsync-path=')),
    '--rsh',
    rsyncShell(ssh),
  ];
}

/**
 * A process's first run: `file` (a local empty file named RUNNING_MARKER) is put into the top's
 * partial-dir unless the marker is there already; its --stats count one file transferred when it
 * was not. Sent into the directory under its own name: rsync 3.2.3's --mkpath fails to give a
 * file a new name in a directory that exists.
 */
export function planMarkRunning(file: string, context: PlanContext): Plan {
  const { config, ssh } = context;
  const target = remoteSpec(ssh, under(config.remote.dir, PARTIAL_DIR));
  const args = [...markerArgs(context), '--mkpath', '--ignore-existing', '--stats', file, target];
  return { file: 'rsync', args, stdin: undefined };
}

/**
 * A clean stop's last run: removes the partial-dir of the mirror's top, the marker with it, and
 * nothing else (`empty`, a local empty directory, is sent with --delete, every other name
 * protected). What else it holds no run would resume: after a clean stop, no partial file waits.
 */
export function planClearRunning(empty: string, context: PlanContext): Plan {
  const { config, ssh } = context;
  const args = [
    ...markerArgs(context),
    '--dirs',
    '--delete',
    // The mirror's top keeps its own mode and times: the empty directory's are not sent.
    '--no-perms',
    '--omit-dir-times',
    `--filter=R /${PARTIAL_DIR}/***`,
    '--filter=P *',
    `${empty.replace(/\/+$/, '')}/`,
    remoteSpec(ssh, config.remote.dir),
  ];
  return { file: 'rsync', args, stdin: undefined };
}
