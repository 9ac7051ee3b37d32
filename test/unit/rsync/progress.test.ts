import { expect, it } from 'vitest';
import { parseProgress } from '../../../src/rsync/progress.ts';

it('reads the bytes, percentage, rate and file counts of an --info=progress2 line', () => {
  expect(parseProgress('      6,000,000  66%    2.94MB/s    0:00:01 (xfr#2, to-chk=1/4)')).toEqual({
    progress: {
      bytes: 6_000_000,
      percent: 66,
      rate: '2.94MB/s',
      files: { transferred: 2, toCheck: 1, listed: 4 },
    },
    rest: '',
  });
  expect(parseProgress('         32,768   0%    0.00kB/s    0:00:00  ')).toEqual({
    progress: { bytes: 32_768, percent: 0, rate: '0.00kB/s' },
    rest: '',
  });
  expect(
    parseProgress('  1,234,567,890 100%  110.52MB/s    1:02:03 (xfr#99, ir-chk=1000/250000)')?.progress.files,
  ).toEqual({ transferred: 99, toCheck: 1000, listed: 250_000 });
});

it('hands back a line that rsync glued to the progress (its newline went to stderr)', () => {
  const glued = '      1,234 100%    1.00kB/s    0:00:00 (xfr#1, to-chk=8/10)>f+++++++++ C';
  expect(parseProgress(glued)?.rest).toBe('>f+++++++++ C');
  expect(parseProgress('         32,768   0%    0.00kB/s    0:00:00  *deleting old')?.rest).toBe(
    '*deleting old',
  );
});

it('takes no other line for progress', () => {
  for (const line of [
    '>f+++++++++ f1',
    'Number of files: 4 (reg: 3, dir: 1)',
    '',
    '12 files',
    '*deleting a 1%',
  ]) {
    expect(parseProgress(line)).toBeUndefined();
  }
});
