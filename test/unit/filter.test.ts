import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Filter, validatePatterns } from '../../src/filter.ts';

describe('Filter', () => {
  it('accepts everything by default, except rsync partial dirs', () => {
    const filter = new Filter({ include: [], exclude: [] });
    expect(filter.accepts('a/b/c.txt', false)).toBe(true);
    expect(filter.accepts('.hidden', false)).toBe(true);
    expect(filter.accepts('a/.filesync-partial', true)).toBe(false);
    expect(filter.accepts('a/.filesync-partial/x', false)).toBe(false);
  });

  it('matches names without a slash at any depth, and excludes what is below an excluded directory', () => {
    const filter = new Filter({ include: [], exclude: ['*.tmp', 'node_modules', 'cache/'] });
    expect(filter.accepts('x.tmp', false)).toBe(false);
    expect(filter.accepts('deep/er/x.tmp', false)).toBe(false);
    expect(filter.accepts('x.tmp.keep', false)).toBe(true);
    expect(filter.accepts('app/node_modules/lib/index.js', false)).toBe(false);
    expect(filter.accepts('cache', true)).toBe(false);
    expect(filter.accepts('cache', false)).toBe(true);
    expect(filter.accepts('a/cache/file', false)).toBe(false);
  });

  it('anchors patterns with a slash or ** at the source root', () => {
    const filter = new Filter({ include: [], exclude: ['build/out', '/top.txt', 'logs/**.gz'] });
    expect(filter.accepts('build/out/x', false)).toBe(false);
    expect(filter.accepts('src/build/out', false)).toBe(true);
    expect(filter.accepts('top.txt', false)).toBe(false);
    expect(filter.accepts('sub/top.txt', false)).toBe(true);
    expect(filter.accepts('logs/2026/01/a.gz', false)).toBe(false);
    expect(filter.accepts('logs/a.txt', false)).toBe(true);
  });

  it('applies includes to files only, so directories stay reachable', () => {
    const filter = new Filter({ include: ['*.csv', 'reports/**'], exclude: [] });
    expect(filter.accepts('deep/data.csv', false)).toBe(true);
    expect(filter.accepts('deep/data.txt', false)).toBe(false);
    expect(filter.accepts('deep', true)).toBe(true);
    expect(filter.accepts('reports/2026/q1.pdf', false)).toBe(true);
    expect(filter.rejectsFile('notes.txt')).toBe(true);
  });

  it('supports ? and character classes like rsync', () => {
    const filter = new Filter({ include: [], exclude: ['file?.log', '[!a]*.bak', '[ab]x'] });
    expect(filter.accepts('file1.log', false)).toBe(false);
    expect(filter.accepts('file12.log', false)).toBe(true);
    expect(filter.accepts('b.bak', false)).toBe(false);
    expect(filter.accepts('a.bak', false)).toBe(true);
    expect(filter.accepts('bx', false)).toBe(false);
  });

  it('treats regex metacharacters in names literally', () => {
    const filter = new Filter({ include: [], exclude: ['a+b(1).txt'] });
    expect(filter.accepts('a+b(1).txt', false)).toBe(false);
    expect(filter.accepts('aab(1).txt', false)).toBe(true);
  });

  it('decides as accepts() for a walk that never enters an excluded directory (acceptsChild)', () => {
    const filter = new Filter({
      include: ['*.csv', 'reports/**'],
      exclude: ['*.tmp', 'node_modules', 'cache/', 'build/out', '/top.txt', 'logs/**.gz', 'a?c'],
    });
    const names = [
      'x.csv',
      'x.tmp',
      'node_modules',
      'cache',
      'build',
      'out',
      'top.txt',
      'logs',
      'a.gz',
      'abc',
      'reports',
    ];
    // Every path up to three names deep, as a walk meets it: only below accepted directories.
    const walked: { path: string; isDir: boolean }[] = [];
    const visit = (dir: string, depth: number) => {
      for (const name of names) {
        const path = dir === '' ? name : `${dir}/${name}`;
        for (const isDir of [false, true]) {
          walked.push({ path, isDir });
          if (isDir && depth < 3 && filter.accepts(path, true)) visit(path, depth + 1);
        }
      }
    };
    visit('', 1);
    expect(walked.length).toBeGreaterThan(1000);
    const disagree = walked.filter(
      ({ path, isDir }) => filter.acceptsChild(path, isDir) !== filter.accepts(path, isDir),
    );
    expect(disagree).toEqual([]);
    expect(walked.some(({ path, isDir }) => !filter.acceptsChild(path, isDir))).toBe(true);
    expect(walked.some(({ path, isDir }) => filter.acceptsChild(path, isDir))).toBe(true);
  });

  it('rejects unusable patterns', () => {
    expect(validatePatterns(['ok', 'a\\b'])).toMatch(/backslashes/);
    expect(validatePatterns(['/'])).toMatch(/not a usable glob/);
    expect(validatePatterns(['*.tmp'])).toBeUndefined();
  });

  // The watcher decides with Filter, a full pass with rsync's own --filter rules: both must
  // pick the same files, so this asks a real rsync.
  it.each([
    { include: [], exclude: [] },
    { include: [], exclude: ['*.tmp', 'cache/', 'build/out', 'logs/**.gz', '[!a]*.bak'] },
    { include: ['*.csv', 'reports/**'], exclude: ['old'] },
  ])('agrees with rsync on %j', async (options) => {
    const source = await mkdtemp(join(tmpdir(), 'filesync-filter-'));
    const files = [
      'a.txt',
      'x.tmp',
      'deep/er/y.tmp',
      'cache/c.txt',
      'sub/cache/c.txt',
      'build/out/o.bin',
      'src/build/out',
      'logs/2026/a.gz',
      'logs/a.txt',
      'b.bak',
      'a.bak',
      'data.csv',
      'deep/data.csv',
      'reports/q/1.pdf',
      'old/data.csv',
      'keep/old/data.csv',
      '.filesync-partial/junk',
      'sp ace/$(x).csv',
    ];
    for (const file of files) {
      await mkdir(dirname(join(source, file)), { recursive: true });
      await writeFile(join(source, file), 'x');
    }
    const filter = new Filter(options);
    const listed = await execa('rsync', [
      '-a',
      '--dry-run',
      '--out-format=%n',
      ...filter.rsyncRules(),
      `${source}/`,
      join(source, '..', 'unused-target'),
    ]);
    const byRsync = listed.stdout
      .split('\n')
      .filter((line) => line !== '' && !line.endsWith('/'))
      .sort();
    const byFilter = files.filter((file) => filter.accepts(file, false)).sort();
    expect(byRsync).toEqual(byFilter);
  });
});
