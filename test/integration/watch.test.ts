import {
  appendFile,
  chmod,
  mkdir,
  mkdtemp,
  rename,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bytesOf } from '../../src/names.ts';
import { inotifyQueueLimit } from '../../src/watch/overflow.ts';
import { inotifyWatches } from '../support/proc.ts';
import { Daemon, runCli } from './support/daemon.ts';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForMirror,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';
import { webhookReceiver } from './support/webhook-receiver.ts';

// Every kind of change arrives live, through the watcher and a batch, not through a full
// pass: each test ends by checking that the initial pass was the only full one. The target
// is compared with the source entry by entry: type, mode, size, mtime, link target, content.

let target: Target;
useTarget((started) => {
  target = started;
});

/** A running daemon over a fresh source; `converged()` waits until the target mirrors it. */
async function live(extra: Record<string, string> = {}, prefix: readonly string[] = []) {
  const s = await scenarioOn(target, extra);
  const start = () => watching(s.env, prefix);
  const converged = () => waitForMirror(target, s.source, s.remoteDir);
  /** Full passes run so far, whatever their outcome; a watcher error would have asked for one. */
  const fullPasses = async () => {
    const metrics = (await s.health('/metrics')).body;
    expect(metrics).toMatch(/^filesync_watch_errors_total 0$/m);
    const runs = [
      ...metrics.matchAll(/^filesync_syncs_total\{target="[^"]+",kind="full",outcome="[^"]+"\} (\d+)$/gm),
    ];
    return runs.reduce((sum, run) => sum + Number(run[1]), 0);
  };
  return { ...s, start, converged, fullPasses };
}

