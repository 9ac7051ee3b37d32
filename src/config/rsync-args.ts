// SYNC_RSYNC_EXTRA_ARGS: options the user may add to every rsync run, and those filesync sets
// itself or relies on, which they may not.

/** rsync options that would break how filesync drives rsync; filesync sets these itself. */
const RESERVED_RSYNC_ARGS = [
  '--files-from',
  '--from0',
  '-0',
  '--rsh',
  '-e',
  '--server',
  '--sender',
  '--daemon',
  '--delete-missing-args',
  '--ignore-missing-args',
  '--partial-dir',
  '--mkpath',
  '--timeout',
  '--remove-source-files',
  '--dry-run',
  '-n',
  '--list-only',
  '--modify-window',
  '-@',
];

/** rsync options that would defeat the trash (SYNC_BACKUP_DIR), which sets them or needs them off. */
const TRASH_RSYNC_ARGS = ['--backup', '-b', '--backup-dir', '--suffix', '--delete-excluded'];

/** What is wrong with SYNC_RSYNC_EXTRA_ARGS, given whether a trash (SYNC_BACKUP_DIR) is set. */
export function extraArgsProblems(args: readonly string[], trash: boolean): string[] {
  const problems: string[] = [];
  const reservedArgs = trash ? [...RESERVED_RSYNC_ARGS, ...TRASH_RSYNC_ARGS] : RESERVED_RSYNC_ARGS;
  const reserved = args.find((arg) =>
    reservedArgs.some((name) => arg === name || arg.startsWith(`${name}=`)),
  );
  if (reserved !== undefined) {
    problems.push(
      `SYNC_RSYNC_EXTRA_ARGS: ${reserved} is set by filesync itself and cannot be overridden; remove it.`,
    );
  }
  const notAnOption = args.find((arg) => !arg.startsWith('-'));
  if (notAnOption !== undefined) {
    problems.push(
      `SYNC_RSYNC_EXTRA_ARGS: expected rsync options starting with "-", got ${JSON.stringify(notAnOption)}`,
    );
  }
  return problems;
}
