import type { Config } from '../config/config.ts';
import { PARTIAL_DIR } from '../filter.ts';
import type { Plan } from '../rsync/runner.ts';
import { remoteSpec, rsyncShell } from '../rsync/ssh.ts';
import { type PlanContext, under } from './plan.ts';

// The partial-dir on a start's full pass. With SYNC_RSYNC_PARTIAL, rsync's receiver stats
// `dir/.filesync-partial/<name>` for every file of a run before its quick check, to resume an
// interrupted transfer (rsync's generator.c): +16 % on a no-op pass of 100,000 files, ~3 s of
// 1,000,000. A partial file is left only by a run that is interrupted, and the run that sends its
// file again resumes it and removes it. So a start need not look for partial files unless a
// `watch` that may have left some ended without a clean stop (every change sent, no path
// failing). That fact lives on the target, beside the partial files it speaks for: a marker in
// the partial-dir of the mirror's top, put there by a start's first run and removed with that
// partial-dir by a clean stop.
//
// A start whose first run creates the marker finds no partial file waiting: the last stop was
// clean, or this is the first start (or something else, a bare `rsync --delete`, removed the
// partial-dirs along with it). Its full pass leaves out the partial-dir. A start that finds the
// marker there (a kill, a crash, a failed flush), or cannot tell, keeps it. Either way the mirror
// is the same: the choice decides only whether an interrupted transfer resumes.

/** The marker's name, in the partial-dir of the mirror's top. */
export const RUNNING_MARKER = '.filesync-running';

/** Whether this configuration resumes partial files, and so keeps the marker. */
export function resumesPartials(config: Config): boolean {
  // SYNC_DELAY_UPDATES stages every file in the partial-dir: it is never left out.
  return config.rsync.partial && !config.rsync.delayUpdates;
}

/** The context of a full pass that no partial file waits for: no partial-dir. */
export function withoutPartialDir(context: PlanContext): PlanContext {
  const { config } = context;
  return { ...context, config: { ...config, rsync: { ...config.rsync, partial: false } } };
}

/** What a marker's run needs: the connection, and the user's own rsync options (--rsync-path). */
function markerArgs({ config, ssh }: PlanContext): string[] {
  return [
    `--timeout=${Math.ceil(config.rsync.ioTimeoutMs / 1000)}`,
    ...config.rsync.extraArgs,
    '--rsh',
    rsyncShell(ssh),
  ];
}

/**
 * A start's first run: `file` (a local empty file named RUNNING_MARKER) is put in place unless
 * the marker is there already. Its --stats count one file transferred when it was not.
 */
export function planMarkRunning(file: string, context: PlanContext): Plan {
  const { config, ssh } = context;
  const target = remoteSpec(ssh, under(config.remote.dir, `${PARTIAL_DIR}/${RUNNING_MARKER}`));
  const args = [
    ...markerArgs(context),
    '--mkpath',
    '--ignore-existing',
    '--stats',
    file,
    target.replace(/\/$/, ''),
  ];
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
