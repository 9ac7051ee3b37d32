import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLEAN_STOP_MARKER, planMarkCleanStop, planTakeCleanStop } from '../plan/clean-stop.ts';
import type { PlanContext } from '../plan/plan.ts';
import type { Outcome } from '../rsync/outcome.ts';
import type { PlanRunner } from '../rsync/runner.ts';

// The clean-stop marker's two runs (see plan/clean-stop.ts), each in a local directory of its
// own below `dir` (the runtime's private directory), removed after.

/**
 * Takes the last clean stop's marker from the target: the outcome is ok when it was there and
 * is gone now; a failure where it was not, or could not be read or removed.
 */
export async function takeCleanStop(
  context: PlanContext,
  runner: PlanRunner,
  dir: string,
  signal: AbortSignal,
): Promise<Outcome> {
  const into = await mkdtemp(join(dir, 'clean-stop-'));
  try {
    return await runner.run(planTakeCleanStop(into, context), signal);
  } finally {
    await rm(into, { recursive: true, force: true });
  }
}

/** Leaves the marker of a clean stop on the target, for the next start to take. */
export async function markCleanStop(
  context: PlanContext,
  runner: PlanRunner,
  dir: string,
  signal: AbortSignal,
): Promise<Outcome> {
  const from = await mkdtemp(join(dir, 'clean-stop-'));
  try {
    const file = join(from, CLEAN_STOP_MARKER);
    await writeFile(file, '', { mode: 0o600 });
    return await runner.run(planMarkCleanStop(file, context), signal);
  } finally {
    await rm(from, { recursive: true, force: true });
  }
}
