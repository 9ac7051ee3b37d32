import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { movePrepasses } from '../../../src/plan/moves.ts';
import { planJob, planMovePrepass, planMoveRoots } from '../../../src/plan/plan.ts';
import type { SurveyedPath } from '../../../src/plan/survey.ts';
import { testConfig, testSsh } from '../fixtures.ts';

const file = (path: string): SurveyedPath => ({ path, kind: 'file' });
const dir = (path: string): SurveyedPath => ({ path, kind: 'dir' });
const all = () => true;
const gone = (path: string, ancestor = ''): SurveyedPath => ({ path, kind: 'missing', ancestor });

describe('movePrepasses', () => {
  it('sends a file moved to another directory with the old directory as its basis', () => {
    expect(movePrepasses([gone('inbox/a.bin', 'inbox'), file('done/a.bin')], all)).toEqual([
      { root: 'done', list: ['a.bin'], bases: ['inbox', 'inbox/a.bin'] },
    ]);
  });

  it('sends a renamed directory whole, with the old one as the basis of every file in it', () => {
    const moves = movePrepasses([gone('d1'), dir('d2'), dir('d2/sub'), file('d2/x'), file('d2/sub/y')], all);
    expect(moves).toEqual([{ root: 'd2', list: ['sub/y', 'x'], bases: ['', 'd1'] }]);
  });

  it('lists only files the filter accepts', () => {
    const txt = (file: string) => file.endsWith('.txt');
    expect(movePrepasses([gone('a/x.txt', 'a'), file('b/x.txt'), file('b/y.bin')], txt)).toEqual([
      { root: 'b', list: ['x.txt'], bases: ['a', 'a/x.txt'] },
    ]);
    expect(movePrepasses([gone('a/x.txt', 'a'), file('b/y.bin')], txt)).toEqual([]);
  });

  it('leaves a rename within one directory to the batch, and a batch without removals alone', () => {
    expect(movePrepasses([gone('logs/app.log', 'logs'), file('logs/app.log.1')], all)).toEqual([]);
    expect(movePrepasses([gone('.doc.swp'), file('doc.txt')], all)).toEqual([]);
    expect(movePrepasses([file('a'), dir('b'), file('b/c')], all)).toEqual([]);
  });

  it('handles moves to and from the top of the tree', () => {
    expect(movePrepasses([gone('sub/a', 'sub'), file('a')], all)).toEqual([
      { root: '', list: ['a'], bases: ['sub', 'sub/a'] },
    ]);
    expect(movePrepasses([gone('a'), file('sub/a')], all)).toEqual([
      { root: 'sub', list: ['a'], bases: ['', 'a'] },
    ]);
  });

  it("caps the bases at rsync's 20 and the pre-passes at 4, the largest first", () => {
    const many = Array.from({ length: 30 }, (_, i) => gone(`old${i}/f`, `old${i}`));
    const targets = ['a', 'b', 'c', 'd', 'e'].flatMap((d, i) =>
      Array.from({ length: i + 1 }, (_, j) => file(`${d}/f${j}`)),
    );
    const moves = movePrepasses([...many, ...targets], all);
    expect(moves.map(({ root }) => root)).toEqual(['e', 'd', 'c', 'b']);
    expect(moves.every(({ bases }) => bases.length === 20)).toBe(true);
  });
});

describe('planning moves', () => {
  const config = testConfig();
  const context = { config, filter: new Filter(config.filter), ssh: testSsh };

  it('gives the pre-pass absolute --copy-dest bases and its files on stdin, and no deletions', () => {
    const plan = planMovePrepass({ root: 'done', list: ['a.bin', 'x/b'], bases: ['inbox', ''] }, context);
    expect(plan.args).toEqual(
      expect.arrayContaining(['--link-dest=/srv/mirror/inbox', '--link-dest=/srv/mirror', '--fuzzy']),
    );
    expect(plan.args.filter((arg) => arg === '--fuzzy')).toHaveLength(2);
    expect(plan.args.some((arg) => arg.startsWith('--delete'))).toBe(false);
    expect(plan.args.slice(-2)).toEqual(['/data/done/', 'sync@backup.example.com:/srv/mirror/done/']);
    expect(plan.stdin).toBe('a.bin\0x/b\0');
  });

  it('copies rather than links where rsync may update files in place, and roots at / for rrsync', () => {
    const inPlace = testConfig({ SYNC_RSYNC_EXTRA_ARGS: '--inplace' });
    const copied = planMovePrepass(
      { root: 'a', list: ['f'], bases: ['b'] },
      { config: inPlace, filter: new Filter(inPlace.filter), ssh: testSsh },
    );
    expect(copied.args).toContain('--copy-dest=/srv/mirror/b');
    const top = testConfig({ SYNC_REMOTE_DIR: '/' });
    const rooted = planMovePrepass(
      { root: 'a', list: ['f'], bases: ['', 'b'] },
      { config: top, filter: new Filter(top.filter), ssh: testSsh },
    );
    expect(rooted.args).toEqual(expect.arrayContaining(['--link-dest=/', '--link-dest=/b']));
    expect(rooted.args.at(-1)).toBe('sync@backup.example.com:/a/');
  });

  it('makes the roots real directories first, from the top, deleting nothing', () => {
    const plan = planMoveRoots(['done', 'a/b'], context);
    expect(plan.stdin).toBe('done\0a/b\0');
    expect(plan.args.slice(-2)).toEqual(['/data/', 'sync@backup.example.com:/srv/mirror/']);
    expect(plan.args.some((arg) => arg.startsWith('--delete'))).toBe(false);
  });

  it('lets a batch that removes paths find renamed files in the same directory', () => {
    const renamed = planJob({ kind: 'batch', paths: [gone('a', ''), file('b')] }, context).args;
    expect(renamed).toEqual(expect.arrayContaining(['--fuzzy', '--delete-delay']));
    const plain = planJob({ kind: 'batch', paths: [file('b')] }, context).args;
    expect(plain).not.toContain('--fuzzy');
    expect(plain).not.toContain('--delete-delay');
  });
});
