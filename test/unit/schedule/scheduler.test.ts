import { describe, expect, it } from 'vitest';
import type { Job } from '../../../src/plan/job.ts';
import type { Outcome } from '../../../src/rsync/outcome.ts';
import type { SchedulerEvent } from '../../../src/schedule/events.ts';
import { Scheduler } from '../../../src/schedule/scheduler.ts';
import { FakeClock, settle } from '../fake-clock.ts';

const ok: Outcome = {
  ok: true,
  stats: { files: 0, filesTransferred: 0, filesDeleted: 0, bytesTransferred: 0 },
  vanished: false,
  itemized: undefined,
};
const cancelled: Outcome = {
  ok: false,
  reason: 'cancelled',
  exitCode: undefined,
  message: 'cancelled',
  hint: '',
};
const down: Outcome = {
  ok: false,
  reason: 'unreachable',
  exitCode: 255,
  message: 'Connection refused',
  hint: '',
};

/** A runner whose runs finish when the test says so. */
function controlledRunner() {
  const runs: { job: Job; signal: AbortSignal; finish: (outcome: Outcome) => void }[] = [];
  const run = (job: Job, signal: AbortSignal) =>
    new Promise<Outcome>((resolve) => {
      runs.push({ job, signal, finish: resolve });
      signal.addEventListener('abort', () => resolve(cancelled));
    });
  return { runs, run };
}

function setup(options: { debounceMs?: number; maxDelayMs?: number; maxPendingPaths?: number } = {}) {
  const clock = new FakeClock();
  const runner = controlledRunner();
  const events: SchedulerEvent[] = [];
  const scheduler = new Scheduler(runner.run, {
    debounceMs: options.debounceMs ?? 1000,
    maxDelayMs: options.maxDelayMs ?? 10_000,
    ...(options.maxPendingPaths === undefined ? {} : { maxPendingPaths: options.maxPendingPaths }),
    clock,
    onEvent: (event) => events.push(event),
  });
  return { clock, scheduler, runs: runner.runs, events };
}

const paths = (job: Job | undefined) => (job?.kind === 'batch' ? [...job.paths].sort() : job?.kind);

