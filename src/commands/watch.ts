import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { alertOf } from '../alerts/payload.ts';
import { Webhook } from '../alerts/webhook.ts';
import type { Config } from '../config/config.ts';
import { ExitCode, loggableFailure } from '../errors.ts';
import { Filter } from '../filter.ts';
import { startHttpServer } from '../http/server.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import type { Runtime } from '../runtime.ts';
import { StatusTracker } from '../status.ts';
import { createJobRunner } from '../sync/job-runner.ts';
import { logSchedulerEvent } from '../sync/log-events.ts';
import type { Outcome } from '../sync/outcome.ts';
import { processRunner } from '../sync/runner.ts';
import { Scheduler } from '../sync/scheduler.ts';
import type { SshMaster } from '../sync/ssh-master.ts';
import { createTrashPruner } from '../sync/trash-pruner.ts';
import { startWatcher } from '../watch/watcher.ts';
import { logBackendChange, logWatchError } from './watch-log.ts';

/** What `watch` is handed already started: the shared SSH connection comes up while we load. */
export interface Connection {
  readonly runtime: Runtime;
  readonly master: SshMaster;
}

/** How long stopping waits for alerts still on their way to the webhook. */
const WEBHOOK_SETTLE_MS = 3000;

/** The daemon: a full pass, then every change as it happens, until `stop` resolves. */
export async function watchCommand(
  config: Config,
  log: Logger,
  stop: Promise<string>,
  { runtime, master }: Connection,
): Promise<ExitCode> {
  const filter = new Filter(config.filter);
  const metrics = new Metrics();
  const syncLog = log.child({ component: 'sync' });
  const context = { config, filter, ssh: runtime.ssh };
  master.onExit = (stderr) =>
    log
      .child({ component: 'ssh' })
      .warn(
        { err: loggableFailure('ssh-master', stderr.trim() || 'ssh exited') },
        'shared SSH connection closed; transfers connect on their own until it is back',
      );

  const tracker = new StatusTracker();
  const webhook =
    config.webhookUrl === undefined
      ? undefined
      : new Webhook(config.webhookUrl, log.child({ component: 'webhook' }), {
          onResult: (result) => metrics.webhookResult(result),
        });
  const target = `${config.remote.user}@${config.remote.host}:${config.remote.port}:${config.remote.dir}`;
  const status = () =>
    tracker.status({
      target,
      pending: scheduler.pendingCount,
      failingPaths: scheduler.failingPaths,
      ready: ready().ready,
    });
  let initialPassDone = false;
  let lastFailure: (Outcome & { ok: false }) | undefined;
  const ready = () => {
    if (lastFailure !== undefined) {
      const { reason, message } = lastFailure;
      const attempts = scheduler.failures;
      return {
        ready: false,
        reason: `syncing is failing (${reason}, ${attempts} attempts): ${message}`,
      } as const;
    }
    if (!initialPassDone) return { ready: false, reason: 'the initial sync has not finished' } as const;
    return { ready: true } as const;
  };
  let treeSize = (): number | undefined => undefined; // the watcher's count, once it runs
  const runJob = createJobRunner(context, processRunner, syncLog, () => treeSize());
  const pruner = createTrashPruner(context, processRunner, runtime.dir, log.child({ component: 'trash' }), {
    beforeRun: () => master.beforeTransfer(),
  });
  const scheduler = new Scheduler(
    async (job, signal) => {
      await master.beforeTransfer();
      return runJob(job, signal);
    },
    {
      debounceMs: config.debounceMs,
      maxDelayMs: config.maxDelayMs,
      onEvent: (event) => {
        metrics.observe(event);
        const transition = tracker.observe(event);
        if (transition !== undefined && webhook !== undefined)
          webhook.send(alertOf(transition, status(), hostname(), new Date()));
        logSchedulerEvent(syncLog, event);
        if (
          event.type === 'started' &&
          event.job.kind === 'full' &&
          !initialPassDone &&
          event.attempt === 1
        ) {
          // The tree's size as the watcher counted it (undefined while polling or with chokidar).
          log.info({ entries: treeSize() }, 'initial sync started');
        }
        if (event.type === 'finished') lastFailure = event.outcome.ok ? undefined : event.outcome;
        if (event.type === 'finished' && event.job.kind === 'full' && event.outcome.ok && !initialPassDone) {
          initialPassDone = true;
          log.info({ durationMs: event.durationMs }, 'initial sync complete; watching for changes');
          pruner.start();
        }
      },
    },
  );

  // The initial pass follows the subscription, so a change made during that pass is seen.
  const watchLog = log.child({ component: 'watch' });
  const watcher = await startWatcher(
    {
      sourceDir: config.sourceDir,
      filter,
      mode: config.watch.mode,
      pollIntervalMs: config.watch.pollIntervalMs,
    },
    {
      onChanges: (paths) => scheduler.add(paths),
      onRescan: (cause) => {
        if (cause !== undefined) {
          metrics.watchError();
          logWatchError(watchLog, cause);
        }
        scheduler.requestFull('rescan');
      },
      onBackend: (change) => {
        metrics.watchBackend(change);
        logBackendChange(watchLog, change);
      },
    },
  );
  treeSize = () => watcher.entries;
  scheduler.requestFull('start');
  // While polling, every pass is a poll: there is no live path whose misses it could reveal.
  const requestResync = () => scheduler.requestFull(watcher.backend === 'poll' ? 'rescan' : 'resync');
  const resync =
    config.resyncIntervalMs > 0 ? setInterval(requestResync, config.resyncIntervalMs) : undefined;
  process.on('SIGUSR2', requestResync); // a periodic pass now, for a drift check on demand

  let server: Server | undefined;
  try {
    if (config.healthPort > 0) {
      server = await startHttpServer(
        config.healthPort,
        {
          live: () => !watcher.closed && scheduler.state !== 'stopped',
          ready,
          status,
        },
        metrics.registry,
      );
      log.info(
        { port: config.healthPort },
        'health endpoints listening on /healthz, /readyz, /status and /metrics',
      );
    }
  } catch (error) {
    // The port is taken, say: stop what runs, or the process would never exit.
    clearInterval(resync);
    process.off('SIGUSR2', requestResync);
    await watcher.close();
    await scheduler.stop();
    await pruner.stop();
    throw error;
  }

  const signal = await stop;
  log.info({ signal, pending: scheduler.pendingCount }, 'stopping: sending pending changes');
  clearInterval(resync);
  process.off('SIGUSR2', requestResync);
  await watcher.settle(150, 1000);
  await watcher.close();
  const flushed = await scheduler.flush(config.shutdownTimeoutMs);
  await pruner.stop();
  await master.stop();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  if (webhook !== undefined && !(await webhook.settle(WEBHOOK_SETTLE_MS)))
    log.warn({ timeoutMs: WEBHOOK_SETTLE_MS }, 'stopped before the webhook receiver took every alert');
  if (!flushed) {
    log.warn(
      { pending: scheduler.pendingCount, timeoutMs: config.shutdownTimeoutMs },
      'stopped with changes unsent; the next start sends them in its full pass',
    );
    return ExitCode.failure;
  }
  const failing = scheduler.failingPaths;
  if (failing.length > 0) {
    log.warn(
      { failing: failing.length, paths: failing.slice(0, 20).map(({ path, reason }) => ({ path, reason })) },
      'stopped; every change was sent but for paths that kept failing, which the next start tries again',
    );
    return ExitCode.ok;
  }
  log.info('stopped; every change was sent');
  return ExitCode.ok;
}
