import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { createLogger } from '../../../src/log.ts';
import { bytesOf } from '../../../src/names.ts';
import { ItemizedTally } from '../../../src/rsync/itemize.ts';
import { failure, type Outcome } from '../../../src/rsync/outcome.ts';
import type { Progress } from '../../../src/rsync/progress.ts';
import { CANCEL_AT_ONCE, type Plan, type PlanRunner } from '../../../src/rsync/runner.ts';
import { sourceIsEmpty } from '../../../src/target/empty-source.ts';
import { createJobRunner } from '../../../src/target/job-runner.ts';
import { RunningMarker } from '../../../src/target/resume-marker.ts';
import { testConfig, testSsh } from '../fixtures.ts';

// The job runner's choice of file list for a full pass: the watcher's count of the tree when
// there is one, otherwise what the last full pass listed.

function setUp(
  treeSize: () => number | undefined,
  env: Record<string, string> = {},
  availableMemory: () => number | undefined = () => undefined,
) {
  const config = testConfig({ SYNC_SOURCE_DIR: '/', ...env });
  const ssh = testSsh;
  const plans: Plan[] = [];
  let listed = 0;
  let onTarget = 0;
  let failWith: Outcome | undefined;
  const runner: PlanRunner = {
    async run(plan): Promise<Outcome> {
      plans.push(plan);
      const failed = failWith;
      failWith = undefined;
      if (failed !== undefined) return failed;
      const stats = { files: listed, filesTransferred: 0, filesDeleted: 0, bytesTransferred: 0 };
      const tally = new ItemizedTally(0);
      if (plan.args.includes('--dry-run')) for (let i = 0; i < onTarget; i++) tally.add('extra', `x${i}`);
      return { ok: true, stats, vanished: false, itemized: tally.result() };
    },
  };
  const log = createLogger({ level: 'silent', format: 'json' });
  const run = createJobRunner({ config, filter: new Filter(config.filter), ssh }, runner, log, {
    treeSize,
    availableMemory,
  });
  const whole = async () => {
    await run({ kind: 'full', reason: 'resync' }, new AbortController().signal);
    return plans.at(-1)?.args.includes('--no-inc-recursive');
  };
  const runFull = () => run({ kind: 'full', reason: 'start' }, new AbortController().signal);
  return {
    whole,
    runFull,
    plans,
    config,
    listing: (count: number) => (listed = count),
    /** The next run ends with `outcome`. */
    failNext: (outcome: Outcome) => {
      failWith = outcome;
    },
    targetHolds: (count: number) => (onTarget = count),
  };
}

describe('a full pass', () => {
  it("sends the whole file list when the watcher's count of the tree is small", async () => {
    let size: number | undefined = 1000;
    const { whole } = setUp(() => size);
    expect(await whole()).toBe(true);
    size = 10_000_000;
    expect(await whole()).toBe(false);
  });

  it('sends a large tree whole where the memory available allows it, asked at each pass', async () => {
    let available: number | undefined = 1024 * 1024 * 1024;
    const { whole } = setUp(
      () => 1_000_000,
      {},
      () => available,
    );
    expect(await whole()).toBe(true); // 160 MB of list against a quarter of 1 GiB
    available = 512 * 1024 * 1024;
    expect(await whole()).toBe(false);
    available = undefined;
    expect(await whole()).toBe(false);
  });

  it('recurses incrementally from then on once a large pass with the whole list died, but not for a cancel or a path', async () => {
    const { whole, failNext } = setUp(
      () => 1_000_000,
      {},
      () => 64 * 1024 ** 3,
    );
    failNext(failure('cancelled', 'the transfer was cancelled'));
    expect(await whole()).toBe(true);
    failNext(failure('partial', 'rsync: [sender] send_files failed to open "a": Permission denied (13)'));
    expect(await whole()).toBe(true);
    expect(await whole()).toBe(true);
    failNext(
      failure('unreachable', 'rsync: connection unexpectedly closed (0 bytes received so far) [sender]'),
    );
    expect(await whole()).toBe(true); // the one that failed
    expect(await whole()).toBe(false);
    expect(await whole()).toBe(false);
  });

  it('goes by the last full pass when nothing counted the tree, and by nothing at first', async () => {
    const { whole, listing } = setUp(() => undefined);
    listing(5000);
    expect(await whole()).toBe(false); // the size is not known yet
    expect(await whole()).toBe(true); // the pass before listed 5,000 entries
    listing(1_000_000);
    expect(await whole()).toBe(true);
    expect(await whole()).toBe(false);
  });

  it("goes by the larger count when the watcher's is stale", async () => {
    const { whole, listing } = setUp(() => 1000);
    listing(1_000_000);
    expect(await whole()).toBe(true);
    expect(await whole()).toBe(false); // the pass before listed a million entries
  });
});