describe('Scheduler', () => {
  it("sends a fast start's difference at once and alone, changes seen meanwhile after it", async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['live']);
    scheduler.requestStart([{ path: 'a', kind: 'file' }]);
    await clock.advance(0);
    expect(runs[0]?.job).toEqual({ kind: 'start', paths: [{ path: 'a', kind: 'file' }] });
    scheduler.add(['later']);
    runs[0]?.finish(down);
    await clock.advance(1000); // the backoff: the start is tried again, still alone
    expect(runs[1]?.job.kind).toBe('start');
    runs[1]?.finish(ok);
    await clock.advance(1000);
    expect(paths(runs[2]?.job)).toEqual(['later', 'live']);
  });

  it('sends a fast start asked for while a batch runs once that batch is done', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    await clock.advance(1000);
    scheduler.requestStart([{ path: 'b', kind: 'file' }]);
    runs[0]?.finish(ok);
    await clock.advance(0);
    expect(runs[1]?.job.kind).toBe('start');
  });

  it('does not hold a stop for a periodic pass that carries no change', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    await clock.advance(1000);
    scheduler.requestFull('resync');
    runs[0]?.finish(ok);
    const flushed = scheduler.flush(1000);
    await clock.advance(0);
    expect(await flushed).toBe(true);
    expect(runs).toHaveLength(1);
  });

  it('lets a full pass subsume a fast start not yet sent', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    await clock.advance(1000);
    scheduler.requestStart([{ path: 'b', kind: 'file' }]);
    scheduler.requestFull('rescan');
    runs[0]?.finish(ok);
    await clock.advance(0);
    expect(runs[1]?.job).toEqual({ kind: 'full', reason: 'rescan' });
    runs[1]?.finish(ok);
    await clock.advance(5000);
    expect(runs).toHaveLength(2);
  });

  it('sends a batch after the debounce period of quiet', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    await clock.advance(999);
    expect(runs).toHaveLength(0);
    await clock.advance(1);
    expect(runs).toHaveLength(1);
    expect(paths(runs[0]?.job)).toEqual(['a']);
  });

  it('restarts the debounce on every change, but never waits past the max delay', async () => {
    const { clock, scheduler, runs } = setup({ debounceMs: 1000, maxDelayMs: 3000 });
    for (let i = 0; i < 10; i++) {
      scheduler.add([`f${i}`]);
      await clock.advance(500);
    }
    // The first change was at 0 ms: the batch left at 3000 ms with what had arrived by then.
    expect(runs).toHaveLength(1);
    expect(paths(runs[0]?.job)).toEqual(['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6']);
  });

  it('keeps one run in flight and collapses changes made meanwhile into one follow-up', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    await clock.advance(1000);
    scheduler.add(['b']);
    scheduler.add(['c']);
    scheduler.add(['b']);
    await clock.advance(5000);
    expect(runs).toHaveLength(1);
    runs[0]?.finish(ok);
    await clock.advance(1000);
    expect(runs).toHaveLength(2);
    expect(paths(runs[1]?.job)).toEqual(['b', 'c']);
  });

  it('merges a failed batch back and retries with growing backoff, losing nothing', async () => {
    const { clock, scheduler, runs, events } = setup();
    scheduler.add(['a']);
    await clock.advance(1000);
    runs[0]?.finish(down);
    await settle();
    scheduler.add(['b']);
    await clock.advance(999);
    expect(runs).toHaveLength(1);
    await clock.advance(1);
    expect(paths(runs[1]?.job)).toEqual(['a', 'b']);
    runs[1]?.finish(down);
    await clock.advance(1999);
    expect(runs).toHaveLength(2);
    await clock.advance(1);
    expect(runs).toHaveLength(3);
    expect(scheduler.failures).toBe(2);
    runs[2]?.finish(ok);
    await settle();
    expect(scheduler.failures).toBe(0);
    expect(scheduler.state).toBe('idle');
    const retries = events.flatMap((e) => (e.type === 'finished' ? [e.retryInMs] : []));
    expect(retries).toEqual([1000, 2000, undefined]);
  });

  it('runs a full pass at once when asked, and it subsumes pending paths', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    scheduler.requestFull('rescan');
    await clock.advance(0);
    expect(runs.map((r) => r.job.kind)).toEqual(['full']);
    runs[0]?.finish(ok);
    await clock.advance(10_000);
    expect(runs).toHaveLength(1);
  });

  it('turns too many pending paths into a full pass', async () => {
    const { clock, scheduler, runs } = setup({ maxPendingPaths: 3 });
    scheduler.add(['a', 'b', 'c', 'd']);
    await clock.advance(1000);
    expect(runs[0]?.job.kind).toBe('full');
  });

  it('flush sends what is pending at once and reports success', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    const flushed = scheduler.flush(5000);
    await settle();
    expect(runs).toHaveLength(1);
    runs[0]?.finish(ok);
    await clock.advance(0);
    expect(await flushed).toBe(true);
    expect(scheduler.state).toBe('stopped');
  });

  it('flush retries failures until its deadline, then cancels the run and reports failure', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    const flushed = scheduler.flush(3000);
    await settle();
    runs[0]?.finish(down);
    await clock.advance(1000);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    await clock.advance(2000);
    expect(await flushed).toBe(false);
    expect(runs.at(-1)?.signal.aborted).toBe(true);
  });

  it('ignores changes once stopped', async () => {
    const { clock, scheduler, runs } = setup();
    await scheduler.stop();
    scheduler.add(['a']);
    await clock.advance(5000);
    expect(runs).toHaveLength(0);
  });

  it('keeps the reason that explains most when full-pass requests merge', async () => {
    const { clock, scheduler, runs } = setup({ maxPendingPaths: 1 });
    scheduler.requestFull('resync');
    scheduler.requestFull('rescan');
    scheduler.requestFull('resync');
    await clock.advance(0);
    expect(runs[0]?.job).toEqual({ kind: 'full', reason: 'rescan' });
    scheduler.add(['a', 'b']);
    runs[0]?.finish(ok);
    await clock.advance(1000);
    expect(runs[1]?.job).toEqual({ kind: 'full', reason: 'overflow' });
  });

  it('calls a pass quiet only when no change was reported from its start to its end', async () => {
    const { clock, scheduler, runs, events } = setup();
    const quiet = () => events.flatMap((e) => (e.type === 'finished' ? [e.quiet] : []));
    scheduler.requestFull('resync');
    await clock.advance(0);
    runs[0]?.finish(ok);
    await settle();
    // A change pending when the pass is asked for is subsumed by it: not quiet.
    scheduler.add(['a']);
    scheduler.requestFull('resync');
    await clock.advance(0);
    runs[1]?.finish(ok);
    await settle();
    // A change reported while the pass runs may have been sent by it: not quiet either.
    scheduler.requestFull('resync');
    await clock.advance(0);
    scheduler.add(['b']);
    runs[2]?.finish(ok);
    await clock.advance(1000);
    runs[3]?.finish(ok);
    await settle();
    scheduler.requestFull('resync');
    await clock.advance(0);
    runs[4]?.finish(ok);
    await settle();
    expect(runs.map((run) => run.job.kind)).toEqual(['full', 'full', 'full', 'batch', 'full']);
    expect(quiet()).toEqual([true, false, false, false, true]);
  });
});

