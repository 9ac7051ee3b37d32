import { describe, expect, it } from 'vitest';
import { ItemizedTally } from '../../../src/rsync/itemize.ts';
import { jsonReport, textReport, typeCandidates, withTypeChanges } from '../../../src/verify/report.ts';

const compared = { source: '/data', target: 'sync@host:22:/mirror' };

function itemized(lines: string[]) {
  const tally = new ItemizedTally(Number.POSITIVE_INFINITY);
  for (const line of lines) tally.addLine(line);
  return tally.result();
}

describe('typeCandidates', () => {
  it('skips paths below another missing path, and everything when the target directory is missing', () => {
    expect(typeCandidates(['a', 'a/b', 'a/b/c', 'ab', 'x/y'])).toEqual(['a', 'ab', 'x/y']);
    expect(typeCandidates(['.', 'a', 'a/b'])).toEqual([]);
  });
});

describe('withTypeChanges', () => {
  it('moves the paths found with another type from missing to type', () => {
    const result = withTypeChanges(
      itemized(['>f+++++++++ a', 'cd+++++++++ d/', '*deleting   d2/in']),
      new Set(['d']),
    );
    expect(result.kinds.missing).toEqual({ count: 1, paths: ['a'] });
    expect(result.kinds.type).toEqual({ count: 1, paths: ['d'] });
    expect(result.kinds.extra.paths).toEqual(['d2/in']);
    expect(result.total).toBe(3);
  });
});

describe('reports', () => {
  it('says in sync when nothing differs', () => {
    expect(textReport(itemized(['.d..t...... ./']), compared)).toEqual([
      'in sync: /data and sync@host:22:/mirror hold the same files',
    ]);
    expect(JSON.parse(jsonReport(itemized([]), compared))).toMatchObject({ status: 'in-sync', total: 0 });
  });

  it('groups paths by kind, caps each list and escapes names onto one line', () => {
    const lines = [
      ...Array.from({ length: 25 }, (_, i) => `>f+++++++++ new ${i}`),
      '.f...p..... odd\\#012name',
    ];
    const text = textReport(itemized(lines), compared);
    expect(text[0]).toBe('drifted: 26 paths differ between /data and sync@host:22:/mirror');
    expect(text[1]).toBe('missing — missing on the target (25):');
    expect(text).toContain('  new 0');
    expect(text).toContain('  … and 5 more (--json lists them all)');
    expect(text).toContain('permissions — permissions differ (1):');
    expect(text.at(-1)).toBe('  odd\\nname');
    const json = JSON.parse(jsonReport(itemized(lines), compared));
    expect(json.status).toBe('drifted');
    expect(json.differences.missing).toHaveLength(25);
    expect(json.differences.permissions).toEqual(['odd\nname']);
  });
});
