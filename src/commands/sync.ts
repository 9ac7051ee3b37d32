import { askSync } from '../control/client.ts';
import type { SyncReport } from '../control/protocol.ts';
import { controlSocketPath } from '../control/socket.ts';
import { ExitCode } from '../errors.ts';
import type { Flags, Output } from './command.ts';
import { durationFlag, unanswered } from './control-answers.ts';

// `filesync sync`: everything written to the source before the call is on every target when it
// returns 0. It asks the daemon of this user over its control socket (control/socket.ts).

/** How long `sync` waits when no --timeout is given. */
export const DEFAULT_SYNC_TIMEOUT = '60s';

export async function syncCommand(flags: Flags, { out, err }: Output): Promise<ExitCode> {
  const given = typeof flags.timeout === 'string' ? flags.timeout : DEFAULT_SYNC_TIMEOUT;
  const timeoutMs = durationFlag('timeout', given, '30s, 5m or 1h', { out, err });
  if (timeoutMs === undefined) return ExitCode.usage;
  const wait = flags['no-wait'] !== true;
  const socket = controlSocketPath();
  const answer = await askSync(socket, { wait, timeoutMs });
  if (!answer.ok) return unanswered(answer, socket, { out, err });
  for (const line of describe(answer.report)) (answer.report.ok ? out : err)(line);
  return answer.report.ok ? ExitCode.ok : ExitCode.failure;
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