describe('Scheduler, the lag', () => {
  it('dates the oldest change not yet on the target, through the run, a failure and its retry', async () => {
    const { clock, scheduler, runs } = setup({ debounceMs: 100 });
    expect(scheduler.oldestChangeAt).toBeUndefined();
    await clock.advance(1000);
    scheduler.add(['a']);
    await clock.advance(50);
    scheduler.add(['b']); // a later change does not make the lag younger
    expect(scheduler.oldestChangeAt).toBe(1000);
    await clock.advance(100);
    expect(runs).toHaveLength(1);
    expect(scheduler.oldestChangeAt).toBe(1000); // in flight: not on the target yet
    scheduler.add(['c']);
    expect(scheduler.oldestChangeAt).toBe(1000);
    runs[0]?.finish(down);
    await settle();
    expect(scheduler.oldestChangeAt).toBe(1000); // failed: still the oldest
    await clock.advance(1000 + 100); // the backoff
    expect(runs).toHaveLength(2);
    runs[1]?.finish(ok);
    await settle();
    expect(scheduler.oldestChangeAt).toBeUndefined();
  });

  it("counts start-up and rescans as changes, not a periodic pass or a path's own retry", async () => {
    const { clock, scheduler, runs } = setup({ debounceMs: 100 });
    scheduler.requestFull('resync');
    expect(scheduler.oldestChangeAt).toBeUndefined();
    await clock.advance(0);
    runs[0]?.finish(ok);
    await settle();
    await clock.advance(500);
    scheduler.requestFull('start');
    expect(scheduler.oldestChangeAt).toBe(500);
    await clock.advance(0);
    runs[1]?.finish({
      ...ok,
      failedPaths: [{ path: 'bad', reason: 'Permission denied', message: 'denied' }],
    });
    await settle();
    expect(scheduler.oldestChangeAt).toBeUndefined(); // a failing path is reported apart
    await clock.advance(10_000 + 100); // its retry runs: no change, no lag
    expect(paths(runs[2]?.job)).toEqual(['bad']);
    expect(scheduler.oldestChangeAt).toBeUndefined();
  });
});

