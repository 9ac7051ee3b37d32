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
      `${TOP}.filesync-partial/.filesync-running`,
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

  it('keeps the user’s own rsync options (a --rsync-path, say) in both runs', () => {
    const env = { SYNC_RSYNC_EXTRA_ARGS: '--rsync-path=/opt/rsync' };
    expect(planMarkRunning('/f', context(env)).args).toContain('--rsync-path=/opt/rsync');
    expect(planClearRunning('/d', context(env)).args).toContain('--rsync-path=/opt/rsync');
  });

  it('is kept only where partial files are resumed: not without them, nor where they stage delayed updates', () => {
    expect(resumesPartials(testConfig())).toBe(true);
    expect(resumesPartials(testConfig({ SYNC_RSYNC_PARTIAL: 'false' }))).toBe(false);
    expect(resumesPartials(testConfig({ SYNC_DELAY_UPDATES: 'true' }))).toBe(false);
  });
});

describe('a full pass that no partial file waits for', () => {
  it('leaves out the partial-dir and nothing else', () => {
    const full = { kind: 'full', reason: 'start' } as const;
    const usual = planJob(full, context()).args;
    const clean = planJob(full, withoutPartialDir(context())).args;
    expect(usual).toContain('--partial-dir=.filesync-partial');
    expect(clean).toEqual(usual.filter((arg) => arg !== '--partial-dir=.filesync-partial'));
  });
});
