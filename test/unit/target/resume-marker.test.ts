import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { failure, type Outcome } from '../../../src/rsync/outcome.ts';
import type { Plan, PlanRunner } from '../../../src/rsync/runner.ts';
import { RunningMarker } from '../../../src/target/resume-marker.ts';
import { testConfig, testSsh } from '../fixtures.ts';

// The running marker's clear on a clean stop (its runs before each job: job-runner.test.ts).

async function marker(env: Record<string, string> = {}, answer: Outcome | undefined = undefined) {
  const config = testConfig(env);
  const plans: Plan[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'filesync-marker-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const runner: PlanRunner = {
    async run(plan) {
      plans.push(plan);
      const stats = { files: 0, filesTransferred: 0, filesDeleted: 1, bytesTransferred: 0 };
      return answer ?? { ok: true, stats, vanished: false, itemized: undefined };
    },
  };
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const context = { config, filter: new Filter(config.filter), ssh: testSsh };
  return { running: new RunningMarker(context, runner, dir, log), plans, lines, dir };
}

describe('a clean stop', () => {
  it('removes the marker with the top’s partial-dir, and leaves no local file behind', async () => {
    const t = await marker();
    await t.running.clear(new AbortController().signal);
    expect(t.plans).toHaveLength(1);
    expect(t.plans[0]?.args).toContain('--filter=R /.filesync-partial/***');
    expect(await readdir(t.dir)).toEqual([]);
    expect(t.lines.map((line) => line.msg)).toEqual(['running marker removed from the target']);
  });

  it('says so where it cannot, and what the next start does then', async () => {
    const t = await marker({}, failure('unreachable', 'ssh: connect to host: Connection refused'));
    await t.running.clear(new AbortController().signal);
    expect(String(t.lines.at(-1)?.msg)).toMatch(
      /could not be removed.*the next start looks for partial files/,
    );
  });

  it('has no marker to remove without resumed partial files', async () => {
    for (const env of [{ SYNC_RSYNC_PARTIAL: 'false' }, { SYNC_DELAY_UPDATES: 'true' }]) {
      const t = await marker(env);
      await t.running.clear(new AbortController().signal);
      expect(t.plans).toEqual([]);
    }
  });
});
