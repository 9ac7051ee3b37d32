import { assertNever } from '../assert.ts';
import { loggableFailure } from '../errors.ts';
import type { Logger } from '../log.ts';
import { printable } from '../names.ts';
import { pathsOf } from '../plan/job.ts';
import { firstPaths } from '../rsync/itemize.ts';
import type { SchedulerEvent } from '../schedule/events.ts';
import { driftOf } from '../status/drift.ts';

/** Paths listed in a batch's log line; the count is always there. */
const LOGGED_PATHS = 20;

/** Logs what the scheduler reports: one line a batch, failures with what to do. */
export function logSchedulerEvent(log: Logger, event: SchedulerEvent): void {
  switch (event.type) {
    case 'pending':
      return;
    case 'started': {
      const paths = event.job.kind === 'full' ? undefined : event.job.paths.length;
      log.debug({ kind: event.job.kind, paths, attempt: event.attempt }, 'sync started');
      return;
    }
    case 'finished': {
      const { job, outcome, durationMs, attempt } = event;
      const paths = pathsOf(job);
      const scope =
        job.kind === 'full'
          ? { kind: job.kind, reason: job.reason }
          : {
              kind: job.kind,
              pathCount: paths?.length,
              paths: paths?.slice(0, LOGGED_PATHS).map(printable),
            };
      if (outcome.ok) {
        const changed = outcome.itemized?.total;
        log.info(
          {
            ...scope,
            ...outcome.stats,
            changed,
            failedPaths: outcome.failedPaths
              ?.slice(0, LOGGED_PATHS)
              .map(({ path, reason }) => ({ path: printable(path), reason })),
            vanished: outcome.vanished || undefined,
            durationMs,
            result: 'ok',
          },
          'synced',
        );
        const drift = driftOf(event);
        if (drift !== undefined && drift.total > 0) {
          log.warn(
            { count: drift.total, paths: firstPaths(drift, LOGGED_PATHS).map(printable) },
            'full pass repaired drift: a live change was missed, or the target was changed behind filesync',
          );
        }
      } else {
        log.error(
          {
            ...scope,
            result: outcome.reason,
            exitCode: outcome.exitCode,
            err: loggableFailure(outcome.reason, outcome.message),
            hint: outcome.hint,
            attempt,
            retryInMs: event.retryInMs,
            durationMs,
          },
          `sync failed: ${outcome.reason}`,
        );
      }
      return;
    }
    case 'path-failed': {
      // Once per state change, not once per retry: the metric shows that it goes on.
      const { failure, failing } = event;
      if (!failure.changed) return;
      log.warn(
        {
          path: printable(failure.path),
          result: 'path-failed',
          reason: failure.reason,
          err: loggableFailure('path-failed', failure.message),
          hint: PATH_HINT,
          retryInMs: failure.retryInMs,
          failing,
        },
        `path failed: ${printable(failure.path)}`,
      );
      return;
    }
    case 'paused':
      log.info(
        { until: event.until === undefined ? undefined : new Date(event.until).toISOString() },
        'paused: changes are collected, none is sent until filesync resume',
      );
      return;
    case 'resumed':
      log.info('resumed: sending what was collected');
      return;
    case 'path-recovered':
      log.info(
        { path: printable(event.path), failing: event.failing },
        `path recovered: ${printable(event.path)}`,
      );
      return;
    default:
      assertNever(event);
  }
}

const PATH_HINT =
  'This path alone fails (everything else keeps syncing): make it readable by filesync here, or writable by SYNC_REMOTE_USER on the target (permissions, owner, free space, a name the target filesystem accepts). It is retried on its own, every few minutes at most, and at once when it changes.';
