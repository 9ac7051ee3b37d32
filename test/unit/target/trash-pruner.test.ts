import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { createLogger } from '../../../src/log.ts';
import type { PlanRunner } from '../../../src/rsync/runner.ts';
import { createTrashPruner } from '../../../src/target/trash-pruner.ts';
import { waitFor } from '../../integration/support/wait.ts';
import { testConfig, testSsh } from '../fixtures.ts';

it('prunes at start and on every tick, and skips the ticks that come while transfers are held (pause)', async () => {
  const config = testConfig({ SYNC_BACKUP_DIR: '.trash' });
  const context = { config, filter: new Filter(config.filter), ssh: testSsh };
  let runs = 0;
  const runner: PlanRunner = {
    async run() {
      runs++;
      return {
        ok: true,
        stats: { files: 0, filesTransferred: 0, filesDeleted: 0, bytesTransferred: 0 },
        vanished: false,
        itemized: undefined,
      };
    },
  };
  let held = false;
  const pruner = createTrashPruner(
    context,
    runner,
    await mkdtemp(join(tmpdir(), 'filesync-pruner-')),
    createLogger({ level: 'silent', format: 'json' }),
    { everyMs: 20, held: () => held },
  );
  pruner.start();
  await waitFor('the first prunes', () => runs >= 2, { timeoutMs: 5000, intervalMs: 5 });
  held = true;
  await new Promise((resolve) => setTimeout(resolve, 50)); // let a run in flight finish
  const before = runs;
  await new Promise((resolve) => setTimeout(resolve, 200)); // ten ticks, all held
  expect(runs).toBe(before);
  held = false;
  await waitFor('prunes again once resumed', () => runs > before, { timeoutMs: 5000, intervalMs: 5 });
  await pruner.stop();
});
