import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loggableFailure } from '../errors.ts';
import type { Logger } from '../log.ts';
import { type PlanContext, planTrashPrune } from '../plan/plan.ts';
import type { Outcome } from '../rsync/outcome.ts';
import type { PlanRunner } from '../rsync/runner.ts';

// Prunes the trash (SYNC_BACKUP_DIR) beside the sync: once the initial pass is done, then every
// hour. A prune touches only expired day directories, which no transfer writes to, so it never
// waits for one. A failed prune is logged and tried again at the next hour; syncing goes on.

/** How often the trash is pruned; retention is in whole days, so an hour is prompt enough. */
export const PRUNE_EVERY_MS = 3_600_000;

export interface TrashPruner {
  /** Prunes now (unless a prune runs already), then every `everyMs`. */
  start(): void;
  stop(): Promise<void>;
}

export function createTrashPruner(
  context: PlanContext,
  runner: PlanRunner,
  runtimeDir: string,
  log: Logger,
  options: {
    everyMs?: number;
    /** True while no transfer may start (`filesync pause`): that hour's prune is skipped. */
    held?: () => boolean;
  } = {},
): TrashPruner {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const prune = async () => {
    const outcome = await pruneTrash(context, runner, runtimeDir, abort.signal);
    if (outcome === undefined) return;
    if (outcome.ok) logPruned(log, outcome.stats.filesDeleted);
    else if (outcome.reason !== 'cancelled') {
      log.warn(
        { err: loggableFailure(outcome.reason, outcome.message, outcome.hint) },
        'pruning the trash failed; it is tried again within the hour, and syncing goes on',
      );
    }
  };
  const tick = () => {
    if (options.held?.() === true) return;
    running ??= prune()
      .catch((error: unknown) =>
        log.warn({ err: error }, 'pruning the trash failed; it is tried again within the hour'),
      )
      .finally(() => {
        running = undefined;
      });
  };
  return {
    start() {
      if (timer !== undefined || context.config.backup === undefined) return;
      tick();
      timer = setInterval(tick, options.everyMs ?? PRUNE_EVERY_MS);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      abort.abort();
      await running;
    },
  };
}

/** One prune of the trash; undefined without one. `runtimeDir` holds the empty directory. */
export async function pruneTrash(
  context: PlanContext,
  runner: PlanRunner,
  runtimeDir: string,
  signal: AbortSignal,
): Promise<Outcome | undefined> {
  const empty = join(runtimeDir, 'empty');
  const plan = planTrashPrune(empty, context);
  if (plan === undefined) return undefined;
  await mkdir(empty, { recursive: true, mode: 0o700 });
  return runner.run(plan, signal);
}

export function logPruned(log: Logger, deleted: number): void {
  if (deleted > 0) log.info({ deleted }, 'trash pruned: entries older than SYNC_BACKUP_RETENTION deleted');
  else log.debug('trash pruned: nothing had expired');
}
