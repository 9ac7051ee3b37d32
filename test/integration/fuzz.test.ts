import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { expect, it } from 'vitest';
import { apply, type Burst, history, scratch } from './support/fuzz.ts';
import { scenario, stopCleanly, useTarget, waitForMirror, watching } from './support/scenario.ts';
import type { Target } from './support/target.ts';

// The randomized convergence test: seeded histories of creates, appends, same-second
// rewrites, truncations, deletions, renames over existing names, chmod, touch -d, symlinks
// (dangling too), type swaps and trees moved in and out, applied in bursts with pauses
// shorter and longer than the debounce while the daemon runs. At checkpoints, and at the
// end, the target must equal the source entry by entry — through the live path alone. Then
// one periodic full pass, forced with SIGUSR2, must find nothing to repair: no drift.
//
//   FILESYNC_FUZZ_SEED=17 npm run test:integration -- fuzz   replays one seed
//   npm run fuzz                                              many more seeds (FILESYNC_FUZZ_SEEDS)

const DEBOUNCE_MS = 150;
const PAUSES_MS = [0, 20, 60, DEBOUNCE_MS + 100, 400];
const OPERATIONS = Number(process.env.FILESYNC_FUZZ_OPERATIONS ?? 200);
const CHECK_EVERY = 6; // bursts

const seeds = process.env.FILESYNC_FUZZ_SEED
  ? [Number(process.env.FILESYNC_FUZZ_SEED)]
  : Array.from(
      { length: Number(process.env.FILESYNC_FUZZ_SEEDS ?? 10) },
      (_, i) => Number(process.env.FILESYNC_FUZZ_BASE ?? 1) + i,
    );

let target: Target;
useTarget((started) => {
  target = started;
});

it.each(seeds)('seed %i converges', async (seed) => {
  const s = await scenario(target, {
    SYNC_DEBOUNCE: `${DEBOUNCE_MS}ms`,
    SYNC_MAX_DELAY: '1s',
    SYNC_RESYNC_INTERVAL: '0',
    // Histories over five names empty the source now and then; the guard that would then hold
    // deletions back (and make the mirror differ on purpose) has tests of its own in safety.test.ts.
    SYNC_ALLOW_EMPTY_SOURCE: 'true',
  });
  const outside = await scratch();
  const bursts = history(seed, OPERATIONS, PAUSES_MS);
  const log: string[] = [];
  const daemon = await watching(s.env);
  try {
    for (const [index, burst] of bursts.entries()) {
      await play(burst, s.source, outside, log);
      if ((index + 1) % CHECK_EVERY === 0 || index === bursts.length - 1) {
        log.push(`-- checkpoint after burst ${index + 1}`);
        await waitForMirror(target, s.source, s.remoteDir);
      }
    }
    const metrics = (await s.health('/metrics')).body;
    expect(metrics).toMatch(/^filesync_watch_errors_total 0$/m);
    expect(metrics).not.toMatch(/^filesync_syncs_total\{target="[^"]+",kind="full",outcome="ok"\} [2-9]/m);
    log.push('-- a forced periodic pass');
    daemon.signal('SIGUSR2');
    const pass = await daemon.waitForLog(
      'the forced periodic pass',
      (line) => line.msg === 'synced' && line.reason === 'resync',
    );
    expect(pass.changed).toBe(0);
    expect((await s.health('/metrics')).body).toMatch(/^filesync_drift_repaired_total\{target="[^"]+"\} 0$/m);
  } catch (error) {
    const warnings = daemon.logs.filter((line) => line.level !== 'info' && line.level !== 'debug');
    throw new Error(
      `seed ${seed} diverged; replay it with FILESYNC_FUZZ_SEED=${seed} npm run test:integration -- fuzz\n` +
        `operations (refused ones marked):\n${log.join('\n')}\n` +
        `the daemon's warnings:\n${warnings.map((line) => JSON.stringify(line)).join('\n')}\n${String(error)}`,
    );
  }
  await stopCleanly(daemon);
});

// The same histories across restarts with SYNC_STATE_DIR: every CHECK_EVERY bursts the daemon
// stops cleanly (its manifest written), one burst is played while it is down, and it starts
// again. The fast start must send all of it: the full comparison that follows readiness finds
// nothing to change, and the mirror equals the source.
const restartSeeds = seeds.slice(0, Math.max(1, Math.ceil(seeds.length / 3)));

it.each(restartSeeds)('seed %i converges across restarts with a state directory', async (seed) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'filesync-fuzz-state-'));
  const s = await scenario(target, {
    SYNC_DEBOUNCE: `${DEBOUNCE_MS}ms`,
    SYNC_MAX_DELAY: '1s',
    SYNC_RESYNC_INTERVAL: '0',
    SYNC_ALLOW_EMPTY_SOURCE: 'true',
    SYNC_STATE_DIR: stateDir,
  });
  const outside = await scratch();
  const bursts = history(seed, OPERATIONS, PAUSES_MS);
  const log: string[] = [];
  let daemon = await watching(s.env);
  try {
    for (const [index, burst] of bursts.entries()) {
      const restart = (index + 1) % CHECK_EVERY === 0;
      if (restart) {
        await stopCleanly(daemon);
        log.push('-- stopped; the next burst is played while filesync is down');
      }
      await play(burst, s.source, outside, log);
      if (restart) {
        daemon = await watching(s.env);
        const start = daemon.logs.find((line) => line.msg.startsWith('fast start'));
        log.push(`-- started: ${JSON.stringify(start)}`);
        expect(start).toBeDefined();
        const pass = await daemon.waitForLog(
          'the full comparison after readiness',
          (line) => line.msg === 'synced' && line.reason === 'resync',
        );
        expect(pass.changed).toBe(0);
        await waitForMirror(target, s.source, s.remoteDir);
      }
    }
    await waitForMirror(target, s.source, s.remoteDir);
    expect((await s.health('/metrics')).body).toMatch(/^filesync_drift_repaired_total\{target="[^"]+"\} 0$/m);
  } catch (error) {
    const warnings = daemon.logs.filter((line) => line.level !== 'info' && line.level !== 'debug');
    throw new Error(
      `seed ${seed} diverged across restarts; replay it with FILESYNC_FUZZ_SEED=${seed} npm run test:integration -- fuzz\n` +
        `operations (refused ones marked):\n${log.join('\n')}\n` +
        `the daemon's warnings:\n${warnings.map((line) => JSON.stringify(line)).join('\n')}\n${String(error)}`,
    );
  }
  await stopCleanly(daemon);
});

async function play(burst: Burst, source: string, outside: string, log: string[]): Promise<void> {
  for (const operation of burst.operations) {
    const result = await apply(source, outside, operation);
    log.push(`${result === 'refused' ? '  (refused) ' : '  '}${JSON.stringify(operation)}`);
  }
  log.push(`  pause ${burst.pauseMs}ms`);
  await delay(burst.pauseMs);
}
