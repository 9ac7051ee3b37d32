import { mkdir, mkdtemp, readdir, readFile, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { apply, history, type Operation } from '../integration/support/fuzz.ts';

// The randomized test makes symlinks that point outside the source; applying its operations
// must never write, chmod, create or delete anything through them.

it('refuses every operation that would pass through a symlink, and touches nothing outside', async () => {
  const root = await mkdtemp(join(tmpdir(), 'filesync-guard-root-'));
  const outside = await mkdtemp(join(tmpdir(), 'filesync-guard-outside-'));
  await mkdir(join(outside, 'dir'));
  await writeFile(join(outside, 'file'), 'untouched');
  await symlink(join(outside, 'dir'), join(root, 'a'));
  await symlink(join(outside, 'file'), join(root, 'x'));
  const before = await stat(join(outside, 'file'));

  const refused: Operation[] = [
    { op: 'write', path: 'x', size: 5, fill: 1 },
    { op: 'append', path: 'x', fill: 1 },
    { op: 'same-size', path: 'x', fill: 1 },
    { op: 'truncate', path: 'x', size: 0 },
    { op: 'chmod', path: 'x', mode: 0o600 },
    { op: 'write', path: 'a/y', size: 5, fill: 1 },
    { op: 'mkdir', path: 'a/c' },
    { op: 'rm', path: 'a/c' },
    { op: 'rename', path: 'a/c', to: 'y' },
    { op: 'rename', path: 'y', to: 'a/y' },
    { op: 'symlink', path: 'a/z', target: 'nowhere' },
    { op: 'move-in', path: 'a/m', files: 2 },
  ];
  for (const operation of refused) expect(await apply(root, outside, operation)).toBe('refused');
  expect(await readFile(join(outside, 'file'), 'utf8')).toBe('untouched');
  expect((await stat(join(outside, 'file'))).mode).toBe(before.mode);
  expect(await readdir(join(outside, 'dir'))).toEqual([]);

  // On the links themselves (not through them) operations still apply.
  expect(await apply(root, outside, { op: 'touch', path: 'x', seconds: 1_600_000_000 })).toBe('done');
  expect(await apply(root, outside, { op: 'rm', path: 'x' })).toBe('done');
  expect(await readFile(join(outside, 'file'), 'utf8')).toBe('untouched');
  expect((await stat(join(outside, 'file'))).mtimeMs).toBe(before.mtimeMs);
  expect(await readlink(join(root, 'a'))).toBe(join(outside, 'dir'));
});

it('makes the same history from the same seed', () => {
  expect(history(42, 200, [0, 100])).toEqual(history(42, 200, [0, 100]));
  expect(history(42, 200, [0, 100])).not.toEqual(history(43, 200, [0, 100]));
});
