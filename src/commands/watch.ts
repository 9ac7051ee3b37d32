import type { Server } from 'node:http';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { watchAlertOf } from '../alerts/payload.ts';
import { Webhook } from '../alerts/webhook.ts';
import type { Config } from '../config/config.ts';
import { targetName } from '../config/targets.ts';
import { startControlServer } from '../control/server.ts';
import { controlSocketPath } from '../control/socket.ts';
import { ExitCode, loggableFailure, messageOf } from '../errors.ts';
import { Filter } from '../filter.ts';
import { startHttpServer } from '../http/server.ts';
import type { Logger } from '../log.ts';
import { Metrics } from '../metrics.ts';
import { localRsyncVersion } from '../rsync/local-version.ts';
import type { Prestart } from '../state/prestart.ts';
import {
  commitManifest,
  discardManifest,
  type PendingManifest,
  sizeOf,
  snapshotSource,
} from '../state/store.ts';
import { daemonStatus, type WatchStatus } from '../status/status.ts';
import { type Connection, Target } from '../target/target.ts';
import { packageVersion } from '../version.ts';
import { type InotifyLimits, inotifyInUse, judgeBudget, readInotifyLimits } from '../watch/budget.ts';
import { startWatcher } from '../watch/watcher.ts';
import { controlOf } from './daemon-control.ts';
import { logBackendChange, logWatchBudget, logWatchError } from './watch-log.ts';

export type { Connection } from '../target/target.ts';

/** A manifest for every target with a state directory, written before the flush; see state/. */
async function snapshot(
  config: Config,
  targets: readonly Target[],
  polling: boolean,
  log: Logger,
): Promise<{ pendings: PendingManifest[]; durationMs: number } | undefined> {
  const states = targets.flatMap((target) => (target.state === undefined ? [] : [target.state]));
  if (states.length === 0) return undefined;
  if (polling) {
    // A change since the last poll is reported by no one: the source may hold what no run sent.
    log
      .child({ component: 'state' })
      .info('no manifest written: filesync was polling, so the next start is a full pass');
    return undefined;
  }
  const began = Date.now();
  try {
    return {
      pendings: await snapshotSource(config.sourceDir, config.filter, states),
      durationMs: Date.now() - began,
    };
  } catch (error) {
    log
      .child({ component: 'state' })
      .warn(
        { err: loggableFailure('state', messageOf(error)) },
        'no manifest written: the next start is a full pass',
      );
    return undefined;
  }
}

/** Keeps the manifest of each target that took every change, and throws the others away. */
async function keepManifests(
  manifests: { pendings: PendingManifest[]; durationMs: number },
  targets: readonly Target[],
  log: Logger,
): Promise<void> {
  const stateLog = log.child({ component: 'state' });
  for (const pending of manifests.pendings) {
    const target = targets.find((each) => each.state === pending.state);
    const several = targets.length > 1 && target !== undefined ? { target: target.name } : {};
    try {
      if (target?.stoppedCleanly !== true) {
        await discardManifest(pending);
        stateLog.info(
          several,
          'no manifest written: not every change reached the target, so the next start is a full pass',
        );
        continue;
      }
      await commitManifest(pending, dirname(pending.state.manifest));
      stateLog.info(
        {
          ...several,
          entries: pending.writer.count,
          bytes: await sizeOf(pending.state.manifest),
          durationMs: manifests.durationMs,
        },
        'manifest written: the next start sends what changes until then, and is ready after that',
      );
    } catch (error) {
      stateLog.warn(
        { ...several, err: loggableFailure('state', messageOf(error)) },
        'no manifest written: the next start is a full pass',
      );
    }
  }
}

/** The longest what follows the start waits for the initial passes (see watchCommand). */
const AFTER_START_DELAY_MS = 10_000;
/** How long after the initial passes it comes, out of the way of the probes that see them done. */
const AFTER_READY_DELAY_MS = 1_000;

/** How long stopping waits for alerts still on their way to the webhook. */
const WEBHOOK_SETTLE_MS = 3000;

/** One target to sync to: the configuration as it sees it (`remote`), and its connection. */
export interface TargetSetup {
  readonly config: Config;
  readonly connection: Connection;
  /** Its manifest judged and compared while the rest loaded (SYNC_STATE_DIR). */
  readonly prestart?: Prestart | undefined;
}

/**
 * The daemon: one watcher feeding every target, each with a full pass first and then every
 * change as it happens, until `stop` resolves.
 */
