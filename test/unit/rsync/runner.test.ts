import { access, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it, vi } from 'vitest';
import { ITEMIZE_FORMAT } from '../../../src/rsync/itemize.ts';
import type { Progress } from '../../../src/rsync/progress.ts';
import { CANCEL_AT_ONCE, processRunner } from '../../../src/rsync/runner.ts';

const fixture = (name: string) => ({ file: resolve('test/fixtures/bin', name), args: [], stdin: undefined });

it('cancels a hanging rsync when asked, and reports it as cancelled', async () => {
  const controller = new AbortController();
  const running = processRunner.run(fixture('rsync-hangs'), controller.signal);
  setTimeout(() => controller.abort(), 100);
  expect(await running).toMatchObject({ ok: false, reason: 'cancelled' });
});

it('ends a run at once when cancelled with CANCEL_AT_ONCE, and otherwise lets it stop on SIGTERM', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-runner-'));
  try {
    const stoppedOnTerm = async (reason: unknown) => {
      const [started, termed] = [
        join(dir, `started-${String(reason)}`),
        join(dir, `termed-${String(reason)}`),
      ];
      // A run that does something of its own on SIGTERM, as rsync does (it sleeps 400 ms first).
      const plan = {
        file: 'sh',
        args: [
          '-c',
          'trap \'touch "$1"; exit 0\' TERM; touch "$0"; while :; do sleep 0.02; done',
          started,
          termed,
        ],
        stdin: undefined,
      };
      const controller = new AbortController();
      const running = processRunner.run(plan, controller.signal);
      await vi.waitFor(() => access(started));
      controller.abort(reason);
      expect(await running).toMatchObject({ ok: false, reason: 'cancelled' });
      return access(termed).then(
        () => true,
        () => false,
      );
    };
    expect(await stoppedOnTerm(CANCEL_AT_ONCE)).toBe(false);
    expect(await stoppedOnTerm(undefined)).toBe(true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

it('classifies a failing rsync by its exit code and stderr', async () => {
  const outcome = await processRunner.run(fixture('rsync-fails'), new AbortController().signal);
  expect(outcome).toMatchObject({ ok: false, reason: 'partial', exitCode: 23 });
  expect(outcome.ok ? '' : outcome.message).toContain('Disk quota exceeded');
});

it('reports an rsync that cannot be started as a local problem with a hint', async () => {
  const outcome = await processRunner.run(fixture('no-such-rsync'), new AbortController().signal);
  expect(outcome).toMatchObject({ ok: false, reason: 'local' });
  expect(outcome.ok ? '' : outcome.hint).toMatch(/install rsync/);
});

it('streams an itemizing run into counts and the first paths, and still reads --stats', async () => {
  const root = await mkdtemp(join(tmpdir(), 'filesync-runner-'));
  try {
    await mkdir(join(root, 'src'));
    await mkdir(join(root, 'dst'));
    for (let i = 0; i < 50; i++) await writeFile(join(root, 'src', `f ${i}`), String(i));
    const plan = {
      file: 'rsync',
      args: ['-a', '--stats', `--out-format=${ITEMIZE_FORMAT}`, `${root}/src/`, `${root}/dst/`],
      stdin: undefined,
      itemize: { keep: 3 },
    };
    const outcome = await processRunner.run(plan, new AbortController().signal);
    expect(outcome).toMatchObject({ ok: true, stats: { filesTransferred: 50 } });
    expect(outcome.ok && outcome.itemized?.kinds.missing.count).toBe(50);
    expect(outcome.ok && outcome.itemized?.kinds.missing.paths).toHaveLength(3);
    const again = await processRunner.run(plan, new AbortController().signal);
    expect(again.ok && again.itemized?.total).toBe(0);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

it('reports an rsync killed by a signal, and hands its list on stdin', async () => {
  const killed = {
    file: 'sh',
    args: ['-c', 'read line; [ "$line" = "a/b" ] && kill -KILL $$'],
    stdin: 'a/b\n',
  };
  const outcome = await processRunner.run(killed, new AbortController().signal);
  expect(outcome).toMatchObject({ ok: false, reason: 'unknown' });
  expect(outcome.ok ? '' : outcome.message).toContain('killed by SIGKILL');
});

it('hands --info=progress2 lines to onProgress, and still reads --stats', async () => {
  const root = await mkdtemp(join(tmpdir(), 'filesync-progress-'));
  try {
    await mkdir(join(root, 'src'));
    for (let i = 0; i < 3; i++) await writeFile(join(root, 'src', `f${i}`), Buffer.alloc(200_000, i));
    const plan = {
      file: 'rsync',
      args: ['-a', '--stats', '--info=progress2', `${root}/src/`, `${root}/dst/`],
      stdin: undefined,
      progress: true,
    };
    const seen: Progress[] = [];
    const outcome = await processRunner.run(plan, new AbortController().signal, (p) => seen.push(p));
    expect(outcome).toMatchObject({ ok: true, stats: { filesTransferred: 3 } });
    expect(seen.at(-1)).toMatchObject({ bytes: 600_000, percent: 100, files: { toCheck: 0, listed: 4 } });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});
