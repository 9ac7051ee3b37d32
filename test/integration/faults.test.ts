import { mkdir, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// A fault stays where it is: one path that fails never holds back the rest, nor readiness.

let target: Target;
useTarget((started) => {
  target = started;
});

const scenario = (extra: Record<string, string> = {}) => scenarioOn(target, extra);

/** Runs a command as root in the target container (the sync user cannot undo it). */
async function asRoot(command: string[]): Promise<void> {
  const result = await target.container.exec(command, { user: 'root' });
  expect(result.exitCode, result.output).toBe(0);
}

describe('a target directory that refuses writes', () => {
  it('fails that path alone: the rest arrives, /readyz stays 200, and the path heals once fixed', async () => {
    const s = await scenario();
    await mkdir(s.file('ro'));
    await writeFile(s.file('ro/first.txt'), 'arrived before');
    const daemon = await watching(s.env);
    await asRoot(['chown', 'root:root', `${s.remoteDir}/ro`]);

    await writeFile(s.file('ro/blocked.txt'), 'blocked');
    await writeFile(s.file('ok.txt'), 'ok');
    await waitForRemote('the rest of the batch', s.remote, (e) => e.get('ok.txt') === 'f');
    const failed = await daemon.waitForLog(
      'the failing path',
      (line) => line.msg === 'path failed: ro/blocked.txt',
    );
    expect(failed.reason).toBe('Permission denied');
    expect(String(failed.hint)).toMatch(/writable by SYNC_REMOTE_USER/);
    expect((await s.health('/readyz')).status).toBe(200);
    expect((await s.health('/metrics')).body).toMatch(/^filesync_failing_paths [1-9]$/m);
    expect(daemon.logs.some((line) => line.msg.startsWith('sync failed'))).toBe(false);

    // New changes elsewhere go out at once, not behind a backoff.
    await writeFile(s.file('later.txt'), 'later');
    await waitForRemote('a later change', s.remote, (e) => e.get('later.txt') === 'f');

    // Fixed on the target: the path's own retry (10 s after it failed) brings it over.
    await asRoot(['chown', 'filesync:filesync', `${s.remoteDir}/ro`]);
    await waitFor(
      'the healed path',
      async () => (await target.read(`${s.remoteDir}/ro/blocked.txt`).catch(() => '')) === 'blocked',
      { timeoutMs: 40_000, intervalMs: 250 },
    );
    await daemon.waitForLog('the recovery', (line) => line.msg === 'path recovered: ro/blocked.txt');
    expect(daemon.logs.filter((line) => line.msg === 'path failed: ro/blocked.txt')).toHaveLength(1);
    await waitFor(
      'no failing path',
      async () => /^filesync_failing_paths 0$/m.test((await s.health('/metrics')).body),
      { timeoutMs: 10_000 },
    );
    await stopCleanly(daemon);
  });
});
