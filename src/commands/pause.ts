import { askPause, askResume } from '../control/client.ts';
import type { PauseReport } from '../control/protocol.ts';
import { controlSocketPath } from '../control/socket.ts';
import { ExitCode } from '../errors.ts';
import type { Flags, Output } from './command.ts';
import { durationFlag, unanswered } from './control-answers.ts';

// `filesync pause [--for 30m]` and `filesync resume`: a backup that wants the target quiet. The
// daemon keeps watching and collecting changes; it starts no transfer until resumed (a run in
// flight finishes). A restart resumes.

export async function pauseCommand(flags: Flags, output: Output): Promise<ExitCode> {
  let forMs: number | undefined;
  if (typeof flags.for === 'string') {
    forMs = durationFlag('for', flags.for, '30m or 2h', output);
    if (forMs === undefined) return ExitCode.usage;
  }
  const socket = controlSocketPath();
  const answer = await askPause(socket, { forMs });
  if (!answer.ok) return unanswered(answer, socket, output);
  report(answer.report, output);
  return ExitCode.ok;
}

export async function resumeCommand(_flags: Flags, output: Output): Promise<ExitCode> {
  const socket = controlSocketPath();
  const answer = await askResume(socket);
  if (!answer.ok) return unanswered(answer, socket, output);
  report(answer.report, output);
  return ExitCode.ok;
}

function report({ targets }: PauseReport, { out }: Output): void {
  for (const { target, paused } of targets) {
    if (paused === undefined) out(`syncing      ${target}`);
    else
      out(
        `paused       ${target} since ${paused.since}${paused.until === undefined ? '' : `, until ${paused.until}`}`,
      );
  }
}
