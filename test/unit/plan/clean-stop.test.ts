import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import {
  planMarkCleanStop,
  planTakeCleanStop,
  resumesPartials,
  withoutPartialDir,
} from '../../../src/plan/clean-stop.ts';
import { planJob } from '../../../src/plan/plan.ts';
import { rsyncShell } from '../../../src/rsync/ssh.ts';
import { testConfig, testSsh } from '../fixtures.ts';

// The clean-stop marker's runs, and the full pass that follows a clean stop.

function context(env: Record<string, string> = {}) {
  const config = testConfig(env);
  return { config, filter: new Filter(config.filter), ssh: testSsh };
}

const MARKER = 'sync@backup.example.com:/srv/mirror/.filesync-partial/.filesync-clean-stop';

describe('the clean-stop marker', () => {
  it('is pushed into the partial-dir of the mirror’s top, through the shared connection', () => {
    const plan = planMarkCleanStop('/run/x/.filesync-clean-stop', context());
    expect(plan.file).toBe('rsync');
    expect(plan.args.slice(-3)).toEqual(['--mkpath', '/run/x/.filesync-clean-stop', MARKER]);
    expect(plan.args).toContain('--timeout=60');
    expect(plan.args[plan.args.indexOf('--rsh') + 1]).toBe(rsyncShell(testSsh));
    // Nothing of the mirror's own runs: no deletion, no filter, no partial-dir.
    expect(plan.args.filter((arg) => /^--(delete|filter|partial)/.test(arg))).toEqual([]);
  });

  it('is pulled and removed by the next start, into a local directory', () => {
    const plan = planTakeCleanStop('/run/x/take/', context());
    expect(plan.args.slice(-3)).toEqual(['--remove-source-files', MARKER, '/run/x/take/']);
  });

  it('keeps the user’s own rsync options (a --rsync-path, say) in both runs', () => {
    const env = { SYNC_RSYNC_EXTRA_ARGS: '--rsync-path=/opt/rsync' };
    expect(planMarkCleanStop('/f', context(env)).args).toContain('--rsync-path=/opt/rsync');
    expect(planTakeCleanStop('/d', context(env)).args).toContain('--rsync-path=/opt/rsync');
  });

  it('is kept only where partial files are resumed: not without them, nor where they stage delayed updates', () => {
    expect(resumesPartials(testConfig())).toBe(true);
    expect(resumesPartials(testConfig({ SYNC_RSYNC_PARTIAL: 'false' }))).toBe(false);
    expect(resumesPartials(testConfig({ SYNC_DELAY_UPDATES: 'true' }))).toBe(false);
  });
});

describe('a full pass after a clean stop', () => {
  it('leaves out the partial-dir and nothing else', () => {
    const full = { kind: 'full', reason: 'start' } as const;
    const usual = planJob(full, context()).args;
    const clean = planJob(full, withoutPartialDir(context())).args;
    expect(usual).toContain('--partial-dir=.filesync-partial');
    expect(clean).toEqual(usual.filter((arg) => arg !== '--partial-dir=.filesync-partial'));
  });
});