describe('Scheduler, paths that fail on their own', () => {
  const denied = (path: string, reason = 'Permission denied'): Outcome => ({
    ...ok,
    failedPaths: [
      { path, reason, message: `rsync: [sender] send_files failed to open "/data/${path}": ${reason} (13)` },
    ],
  });

  it('retries a failing path on its own schedule while new changes go out at once', async () => {
    const { clock, scheduler, runs, events } = setup({ debounceMs: 100 });
    scheduler.add(['bad', 'good']);
    await clock.advance(100);
    runs[0]?.finish(denied('bad'));
    await settle();
    expect(scheduler.failures).toBe(0); // the run went through: readiness is not touched
    expect(scheduler.failingPaths.map((f) => f.path)).toEqual(['bad']);
    expect(events.filter((e) => e.type === 'path-failed')).toHaveLength(1);

    scheduler.add(['later']); // a new change is not held behind the failing path
    await clock.advance(100);
    expect(paths(runs[1]?.job)).toEqual(['later']);
    runs[1]?.finish(ok);

    await clock.advance(10_000 - 200 - 1);
    expect(runs).toHaveLength(2);
    await clock.advance(1 + 100 + 100); // the retry is due 10 s after the failure, then the debounce
    expect(paths(runs[2]?.job)).toEqual(['bad']);
    runs[2]?.finish(denied('bad'));
    await settle();
    const failed = events.filter((e) => e.type === 'path-failed');
    expect(failed.map((e) => e.type === 'path-failed' && [e.failure.changed, e.failure.retryInMs])).toEqual([
      [true, 10_000],
      [false, 20_000], // the same reason again: not news, and twice as long to wait
    ]);

    await clock.advance(20_000 + 100);
    expect(paths(runs[3]?.job)).toEqual(['bad']);
    runs[3]?.finish(ok);
    await settle();
    expect(events).toContainEqual({ type: 'path-recovered', path: 'bad', failing: 0 });
    expect(scheduler.failingPaths).toEqual([]);
    await clock.advance(600_000);
    expect(runs).toHaveLength(4); // healed: no more retries
  });

  it('counts no pass as quiet while a path is failing: what it repairs may be that path', async () => {
    const { clock, scheduler, runs, events } = setup({ debounceMs: 100 });
    scheduler.add(['bad']);
    await clock.advance(100);
    runs[0]?.finish(denied('bad'));
    await settle();
    scheduler.requestFull('resync');
    await clock.advance(0);
    runs[1]?.finish(ok); // heals 'bad'
    await settle();
    scheduler.requestFull('resync');
    await clock.advance(0);
    runs[2]?.finish(ok);
    await settle();
    const quiet = events.flatMap((e) => (e.type === 'finished' && e.job.kind === 'full' ? [e.quiet] : []));
    expect(quiet).toEqual([false, true]);
  });

  it('heals a failing path in any full pass that goes through without it failing', async () => {
    const { clock, scheduler, runs, events } = setup({ debounceMs: 100 });
    scheduler.add(['bad']);
    await clock.advance(100);
    runs[0]?.finish(denied('bad'));
    await settle();
    scheduler.requestFull('resync');
    await clock.advance(0);
    expect(runs[1]?.job.kind).toBe('full');
    runs[1]?.finish(ok);
    await settle();
    expect(events).toContainEqual({ type: 'path-recovered', path: 'bad', failing: 0 });
  });
});

