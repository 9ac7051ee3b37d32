import { parseDuration } from '../config/duration.ts';
import { askSync } from '../control/client.ts';
import type { SyncReport } from '../control/protocol.ts';
import { MAX_SYNC_TIMEOUT_MS } from '../control/server.ts';
import { controlSocketPath } from '../control/socket.ts';
import { ExitCode } from '../errors.ts';
import type { Flags, Output } from './command.ts';

// `filesync sync`: everything written to the source before the call is on every target when it
// returns 0. It asks the daemon of this user over its control socket (control/socket.ts).

/** How long `sync` waits when no --timeout is given. */
export const DEFAULT_SYNC_TIMEOUT = '60s';

export async function syncCommand(flags: Flags, { out, err }: Output): Promise<ExitCode> {
  const given = typeof flags.timeout === 'string' ? flags.timeout : DEFAULT_SYNC_TIMEOUT;
  // A unit is required: a bare `120` would be milliseconds, which no one means here.
  const timeoutMs = /[a-z]\s*$/.test(given) ? parseDuration(given) : undefined;
  if (timeoutMs === undefined || timeoutMs <= 0 || timeoutMs > MAX_SYNC_TIMEOUT_MS) {
    err(
      `filesync: --timeout: expected a duration such as 30s, 5m or 1h (at most 24h), got ${JSON.stringify(given)}`,
    );
    return ExitCode.usage;
  }
  const wait = flags['no-wait'] !== true;
  const socket = controlSocketPath();
  const answer = await askSync(socket, { wait, timeoutMs });
  if (!answer.ok) return unanswered(answer, socket, { out, err });
  for (const line of describe(answer.report)) (answer.report.ok ? out : err)(line);
  return answer.report.ok ? ExitCode.ok : ExitCode.failure;
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

/** One line a target, and what to do where one is not synced. */
function describe(report: SyncReport): string[] {
  if (!report.waited) return ['asked every target to sync now; not waiting (--no-wait)'];
  return report.targets.flatMap(({ target, ok, failure, pending, failingPaths }) => {
    if (ok) return [`synced       ${target}`];
    const lines = [`NOT SYNCED   ${target}`];
    if (failure !== undefined)
      lines.push(`  ${failure.reason}: ${failure.message}`, `  hint: ${failure.hint}`);
    else if (pending > 0) lines.push(`  ${pending} paths pending`);
    if (failingPaths.length > 0) {
      lines.push(
        `  ${failingPaths.length} path${failingPaths.length === 1 ? '' : 's'} failing on their own:`,
      );
      for (const { path, reason } of failingPaths.slice(0, 20)) lines.push(`    ${path}: ${reason}`);
    }
    return lines;
  });
}
