import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Vitest's global setup: every temporary file of a run (tests, the daemons they start, the
// trees they mirror) goes under one directory, removed when the run ends, so a run leaves
// nothing behind in the machine's TMPDIR however its tests end. Workers, and the processes
// they start, inherit TMPDIR.
export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-tests-'));
  await chmod(dir, 0o1777); // as /tmp is: daemons run as uid 1000 make their own directories here
  process.env.TMPDIR = dir;
  return async () => {
    // Run as neither root nor uid 1000, what the daemons made under the sticky directory may
    // not be ours to remove: say where it is rather than fail a run that passed.
    await rm(dir, { recursive: true, force: true, maxRetries: 3 }).catch((error: unknown) => {
      process.stderr.write(`could not remove ${dir}: ${String(error)}\n`);
    });
  };
}
