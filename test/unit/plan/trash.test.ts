import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { planDeletionCount, planProbe, planTypeCheck, planVerify } from '../../../src/plan/dry-runs.ts';
import { planJob, planTrashPrune } from '../../../src/plan/plan.ts';
import { keptDays, runDir } from '../../../src/plan/trash.ts';
import { testConfig, testSsh } from '../fixtures.ts';

const at = new Date('2026-12-01T23:30:13.123Z');

function context(env: Record<string, string> = {}) {
  const config = testConfig(env);
  return { config, filter: new Filter(config.filter), ssh: testSsh, now: () => at };
}

describe('the trash', () => {
  it('gives each run a directory of its own within the day', () => {
    expect(runDir('.trash', at)).toBe('.trash/2026-12-01/233013.123');
  });

  it('keeps today, tomorrow and the days a file may still be younger than the retention', () => {
    expect(keptDays(at, 86_400_000)).toEqual(['2026-12-02', '2026-12-01', '2026-11-30']);
    expect(keptDays(at, 7 * 86_400_000)).toHaveLength(9);
    expect(keptDays(at, 7 * 86_400_000).at(-1)).toBe('2026-11-24');
    expect(keptDays(new Date('2026-03-01T00:00:00Z'), 86_400_000)).toContain('2026-02-28');
  });

  it('moves what full passes and batches delete or overwrite into the run directory', () => {
    const trash = context({ SYNC_BACKUP_DIR: '.trash' });
    const full = planJob({ kind: 'full', reason: 'start' }, trash).args;
    const batch = planJob({ kind: 'batch', paths: [{ kind: 'file', path: 'a' }] }, trash).args;
    for (const args of [full, batch]) {
      expect(args).toContain('--backup');
      expect(args).toContain('--backup-dir=/srv/mirror/.trash/2026-12-01/233013.123');
      expect(args).toContain('--filter=- /.trash'); // never sent into, never deleted from
    }
    expect(planProbe('probe', 'remove', trash).args).not.toContain('--backup');
    // Dry runs move nothing there, nor name a run directory (rrsync 3.5 would create it).
    expect(planVerify(trash).args.some((arg) => arg.startsWith('--backup'))).toBe(false);
    expect(planDeletionCount(trash).args.some((arg) => arg.startsWith('--backup'))).toBe(false);
    // A file or link of the trash's name is never sent: it would replace the trash.
    expect(trash.filter.accepts('.trash', false)).toBe(false);
    expect(trash.filter.accepts('.trash', true)).toBe(false);
    expect(trash.filter.accepts('sub/.trash', false)).toBe(true);
    expect(planTypeCheck(['a'], trash).args).not.toContain('--backup');
    const none = planJob({ kind: 'full', reason: 'start' }, context()).args;
    expect(none.some((arg) => arg.startsWith('--backup'))).toBe(false);
    expect(planTrashPrune('/run/empty', context())).toBeUndefined();
  });

  it('prunes with rsync alone: an empty directory over the trash, the kept days protected', () => {
    const plan = planTrashPrune(
      '/run/x/empty',
      context({ SYNC_BACKUP_DIR: '.trash', SYNC_BACKUP_RETENTION: '1d', SYNC_MAX_DELETE: '5' }),
    );
    const args = plan?.args ?? [];
    expect(args.slice(-2)).toEqual(['/run/x/empty/', 'sync@backup.example.com:/srv/mirror/.trash/']);
    const rules = args.filter((arg) => arg.startsWith('--filter='));
    expect(rules).toEqual([
      '--filter=P /2026-12-02/',
      '--filter=P /2026-12-01/',
      '--filter=P /2026-11-30/',
      '--filter=R /[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]/',
      '--filter=P /*',
    ]);
    expect(args).toContain('--delete');
    expect(args).toEqual(
      expect.arrayContaining(['--no-perms', '--no-owner', '--no-group', '--omit-dir-times']),
    );
    expect(args.some((arg) => arg.startsWith('--max-delete') || arg.startsWith('--backup'))).toBe(false);
  });
});
