import type { Filter } from '../filter.ts';

// What every way of noticing changes provides. Backends report absolute paths as hints and
// their own failures; the front (watcher.ts) filters, relativizes and picks a fallback.

/** The watchers filesync can run, as SYNC_WATCH_MODE names them. */
export type BackendName = 'native' | 'chokidar' | 'poll';

export interface BackendEvents {
  /** Something at or below these absolute paths changed. */
  paths(paths: readonly string[]): void;
  /** Events may have been lost; a full pass should follow. */
  error(error: Error): void;
  /** Polling: time for a full pass. */
  rescan(): void;
}

export interface BackendOptions {
  readonly root: string;
  readonly filter: Filter;
  readonly pollIntervalMs: number;
}

/** A running backend. */
export interface Backend {
  readonly name: BackendName;
  /** Entries in the watched tree, where the backend lists every directory (native). */
  readonly entries?: number;
  /** Directories holding a kernel watch, where the backend keeps one per directory (native). */
  readonly directories?: number;
  close(): Promise<void>;
}

/** Starts a backend; resolves once it watches, so no later change is missed. */
export type StartBackend = (options: BackendOptions, events: BackendEvents) => Promise<Backend>;

/** True when an error means the kernel has no inotify watches or instances left. */
export function isWatchLimitError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EMFILE';
}
