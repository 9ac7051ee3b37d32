import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, runCli } from './support/daemon.ts';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';

// What lands on the target: owner and modes (SYNC_CHOWN, SYNC_CHMOD, SYNC_PERMS), against the
// sshd target, whose user `filesync` is not root and is a member of www-data.

let target: Target;
useTarget((started) => {
  target = started;
});

/** `mode user group` of each path on the target. */
async function modes(remoteDir: string, paths: readonly string[], on = target): Promise<string[]> {
  const { output } = await on.exec([
    'stat',
    '-c',
    '%a %U %G',
    ...paths.map((path) => `${remoteDir}/${path}`),
  ]);
  return output.trim().split('\n');
}

/** A file 0600 and a directory 0700 holding a file 0755. */
async function privateTree(file: (path: string) => string) {
  await writeFile(file('a.txt'), 'a');
  await chmod(file('a.txt'), 0o600);
  await mkdir(file('sub'));
  await writeFile(file('sub/run.sh'), '#!/bin/sh\n');
  await chmod(file('sub/run.sh'), 0o755);
  await chmod(file('sub'), 0o700);
}

/** A relative link, a dangling one inside, an absolute one, and one that climbs out. */
async function linkTree(source: string, file: (path: string) => string) {
  const outside = join(source, '..', `${basename(source)}-outside.txt`);
  await writeFile(outside, 'from outside the source');
  await writeFile(file('in.txt'), 'inside');
  await symlink('in.txt', file('rel'));
  await symlink('nowhere', file('dangle'));
  await symlink(outside, file('abs'));
  await mkdir(file('d'));
  await symlink(`../../${basename(outside)}`, file('d/esc'));
}
const kinds = (entries: Map<string, string>) =>
  Object.fromEntries(['rel', 'dangle', 'abs', 'd/esc'].map((name) => [name, entries.get(name)]));

