import { describe, expect, it } from 'vitest';
import type { Outcome } from '../../../src/rsync/outcome.ts';
import type { SchedulerEvent } from '../../../src/schedule/events.ts';
import { daemonStatus, formatStatus, isHealthy, StatusTracker } from '../../../src/status/status.ts';

const ok: Outcome = {
  ok: true,
  stats: { files: 10, filesTransferred: 3, filesDeleted: 0, bytesTransferred: 30 },
  vanished: false,
  itemized: undefined,
};
const refused: Outcome = {
  ok: false,
  reason: 'auth',
  exitCode: 255,
  message: 'Permission denied',
  hint: 'add the key',
};
const finished = (outcome: Outcome, kind: 'full' | 'batch' = 'full'): SchedulerEvent => ({
  type: 'finished',
  job: kind === 'full' ? { kind, reason: 'start' } : { kind, paths: ['a'] },
  outcome,
  durationMs: 5,
  attempt: 1,
  retryInMs: outcome.ok ? undefined : 1000,
  quiet: true,
});
const now = { target: 'u@h:22:/d', pending: 2, failingPaths: [] };

it('follows a start, a failure that goes on, and the recovery', () => {
  let time = Date.parse('2026-12-01T10:00:00Z');
  const tracker = new StatusTracker('started', () => new Date(time));
  expect(tracker.status(now).state).toBe('starting');
  tracker.observe(finished(ok));
  expect(tracker.status(now)).toMatchObject({ state: 'syncing', lastSuccess: '2026-12-01T10:00:00.000Z' });
  time += 60_000;
  tracker.observe(finished(refused, 'batch'));
  time += 60_000;
  tracker.observe(finished(refused, 'batch'));
  const failing = tracker.status(now);
  expect(failing).toMatchObject({
    state: 'failing',
    failure: { reason: 'auth', hint: 'add the key', since: '2026-12-01T10:01:00.000Z', attempts: 2 },
    counters: { runs: 3, failedRuns: 2, filesTransferred: 3 },
  });
  expect(isHealthy(failing)).toBe(false);
  expect(formatStatus(daemonStatus([failing]))).toContain('hint          add the key');
  tracker.observe(
    finished({ ok: false, reason: 'cancelled', exitCode: undefined, message: 'stop', hint: '' }),
  );
  expect(tracker.status(now).failure?.attempts).toBe(2); // a shutdown's cancel is no failure
  tracker.observe(finished(ok, 'batch'));
  const healed = tracker.status(now);
  expect(healed).toMatchObject({ state: 'syncing', failure: undefined });
  expect(isHealthy(healed)).toBe(true);
  expect(formatStatus(daemonStatus([healed]))[0]).toBe('healthy: syncing, ready');
});

it('reports one transition when runs start failing and one when they recover, none per retry', () => {
  let time = Date.parse('2026-12-01T10:00:00Z');
  const tracker = new StatusTracker('started', () => new Date(time));
  expect(tracker.observe(finished(ok))).toBeUndefined();
  expect(tracker.observe(finished(ok, 'batch'))).toBeUndefined();
  time += 1000;
  expect(tracker.observe(finished(refused, 'batch'))).toEqual({ type: 'failing' });
  time += 1000;
  expect(tracker.observe(finished(refused, 'batch'))).toBeUndefined();
  const cancelled: Outcome = { ok: false, reason: 'cancelled', exitCode: undefined, message: '', hint: '' };
  expect(tracker.observe(finished(cancelled))).toBeUndefined();
  expect(tracker.observe(finished(refused, 'batch'))).toBeUndefined();
  expect(tracker.observe(finished(ok, 'batch'))).toEqual({
    type: 'recovered',
    since: '2026-12-01T10:00:01.000Z',
    attempts: 3,
  });
  expect(tracker.observe(finished(ok, 'batch'))).toBeUndefined();
});

it('reports a failure from the very start as a transition too', () => {
  const tracker = new StatusTracker();
  expect(tracker.observe(finished(refused))).toEqual({ type: 'failing' });
});

