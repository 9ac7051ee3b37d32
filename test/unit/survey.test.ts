import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { surveyPaths } from '../../src/sync/survey.ts';

it('tells files, directories, symlinks and vanished paths apart, with the nearest surviving directory', async () => {
  const source = await mkdtemp(join(tmpdir(), 'filesync-survey-'));
  await mkdir(join(source, 'a/b'), { recursive: true });
  await writeFile(join(source, 'a/f.txt'), 'x');
  await symlink('a', join(source, 'link-to-dir'));
  const surveyed = await surveyPaths(source, ['a', 'a/f.txt', 'link-to-dir', 'a/b/gone/deeper/x', 'gone', 'a/gone.txt']);
  expect(surveyed).toEqual([
    { path: 'a', kind: 'dir' },
    { path: 'a/f.txt', kind: 'file' },
    { path: 'link-to-dir', kind: 'file' },
    { path: 'a/b/gone/deeper/x', kind: 'missing', ancestor: 'a/b' },
    { path: 'gone', kind: 'missing', ancestor: '' },
    { path: 'a/gone.txt', kind: 'missing', ancestor: 'a' },
  ]);
});