export async function watchCommand(
  config: Config,
  log: Logger,
  stop: Promise<string>,
  setups: readonly TargetSetup[],
): Promise<ExitCode> {
  const filter = new Filter(config.filter);
  const metrics = new Metrics();
  const webhook =
    config.webhookUrl === undefined
      ? undefined
      : new Webhook(config.webhookUrl, log.child({ component: 'webhook' }), {
          onResult: (result) => metrics.webhookResult(result),
        });
  let treeSize = (): number | undefined => undefined; // the watcher's count, once it runs
  let fallback: WatchStatus['fallback'];
  const targets = setups.map((setup) => {
    const name = targetName(setup.config);
    return new Target({
      ...setup,
      filter,
      log: setups.length > 1 ? log.child({ target: name }) : log,
      metrics: metrics.forTarget(name),
      webhook,
      treeSize: () => treeSize(),
      // Every target's initial pass starts at once: each may take its share of what is left.
      availableMemory: () => process.availableMemory() / setups.length,
    });
  });
  const everyTarget = (act: (target: Target) => void) => {
    for (const target of targets) act(target);
  };

  // Each target's manifest is judged, and marked as in use, before anything can be sent.
  await Promise.all(targets.map((target) => target.prepare()));

  // The initial pass follows the subscription, so a change made during that pass is seen (a fast
  // start's comparison may begin before: its bridge hands over what it saw, in start()).
  const watchLog = log.child({ component: 'watch' });
  const watcher = await startWatcher(
    {
      sourceDir: config.sourceDir,
      filter,
      mode: config.watch.mode,
      pollIntervalMs: config.watch.pollIntervalMs,
    },
    {
      onChanges: (paths) => everyTarget((target) => target.add(paths)),
      onRescan: (cause) => {
        if (cause !== undefined) {
          metrics.watchError();
          logWatchError(watchLog, cause);
        }
        everyTarget((target) => target.requestFull('rescan'));
      },
      onBackend: (change) => {
        metrics.watchBackend(change);
        logBackendChange(watchLog, change);
        const { previous } = change;
        if (previous === undefined) return;
        // Loud, once: /status names it, and the webhook says it (a fall-back is never undone).
        const reason = messageOf(previous.cause);
        fallback = { from: previous.backend, since: new Date().toISOString(), reason, hint: previous.hint };
        webhook?.send(
          watchAlertOf(
            { from: previous.backend, to: change.backend, reason, hint: previous.hint },
            hostname(),
            new Date(),
          ),
        );
      },
    },
  ).catch((error: unknown) => {
    everyTarget((target) => target.abandon()); // a comparison under way holds nothing up
    throw error;
  });
  treeSize = () => watcher.entries;
  for (const target of targets) {
    metrics.lag(target.name, () => target.oldestChangeAt);
    metrics.targetState(target.name, () => target.status().state);
  }
  metrics.buildInfo(async () => ({
    version: packageVersion(),
    node: process.version,
    rsync: await localRsyncVersion(),
  }));
  let limits: InotifyLimits | undefined; // read from /proc when first asked for
  const inotifyLimits = () => (limits ??= readInotifyLimits());
  metrics.watchBudget(
    () => watcher.directories,
    () => inotifyLimits().watches?.value,
  );

  const watchStatus = (): WatchStatus => ({
    backend: watcher.backend,
    directories: watcher.directories,
    limit: inotifyLimits().watches,
    fallback,
  });
  // Each target chooses its start: a full pass, or what differs from its manifest.
  for (const target of targets) void target.start();
  // Off the start's path, a second after every initial pass is done (or after a while, when one
  // is held up): the budget's figures (reading /proc: 20-30 ms of CPU the first transfer would
  // share) and prom-client's process metrics (~30 ms to load). Not at once: the probe polling
  // /readyz would wait those 30 ms to hear that the daemon is ready (npm run bench: cold).
  let afterStartDone = false;
  const afterStart = () => {
    clearTimeout(afterStartTimer);
    const watched = watcher.directories;
    if (afterStartDone || stopping || watcher.closed) return;
    afterStartDone = true;
    metrics.processMetrics();
    if (watched === undefined) return;
    void inotifyInUse().then((inUse) =>
      logWatchBudget(watchLog, watched, judgeBudget(watched, inotifyLimits(), inUse)),
    );
  };
  let stopping = false;
  let afterStartTimer = setTimeout(afterStart, AFTER_START_DELAY_MS).unref();
  void Promise.all(targets.map((target) => target.whenStarted)).then(() => {
    clearTimeout(afterStartTimer);
    afterStartTimer = setTimeout(afterStart, AFTER_READY_DELAY_MS).unref();
  });
  // While polling, every pass is a poll: there is no live path whose misses it could reveal.
  const requestResync = () =>
    everyTarget((target) => target.requestFull(watcher.backend === 'poll' ? 'rescan' : 'resync'));
  const resync =
    config.resyncIntervalMs > 0 ? setInterval(requestResync, config.resyncIntervalMs) : undefined;
  process.on('SIGUSR2', requestResync); // a periodic pass now, for a drift check on demand

  // Ready when every target is: each has had its initial pass and accepts transfers.
  const ready = () => {
    const unready = targets
      .map((target) => ({ target, state: target.ready() }))
      .filter(({ state }) => !state.ready);
    if (unready.length === 0) return { ready: true } as const;
    const reason = unready
      .map(
        ({ target, state }) =>
          (targets.length > 1 ? `${target.name}: ` : '') + (state.ready ? '' : state.reason),
      )
      .join('; ');
    return { ready: false, reason } as const;
  };
  let server: Server | undefined;
  let control: Server | undefined;
  try {
    const daemonControl = controlOf(targets, watcher);
    control = await startControlServer(
      controlSocketPath(),
      daemonControl,
      log.child({ component: 'control' }),
    );
    if (config.healthPort > 0) {
      server = await startHttpServer(
        config.healthPort,
        {
          live: () => !watcher.closed && targets.every((target) => target.running),
          ready,
          status: () =>
            daemonStatus(
              targets.map((target) => target.status()),
              watchStatus(),
            ),
        },
        metrics,
        config.controlToken === undefined
          ? undefined
          : { control: daemonControl, token: config.controlToken, log: log.child({ component: 'control' }) },
      );
      log.info(
        { port: config.healthPort, control: config.controlToken !== undefined },
        config.controlToken === undefined
          ? 'health endpoints listening on /healthz, /readyz, /status and /metrics'
          : 'health endpoints listening on /healthz, /readyz, /status and /metrics; POST /sync, /pause and /resume with the control token',
      );
    }
  } catch (error) {
    // The port is taken, say: stop what runs, or the process would never exit.
    control?.close();
    stopping = true;
    clearTimeout(afterStartTimer);
    clearInterval(resync);
    process.off('SIGUSR2', requestResync);
    await watcher.close();
    await Promise.all(targets.map((target) => target.stop()));
    throw error;
  }

  const signal = await stop;
  const pending = () => targets.reduce((sum, target) => sum + target.pendingCount, 0);
  log.info({ signal, pending: pending() }, 'stopping: sending pending changes');
  stopping = true;
  clearTimeout(afterStartTimer);
  clearInterval(resync);
  process.off('SIGUSR2', requestResync);
  await watcher.settle(150, 1000);
  // The manifests are read from the source while the watcher still runs (see snapshotSource),
  // and what it saw meanwhile is let in before it closes.
  const manifests = await snapshot(config, targets, watcher.backend === 'poll', log);
  if (manifests !== undefined) await watcher.settle(150, 1000);
  await watcher.close();
  // Every target flushes at once, so one that is down does not eat the others' time.
  const flushed = await Promise.all(targets.map((target) => target.flush(config.shutdownTimeoutMs)));
  if (manifests !== undefined) await keepManifests(manifests, targets, log);
  server?.closeIdleConnections();
  const closing = new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server?.closeAllConnections(); // a client holding a request open does not hold the exit
  await closing;
  control?.closeAllConnections(); // a sync still asked of it has had its answer (stopping)
  await new Promise((resolve) => (control ? control.close(resolve) : resolve(undefined)));
  if (webhook !== undefined && !(await webhook.settle(WEBHOOK_SETTLE_MS)))
    log.warn({ timeoutMs: WEBHOOK_SETTLE_MS }, 'stopped before the webhook receiver took every alert');
  const unsent = targets.filter((_, i) => !flushed[i]);
  if (unsent.length > 0) {
    log.warn(
      {
        pending: pending(),
        timeoutMs: config.shutdownTimeoutMs,
        ...(targets.length > 1 ? { targets: unsent.map((target) => target.name) } : {}),
      },
      'stopped with changes unsent; the next start sends them in its full pass',
    );
    return ExitCode.failure;
  }
  const failing = targets.flatMap((target) =>
    target.failingPaths.map(({ path, reason }) => ({
      path,
      reason,
      ...(targets.length > 1 ? { target: target.name } : {}),
    })),
  );
  if (failing.length > 0) {
    log.warn(
      { failing: failing.length, paths: failing.slice(0, 20) },
      'stopped; every change was sent but for paths that kept failing, which the next start tries again',
    );
    return ExitCode.ok;
  }
  log.info('stopped; every change was sent');
  return ExitCode.ok;
}