describe('Scheduler.syncNow', () => {
  it('answers at once when nothing is pending or running', async () => {
    const { scheduler, runs } = setup();
    expect(await scheduler.syncNow()).toEqual({ ok: true });
    expect(runs).toHaveLength(0);
  });

  it('sends what is pending without waiting for the debounce, and answers once it is sent', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    let result: unknown;
    void scheduler.syncNow().then((r) => {
      result = r;
    });
    await clock.advance(0);
    expect(paths(runs[0]?.job)).toEqual(['a']);
    expect(result).toBeUndefined();
    runs[0]?.finish(ok);
    await clock.advance(0);
    expect(result).toEqual({ ok: true });
  });

  it('waits for a run already in flight, then sends at once what arrived meanwhile', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    await clock.advance(1000);
    expect(runs).toHaveLength(1);
    scheduler.add(['b']); // after the run started: not in it
    let result: unknown;
    void scheduler.syncNow().then((r) => {
      result = r;
    });
    runs[0]?.finish(ok);
    await clock.advance(0);
    expect(paths(runs[1]?.job)).toEqual(['b']); // no debounce
    expect(result).toBeUndefined();
    runs[1]?.finish(ok);
    await clock.advance(0);
    expect(result).toEqual({ ok: true });
  });

  it('answers with the failure of a run it waits for, and retries at once rather than after the backoff', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    const first = scheduler.syncNow();
    await clock.advance(0);
    runs[0]?.finish(down);
    expect(await first).toEqual({ ok: false, outcome: down });
    const second = scheduler.syncNow(); // in backoff: tried again now
    await clock.advance(0);
    expect(runs).toHaveLength(2);
    runs[1]?.finish(ok);
    expect(await second).toEqual({ ok: true });
  });

  it('forgets a sync given up on (its timeout): later batches keep their debounce', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    const givenUp = new AbortController();
    const result = scheduler.syncNow(givenUp.signal);
    await clock.advance(0);
    expect(runs).toHaveLength(1);
    givenUp.abort();
    expect(await result).toBeUndefined();
    scheduler.add(['b']);
    runs[0]?.finish(ok);
    await clock.advance(999);
    expect(runs).toHaveLength(1); // b waits out its debounce
    await clock.advance(1);
    expect(paths(runs[1]?.job)).toEqual(['b']);
  });

  it('sendNow() sends what is pending at once and waits for nothing (--no-wait)', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    scheduler.sendNow();
    await clock.advance(0);
    expect(paths(runs[0]?.job)).toEqual(['a']);
    scheduler.add(['b']);
    runs[0]?.finish(ok);
    await clock.advance(999);
    expect(runs).toHaveLength(1); // nothing made the next batch urgent
  });

  it('answers that filesync is stopping when it stops meanwhile', async () => {
    const { clock, scheduler } = setup();
    scheduler.add(['a']);
    const result = scheduler.syncNow();
    await clock.advance(0);
    await scheduler.stop();
    expect(await result).toMatchObject({ ok: false, outcome: { reason: 'cancelled' } });
  });
});

describe('Scheduler.pause', () => {
  it('starts nothing while paused, keeps every change, and sends them at once on resume', async () => {
    const { clock, scheduler, runs, events } = setup();
    scheduler.add(['a']);
    scheduler.pause();
    expect(scheduler.state).toBe('paused');
    scheduler.add(['b']);
    scheduler.requestFull('resync');
    await clock.advance(60_000);
    expect(runs).toHaveLength(0);
    expect(scheduler.pendingCount).toBe(0); // the full pass subsumes a and b
    scheduler.resume();
    await clock.advance(0);
    expect(runs[0]?.job).toEqual({ kind: 'full', reason: 'resync' });
    expect(events.filter((e) => e.type === 'paused' || e.type === 'resumed').map((e) => e.type)).toEqual([
      'paused',
      'resumed',
    ]);
  });

  it('lets a run in flight finish, then holds what came meanwhile', async () => {
    const { clock, scheduler, runs } = setup();
    scheduler.add(['a']);
    await clock.advance(1000);
    scheduler.pause();
    scheduler.add(['b']);
    runs[0]?.finish(ok);
    await clock.advance(10_000);
    expect(runs).toHaveLength(1);
    expect(scheduler.state).toBe('paused');
    expect(scheduler.pendingCount).toBe(1);
  });

  it('resumes by itself after `for`, and a second pause replaces the end of the first', async () => {
    const { clock, scheduler, runs, events } = setup();
    scheduler.pause(5000);
    scheduler.add(['a']);
    await clock.advance(3000);
    scheduler.pause(5000); // now until 8000
    await clock.advance(4000);
    expect(runs).toHaveLength(0);
    await clock.advance(1000);
    expect(paths(runs[0]?.job)).toEqual(['a']);
    expect(events.find((e) => e.type === 'paused')).toEqual({ type: 'paused', at: 0, until: 5000 });
  });

  it('flushes nothing while paused: stopping leaves what was collected to the next start', async () => {
    const { scheduler, runs } = setup();
    scheduler.pause();
    scheduler.add(['a']);
    expect(await scheduler.flush(1000)).toBe(false);
    expect(runs).toHaveLength(0);
  });
});
