import { FilesyncError } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { BudgetVerdict } from '../watch/budget.ts';
import type { BackendChange } from '../watch/watcher.ts';

/** Logs which watcher runs: info at start, a warning with the hint when one gave up. */
export function logBackendChange(log: Logger, { backend, previous }: BackendChange): void {
  if (previous === undefined) {
    log.info({ backend }, `watching with ${backend}`);
    return;
  }
  log.warn(
    { backend, previous: previous.backend, err: previous.cause, hint: previous.hint },
    `${previous.backend} watcher gave up; watching with ${backend}`,
  );
}

/** Logs a watcher error that a full pass will make good. */
export function logWatchError(log: Logger, cause: Error): void {
  const hint = cause instanceof FilesyncError ? cause.hint : undefined;
  log.warn({ err: cause, hint }, 'watcher error; a full pass will catch anything it missed');
}

/** The watch budget at start: info within it, a warning with the sysctl from 80 % of a limit. */
export function logWatchBudget(log: Logger, directories: number, verdict: BudgetVerdict): void {
  const fields = { directories, budget: verdict.detail, ...(verdict.hint && { hint: verdict.hint }) };
  if (verdict.level === 'ok') log.info(fields, `watch budget: ${verdict.detail}`);
  else
    log.warn(fields, `watch budget ${verdict.level === 'warn' ? 'nearly' : 'all'} spent: ${verdict.detail}`);
}
