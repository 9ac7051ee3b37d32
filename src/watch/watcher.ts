import { relative, sep } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { WatchMode } from '../config/config.ts';
import { FilesyncError, messageOf } from '../errors.ts';
import type { Filter } from '../filter.ts';
import { type Backend, type BackendName, isWatchLimitError, type StartBackend } from './backend.ts';
import { startNative } from './native.ts';
import { startPoll } from './poll.ts';

// The one front over every backend: source-relative, filtered hints out, the choice of backend
// and its fallbacks in one place. Events are hints; rsync works out the real difference.
//
//   native ──┐                    ┌── kernel out of watches (any time) ──┐
//   chokidar ┴─▶ watching ────────┤                                     ├──▶ poll
//   auto ─────▶ native ───────────┴── cannot start at all ──────────────┘

export interface WatchHandlers {
  /** Paths below the source that may have changed: created, modified, deleted or renamed. */
  onChanges(paths: readonly string[]): void;
  /** A full pass should follow: a poll tick, or the watcher lost events (`cause`). */
  onRescan(cause: Error | undefined): void;
  /** Which watcher runs: once at start, and again on every fallback. */
  onBackend(change: BackendChange): void;
}

/** A backend starting, with why the one before it was given up. */
export interface BackendChange {
  readonly backend: BackendName;
  readonly previous?: { readonly backend: BackendName; readonly cause: Error; readonly hint: string };
}

export interface WatcherOptions {
  readonly sourceDir: string;
  readonly filter: Filter;
  readonly mode: WatchMode;
  readonly pollIntervalMs: number;
  /** Stand-ins for the real backends, for tests. */
  readonly backends?: Partial<Record<BackendName, StartBackend>>;
}

export interface Watcher {
  readonly backend: BackendName;
  /** Entries in the watched tree as the native watcher last listed them; undefined otherwise. */
  readonly entries: number | undefined;
  /** Directories holding a kernel watch (native); undefined for the other backends. */
  readonly directories: number | undefined;
  /**
   * Waits until no event has arrived for `quietMs` (at most `maxMs`), so none is in flight.
   * `since: 'call'` (stopping) counts the quiet from the call, so writes made just after it
   * are still seen; `since: 'event'` (filesync sync) from the last event, and returns after one
   * turn of the event loop when that is old enough already.
   */
  settle(quietMs: number, maxMs: number, since?: 'call' | 'event'): Promise<void>;
  close(): Promise<void>;
  readonly closed: boolean;
}

const BACKENDS: Record<BackendName, StartBackend> = {
  native: startNative,
  // Loaded only when it runs: most sidecars never need it.
  chokidar: async (options, events) => (await import('./chokidar.ts')).startChokidar(options, events),
  poll: startPoll,
};

const WATCH_LIMIT_HINT =
  'The kernel has no inotify watches left for this user (they are shared by every container of the same uid on a node): raise them on the host with `sysctl fs.inotify.max_user_watches=1048576` (and fs.inotify.max_user_instances), or exclude large directories with SYNC_EXCLUDE. Polling until the next restart.';

const NO_WATCH_HINT =
  'Directories cannot be watched here, so filesync polls (SYNC_POLL_INTERVAL). Set SYNC_WATCH_MODE=poll to say so, or check the source mount.';

const SOURCE_GONE_HINT =
  'The source directory disappeared while being watched (an unmounted volume?): polling until it is back and filesync is restarted.';

/** The hint for an error that ends watching and starts polling; undefined for any other. */
function fallbackHint(error: Error): string | undefined {
  if (isWatchLimitError(error)) return WATCH_LIMIT_HINT;
  if (error instanceof FilesyncError && error.code === 'source-gone') return SOURCE_GONE_HINT;
  return undefined;
}

