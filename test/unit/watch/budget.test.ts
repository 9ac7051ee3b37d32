import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import {
  countWatchedDirectories,
  inotifyInUse,
  judgeBudget,
  readInotifyLimits,
} from '../../../src/watch/budget.ts';
import { startNative } from '../../../src/watch/native.ts';

const scratch = () => mkdtemp(join(tmpdir(), 'filesync-budget-'));

/** A /proc of our own: the sysctls given, and processes holding inotify descriptors. */
async function fakeProc(
  sysctls: Record<string, string>,
  processes: Record<string, readonly number[]> = {},
): Promise<string> {
  const proc = await scratch();
  for (const [file, value] of Object.entries(sysctls)) {
    mkdirSync(join(proc, 'sys', file, '..'), { recursive: true });
    writeFileSync(join(proc, 'sys', file), `${value}\n`);
  }
  for (const [pid, watchesPerInstance] of Object.entries(processes)) {
    mkdirSync(join(proc, pid, 'fd'), { recursive: true });
    mkdirSync(join(proc, pid, 'fdinfo'));
    symlinkSync('/dev/null', join(proc, pid, 'fd', '0'));
    writeFileSync(join(proc, pid, 'fdinfo', '0'), 'pos:\t0\n');
    watchesPerInstance.forEach((watches, i) => {
      const fd = String(i + 3);
      symlinkSync('anon_inode:inotify', join(proc, pid, 'fd', fd));
      const lines = Array.from({ length: watches }, (_, w) => `inotify wd:${w + 1} ino:1 sdev:1 mask:fce\n`);
      writeFileSync(join(proc, pid, 'fdinfo', fd), `pos:\t0\nflags:\t00\n${lines.join('')}`);
    });
  }
  return proc;
}

describe('the limits', () => {
  it("takes the lower of the kernel's setting and the user namespace's own, and names its sysctl", async () => {
    const proc = await fakeProc({
      'fs/inotify/max_user_watches': '65536',
      'user/max_inotify_watches': '12',
      'fs/inotify/max_user_instances': '128',
      'user/max_inotify_instances': '2147483647',
    });
    expect(readInotifyLimits(proc)).toEqual({
      watches: { value: 12, sysctl: 'user.max_inotify_watches' },
      instances: { value: 128, sysctl: 'fs.inotify.max_user_instances' },
    });
    const plain = await fakeProc({ 'fs/inotify/max_user_watches': '8192' });
    expect(readInotifyLimits(plain)).toEqual({
      watches: { value: 8192, sysctl: 'fs.inotify.max_user_watches' },
      instances: undefined,
    });
    expect(readInotifyLimits(await scratch())).toEqual({ watches: undefined, instances: undefined });
  });

  it('reads the real ones here', () => {
    expect(readInotifyLimits().watches?.value).toBeGreaterThan(0);
  });

  it("counts the instances and watches other processes of the uid hold, not this process's nor a filesync daemon's", async () => {
    const proc = await fakeProc({}, { '100': [3, 2], '200': [], '300': [5], '400': [7], self: [9] });
    writeFileSync(join(proc, '400', 'cmdline'), 'node\0/app/dist/cli.js\0watch\0');
    for (const pid of ['100', '200', '300']) writeFileSync(join(proc, pid, 'cmdline'), 'vim\0notes.txt\0');
    const uid = process.getuid?.() ?? 0;
    // 300 is this process, 400 a filesync daemon (the same program): neither counts.
    expect(await inotifyInUse(proc, uid, 300, '/app/dist/cli.js')).toEqual({ instances: 2, watches: 5 });
    expect(await inotifyInUse(proc, uid, 300, '/other/cli.js')).toEqual({ instances: 3, watches: 12 });
    expect(await inotifyInUse(proc, 12345, 0)).toEqual({ instances: 0, watches: 0 });
  });
});

describe('the directories to watch', () => {
  it('counts the source and every directory the filter keeps, as the native watcher watches them', async () => {
    const root = await scratch();
    for (const dir of ['a/b/c', 'a/d', 'node_modules/x/y', 'e'])
      mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'a/file'), 'x');
    symlinkSync(join(root, 'a'), join(root, 'link-to-a')); // not followed
    const filter = new Filter({ include: [], exclude: ['node_modules/'] });
    expect(countWatchedDirectories(root, filter)).toBe(6);
    const native = await startNative(
      { root, filter, pollIntervalMs: 1000 },
      { paths: () => {}, error: () => {}, rescan: () => {} },
    );
    expect(native.directories).toBe(6);
    await native.close();
    expect(countWatchedDirectories(join(root, 'missing'), filter)).toBe(0);
  });
});

describe('the verdict', () => {
  const limits = {
    watches: { value: 1000, sysctl: 'fs.inotify.max_user_watches' },
    instances: { value: 128, sysctl: 'fs.inotify.max_user_instances' },
  };
  const idle = { instances: 0, watches: 0 };

  it('passes below 80 %, warns from 80 % and fails at 100 %, with the sysctl to run', () => {
    const ok = judgeBudget(799, limits, idle);
    expect(ok).toEqual({
      level: 'ok',
      detail:
        '799 directories to watch: 79% of fs.inotify.max_user_watches=1,000; 1 inotify instance, 0 more in use by this uid seen here: 0% of fs.inotify.max_user_instances=128',
    });
    const warn = judgeBudget(800, limits, idle);
    expect(warn.level).toBe('warn');
    expect(warn.hint).toMatch(/^raise the watches on the host .*`sysctl fs\.inotify\.max_user_watches=2048`/);
    expect(warn.hint).toMatch(/SYNC_EXCLUDE/);
    const fail = judgeBudget(246_000, limits, idle);
    expect(fail.level).toBe('fail');
    expect(fail.detail).toMatch(/^246,000 directories to watch: 24600% of/);
    expect(fail.hint).toMatch(/sysctl fs\.inotify\.max_user_watches=524288/);
  });

  it('judges the watches and the instances with those other processes of the uid hold', () => {
    const shared = judgeBudget(700, limits, { instances: 0, watches: 400 });
    expect(shared.level).toBe('fail');
    expect(shared.detail).toMatch(
      /^700 directories to watch and 400 held by other processes of this uid here: 110% of fs\.inotify\.max_user_watches=1,000;/,
    );
    expect(shared.hint).toMatch(/sysctl fs\.inotify\.max_user_watches=4096/);
    const busy = judgeBudget(10, limits, { instances: 127, watches: 0 });
    expect(busy.level).toBe('fail');
    expect(busy.hint).toMatch(/sysctl fs\.inotify\.max_user_instances=256/);
    expect(busy.hint).not.toMatch(/SYNC_EXCLUDE/);
    expect(judgeBudget(10, { watches: undefined, instances: undefined }, idle)).toEqual({
      level: 'ok',
      detail: "10 directories to watch (the kernel's limit could not be read)",
    });
  });
});