it('is not healthy while paths fail on their own, and lists them', () => {
  const tracker = new StatusTracker();
  tracker.observe(finished(ok));
  const failingPaths = [{ path: 'a.txt', reason: 'Permission denied', message: '…' }];
  const status = tracker.status({ ...now, failingPaths });
  expect(isHealthy(status)).toBe(false);
  expect(status.failingPaths).toEqual([{ path: 'a.txt', reason: 'Permission denied' }]);
  expect(formatStatus(daemonStatus([status]))).toContain('  a.txt: Permission denied');
});

it('rolls several targets up into the worst state, and prints a block for each', () => {
  const good = new StatusTracker();
  good.observe(finished(ok));
  const bad = new StatusTracker(); // its initial pass is refused: failing, and not ready
  bad.observe(finished(refused));
  const daemon = daemonStatus([
    good.status({ ...now, target: 'u@a:22:/m' }),
    bad.status({ ...now, target: 'u@b:22:/m' }),
  ]);
  expect(daemon).toMatchObject({ state: 'failing', ready: false });
  expect(isHealthy(daemon)).toBe(false);
  const lines = formatStatus(daemon);
  expect(lines[0]).toBe('NOT HEALTHY: failing, not ready');
  expect(lines).toContain('state         syncing, ready');
  expect(lines).toContain('state         failing, not ready');
  expect(lines.filter((line) => line.startsWith('target '))).toEqual([
    'target        u@a:22:/m',
    'target        u@b:22:/m',
  ]);
  expect(isHealthy(daemonStatus([good.status(now)]))).toBe(true);
  expect(isHealthy(daemonStatus([]))).toBe(false);
});

describe('readiness, which /readyz, /status and the webhook read from the same fold', () => {
  it('is not ready until the initial full pass goes through; a batch before it does not count', () => {
    const tracker = new StatusTracker();
    expect(tracker.readiness()).toEqual({ ready: false, reason: 'the initial sync has not finished' });
    tracker.observe(finished(ok, 'batch'));
    expect(tracker.readiness().ready).toBe(false);
    expect(tracker.started).toBe(false);
    tracker.observe(finished(ok));
    expect(tracker.readiness()).toEqual({ ready: true });
    expect(tracker.started).toBe(true);
    expect(tracker.status(now).ready).toBe(true);
  });

  it('stays ready when runs fail after the initial pass (SYNC_READINESS=started), while the status says failing', () => {
    const tracker = new StatusTracker();
    tracker.observe(finished(ok));
    tracker.observe(finished(refused, 'batch'));
    tracker.observe(finished(refused, 'batch'));
    expect(tracker.readiness()).toEqual({ ready: true });
    expect(tracker.status(now)).toMatchObject({ state: 'failing', ready: true, failure: { attempts: 2 } });
    expect(isHealthy(tracker.status(now))).toBe(false);
  });

  it('says why it is not ready while the initial pass fails, in either mode', () => {
    for (const mode of ['started', 'syncing'] as const) {
      const tracker = new StatusTracker(mode);
      tracker.observe(finished(refused));
      expect(tracker.readiness()).toEqual({
        ready: false,
        reason: 'syncing is failing (auth, 1 attempts): Permission denied',
      });
      tracker.observe(finished(ok));
      expect(tracker.readiness()).toEqual({ ready: true });
    }
  });

  it('is not ready while runs fail under SYNC_READINESS=syncing, names the failure and its attempts, and is ready again once one goes through', () => {
    const tracker = new StatusTracker('syncing');
    tracker.observe(finished(ok));
    tracker.observe(finished(refused, 'batch'));
    tracker.observe(finished(refused, 'batch'));
    expect(tracker.readiness()).toEqual({
      ready: false,
      reason: 'syncing is failing (auth, 2 attempts): Permission denied',
    });
    expect(tracker.status(now)).toMatchObject({ state: 'failing', ready: false });
    tracker.observe(finished(ok, 'batch'));
    expect(tracker.readiness()).toEqual({ ready: true });
  });

  it('leaves readiness as it was when a shutdown cancels a run: a cancel is neither success nor failure', () => {
    const cancelled: Outcome = {
      ok: false,
      reason: 'cancelled',
      exitCode: undefined,
      message: 'stop',
      hint: '',
    };
    const ready = new StatusTracker('syncing');
    ready.observe(finished(ok));
    ready.observe(finished(cancelled, 'batch'));
    expect(ready.readiness()).toEqual({ ready: true });
    expect(ready.status(now)).toMatchObject({ state: 'syncing', ready: true, failure: undefined });
    const starting = new StatusTracker();
    starting.observe(finished(cancelled));
    expect(starting.readiness()).toEqual({ ready: false, reason: 'the initial sync has not finished' });
    expect(starting.status(now).state).toBe('starting');
  });
});

