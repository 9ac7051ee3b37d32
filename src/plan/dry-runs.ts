import { ITEMIZE_FORMAT } from '../rsync/itemize.ts';
import type { Plan } from '../rsync/runner.ts';
import { remoteSpec } from '../rsync/ssh.ts';
import { commonArgs, type PlanContext, PROGRESS_ARG, planJob, rsyncPlan } from './plan.ts';

// Runs that change nothing on the target, or only a probe's own name: `filesync verify`, the
// empty-source guard's count, and `filesync check`'s probes. Pure, as the planner is.

/**
 * `filesync verify`: the full pass's command — the same flags, filters and deletions — as a dry
 * run that itemizes every difference and keeps every path. Plain rsync protocol, so it works
 * through an rrsync-restricted key; --mkpath in a dry run reports a missing directory's tree as
 * missing rather than failing.
 */
export function planVerify(context: PlanContext): Plan {
  const full = planJob({ kind: 'full', reason: 'start' }, context);
  const [source, target] = full.args.slice(-2);
  // Every difference is reported, however many deletions SYNC_MAX_DELETE lets a real run make.
  // Nor does it report progress: nothing listens to a dry run's.
  // A dry run moves nothing into the trash, and names no run directory of it (rrsync 3.5 would
  // create one).
  const options = full.args
    .slice(0, -2)
    .filter(
      (arg) =>
        !arg.startsWith('--max-delete=') &&
        arg !== PROGRESS_ARG &&
        arg !== '--backup' &&
        !arg.startsWith('--backup-dir='),
    );
  const args = [...options, '--dry-run', source ?? '', target ?? ''];
  return { ...full, args, itemize: { keep: Number.POSITIVE_INFINITY }, progress: false };
}

/**
 * The empty-source guard's look at the target: the full pass as a dry run that counts what it
 * would delete and keeps no names (the count is all the guard needs).
 */
export function planDeletionCount(context: PlanContext): Plan {
  return { ...planVerify(context), itemize: { keep: 0 } };
}

/**
 * rsync itemizes an entry whose type changed (a file where the source has a directory, say) as
 * new, like a missing one. This dry run tells the two apart: with --existing it skips exactly
 * the listed paths that do not exist on the target, so those it still itemizes are there with
 * another type. --force lets the dry run replace a non-empty directory in its simulation.
 */
export function planTypeCheck(paths: readonly string[], context: PlanContext): Plan {
  const args = ['--dry-run', '--existing', '--force', '--dirs', '--files-from=-', '--from0'];
  return {
    ...rsyncPlan(context, [...args, `--out-format=${ITEMIZE_FORMAT}`], paths),
    itemize: { keep: Number.POSITIVE_INFINITY },
  };
}

/**
 * `filesync check`'s look at rsync behind rrsync: an empty directory sent to the remote one as
 * a dry run with --mkpath (in the common options), which only rsync ≥ 3.2.3 accepts.
 */
export function planMkpathProbe(empty: string, context: PlanContext): Plan {
  const target = remoteSpec(context.ssh, context.config.remote.dir);
  const args = ['--dry-run', '--dirs', `${empty.replace(/\/+$/, '')}/`, target];
  return { file: 'rsync', args: [...commonArgs(context), ...args], stdin: undefined };
}

/**
 * `filesync check`'s probe: writes `name` at the top of the target, or removes it. The filter
 * scopes the run to that one name, so nothing else on the target is ever touched.
 */
export function planProbe(name: string, action: 'write' | 'remove', context: PlanContext): Plan {
  const scope = ['--dirs', '--files-from=-', '--from0', `--filter=+ /${name}`, '--filter=- *'];
  return action === 'write'
    ? rsyncPlan(context, scope, [name])
    : rsyncPlan(context, [...scope, '--delete'], ['./']);
}
