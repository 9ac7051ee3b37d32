import { describe, expect, it, vi } from 'vitest';
import { type Alert, alertOf, watchAlertOf } from '../../../src/alerts/payload.ts';
import { Webhook } from '../../../src/alerts/webhook.ts';
import { createLogger } from '../../../src/log.ts';
import type { Status } from '../../../src/status/status.ts';

const status: Status = {
  state: 'failing',
  ready: false,
  target: 'sync@backup:22:/srv/mirror',
  lastSuccess: '2026-12-01T09:59:00.000Z',
  failure: {
    reason: 'unreachable',
    message: 'connection refused',
    hint: 'Is sshd running?',
    since: '2026-12-01T10:00:00.000Z',
    attempts: 1,
  },
  failingPaths: [],
  paused: undefined,
  pending: 42,
  lagSeconds: 63.5,
  oldestPendingChange: '2026-12-01T09:59:57.000Z',
  counters: { runs: 5, failedRuns: 1, filesTransferred: 3 },
};

describe('alertOf', () => {
  it('says what fails, since when, what to do and how much waits', () => {
    const alert = alertOf({ type: 'failing' }, status, 'pod-1', new Date('2026-12-01T10:00:00.500Z'));
    expect(alert).toEqual({
      event: 'failing',
      text: 'filesync on pod-1: syncing to sync@backup:22:/srv/mirror is failing (unreachable): connection refused — Is sshd running? (42 pending)',
      host: 'pod-1',
      target: 'sync@backup:22:/srv/mirror',
      time: '2026-12-01T10:00:00.500Z',
      since: '2026-12-01T10:00:00.000Z',
      attempts: 1,
      pending: 42,
      lastSuccess: '2026-12-01T09:59:00.000Z',
      reason: 'unreachable',
      message: 'connection refused',
      hint: 'Is sshd running?',
    });
  });

  it('says how long the outage lasted on recovery', () => {
    const healed = { ...status, state: 'syncing', failure: undefined, pending: 0 } as const;
    const alert = alertOf(
      { type: 'recovered', since: '2026-12-01T10:00:00.000Z', attempts: 7 },
      healed,
      'pod-1',
      new Date('2026-12-01T11:02:05.000Z'),
    );
    expect(alert).toMatchObject({ event: 'recovered', downForMs: 3_725_000, attempts: 7, pending: 0 });
    expect(alert.text).toBe(
      'filesync on pod-1: syncing to sync@backup:22:/srv/mirror recovered after 1h 2m 5s (7 failed runs, 0 pending)',
    );
    expect(alert.reason).toBeUndefined();
  });
});

describe('watchAlertOf', () => {
  it('says the watcher gave up, what that costs and what to run', () => {
    const alert = watchAlertOf(
      {
        from: 'native',
        to: 'poll',
        reason: 'ENOSPC: System limit for number of file watchers reached',
        hint: 'raise it',
      },
      'pod-1',
      new Date('2026-12-01T10:00:00.000Z'),
    );
    expect(alert).toEqual({
      event: 'watch-fallback',
      text: 'filesync on pod-1: the native watcher gave up (ENOSPC: System limit for number of file watchers reached); polling now, so changes arrive late — raise it',
      host: 'pod-1',
      time: '2026-12-01T10:00:00.000Z',
      backend: 'poll',
      previous: 'native',
      reason: 'ENOSPC: System limit for number of file watchers reached',
      hint: 'raise it',
    });
  });
});

const log = createLogger({ level: 'silent', format: 'json' });
const alert = (n: number): Alert => ({
  ...alertOf({ type: 'failing' }, status, 'h', new Date()),
  pending: n,
});

/** A receiver that answers each POST with the next status in `answers` (then 200). */
function receiver(answers: (number | 'hang' | 'refuse')[] = []) {
  const bodies: unknown[] = [];
  const fetch = (async (_url: string, init: RequestInit) => {
    const answer = answers.shift() ?? 200;
    if (answer === 'refuse') throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    if (answer === 'hang') {
      await new Promise((_, reject) =>
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      );
    }
    bodies.push(JSON.parse(String(init.body)));
    return new Response(null, { status: answer as number });
  }) as typeof globalThis.fetch;
  return { fetch, bodies };
}

describe('Webhook', () => {
  const results = () => {
    const seen: string[] = [];
    return { seen, onResult: (result: string) => seen.push(result) };
  };

  it('delivers alerts one at a time, in order', async () => {
    const { fetch, bodies } = receiver();
    const { seen, onResult } = results();
    const webhook = new Webhook('https://hooks.example/x', log, { fetch, onResult });
    webhook.send(alert(1));
    webhook.send(alert(2));
    expect(await webhook.settle(5000)).toBe(true);
    expect(bodies.map((body) => (body as Alert).pending)).toEqual([1, 2]);
    expect(seen).toEqual(['delivered', 'delivered']);
  });

  it('retries a refused connection, a 5xx and a timeout, then gives up without throwing', async () => {
    const { fetch, bodies } = receiver(['refuse', 503, 200, 'hang', 'hang', 'hang']);
    const { seen, onResult } = results();
    const sleeps: number[] = [];
    const webhook = new Webhook('https://hooks.example/x', log, {
      fetch,
      onResult,
      timeoutMs: 20,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    webhook.send(alert(1)); // refused, 503, delivered
    webhook.send(alert(2)); // three timeouts: given up
    expect(await webhook.settle(5000)).toBe(true);
    expect(seen).toEqual(['delivered', 'failed']);
    expect(bodies).toHaveLength(2); // the 503 and the third answer of alert 1
    expect(sleeps).toEqual([1000, 5000, 1000, 5000]);
  });

  it('does not retry a 4xx: the URL or the payload is wrong', async () => {
    const { fetch } = receiver([404, 200]);
    const { seen, onResult } = results();
    const webhook = new Webhook('https://hooks.example/x', log, { fetch, onResult, sleep: async () => {} });
    webhook.send(alert(1));
    expect(await webhook.settle(5000)).toBe(true);
    expect(seen).toEqual(['failed']);
  });

  it('drops the oldest alerts beyond its bound while the receiver is slow', async () => {
    const { fetch, bodies } = receiver();
    const { seen, onResult } = results();
    const webhook = new Webhook('https://hooks.example/x', log, { fetch, onResult, maxQueued: 2 });
    for (let n = 1; n <= 5; n++) webhook.send(alert(n));
    expect(await webhook.settle(5000)).toBe(true);
    // The first is on its way at once; of the four queued behind it, the last two are kept.
    expect(bodies.map((body) => (body as Alert).pending)).toEqual([1, 4, 5]);
    expect(seen.filter((result) => result === 'dropped')).toHaveLength(2);
  });

  it('stops waiting at the deadline when the receiver hangs, and abandons that POST', async () => {
    const { fetch } = receiver(['hang', 'hang']);
    const { seen, onResult } = results();
    const webhook = new Webhook('https://hooks.example/x', log, { fetch, onResult, timeoutMs: 60_000 });
    webhook.send(alert(1));
    webhook.send(alert(2));
    expect(await webhook.settle(20)).toBe(false);
    await vi.waitFor(() => expect(seen).toEqual(['dropped', 'failed'])); // alert 2, then 1 unretried
  });

  it('starts delivering again after its queue ran dry', async () => {
    const { fetch, bodies } = receiver();
    const webhook = new Webhook('https://hooks.example/x', log, { fetch });
    webhook.send(alert(1));
    expect(await webhook.settle(5000)).toBe(true);
    webhook.send(alert(2));
    expect(await webhook.settle(5000)).toBe(true);
    expect(bodies).toHaveLength(2);
  });
});