describe('every kind of change arrives live', () => {
  it('content, same-size rewrites within a second, appends, truncation, chmod and touch -d', async () => {
    const s = await live();
    await writeFile(s.file('doc.txt'), 'version 1');
    await writeFile(s.file('log.txt'), 'line 1\n');
    const daemon = await s.start();

    await writeFile(s.file('doc.txt'), 'version 2'); // same size, same second
    await appendFile(s.file('log.txt'), 'line 2\n');
    await s.converged();
    await writeFile(s.file('doc.txt'), 'version 3');
    await truncate(s.file('log.txt'), 3);
    await s.converged();
    await chmod(s.file('doc.txt'), 0o600);
    await s.converged();
    await utimes(s.file('doc.txt'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
    await s.converged();
    await chmod(s.file('log.txt'), 0o640);
    await utimes(s.file('log.txt'), new Date('1999-12-31T23:59:59Z'), new Date('1999-12-31T23:59:59Z'));
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('names that are not UTF-8, in files and directories: created, changed, renamed within and across directories, swapped for another type, deleted', async () => {
    // Latin-1 names (bytes d\xe9j\xe0, caf\xe9) and a stray 0xff; names.ts writes a byte that is
    // not UTF-8 as U+DC80 + byte, and bytesOf() gives the kernel the bytes themselves.
    const deja = 'd\udce9j\udce0';
    const cafe = 'caf\udce9';
    const s = await live();
    const at = (rel: string) => bytesOf(s.file(rel));
    await writeFile(at(`${cafe}.txt`), 'there from the start');
    const daemon = await s.start();
    await s.converged();

    await mkdir(at(`${deja}/sub\udcff`), { recursive: true }); // a new directory with contents
    await writeFile(at(`${deja}/${cafe}`), 'inside');
    await writeFile(at(`${deja}/sub\udcff/deeper`), 'deeper');
    await writeFile(at(`top\udcff.txt`), 'version 1');
    await s.converged();
    await writeFile(at(`top\udcff.txt`), 'version 2'); // same size, same second
    await writeFile(at(`${cafe}.txt`), 'changed');
    await s.converged();
    await rename(at(`${deja}/${cafe}`), at(`${deja}/${cafe}-renamed`)); // within a directory
    await rename(at(`top\udcff.txt`), at(`${deja}/sub\udcff/moved\udce9`)); // across
    await s.converged();
    await rm(at(`${cafe}.txt`));
    await mkdir(at(`${cafe}.txt`)); // a file swapped for a directory
    await writeFile(at(`${cafe}.txt/inner`), 'inner');
    await rm(at(`${deja}/sub\udcff/deeper`));
    await symlink(bytesOf(`${cafe}-renamed`), at(`${deja}/sub\udcff/deeper`)); // and for a link
    await s.converged();
    await rename(at(deja), at(`elsewhere-${deja}`)); // a directory renamed
    await s.converged();
    await rm(at(`elsewhere-${deja}`), { recursive: true });
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('symlinks created, retargeted and left dangling; files swapped for directories and links and back', async () => {
    const s = await live();
    await mkdir(s.file('real'));
    await writeFile(s.file('real/inside.txt'), 'inside');
    await writeFile(s.file('swap'), 'a file first');
    const daemon = await s.start();

    await symlink('real/inside.txt', s.file('link'));
    await symlink('does/not/exist', s.file('dangling'));
    await s.converged();
    await rm(s.file('link'));
    await symlink('real', s.file('link'));
    await s.converged();

    await rm(s.file('swap'));
    await mkdir(s.file('swap/nested'), { recursive: true });
    await writeFile(s.file('swap/nested/deep.txt'), 'now a directory');
    await s.converged();
    await rm(s.file('swap'), { recursive: true });
    await symlink('real', s.file('swap'));
    await s.converged();
    await rm(s.file('swap'));
    await writeFile(s.file('swap'), 'a file again');
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('mkdir -p of a deep tree written at once, and writes into its deepest directory later', async () => {
    const s = await live();
    const daemon = await s.start();
    const deep = 'a/b/c/d/e/f/g/h';
    await mkdir(s.file(deep), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(s.file(`${deep}/f${i}.txt`), `file ${i}`);
    await writeFile(s.file('a/b/mid.txt'), 'middle');
    await s.converged();
    // Only a watch on the deepest directory sees this one before the next full pass.
    await writeFile(s.file(`${deep}/later.txt`), 'later');
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('trees moved into and out of the source, and watched once inside', async () => {
    const s = await live();
    const outside = await mkdtemp(join(tmpdir(), 'filesync-outside-'));
    await mkdir(join(outside, 'incoming/x/y'), { recursive: true });
    await writeFile(join(outside, 'incoming/x/y/one.txt'), 'one');
    await mkdir(s.file('leaving/p/q'), { recursive: true });
    await writeFile(s.file('leaving/p/q/two.txt'), 'two');
    const daemon = await s.start();

    await rename(join(outside, 'incoming'), s.file('incoming'));
    await rename(s.file('leaving'), join(outside, 'leaving'));
    await s.converged();
    await writeFile(s.file('incoming/x/y/three.txt'), 'three');
    await writeFile(join(outside, 'leaving/p/q/not-ours.txt'), 'stays outside');
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('renames of a directory holding 3,000 files, and writes under its new name', async () => {
    const s = await live();
    for (let d = 0; d < 30; d++) {
      await mkdir(s.file(`big/sub${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) await writeFile(s.file(`big/sub${d}/f${f}.txt`), `${d}/${f}`);
    }
    const daemon = await s.start();
    await rename(s.file('big'), s.file('renamed'));
    await s.converged();
    await writeFile(s.file('renamed/sub7/new.txt'), 'new');
    await rename(s.file('renamed/sub3'), s.file('sub3-moved-up'));
    await s.converged();
    await writeFile(s.file('sub3-moved-up/again.txt'), 'again');
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('changes made while the initial pass runs', async () => {
    // A slow initial pass (200 KiB/s for 400 KiB): the write lands while rsync runs, and only
    // a watcher subscribed before the pass began can turn it into the batch that follows.
    const s = await live({ SYNC_RSYNC_BWLIMIT: '200K', LOG_LEVEL: 'debug' });
    await writeFile(s.file('large.bin'), Buffer.alloc(400 * 1024, 7));
    const daemon = Daemon.start(s.env);
    await daemon.waitForLog('the initial pass to start', (line) => line.msg === 'running rsync');
    await writeFile(s.file('during.txt'), 'written during the initial pass');
    await daemon.waitForLog('the initial sync', (line) => line.msg.startsWith('initial sync complete'));
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await daemon.waitForLog(
      'a batch with the change',
      (line) => line.msg === 'synced' && line.kind === 'batch',
    );
    await stopCleanly(daemon);
  });
});

describe('paths never resolve through a symlink', () => {
  /** d/ with 20 files and a subdirectory, and keep/ beside it, in sync, the daemon watching. */
  async function withTwoDirectories() {
    const s = await live();
    await mkdir(s.file('d/nested'), { recursive: true });
    await mkdir(s.file('keep/sub'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(s.file(`d/f${String(i).padStart(3, '0')}.txt`), `d ${i}`);
    for (let i = 0; i < 10; i++)
      await writeFile(s.file(`keep/f${String(i).padStart(3, '0')}.txt`), `keep ${i}`);
    await writeFile(s.file('d/nested/deep.txt'), 'deep');
    await writeFile(s.file('keep/sub/own.txt'), 'only reachable through the link');
    return { s, daemon: await s.start() };
  }

  it('a directory replaced by a symlink within one debounce, after changes inside it', async () => {
    const { s, daemon } = await withTwoDirectories();
    await writeFile(s.file('d/f000.txt'), 'changed first');
    await rm(s.file('d'), { recursive: true });
    await symlink('keep', s.file('d'));
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('a symlink replaced by a directory with nested content, and a directory replaced by a file', async () => {
    const { s, daemon } = await withTwoDirectories();
    await symlink('keep', s.file('link'));
    await s.converged();
    await rm(s.file('link'));
    await mkdir(s.file('link/inner'), { recursive: true });
    await writeFile(s.file('link/inner/own.txt'), 'a real directory now');
    await writeFile(s.file('d/f001.txt'), 'changed');
    await rm(s.file('d'), { recursive: true });
    await writeFile(s.file('d'), 'a file now');
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });
});

describe('watch modes', () => {
  it('SYNC_WATCH_MODE=poll finds changes with full passes and holds no watches', async () => {
    const s = await live({ SYNC_WATCH_MODE: 'poll', SYNC_POLL_INTERVAL: '500ms' });
    const daemon = await s.start();
    expect(daemon.logs.find((line) => line.msg.startsWith('watching with'))?.backend).toBe('poll');
    expect(inotifyWatches(daemon.pid)).toBe(0);
    await mkdir(s.file('d'));
    await writeFile(s.file('d/polled.txt'), 'found by a pass');
    await s.converged();
    // The file lands before its pass has finished and been counted.
    await waitFor('the poll pass to be counted', async () => (await s.fullPasses()) > 1);
    expect((await s.health('/metrics')).body).toMatch(/filesync_watch_backend\{backend="poll"\} 1/);
    await stopCleanly(daemon);
  });

  it('SYNC_WATCH_MODE=chokidar still mirrors changes live', async () => {
    const s = await live({ SYNC_WATCH_MODE: 'chokidar' });
    const daemon = await s.start();
    expect(daemon.logs.find((line) => line.msg.startsWith('watching with'))?.backend).toBe('chokidar');
    await mkdir(s.file('c/d'), { recursive: true });
    await writeFile(s.file('c/d/file.txt'), 'chokidar');
    await s.converged();
    expect(await s.fullPasses()).toBe(1);
    await stopCleanly(daemon);
  });

  it('native holds one kernel watch per directory, whatever the number of files', async () => {
    const s = await live();
    for (let d = 0; d < 10; d++) {
      await mkdir(s.file(`d${d}`));
      for (let f = 0; f < 50; f++) await writeFile(s.file(`d${d}/f${f}`), 'x');
    }
    const daemon = await s.start();
    expect(daemon.logs.find((line) => line.msg.startsWith('watching with'))?.backend).toBe('native');
    expect(inotifyWatches(daemon.pid)).toBe(11);
    await stopCleanly(daemon);
  });

  // The kernel's watch limit is lowered in a user namespace of the daemon's own, where
  // /proc/sys/user/max_inotify_watches belongs to that namespace: the machine's is untouched.
  const limited = (watches: number) => [
    'unshare',
    '--user',
    '--map-root-user',
    'sh',
    '-c',
    `echo ${watches} > /proc/sys/user/max_inotify_watches && exec "$0" "$@"`,
  ];

  it('falls back to polling, with the sysctl to raise, when the kernel has too few watches at start', async () => {
    const s = await live({ SYNC_POLL_INTERVAL: '500ms' }, limited(5));
    for (let d = 0; d < 10; d++) await mkdir(s.file(`d${d}`));
    const daemon = await s.start();
    const fallback = await daemon.waitForLog('the fallback', (line) => line.msg.includes('gave up'));
    expect(fallback).toMatchObject({ level: 'warn', backend: 'poll', previous: 'native' });
    expect(String(fallback.hint)).toMatch(/fs\.inotify\.max_user_watches/);
    await writeFile(s.file('d3/still-synced.txt'), 'by polling');
    await s.converged();
    expect(inotifyWatches(daemon.pid)).toBe(0);
    await stopCleanly(daemon);
  });

  it('falls back to polling when new directories exhaust the watches while running, and says so loudly: /status, status and one webhook alert', async () => {
    await using receiver = await webhookReceiver();
    const alerts = receiver.received;
    const s = await live(
      { SYNC_POLL_INTERVAL: '500ms', SYNC_WEBHOOK_URL: receiver.url('/alerts') },
      limited(5),
    );
    const daemon = await s.start();
    expect(daemon.logs.find((line) => line.msg.startsWith('watching with'))?.backend).toBe('native');
    const watch = async () => JSON.parse((await s.health('/status')).body).watch;
    const before = await watch();
    expect(before).toMatchObject({ backend: 'native', directories: 1 });
    expect(before).not.toHaveProperty('fallback');
    await mkdir(s.file('a/b/c/d/e/f/g'), { recursive: true });
    await daemon.waitForLog('the fallback', (line) => line.msg.includes('gave up'));
    await writeFile(s.file('a/b/c/d/e/f/g/deep.txt'), 'deep, by polling');
    await s.converged();
    expect(await watch()).toMatchObject({
      backend: 'poll',
      limit: { value: 5, sysctl: 'user.max_inotify_watches' },
      fallback: { from: 'native', hint: expect.stringMatching(/max_user_watches/) },
    });
    const status = await runCli(s.env, ['status']);
    expect(status.stdout).toMatch(/^watcher +POLLING since .*: the native watcher gave up/m);
    await waitFor('the alert', async () => alerts.length > 0);
    expect(alerts).toEqual([
      expect.objectContaining({ event: 'watch-fallback', previous: 'native', backend: 'poll' }),
    ]);
    await writeFile(s.file('more.txt'), 'another change while polling');
    await s.converged();
    await stopCleanly(daemon);
    expect(alerts).toHaveLength(1);
  });

  it('check warns from 80 % of the watches and fails at 100 %, with the sysctl; the daemon logs and exports the same figures', async () => {
    const s = await live({}, limited(12));
    for (let d = 0; d < 10; d++) await mkdir(s.file(`d${d}`));
    await mkdir(s.file('node_modules/x'), { recursive: true });
    const excluded = { ...s.env, SYNC_EXCLUDE: 'node_modules/' };
    const warned = await runCli(excluded, ['check'], limited(12));
    expect(warned.exitCode, warned.stdout + warned.stderr).toBe(0);
    expect(warned.stdout).toMatch(
      /^WARN {2}watch budget +11 directories to watch: 91% of user\.max_inotify_watches=12\b.*`sysctl user\.max_inotify_watches=32`/m,
    );
    expect(warned.stdout).toMatch(/^all checks passed$/m);
    const failed = await runCli(s.env, ['check'], limited(12));
    expect(failed.exitCode).toBe(1);
    expect(failed.stdout).toMatch(
      /^FAIL {2}watch budget +13 directories to watch: 108% of user\.max_inotify_watches=12/m,
    );
    const roomy = await runCli(excluded, ['check']);
    expect(roomy.stdout).toMatch(/^PASS {2}watch budget +11 directories to watch: 0% of /m);
    expect(roomy.exitCode).toBe(0);

    const daemon = await watching(excluded, limited(12));
    const budget = await daemon.waitForLog('the budget', (line) => line.msg.startsWith('watch budget'));
    expect(budget).toMatchObject({ level: 'warn', directories: 11, hint: expect.stringMatching(/sysctl/) });
    const metrics = (await s.health('/metrics')).body;
    expect(metrics).toMatch(/^filesync_watched_directories 11$/m);
    expect(metrics).toMatch(/^filesync_watch_limit 12$/m);
    await mkdir(s.file('d0/new'));
    await waitFor('the new directory watched', async () =>
      /^filesync_watched_directories 12$/m.test((await s.health('/metrics')).body),
    );
    await stopCleanly(daemon);
  });
});

describe("the kernel's event queue", () => {
  it('overflowing while the daemon is stopped is noticed, and a full pass converges without the periodic one', async () => {
    const s = await live({ SYNC_RESYNC_INTERVAL: '1h' });
    for (let d = 0; d < 10; d++) await mkdir(s.file(`d${d}`));
    const daemon = await s.start();
    await s.converged();
    // Stopped, as a CPU-throttled container or a long pause is: the burst lands meanwhile,
    // two events a file in the watched directories, more than the kernel's queue holds; the
    // new directories' contents make no event at all, and their own events are dropped.
    const queue = inotifyQueueLimit();
    process.kill(daemon.pid ?? 0, 'SIGSTOP');
    try {
      for (let i = 0; i < Math.ceil(queue / 2) + 1000; i++) await writeFile(s.file(`d${i % 10}/f${i}`), 'x');
      for (let d = 0; d < 20; d++) {
        await mkdir(s.file(`new${d}`));
        for (let f = 0; f < 100; f++) await writeFile(s.file(`new${d}/f${f}`), 'inside');
      }
    } finally {
      process.kill(daemon.pid ?? 0, 'SIGCONT');
    }
    await waitForMirror(target, s.source, s.remoteDir, 60_000);
    const warning = await daemon.waitForLog('the overflow', (line) => line.msg.startsWith('watcher error'));
    expect(String(warning.hint)).toMatch(/fs\.inotify\.max_queued_events/);
    const metrics = (await s.health('/metrics')).body;
    expect(Number(/^filesync_watch_errors_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    await stopCleanly(daemon);
  });
});
