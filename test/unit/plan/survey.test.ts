import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { bytesOf } from '../../../src/names.ts';
import { batchList } from '../../../src/plan/plan.ts';
import { surveyPaths } from '../../../src/plan/survey.ts';

it('tells files, directories, symlinks and vanished paths apart, with the nearest surviving directory', async () => {
  const source = await mkdtemp(join(tmpdir(), 'filesync-survey-'));
  await mkdir(join(source, 'a/b'), { recursive: true });
  await writeFile(join(source, 'a/f.txt'), 'x');
  await symlink('a', join(source, 'link-to-dir'));
  const surveyed = await surveyPaths(
    source,
    ['a/f.txt', 'link-to-dir', 'a/b/gone/deeper/x', 'gone', 'a/gone.txt'],
    new Filter({ include: [], exclude: [] }),
  );
  expect(surveyed).toEqual([
    { path: 'a/f.txt', kind: 'file' },
    { path: 'link-to-dir', kind: 'file' },
    { path: 'a/b/gone', kind: 'missing', ancestor: 'a/b' },
    { path: 'gone', kind: 'missing', ancestor: '' },
    { path: 'a/gone.txt', kind: 'missing', ancestor: 'a' },
  ]);
});

it('never resolves a path through a symlink or a file: the ancestor that stopped being a directory is sent', async () => {
  const source = await mkdtemp(join(tmpdir(), 'filesync-survey-'));
  await mkdir(join(source, 'keep/sub'), { recursive: true });
  await writeFile(join(source, 'keep/f.txt'), 'x');
  await writeFile(join(source, 'keep/sub/own.txt'), 'x');
  await symlink('keep', join(source, 'd')); // d/ was a directory with f.txt and sub/ in it
  await writeFile(join(source, 'was-dir'), 'now a file');
  await mkdir(join(source, 'real'));
  await symlink('../keep', join(source, 'real/inner'));
  const surveyed = await surveyPaths(
    source,
    ['d/f.txt', 'd/sub/own.txt', 'd/gone.txt', 'was-dir/x/y.txt', 'real/inner/sub/own.txt', 'keep/f.txt'],
    new Filter({ include: [], exclude: [] }),
  );
  expect(surveyed).toEqual([
    { path: 'd', kind: 'file' },
    { path: 'd', kind: 'file' },
    { path: 'd', kind: 'file' },
    { path: 'was-dir', kind: 'file' },
    { path: 'real/inner', kind: 'file' },
    { path: 'keep/f.txt', kind: 'file' },
  ]);
  expect(batchList(surveyed, true)).toEqual(['d', 'keep/f.txt', 'real/inner', 'was-dir']);
});

it('walks a new directory whole, leaving out what the filter excludes', async () => {
  const source = await mkdtemp(join(tmpdir(), 'filesync-survey-'));
  await mkdir(join(source, 'new/b/c'), { recursive: true });
  await mkdir(join(source, 'new/cache/deep'), { recursive: true });
  await writeFile(join(source, 'new/b/c/deep.txt'), 'x');
  await writeFile(join(source, 'new/b/skip.tmp'), 'x');
  await writeFile(join(source, 'new/cache/deep/x.txt'), 'x');
  const filter = new Filter({ include: [], exclude: ['*.tmp', 'cache/'] });
  const surveyed = await surveyPaths(source, ['new', 'new/b', 'new/b/c/deep.txt'], filter);
  expect(surveyed.map((entry) => `${entry.kind} ${entry.path}`).sort()).toEqual([
    'dir new',
    'dir new/b',
    'dir new/b/c',
    'file new/b/c/deep.txt', // once: the walk lists it, so it is not looked at again
  ]);
});

it('leaves what vanished from a changed directory to that directory, which is sent whole', async () => {
  const source = await mkdtemp(join(tmpdir(), 'filesync-survey-'));
  await mkdir(join(source, 'dir/sub'), { recursive: true });
  await writeFile(join(source, 'dir/kept.txt'), 'x');
  await writeFile(join(source, 'elsewhere.txt'), 'x');
  const surveyed = await surveyPaths(
    source,
    ['dir/gone.txt', 'dir', 'dir/sub/gone-too', 'elsewhere.txt', 'gone-at-top'],
    new Filter({ include: [], exclude: [] }),
  );
  expect(surveyed.map((entry) => `${entry.kind} ${entry.path}`).sort()).toEqual([
    'dir dir',
    'dir dir/sub',
    'file dir/kept.txt',
    'file elsewhere.txt',
    'missing gone-at-top',
  ]);
});

it('surveys and walks names that are not UTF-8 as the bytes they are', async () => {
  const source = await mkdtemp(join(tmpdir(), 'filesync-survey-'));
  const deja = 'd\udce9j\udce0'; // Latin-1 "déjà" (names.ts)
  await mkdir(bytesOf(join(source, `${deja}/sub`)), { recursive: true });
  await writeFile(bytesOf(join(source, `${deja}/caf\udce9`)), 'x');
  await writeFile(bytesOf(join(source, 'top\udcff')), 'x');
  const surveyed = await surveyPaths(
    source,
    ['top\udcff', deja, 'gone\udce9'],
    new Filter({ include: [], exclude: [] }),
  );
  const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
  expect(surveyed.sort(byPath)).toEqual(
    [
      { path: deja, kind: 'dir' },
      { path: `${deja}/caf\udce9`, kind: 'file' },
      { path: `${deja}/sub`, kind: 'dir' },
      { path: 'top\udcff', kind: 'file' },
      { path: 'gone\udce9', kind: 'missing', ancestor: '' },
    ].sort(byPath),
  );
});