describe('the empty-source guard', () => {
  const emptyDir = () => mkdtemp(join(tmpdir(), 'filesync-empty-'));

  it('holds a run that would delete the mirror of an empty source, and says why', async () => {
    const t = setUp(() => undefined, { SYNC_SOURCE_DIR: await emptyDir() });
    t.targetHolds(3);
    const outcome = await t.runFull();
    expect(outcome).toMatchObject({ ok: false, reason: 'empty-source' });
    expect(outcome.ok === false && outcome.message).toMatch(/delete 3 entries/);
    expect(t.plans.map((plan) => plan.args.includes('--dry-run'))).toEqual([true]); // only the count ran
  });

  it('lets the run go when the mirror is empty too, when allowed, and when deletions are off', async () => {
    for (const env of [{}, { SYNC_ALLOW_EMPTY_SOURCE: 'true' }, { SYNC_DELETE: 'false' }]) {
      const t = setUp(() => undefined, { SYNC_SOURCE_DIR: await emptyDir(), ...env });
      t.targetHolds('SYNC_ALLOW_EMPTY_SOURCE' in env || 'SYNC_DELETE' in env ? 3 : 0);
      expect((await t.runFull()).ok).toBe(true);
      expect(t.plans.at(-1)?.args.includes('--dry-run')).toBe(false);
    }
  });

  it('never looks at the target while the source holds anything', async () => {
    const t = setUp(() => undefined); // the source is /
    t.targetHolds(3);
    expect((await t.runFull()).ok).toBe(true);
    expect(t.plans).toHaveLength(1);
  });
});

describe('what counts as an empty source', () => {
  it('is a tree of directories alone, or of files the filters leave out', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-empty-tree-'));
    const filter = new Filter({ include: ['*.csv'], exclude: ['cache/'] });
    await mkdir(join(root, 'lost+found'));
    await mkdir(join(root, 'a/b/c'), { recursive: true });
    await mkdir(join(root, 'cache'));
    await writeFile(join(root, 'cache/x.csv'), 'excluded with its directory');
    await writeFile(join(root, 'a/b/notes.txt'), 'not included');
    expect(await sourceIsEmpty(root, filter)).toBe(true);
    expect(await sourceIsEmpty(join(root, 'missing'), filter)).toBe(true);
    await writeFile(join(root, 'a/b/c/data.csv'), 'counts');
    expect(await sourceIsEmpty(root, filter)).toBe(false);
    // A file below a directory whose name is not UTF-8 counts too (names.ts).
    const latin1 = await mkdtemp(join(tmpdir(), 'filesync-empty-bytes-'));
    await mkdir(bytesOf(join(latin1, 'd\udce9j\udce0')));
    expect(await sourceIsEmpty(latin1, new Filter({ include: [], exclude: [] }))).toBe(true);
    await writeFile(bytesOf(join(latin1, 'd\udce9j\udce0/f')), 'counts');
    expect(await sourceIsEmpty(latin1, new Filter({ include: [], exclude: [] }))).toBe(false);
    const links = await mkdtemp(join(tmpdir(), 'filesync-empty-link-'));
    await symlink('/nowhere', join(links, 'dangling'));
    expect(await sourceIsEmpty(links, new Filter({ include: [], exclude: [] }))).toBe(false);
  });

  it('finds the one file that counts anywhere: deeper than the directories it reads at once, after many empty ones', async () => {
    const all = new Filter({ include: [], exclude: [] });
    const root = await mkdtemp(join(tmpdir(), 'filesync-empty-deep-'));
    for (let i = 0; i < 50; i++) await mkdir(join(root, `empty-${i}/x/y`), { recursive: true });
    const deep = join(root, ...Array.from({ length: 20 }, (_, i) => `level${i}`));
    await mkdir(deep, { recursive: true });
    expect(await sourceIsEmpty(root, all)).toBe(true);
    await writeFile(join(deep, 'only.txt'), 'counts');
    expect(await sourceIsEmpty(root, all)).toBe(false);
  });
});

