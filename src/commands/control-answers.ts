import { parseDuration } from '../config/duration.ts';
import { MAX_SYNC_TIMEOUT_MS } from '../control/routes.ts';
import { ExitCode } from '../errors.ts';
import type { Output } from './command.ts';

// What `sync`, `pause` and `resume` share: a duration flag, and what to say when the daemon did
// not do what was asked.

/**
 * A duration flag (`--timeout 2m`, `--for 30m`) in milliseconds, or undefined after saying what
 * was expected. A unit is required: a bare `120` would be milliseconds, which no one means here.
 */
export function durationFlag(
  name: string,
  given: string,
  examples: string,
  { err }: Output,
): number | undefined {
  const ms = /[a-z]\s*$/.test(given) ? parseDuration(given) : undefined;
  if (ms !== undefined && ms > 0 && ms <= MAX_SYNC_TIMEOUT_MS) return ms;
  err(
    `filesync: --${name}: expected a duration such as ${examples} (at most 24h), got ${JSON.stringify(given)}`,
  );
  return undefined;
}

/** Says on stderr why the daemon did not do it; the exit code: 2 none answered, 1 it refused. */
export function unanswered(
  answer: { problem: string; answered: boolean },
  socket: string,
  { err }: Output,
): ExitCode {
  if (answer.answered) {
    err(`filesync: the daemon at ${socket} refused the request: ${answer.problem}`);
    return ExitCode.failure;
  }
  err(
    `no filesync daemon answered at ${socket} (${answer.problem}): is \`filesync watch\` running here, as this user, with the same TMPDIR?`,
  );
  return ExitCode.notCompared;
}
