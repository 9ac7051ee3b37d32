import { resolve } from 'node:path';
import { expect, it } from 'vitest';
import { processRunner } from '../../src/sync/runner.ts';

const fixture = (name: string) => ({ file: resolve('test/fixtures/bin', name), args: [], stdin: undefined });

it('cancels a hanging rsync when asked, and reports it as cancelled', async () => {
  const controller = new AbortController();
  const running = processRunner.run(fixture('rsync-hangs'), controller.signal);
  setTimeout(() => controller.abort(), 100);
  expect(await running).toMatchObject({ ok: false, reason: 'cancelled' });
});

it('classifies a failing rsync by its exit code and stderr', async () => {
  const outcome = await processRunner.run(fixture('rsync-fails'), new AbortController().signal);
  expect(outcome).toMatchObject({ ok: false, reason: 'partial', exitCode: 23 });
  expect(outcome.ok ? '' : outcome.message).toContain('Disk quota exceeded');
});

it('reports an rsync that cannot be started as a local problem with a hint', async () => {
  const outcome = await processRunner.run(fixture('no-such-rsync'), new AbortController().signal);
  expect(outcome).toMatchObject({ ok: false, reason: 'local' });
  expect(outcome.ok ? '' : outcome.hint).toMatch(/install rsync/);
});