it('shows a pause, with its end, and forgets it on resume; a pause is no failure', () => {
  const tracker = new StatusTracker();
  tracker.observe(finished(ok));
  tracker.observe({
    type: 'paused',
    at: Date.parse('2026-12-04T10:00:00Z'),
    until: Date.parse('2026-12-04T10:30:00Z'),
  });
  const status = tracker.status(now);
  expect(status).toMatchObject({
    state: 'syncing',
    ready: true,
    paused: { since: '2026-12-04T10:00:00.000Z', until: '2026-12-04T10:30:00.000Z' },
  });
  expect(formatStatus(daemonStatus([status]))).toContain(
    'paused        since 2026-12-04T10:00:00.000Z, until 2026-12-04T10:30:00.000Z',
  );
  tracker.observe({ type: 'resumed', at: Date.parse('2026-12-04T10:10:00Z') });
  expect(tracker.status(now).paused).toBeUndefined();
});

it('names the watcher, its watches, and a fall-back to polling loudly', () => {
  const tracker = new StatusTracker('started');
  const status = tracker.status({ target: 'u@h:22:/m', pending: 0, failingPaths: [] });
  const watching = daemonStatus([status], {
    backend: 'native',
    directories: 1204,
    limit: { value: 8192, sysctl: 'fs.inotify.max_user_watches' },
    fallback: undefined,
  });
  expect(formatStatus(watching)[1]).toBe(
    'watcher       native, 1,204 directories watched of fs.inotify.max_user_watches=8,192',
  );
  const polling = daemonStatus([status], {
    backend: 'poll',
    directories: undefined,
    limit: { value: 8192, sysctl: 'fs.inotify.max_user_watches' },
    fallback: { from: 'native', since: '2026-12-01T10:00:00.000Z', reason: 'ENOSPC', hint: 'raise it' },
  });
  expect(polling.watch?.fallback?.from).toBe('native');
  expect(formatStatus(polling).slice(1, 3)).toEqual([
    'watcher       POLLING since 2026-12-01T10:00:00.000Z: the native watcher gave up (ENOSPC)',
    'hint          raise it',
  ]);
  expect(daemonStatus([status])).not.toHaveProperty('watch');
});

it('shows the lag: the age of the oldest change not on the target, none when there is none', () => {
  const tracker = new StatusTracker('started', () => new Date('2026-12-01T10:00:10.500Z'));
  const behind = tracker.status({
    target: 'u@h:22:/m',
    pending: 3,
    failingPaths: [],
    oldestChangeAt: Date.parse('2026-12-01T10:00:00.000Z'),
  });
  expect(behind).toMatchObject({ lagSeconds: 10.5, oldestPendingChange: '2026-12-01T10:00:00.000Z' });
  expect(formatStatus(daemonStatus([behind]))).toContain(
    'lag           10.5s (the oldest change not on the target was seen at 2026-12-01T10:00:00.000Z)',
  );
  const current = tracker.status({ target: 'u@h:22:/m', pending: 0, failingPaths: [] });
  expect(current).toMatchObject({ lagSeconds: 0, oldestPendingChange: undefined });
  expect(formatStatus(daemonStatus([current]))).toContain(
    'lag           none: every change seen is on the target',
  );
});
