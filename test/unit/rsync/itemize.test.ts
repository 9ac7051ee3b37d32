import { chmod, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import {
  decodeName,
  firstPaths,
  ITEMIZE_FORMAT,
  ItemizedTally,
  parseItemizedLine,
} from '../../../src/rsync/itemize.ts';

// Lines as rsync 3.5.0 printed them for `rsync -a --dry-run --delete --out-format='%i %n'`
// under LC_ALL=C, over a tree with every kind of difference.
const CAPTURED = [
  '*deleting   extradir/x/',
  '*deleting   extradir/',
  '*deleting   extra',
  '.d..t...... ./',
  '>f.st...... content',
  '>f+++++++++ file2dir',
  'cL+++++++++ file2link',
  'cLc.t...... link',
  '>f+++++++++ new\\#012line',
  '.f...p..... perm',
  '>f..t...... times',
  '>f+++++++++ \\#303\\#274n\\#303\\#257',
  'cd+++++++++ dir2file/',
  '.d..t...... samedir/',
  '.f....og... owned',
  '>f+++++++++  leading space',
  'created directory nodir/deeper',
  'Number of files: 3 (reg: 2, dir: 1)',
  'cannot delete non-empty directory: file2dir',
];

describe('parseItemizedLine', () => {
  it('reads each kind of difference from real itemized lines', () => {
    const parsed = CAPTURED.map(parseItemizedLine);
    expect(parsed).toEqual([
      { path: 'extradir/x', kind: 'extra' },
      { path: 'extradir', kind: 'extra' },
      { path: 'extra', kind: 'extra' },
      { path: '.', kind: undefined },
      { path: 'content', kind: 'content' },
      { path: 'file2dir', kind: 'missing' },
      { path: 'file2link', kind: 'missing' },
      { path: 'link', kind: 'symlink' },
      { path: 'new\nline', kind: 'missing' },
      { path: 'perm', kind: 'permissions' },
      { path: 'times', kind: 'times' },
      { path: 'ünï', kind: 'missing' },
      { path: 'dir2file', kind: 'missing' },
      { path: 'samedir', kind: undefined },
      { path: 'owned', kind: 'owner' },
      { path: ' leading space', kind: 'missing' },
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('treats a file sent with no attribute changed as content, and -ii unchanged items as none', () => {
    expect(parseItemizedLine('>f......... forced')).toEqual({ path: 'forced', kind: 'content' });
    expect(parseItemizedLine('.f          same')).toEqual({ path: 'same', kind: undefined });
    expect(parseItemizedLine('cd+++++++++ ./')).toEqual({ path: '.', kind: 'missing' });
  });
});

describe('decodeName', () => {
  it('turns \\#ooo escapes back into bytes, a literal backslash-hash included', () => {
    expect(decodeName('back\\#134#012slash')).toBe('back\\#012slash');
    expect(decodeName('tab\there')).toBe('tab\there');
    expect(decodeName('\\#342\\#202\\#254 euro')).toBe('€ euro');
    expect(decodeName('plain name')).toBe('plain name');
  });
});

describe('ItemizedTally', () => {
  it('counts every path but keeps only the first few of each kind', () => {
    const tally = new ItemizedTally(2);
    for (let i = 0; i < 1000; i++) tally.addLine(`>f+++++++++ new${i}`);
    tally.addLine('*deleting   gone');
    tally.addLine('.d..t...... quiet/');
    expect(tally.addLine('Number of files: 3')).toBe(false);
    const result = tally.result();
    expect(result.total).toBe(1001);
    expect(result.kinds.missing).toEqual({ count: 1000, paths: ['new0', 'new1'] });
    expect(result.kinds.extra).toEqual({ count: 1, paths: ['gone'] });
    expect(firstPaths(result, 3)).toEqual(['new0', 'new1', 'gone']);
  });
});

describe('on real rsync output', () => {
  it('names with spaces, newlines, tabs, backslashes and UTF-8 come back exactly', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-itemize-'));
    const [src, dst] = [join(root, 'src'), join(root, 'dst')];
    const names = ['with space', 'new\nline', 'tab\tbed', 'back\\#012slash', 'ünï €', ' lead', 'trail '];
    try {
      await mkdir(join(src, 'dir one'), { recursive: true });
      await mkdir(dst);
      for (const name of names) await writeFile(join(src, 'dir one', name), name);
      await writeFile(join(src, 'mode'), 'mode');
      await writeFile(join(dst, 'mode'), 'mode');
      await chmod(join(src, 'mode'), 0o600);
      await chmod(join(dst, 'mode'), 0o644);
      const when = new Date('2020-01-01T00:00:00Z');
      await utimes(join(src, 'mode'), when, when);
      await utimes(join(dst, 'mode'), when, when);
      await symlink('a', join(src, 'link'));
      await symlink('b', join(dst, 'link'));
      await writeFile(join(dst, 'only here'), 'extra');
      const { stdout } = await execa(
        'rsync',
        ['-a', '--dry-run', '--delete', `--out-format=${ITEMIZE_FORMAT}`, `${src}/`, `${dst}/`],
        { env: { LC_ALL: 'C' } },
      );
      const tally = new ItemizedTally(Number.POSITIVE_INFINITY);
      for (const line of stdout.split('\n')) tally.addLine(line);
      const { kinds } = tally.result();
      expect([...kinds.missing.paths].sort()).toEqual(
        ['dir one', ...names.map((name) => `dir one/${name}`)].sort(),
      );
      expect(kinds.extra.paths).toEqual(['only here']);
      expect(kinds.permissions.paths).toEqual(['mode']);
      expect(kinds.symlink.paths).toEqual(['link']);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