describe('progress', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs how far a long run has got every so often, each change once, and nothing after it', async () => {
    vi.useFakeTimers();
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const progressLines = () => lines.filter((line) => line.msg === 'sync progress');
    const { config } = setUp(() => undefined, { SYNC_ALLOW_EMPTY_SOURCE: 'true' });
    let report: (progress: Progress) => void = () => {};
    let finish = () => {};
    const runner: PlanRunner = {
      async run(plan, _signal, onProgress) {
        expect(plan.progress).toBe(true);
        report = (progress) => onProgress?.(progress);
        await new Promise<void>((resolve) => {
          finish = resolve;
        });
        const stats = { files: 10, filesTransferred: 1, filesDeleted: 0, bytesTransferred: 1000 };
        return { ok: true, stats, vanished: false, itemized: undefined };
      },
    };
    const context = { config, filter: new Filter(config.filter), ssh: testSsh };
    const running = createJobRunner(context, runner, log, { progressEveryMs: 1000 })(
      { kind: 'full', reason: 'start' },
      new AbortController().signal,
    );
    await vi.advanceTimersByTimeAsync(1500);
    expect(progressLines()).toEqual([]); // nothing reported yet: nothing to say
    report({ bytes: 1000, percent: 10, rate: '1.00kB/s', files: { transferred: 1, toCheck: 9, listed: 10 } });
    await vi.advanceTimersByTimeAsync(5000);
    expect(progressLines()).toEqual([
      expect.objectContaining({
        kind: 'full',
        bytes: 1000,
        percent: 10,
        rate: '1.00kB/s',
        toCheck: 9,
        listed: 10,
      }),
    ]);
    report({ bytes: 2000, percent: 20, rate: '1.00kB/s' });
    await vi.advanceTimersByTimeAsync(1000);
    expect(progressLines().map((line) => line.bytes)).toEqual([1000, 2000]);
    finish();
    expect((await running).ok).toBe(true);
    report({ bytes: 3000, percent: 30, rate: '1.00kB/s' });
    await vi.advanceTimersByTimeAsync(5000);
    expect(progressLines()).toHaveLength(2);
  });
});

describe('a batch with a hook', () => {
  it('lists the files its move pre-pass placed, which the batch then finds in place', async () => {
    const source = await mkdtemp(join(tmpdir(), 'filesync-moved-'));
    await mkdir(join(source, 'b'));
    await writeFile(join(source, 'b', 'x.txt'), 'moved');
    const config = testConfig({ SYNC_SOURCE_DIR: source, SYNC_HOOK_COMMAND: '["true"]' });
    const plans: Plan[] = [];
    const runner: PlanRunner = {
      async run(plan): Promise<Outcome> {
        plans.push(plan);
        const tally = new ItemizedTally(plan.itemize?.keep ?? 0);
        // The batch itself: the old name goes; the new one is there already.
        if (plan.args.includes('--delete-delay')) tally.addLine('*deleting   a/x.txt');
        const stats = { files: 2, filesTransferred: 0, filesDeleted: 1, bytesTransferred: 0 };
        return { ok: true, stats, vanished: false, itemized: tally.result() };
      },
    };
    const log = createLogger({ level: 'silent', format: 'json' });
    const run = createJobRunner({ config, filter: new Filter(config.filter), ssh: testSsh }, runner, log);
    const outcome = await run({ kind: 'batch', paths: ['a/x.txt', 'b/x.txt'] }, new AbortController().signal);
    expect(plans.some((plan) => plan.args.some((arg) => arg.startsWith('--link-dest=')))).toBe(true);
    expect(outcome.ok && outcome.itemized?.kinds.missing).toEqual({ count: 1, paths: ['b/x.txt'] });
    expect(outcome.ok && outcome.itemized?.kinds.extra.paths).toEqual(['a/x.txt']);
  });
});

