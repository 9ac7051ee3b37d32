/** Process exit codes, after sysexits(3) where one fits, so supervisors can tell them apart. */
export const ExitCode = {
  ok: 0,
  /** A sync or check failed; a restart may help. */
  failure: 1,
  /** verify: the target differs from the source (as diff's 1). */
  drifted: 1,
  /** verify: the comparison could not be made (as diff's 2). */
  notCompared: 2,
  /** Unknown command or flag. */
  usage: 64,
  /** Bad configuration: restarting will not help until a person fixes it (EX_CONFIG). */
  config: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** The one error class filesync throws: a machine-readable `code` and a `hint` for the user. */
export class FilesyncError extends Error {
  override readonly name = 'FilesyncError';
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }
}

/** Turns anything thrown into a message fit for a log line. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** An expected failure as an Error for the log's `err` field: code, message and hint, no stack. */
export function loggableFailure(code: string, message: string, hint?: string): FilesyncError {
  const error = new FilesyncError(code, message, hint === undefined ? {} : { hint });
  error.stack = `${error.name} [${code}]: ${message}`;
  return error;
}
