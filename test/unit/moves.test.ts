import { describe, expect, it } from 'vitest';
import { Filter } from '../../src/filter.ts';
import { movePrepasses } from '../../src/sync/moves.ts';
import { planJob, planMovePrepass } from '../../src/sync/plan.ts';
import type { SurveyedPath } from '../../src/sync/survey.ts';
import { testConfig, testSsh } from './fixtures.ts';

const file = (path: string): SurveyedPath => ({ path, kind: 'file' });
const dir = (path: string): SurveyedPath => ({ path, kind: 'dir' });
const gone = (path: string, ancestor = ''): SurveyedPath => ({ path, kind: 'missing', ancestor });

describe('movePrepasses', () => {
  it('sends a file moved to another directory with the old directory as its basis', () => {
    expect(movePrepasses([gone('inbox/a.bin', 'inbox'), file('done/a.bin')])).toEqual([
      { root: 'done', list: ['a.bin'], bases: ['inbox/a.bin', 'inbox'] },
    ]);
  });

  it('sends a renamed directory whole, with the old one as the basis of every file in it', () => {
    const moves = movePrepasses([gone('d1'), dir('d2'), dir('d2/sub'), file('d2/x'), file('d2/sub/y')]);
    expect(moves).toEqual([{ root: 'd2', list: ['sub/y', 'x'], bases: ['d1', ''] }]);
  });

  it('leaves a rename within one directory to the batch, and a batch without removals alone', () => {
    expect(movePrepasses([gone('logs/app.log', 'logs'), file('logs/app.log.1')])).toEqual([]);
    expect(movePrepasses([gone('.doc.swp'), file('doc.txt')])).toEqual([]);
    expect(movePrepasses([file('a'), dir('b'), file('b/c')])).toEqual([]);
  });

  it('handles moves to and from the top of the tree', () => {
    expect(movePrepasses([gone('sub/a', 'sub'), file('a')])).toEqual([
      { root: '', list: ['a'], bases: ['sub/a', 'sub'] },
    ]);
    expect(movePrepasses([gone('a'), file('sub/a')])).toEqual([
      { root: 'sub', list: ['a'], bases: ['a', ''] },
    ]);
  });

  it("caps the bases at rsync's 20 and the pre-passes at 4, the largest first", () => {
    const many = Array.from({ length: 30 }, (_, i) => gone(`old${i}/f`, `old${i}`));
    const targets = ['a', 'b', 'c', 'd', 'e'].flatMap((d, i) =>
      Array.from({ length: i + 1 }, (_, j) => file(`${d}/f${j}`)),
    );
    const moves = movePrepasses([...many, ...targets]);
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
      expect.arrayContaining(['--copy-dest=/srv/mirror/inbox', '--copy-dest=/srv/mirror', '--fuzzy']),
    );
    expect(plan.args.filter((arg) => arg === '--fuzzy')).toHaveLength(2);
    expect(plan.args.some((arg) => arg.startsWith('--delete'))).toBe(false);
    expect(plan.args.slice(-2)).toEqual(['/data/done/', 'sync@backup.example.com:/srv/mirror/done/']);
    expect(plan.stdin).toBe('a.bin\0x/b\0');
  });

  it('lets a batch that removes paths find renamed files in the same directory', () => {
    const renamed = planJob({ kind: 'batch', paths: [gone('a', ''), file('b')] }, context).args;
    expect(renamed).toEqual(expect.arrayContaining(['--fuzzy', '--delete-delay']));
    const plain = planJob({ kind: 'batch', paths: [file('b')] }, context).args;
    expect(plain).not.toContain('--fuzzy');
    expect(plain).not.toContain('--delete-delay');
  });
});