describe('the running marker', () => {
  /** `found`: whether the target holds the marker already. */
  async function withMarker(found: boolean, env: Record<string, string> = {}, withMarker = true) {
    const config = testConfig({ SYNC_SOURCE_DIR: '/', ...env });
    const plans: Plan[] = [];
    let markFails: Outcome | undefined;
    let runFails: Outcome | undefined;
    /** When set, runs (not the marker's) last until it resolves or they are cancelled. */
    let held: Promise<void> | undefined;
    /** Why each cancelled run was cancelled (its signal's reason). */
    const reasons: unknown[] = [];
    const cancelled = (signal: AbortSignal) => {
      reasons.push(signal.reason);
      return failure('cancelled', 'the transfer was cancelled'); // as processRunner
    };
    const runner: PlanRunner = {
      async run(plan, signal): Promise<Outcome> {
        plans.push(plan);
        if (signal.aborted) return cancelled(signal);
        const marking = isMark(plan);
        if (!marking && held !== undefined) {
          const aborted = new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
          await Promise.race([held, aborted]);
          if (signal.aborted) return cancelled(signal);
        }
        if (marking && markFails !== undefined) return markFails;
        if (!marking && runFails !== undefined) return runFails;
        const transferred = marking && !found ? 1 : 0;
        const stats = { files: 1, filesTransferred: transferred, filesDeleted: 0, bytesTransferred: 0 };
        return {
          ok: true,
          stats,
          vanished: false,
          itemized: marking ? undefined : new ItemizedTally(10).result(),
        };
      },
    };
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const context = { config, filter: new Filter(config.filter), ssh: testSsh };
    const dir = await mkdtemp(join(tmpdir(), 'filesync-marker-'));
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const marker = withMarker ? new RunningMarker(context, runner, dir, log) : undefined;
    const run = createJobRunner(context, runner, log, { marker });
    return {
      run,
      marker,
      lines,
      marks: () => plans.filter(isMark).length,
      reasons,
      /** For each run of a job (not the marker's): whether it had the partial-dir. */
      partialDirs: () =>
        plans
          .filter((plan) => !isMark(plan))
          .map((plan) => plan.args.includes('--partial-dir=.filesync-partial')),
      failMarks: (outcome: Outcome | undefined) => {
        markFails = outcome;
      },
      failRuns: (outcome: Outcome | undefined) => {
        runFails = outcome;
      },
      /** Holds every run from now on until the returned function is called. */
      holdRuns: () => {
        let release = () => {};
        held = new Promise((resolve) => {
          release = resolve;
        });
        return release;
      },
      /** Begins the marker early, on a connection that is up once the returned function is called. */
      beginEarly: () => {
        let connected = () => {};
        marker?.begin(
          () =>
            new Promise<void>((resolve) => {
              connected = resolve;
            }),
          new AbortController().signal,
        );
        return () => connected();
      },
    };
  }
  const isMark = (plan: Plan) => plan.args.some((arg) => arg.endsWith('/.filesync-running'));
  const signal = new AbortController().signal;
  const unreachable = failure('unreachable', 'ssh: connect to host: Connection refused');
  const full = { kind: 'full', reason: 'start' } as const;
  const batch = { kind: 'batch', paths: ['etc'] } as const;

  it('is put on the target before the first run; where it was not there, full passes leave out the partial-dir and batches keep it', async () => {
    const t = await withMarker(false);
    await t.run(full, signal);
    await t.run(batch, signal);
    await t.run({ kind: 'full', reason: 'resync' }, signal);
    expect(t.partialDirs()).toEqual([false, true, false]);
    expect(t.marks()).toBe(1);
  });

  it('found there (a kill, a crash): every run keeps the partial-dir', async () => {
    const t = await withMarker(true);
    await t.run(full, signal);
    await t.run({ kind: 'full', reason: 'resync' }, signal);
    expect(t.partialDirs()).toEqual([true, true]);
  });

  it('once a run of the process failed or was cancelled, full passes keep the partial-dir: it may have left a partial file', async () => {
    for (const cut of [
      failure('timeout', 'timeout in data send/receive'),
      failure('cancelled', 'cancelled'),
    ]) {
      const t = await withMarker(false);
      await t.run(full, signal);
      t.failRuns(cut);
      await t.run(batch, signal);
      t.failRuns(undefined);
      await t.run(batch, signal);
      await t.run({ kind: 'full', reason: 'resync' }, signal);
      expect(t.partialDirs(), cut.ok ? '' : cut.reason).toEqual([false, true, true, true]);
    }
  });

  it('after a fast start, the full comparison leaves it out too', async () => {
    const t = await withMarker(false);
    await t.run({ kind: 'start', paths: [{ path: 'etc', kind: 'dir' }] }, signal);
    await t.run({ kind: 'full', reason: 'resync' }, signal);
    expect(t.partialDirs()).toEqual([true, false]);
  });

  it('ends the job as the target does while it cannot be reached, so that nothing runs before it is there', async () => {
    const t = await withMarker(false);
    t.failMarks(unreachable);
    expect(await t.run(full, signal)).toMatchObject({ ok: false, reason: 'unreachable' });
    expect(t.partialDirs()).toEqual([]); // no run went
    t.failMarks(undefined);
    await t.run(full, signal); // the job tried again: the marker with it
    expect(t.marks()).toBe(2);
    expect(t.partialDirs()).toEqual([false]);
  });

  it('is given up, and says so, where the target refuses it: every run keeps the partial-dir', async () => {
    const t = await withMarker(false);
    t.failMarks(
      failure('remote-path', 'mkdir "/srv/mirror/.filesync-partial" failed: Permission denied (13)'),
    );
    await t.run(full, signal);
    await t.run(batch, signal);
    expect(t.marks()).toBe(1);
    expect(t.partialDirs()).toEqual([true, true]);
    const said = t.lines.filter((line) => String(line.msg).startsWith('the running marker could not be put'));
    expect(said).toHaveLength(1);
  });

  it('may be begun ahead of the first run, which then waits for it rather than trying again', async () => {
    const t = await withMarker(false);
    let connected = () => {};
    t.marker?.begin(() => new Promise<void>((resolve) => (connected = resolve)), signal);
    expect(t.marks()).toBe(0); // the shared connection is not up yet
    connected();
    await t.run(full, signal);
    expect(t.marks()).toBe(1);
    expect(t.partialDirs()).toEqual([false]);
  });

  it('begun early and ended by a stop while the job itself still runs (a flush), is put there for the job', async () => {
    const t = await withMarker(false);
    const stopping = new AbortController();
    t.marker?.begin(async () => stopping.abort(), stopping.signal);
    await t.run(full, signal);
    expect(t.marks()).toBe(2); // the early one, cancelled, and the job's
    expect(t.partialDirs()).toEqual([false]);
  });

  describe('begun early, its answer not in when the first full pass is due', () => {
    /**
     * The marker begun early and a first full pass under way without the partial-dir, ahead of
     * its answer: `hold` keeps that pass's runs going until released; `marks` fails the marker.
     */
    async function passAhead(
      found: boolean,
      { hold = true, marks, stop = signal }: { hold?: boolean; marks?: Outcome; stop?: AbortSignal } = {},
    ) {
      const t = await withMarker(found);
      const connected = t.beginEarly();
      if (marks !== undefined) t.failMarks(marks);
      const release = hold ? t.holdRuns() : () => {};
      const job = t.run(full, stop);
      await vi.waitFor(() => expect(t.partialDirs()).toEqual([false]));
      return { t, connected, release, job };
    }

    it('lets the pass go ahead without the partial-dir, and keeps it where the marker was not there', async () => {
      const { t, connected, release, job } = await passAhead(false);
      expect(t.marks()).toBe(0); // it did not wait for the marker
      connected();
      await vi.waitFor(() => expect(t.marks()).toBe(1));
      release();
      const kept = await job;
      expect(kept).toMatchObject({ ok: true });
      expect(kept.ok && kept.itemized?.uncounted).toBeUndefined();
      expect(t.partialDirs()).toEqual([false]);
      await t.run({ kind: 'full', reason: 'resync' }, signal);
      expect(t.partialDirs()).toEqual([false, false]);
    });

    it('where the marker was there, stops the pass and runs it again with the partial-dir', async () => {
      const { t, connected, release, job } = await passAhead(true);
      connected();
      await vi.waitFor(() => expect(t.partialDirs()).toEqual([false, true]));
      expect(t.reasons).toEqual([CANCEL_AT_ONCE]); // killed, not stopped: nothing of it is kept
      release();
      // What the killed pass sent is not among the second's differences: its hook hears so.
      expect(await job).toMatchObject({ ok: true, itemized: { uncounted: true } });
      expect(t.marks()).toBe(1);
    });

    it('where the marker was there but the pass is done already, keeps the pass; later ones look for partial files', async () => {
      const { t, connected, job } = await passAhead(true, { hold: false });
      connected();
      expect(await job).toMatchObject({ ok: true });
      expect(t.partialDirs()).toEqual([false]);
      await t.run({ kind: 'full', reason: 'resync' }, signal);
      expect(t.partialDirs()).toEqual([false, true]);
    });

    it('where the target cannot be reached, stops the pass and ends the job with that; the next goes after the marker', async () => {
      const { t, connected, release, job } = await passAhead(false, { marks: unreachable });
      connected();
      expect(await job).toMatchObject({ ok: false, reason: 'unreachable' });
      t.failMarks(undefined);
      release();
      expect(await t.run(full, signal)).toMatchObject({ ok: true });
      expect(t.marks()).toBe(2);
      expect(t.partialDirs()).toEqual([false, false]);
    });

    it('ends with the job when it is cancelled', async () => {
      const stop = new AbortController();
      const { t, connected, job } = await passAhead(false, { stop: stop.signal });
      stop.abort();
      connected();
      expect(await job).toMatchObject({ ok: false, reason: 'cancelled' });
      expect(t.partialDirs()).toEqual([false]);
      expect(t.reasons).not.toContain(CANCEL_AT_ONCE); // a stop stops it as any other run
    });
  });

  it('ends a job that is cancelled while it is put there', async () => {
    const t = await withMarker(false);
    const cancelled = new AbortController();
    cancelled.abort();
    expect(await t.run(full, cancelled.signal)).toMatchObject({ reason: 'cancelled' });
    expect(t.partialDirs()).toEqual([]);
  });

  it('is not kept by the job runner of once, nor without resumed partial files, and no full pass leaves out the partial-dir there', async () => {
    const cases = [
      [{}, false],
      [{ SYNC_RSYNC_PARTIAL: 'false' }, true],
      [{ SYNC_DELAY_UPDATES: 'true' }, true],
    ] as const;
    for (const [env, withMarker_] of cases) {
      const t = await withMarker(false, env, withMarker_);
      await t.run(full, signal);
      expect(t.marks()).toBe(0);
      // As configured: the partial-dir with SYNC_RSYNC_PARTIAL (the default) and SYNC_DELAY_UPDATES.
      expect(t.partialDirs().at(-1)).toBe(!('SYNC_RSYNC_PARTIAL' in env));
    }
  });
});
