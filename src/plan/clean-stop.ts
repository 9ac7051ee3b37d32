import type { Config } from '../config/config.ts';
import { PARTIAL_DIR } from '../filter.ts';
import type { Plan } from '../rsync/runner.ts';
import { remoteSpec, rsyncShell } from '../rsync/ssh.ts';
import { type PlanContext, under } from './plan.ts';

// The partial-dir on a start's full pass. With SYNC_RSYNC_PARTIAL, rsync's receiver stats
// `dir/.filesync-partial/<name>` for every file of a run before its quick check, to resume an
// interrupted transfer (rsync's generator.c): +16 % on a no-op pass of 100,000 files, ~3 s of
// 1,000,000. A partial file is left only by a run that was interrupted, and the run that sends
// its file again resumes it and removes it. So after a clean stop (every change sent, no path
// failing) no partial file waits to be resumed, and the next start's full pass needs no
// partial-dir. That fact lives on the target, beside the partials it speaks for: the clean stop's
// last run puts a marker into the top's partial-dir, and the next start takes it (pulls it and
// removes it) before anything is sent. A start that finds none (a first start, a kill, a failed
// flush), or cannot read it (an rrsync -wo key refuses pulls), keeps the partial-dir. Either way
// the mirror is the same: the choice decides only whether an interrupted transfer resumes.

/** The marker's name in the partial-dir of the mirror's top. */
export const CLEAN_STOP_MARKER = '.filesync-clean-stop';

/** Where the marker lives on the target. */
function markerPath(config: Config): string {
  return under(config.remote.dir, `${PARTIAL_DIR}/${CLEAN_STOP_MARKER}`);
}

/** Whether this configuration resumes partial files, and so marks clean stops. */
export function resumesPartials(config: Config): boolean {
  // SYNC_DELAY_UPDATES stages every file in the partial-dir: it is never left out.
  return config.rsync.partial && !config.rsync.delayUpdates;
}

/** The context of a full pass after a clean stop: no partial-dir. */
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

/** A clean stop's last run: `file` (a local empty file) becomes the marker. */
export function planMarkCleanStop(file: string, context: PlanContext): Plan {
  const target = remoteSpec(context.ssh, markerPath(context.config)).replace(/\/$/, '');
  return { file: 'rsync', args: [...markerArgs(context), '--mkpath', file, target], stdin: undefined };
}

/**
 * A start's first run: pulls the marker into `dir` (a local directory) and removes it from the
 * target. rsync fails (23) where there is none; it fails as well where it cannot remove it.
 */
export function planTakeCleanStop(dir: string, context: PlanContext): Plan {
  const marker = remoteSpec(context.ssh, markerPath(context.config)).replace(/\/$/, '');
  const args = [...markerArgs(context), '--remove-source-files', marker, `${dir.replace(/\/+$/, '')}/`];
  return { file: 'rsync', args, stdin: undefined };
}