/** Watches `sourceDir` with the backend `mode` asks for; resolves once changes are being seen. */
export async function startWatcher(options: WatcherOptions, handlers: WatchHandlers): Promise<Watcher> {
  const { sourceDir, filter, mode } = options;
  const backendOptions = { root: sourceDir, filter, pollIntervalMs: options.pollIntervalMs };
  const backendFor = (name: BackendName) => options.backends?.[name] ?? BACKENDS[name];
  const toRelative = (path: string) => relative(sourceDir, path).split(sep).join('/');
  let lastEventAt = Date.now();
  let closed = false;
  let current: Backend | undefined;
  let switching: Promise<void> | undefined;
  let startFailure: { error: Error; hint: string } | undefined;

  const events = {
    paths(paths: readonly string[]) {
      lastEventAt = Date.now();
      const accepted = [];
      for (const path of paths) {
        const rel = toRelative(path);
        if (rel !== '' && !rel.startsWith('..') && filter.mayAccept(rel)) accepted.push(rel);
      }
      if (accepted.length > 0) handlers.onChanges(accepted);
    },
    error(error: Error) {
      lastEventAt = Date.now();
      const hint = fallbackHint(error);
      if (hint === undefined) handlers.onRescan(error);
      else if (current === undefined)
        startFailure ??= { error, hint }; // still starting: decided below
      else fallBack(error, hint);
    },
    rescan() {
      handlers.onRescan(undefined);
    },
  };

  const fallBack = (cause: Error, hint: string) => {
    if (switching !== undefined || closed || current === undefined || current.name === 'poll') return;
    const previous = { backend: current.name, cause, hint };
    const old = current;
    switching = (async () => {
      await old.close();
      if (closed) return;
      current = await backendFor('poll')(backendOptions, events);
      handlers.onBackend({ backend: 'poll', previous });
      handlers.onRescan(undefined);
    })().finally(() => {
      switching = undefined;
    });
  };

  /** Starts `name`, or what it falls back to, with why it fell back. */
  const start = async (name: BackendName): Promise<{ instance: Backend; change: BackendChange }> => {
    try {
      return { instance: await backendFor(name)(backendOptions, events), change: { backend: name } };
    } catch (error) {
      const cause = error instanceof Error ? error : new Error(String(error));
      const hint = isWatchLimitError(cause) ? WATCH_LIMIT_HINT : mode === 'auto' ? NO_WATCH_HINT : undefined;
      if (name !== 'poll' && hint !== undefined) {
        const instance = await backendFor('poll')(backendOptions, events);
        return { instance, change: { backend: 'poll', previous: { backend: name, cause, hint } } };
      }
      throw new FilesyncError('watch', `the ${name} watcher could not start: ${messageOf(cause)}`, {
        cause,
        hint:
          name === 'native'
            ? 'Set SYNC_WATCH_MODE=auto, which polls where directories cannot be watched.'
            : `Check that ${sourceDir} is readable, or set SYNC_WATCH_MODE=poll.`,
      });
    }
  };

  const started = await start(mode === 'auto' ? 'native' : mode);
  current = started.instance;
  handlers.onBackend(started.change);
  // chokidar reports a refused watch as an event while it starts, not as a failure to start.
  if (startFailure !== undefined) fallBack(startFailure.error, startFailure.hint);
  return {
    get backend() {
      return current?.name ?? 'poll';
    },
    get entries() {
      return current?.entries;
    },
    get directories() {
      return current?.directories;
    },
    get closed() {
      return closed;
    },
    async settle(quietMs, maxMs, since = 'call') {
      const begin = Date.now();
      const deadline = begin + maxMs;
      // One turn of the event loop first: events the kernel already holds (of writes made
      // before the call) are read in it, even where they became ready with the call itself.
      await new Promise((resolve) => setImmediate(resolve));
      const quietFor = (now: number) => now - (since === 'call' ? Math.max(lastEventAt, begin) : lastEventAt);
      for (let now = Date.now(); now < deadline && quietFor(now) < quietMs; now = Date.now()) {
        await delay(Math.min(quietMs - quietFor(now), deadline - now));
      }
    },
    async close() {
      closed = true;
      await switching;
      await current?.close();
    },
  };
}
