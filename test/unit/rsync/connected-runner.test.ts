import { describe, expect, it } from 'vitest';
import { connectedRunner } from '../../../src/rsync/connected-runner.ts';
import { failure, type Outcome } from '../../../src/rsync/outcome.ts';
import type { Plan, PlanRunner } from '../../../src/rsync/runner.ts';

const plan: Plan = { file: 'rsync', args: ['--stats'], stdin: undefined };
const done: Outcome = {
  ok: true,
  stats: { files: 1, filesTransferred: 0, filesDeleted: 0, bytesTransferred: 0 },
  vanished: false,
  itemized: undefined,
};

/** A master whose connection comes up when `connect()` is called, and what was spawned. */
function fakes() {
  let connect = () => {};
  const up = new Promise<void>((resolve) => {
    connect = resolve;
  });
  const asked: string[] = [];
  const spawned: Plan[] = [];
  const master = {
    beforeTransfer: () => {
      asked.push('beforeTransfer');
      return up;
    },
  };
  const runner: PlanRunner = {
    // As processRunner: a cancelled signal spawns nothing.
    async run(plan, signal) {
      if (signal.aborted) return failure('cancelled', 'the transfer was cancelled');
      spawned.push(plan);
      return done;
    },
  };
  return { master, runner, connect: () => connect(), asked, spawned };
}

/** Lets every pending callback run, so that whatever could happen has happened. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('a run over the shared connection', () => {
  it('is spawned once the connection is up, not before', async () => {
    const f = fakes();
    const run = connectedRunner(f.master, f.runner, new AbortController().signal).run(
      plan,
      new AbortController().signal,
    );
    await settle();
    expect(f.spawned).toEqual([]);
    f.connect();
    expect(await run).toBe(done);
    expect(f.spawned).toEqual([plan]);
  });

  it('stops waiting when it is cancelled, and spawns nothing', async () => {
    const f = fakes();
    const cancel = new AbortController();
    const run = connectedRunner(f.master, f.runner, new AbortController().signal).run(plan, cancel.signal);
    await settle();
    cancel.abort();
    expect(await run).toMatchObject({ ok: false, reason: 'cancelled' });
    expect(f.spawned).toEqual([]);
  });

  it('once the target stops, neither waits for the connection nor brings it back', async () => {
    const f = fakes();
    const stopping = new AbortController();
    stopping.abort();
    expect(
      await connectedRunner(f.master, f.runner, stopping.signal).run(plan, new AbortController().signal),
    ).toBe(done);
    expect(f.asked).toEqual([]);
    expect(f.spawned).toEqual([plan]);
  });
});