describe('owner and modes on the target', () => {
  it('gives files and directories the group and modes asked for, live and in full passes; verify is clean', async () => {
    const s = await scenarioOn(target, { SYNC_CHOWN: ':www-data', SYNC_CHMOD: 'D2775,F664' });
    await privateTree(s.file);
    const daemon = await watching(s.env);
    expect(await modes(s.remoteDir, ['a.txt', 'sub', 'sub/run.sh'])).toEqual([
      '664 filesync www-data',
      '2775 filesync www-data',
      '664 filesync www-data',
    ]);
    await writeFile(s.file('sub/live.txt'), 'written while watching');
    await waitForRemote('the live file', s.remote, (entries) => entries.has('sub/live.txt'));
    expect(await modes(s.remoteDir, ['sub/live.txt'])).toEqual(['664 filesync www-data']);
    const verify = await runCli(s.env, ['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    const check = await runCli(s.env, ['check']);
    expect(check.exitCode, check.stdout).toBe(0);
    expect(check.stdout).toMatch(/PASS .*a probe file was written with the owner asked for and removed/);
    await stopCleanly(daemon);
  });

  it('fails as one clear ownership failure when the target cannot give files away, and check says so first', async () => {
    const s = await scenarioOn(target, { SYNC_CHOWN: 'root:root' });
    await writeFile(s.file('a.txt'), 'a');
    const check = await runCli(s.env, ['check']);
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toMatch(
      /FAIL .*the target refused the owner asked for: .*chown .*Operation not permitted/,
    );
    expect(check.stdout).toMatch(/needs root there/);
    // The probe is gone although its owner was refused.
    expect([...(await s.remote()).keys()].filter((name) => name.startsWith('.filesync-check'))).toEqual([]);
    const once = await runCli(s.env, ['once']);
    expect(once.exitCode).toBe(1);
    const failed = once.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg: string; result?: string; failedPaths?: unknown })
      .find((line) => line.msg.startsWith('sync failed'));
    expect(failed).toMatchObject({ result: 'ownership' });
    expect(failed?.failedPaths).toBeUndefined(); // the whole target, not a path on its own
  });

  it('with SYNC_PERMS=target sends no modes: new entries take the target user’s umask', async () => {
    const s = await scenarioOn(target, { SYNC_PERMS: 'target' });
    await privateTree(s.file);
    const daemon = await watching(s.env);
    const umask = Number.parseInt((await target.exec(['sh', '-c', 'umask'])).output.trim(), 8);
    const expected = (mode: number) => (mode & ~umask).toString(8);
    expect(await modes(s.remoteDir, ['a.txt', 'sub', 'sub/run.sh'])).toEqual([
      `${expected(0o666)} filesync filesync`,
      `${expected(0o777)} filesync filesync`,
      `${expected(0o777)} filesync filesync`, // executable on the source: rwX keeps its x
    ]);
    const verify = await runCli(s.env, ['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    await stopCleanly(daemon);
  });
});

describe('through an rrsync-restricted key', () => {
  let restricted: Target;
  useTarget(
    (started) => {
      restricted = started;
    },
    { restricted: true },
  );

  it('maps the group and modes the same way, and refuses an owner the same way', async () => {
    const s = await scenarioOn(restricted, { SYNC_CHOWN: ':www-data', SYNC_CHMOD: 'D2775,F664' });
    await privateTree(s.file);
    const once = await runCli(s.env, ['once']);
    expect(once.exitCode, once.stdout + once.stderr).toBe(0);
    expect(await modes(s.remoteDir, ['a.txt', 'sub', 'sub/run.sh'], restricted)).toEqual([
      '664 filesync www-data',
      '2775 filesync www-data',
      '664 filesync www-data',
    ]);
    expect((await runCli(s.env, ['verify'])).exitCode).toBe(0);
    const refused = await runCli({ ...s.env, SYNC_CHOWN: 'root' }, ['once']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toMatch(/"result":"ownership"/);
  });

  it.each([
    ['safe', { rel: 'l', dangle: 'l', abs: undefined, 'd/esc': undefined }],
    ['copy-unsafe', { rel: 'l', dangle: 'l', abs: 'f', 'd/esc': 'f' }],
    ['ignore', { rel: undefined, dangle: undefined, abs: undefined, 'd/esc': undefined }],
  ] as const)('SYNC_SYMLINKS=%s lands the same way, and verify is clean', async (mode, expected) => {
    const s = await scenarioOn(restricted, { SYNC_SYMLINKS: mode });
    await linkTree(s.source, s.file);
    const once = await runCli(s.env, ['once']);
    expect(once.exitCode, once.stdout + once.stderr).toBe(0);
    expect(kinds(await s.remote())).toEqual(expected);
    const verify = await runCli(s.env, ['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
  });

  it('SYNC_DELAY_UPDATES stages, cleans up after a killed run and verifies the same way', async () => {
    await killedRun(restricted, {});
  });
});

describe('SYNC_SYMLINKS', () => {
  it.each([
    ['keep', { rel: 'l', dangle: 'l', abs: 'l', 'd/esc': 'l' }],
    ['copy-unsafe', { rel: 'l', dangle: 'l', abs: 'f', 'd/esc': 'f' }],
    ['ignore', { rel: undefined, dangle: undefined, abs: undefined, 'd/esc': undefined }],
  ] as const)('%s: each kind of link lands as it says, and verify is clean', async (mode, expected) => {
    const s = await scenarioOn(target, { SYNC_SYMLINKS: mode });
    await linkTree(s.source, s.file);
    const once = await runCli(s.env, ['once']);
    expect(once.exitCode, once.stdout + once.stderr).toBe(0);
    expect(kinds(await s.remote())).toEqual(expected);
    if (mode === 'copy-unsafe')
      expect(await target.read(`${s.remoteDir}/d/esc`)).toBe('from outside the source');
    const verify = await runCli(s.env, ['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
  });

  it('safe: drops the absolute and the escaping link, logs and counts each once, live too', async () => {
    const s = await scenarioOn(target, { SYNC_SYMLINKS: 'safe' });
    await linkTree(s.source, s.file);
    const daemon = await watching(s.env);
    expect(kinds(await s.remote())).toEqual({ rel: 'l', dangle: 'l', abs: undefined, 'd/esc': undefined });
    const skipped = () => daemon.logs.filter((line) => line.msg.startsWith('symlink not sent'));
    expect(
      skipped()
        .map((line) => line.path)
        .sort(),
    ).toEqual(['abs', 'd/esc']);
    await symlink('/etc', s.file('d/etc'));
    await writeFile(s.file('d/after.txt'), 'a batch after the new link');
    await waitForRemote('the batch', s.remote, (entries) => entries.has('d/after.txt'));
    expect((await s.remote()).has('d/etc')).toBe(false);
    await waitForRemote('nothing more', s.remote, () => skipped().length === 3);
    // Another full pass skips them again, and says nothing new.
    daemon.signal('SIGUSR2');
    await waitForRemote('the full pass', s.remote, () =>
      daemon.logs.some((line) => line.msg === 'synced' && line.kind === 'full' && line.reason === 'resync'),
    );
    expect(skipped()).toHaveLength(3);
    expect((await s.health('/metrics')).body).toMatch(
      /^filesync_unsafe_symlinks_total\{target="[^"]+"\} 3$/m,
    );
    const verify = await runCli(s.env, ['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    await stopCleanly(daemon);
  });
});

/** The generation of `count` files of `size` bytes: each starts with `gen<n>`. */
async function generation(file: (path: string) => string, n: number, count: number, size: number) {
  await mkdir(file('batch'), { recursive: true });
  // Random after the marker: nothing of the old generation matches, so all of it is sent.
  for (let i = 0; i < count; i++) {
    const body = `gen${n}${randomBytes(size)
      .toString('base64')
      .slice(0, size - 4)}`;
    await writeFile(file(`batch/f${String(i).padStart(4, '0')}`), body);
  }
}

/**
 * Reads every file of the batch on the target over and over, until all show generation 2 (or a
 * minute passed); one line per read: how many files showed gen1 and how many gen2.
 */
function reader(on: Target, remoteDir: string, count: number): Promise<{ gen1: number; gen2: number }[]> {
  const script = `end=$(($(date +%s) + 60)); while [ "$(date +%s)" -lt "$end" ]; do
    heads=$(head -qc 4 ${remoteDir}/batch/f* 2>/dev/null | fold -w 4)
    one=$(printf '%s\\n' "$heads" | grep -c gen1); two=$(printf '%s\\n' "$heads" | grep -c gen2)
    echo "$one $two"; [ "$two" -eq ${count} ] && break; done`;
  return on.exec(['sh', '-c', script]).then(({ output }) =>
    output
      .trim()
      .split('\n')
      .map((line) => line.split(' ').map(Number))
      .map(([gen1 = 0, gen2 = 0]) => ({ gen1, gen2 })),
  );
}

/** Kills the process and everything it started, by PID (a daemon killed with its rsync). */
function killTree(pid: number): void {
  const children = (() => {
    try {
      return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return [];
    }
  })();
  process.kill(pid, 'SIGKILL');
  for (const child of children) killTree(Number(child));
}

describe('SYNC_DELAY_UPDATES', () => {
  const count = 200;
  const size = 10_000; // 2 MB at 500 KiB/s: about 4 s of transfer for a reader to watch

  it.each([
    { delay: 'false', sees: 'a mix of old and new files for most of the transfer' },
    { delay: 'true', sees: 'the old or the new generation, a mix only within the rename loop' },
  ] as const)('SYNC_DELAY_UPDATES=$delay: a reader on the target sees $sees', async ({ delay }) => {
    const s = await scenarioOn(target, { SYNC_DELAY_UPDATES: delay, SYNC_RSYNC_BWLIMIT: '500' });
    await generation(s.file, 1, count, size);
    const first = await runCli(s.env, ['once']);
    expect(first.exitCode, first.stdout + first.stderr).toBe(0);
    await generation(s.file, 2, count, size);
    const reads = reader(target, s.remoteDir, count);
    const second = await runCli(s.env, ['once']);
    expect(second.exitCode, second.stdout + second.stderr).toBe(0);
    const seen = await reads;
    expect(seen.at(-1)).toEqual({ gen1: 0, gen2: count });
    const mixed = seen.filter(({ gen1, gen2 }) => gen1 > 0 && gen2 > 0).length;
    const old = seen.filter(({ gen2 }) => gen2 === 0).length;
    if (delay === 'true') {
      expect(old, 'reads of the old generation while the new one was sent').toBeGreaterThan(10);
      expect(
        mixed,
        JSON.stringify(seen.filter(({ gen1, gen2 }) => gen1 > 0 && gen2 > 0)),
      ).toBeLessThanOrEqual(2);
      expect([...(await s.remote()).keys()].filter((path) => path.includes('.filesync-partial'))).toEqual([]);
    } else {
      expect(mixed).toBeGreaterThan(10);
    }
    const verify = await runCli(s.env, ['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
  });

  it('a killed run leaves staged files that the next run removes, never reported as drift; with the trash, within SYNC_MAX_DELETE', async () => {
    // More staged files than SYNC_MAX_DELETE allows deletions: the clean-up is no deletion of the
    // mirror's, and halts nothing.
    await killedRun(target, { SYNC_BACKUP_DIR: '.trash', SYNC_MAX_DELETE: '1' });
  });
});

/** 100 files of this size at 200 KiB/s: long enough to be killed with files staged. */
const STAGED_SIZE = 10_000;

/** A daemon killed with its rsync mid-run (SYNC_DELAY_UPDATES); then what the next run leaves. */
async function killedRun(on: Target, extra: Record<string, string>) {
  const s = await scenarioOn(on, { SYNC_DELAY_UPDATES: 'true', ...extra });
  await generation(s.file, 1, 100, STAGED_SIZE);
  const daemon = Daemon.start({ ...s.env, SYNC_RSYNC_BWLIMIT: '200' }, ['watch']);
  // Killed, with its rsync, once files are staged but before any is in place.
  await waitForRemote(
    'files staged',
    s.remote,
    (entries) =>
      [...entries.keys()].filter((path) => path.startsWith('batch/.filesync-partial/')).length >= 5,
  );
  if (daemon.pid === undefined) throw new Error('no pid');
  killTree(daemon.pid);
  await daemon.stop('SIGKILL');
  const left = [...(await s.remote()).keys()];
  expect(left.filter((path) => /^batch\/f\d+$/.test(path))).toEqual([]);
  const stagedNames = left.filter((path) => path.startsWith('batch/.filesync-partial/'));
  expect(stagedNames.length).toBeGreaterThan(0);
  // One staged file's source goes away meanwhile: nothing will rename it into place.
  const stale = stagedNames[0]?.slice('batch/.filesync-partial/'.length) ?? '';
  await rm(s.file(`batch/${stale}`));
  const verifyBefore = await runCli(s.env, ['verify']);
  expect(verifyBefore.stdout, 'staged files are no drift').not.toMatch(/filesync-partial/);
  const again = await runCli(s.env, ['once']);
  expect(again.exitCode, again.stdout + again.stderr).toBe(0);
  expect(again.stdout).not.toMatch(/filesync-partial/);
  const after = [...(await s.remote()).keys()];
  // Not in the mirror, and not in the trash either: filesync's own files, not the mirror's.
  expect(after.filter((path) => path.includes('.filesync-partial'))).toEqual([]);
  expect(after.filter((path) => /^batch\/f\d+$/.test(path))).toHaveLength(99);
  expect(after).not.toContain(`batch/${stale}`);
  const verify = await runCli(s.env, ['verify']);
  expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
}
