import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { planJob } from '../../../src/plan/plan.ts';
import {
  planClearRunning,
  planMarkRunning,
  resumesPartials,
  withoutPartialDir,
} from '../../../src/plan/resume-marker.ts';
import { rsyncShell } from '../../../src/rsync/ssh.ts';
import { testConfig, testSsh } from '../fixtures.ts';

// The running marker's runs, and the full pass that no partial file waits for.

function context(env: Record<string, string> = {}) {
  const config = testConfig(env);
  return { config, filter: new Filter(config.filter), ssh: testSsh };
}

const TOP = 'sync@backup.example.com:/srv/mirror/';

describe('the running marker', () => {
  it('is put in the partial-dir of the mirror’s top unless it is there, through the shared connection', () => {
    const plan = planMarkRunning('/run/x/.filesync-running', context());
    expect(plan.file).toBe('rsync');
    expect(plan.args.slice(-5)).toEqual([
      '--mkpath',
      '--ignore-existing', // one there is kept: --stats count no file sent
      '--stats',
      '/run/x/.filesync-running',
      `${TOP}.filesync-partial/`, // into the directory, under its own name
    ]);
    expect(plan.args).toContain('--timeout=60');
    expect(plan.args[plan.args.indexOf('--rsh') + 1]).toBe(rsyncShell(testSsh));
    // Nothing of the mirror's own runs: no deletion, no filter, no partial-dir.
    expect(plan.args.filter((arg) => /^--(delete|filter|partial)/.test(arg))).toEqual([]);
  });

  it('is removed by a clean stop with the top’s partial-dir, and nothing else', () => {
    const plan = planClearRunning('/run/x/empty/', context());
    expect(plan.args.slice(-8)).toEqual([
      '--dirs',
      '--delete',
      '--no-perms',
      '--omit-dir-times',
      '--filter=R /.filesync-partial/***',
      '--filter=P *',
      '/run/x/empty/',
      TOP,
    ]);
    expect(plan.args).not.toContain('--recursive');
  });

  it('takes of the user’s own rsync options only where rsync is on the target: no backup, xattrs or owners', () => {
    const env = { SYNC_RSYNC_EXTRA_ARGS: '--rsync-path=/opt/rsync -b -X --owner' };
    for (const plan of [planMarkRunning('/f', context(env)), planClearRunning('/d', context(env))]) {
      expect(plan.args).toContain('--rsync-path=/opt/rsync');
      expect(plan.args.filter((arg) => ['-b', '-X', '--owner'].includes(arg))).toEqual([]);
    }
  });

  it('is kept only where partial files are resumed: not without them, nor where they stage delayed updates', () => {
    expect(resumesPartials(testConfig())).toBe(true);
    expect(resumesPartials(testConfig({ SYNC_RSYNC_PARTIAL: 'false' }))).toBe(false);
    expect(resumesPartials(testConfig({ SYNC_DELAY_UPDATES: 'true' }))).toBe(false);
  });
});

describe('a full pass that no partial file waits for', () => {
  const full = { kind: 'full', reason: 'start' } as const;

  it('leaves out the partial-dir, and nothing else', () => {
    const usual = planJob(full, context()).args;
    const clean = planJob(full, withoutPartialDir(context())).args;
    expect(usual).toContain('--partial-dir=.filesync-partial');
    const rsh = usual.indexOf('--rsh');
    expect(clean).toEqual([
      ...usual.slice(0, rsh).filter((arg) => arg !== '--partial-dir=.filesync-partial'),
      '--no-partial',
      ...usual.slice(rsh),
    ]);
  });

  it('turns off a bare --partial of the user’s, which would put a cut file in place of the good one', () => {
    const args = planJob(full, withoutPartialDir(context({ SYNC_RSYNC_EXTRA_ARGS: '-P' }))).args;
    expect(args.indexOf('--no-partial')).toBeGreaterThan(args.indexOf('-P'));
  });
});
