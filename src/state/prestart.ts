import type { Config } from '../config/config.ts';
import { Filter } from '../filter.ts';
import { readInotifyLimits } from '../watch/budget.ts';
import { type Compared, compareWithManifest } from './compare.ts';
import type { ManifestFile } from './manifest.ts';
import { type Bridge, openBridge } from './native-compare.ts';
import { type TargetState, type Trust, targetState, trustManifest } from './store.ts';

// The fast start's first steps, taken as early as the daemon can: whether the manifest can be
// trusted, and, when it can, its comparison with the source, under way while the rest of filesync
// loads and the watcher starts (natively, each directory watched by a bridge before it is listed;
// in workers, or without a bridge, once the gate opens: the watcher runs). The target takes it
// from here (target.ts: prepare(), start()).

/** Past this many differences from the manifest, a full pass is the quicker start. */
export const FAST_START_MAX_PATHS = 100_000;

/** The bridges (one a target) may hold at most this share of fs.inotify.max_user_watches between them. */
const BRIDGE_SHARE = 8;

/** A comparison under way, or waiting for `open()` (the watcher runs); with its bridge, if it has one. */
export interface Comparison {
  readonly open: () => void;
  readonly diff: Promise<Compared>;
  readonly bridge: Bridge | undefined;
}

/** What a prestart found: a trusted manifest comes with its comparison, begun. */
export type Prepared =
  | Exclude<Trust, { trusted: true }>
  | (Extract<Trust, { trusted: true }> & { comparison: Comparison });

/** A target's prestart: its finding to come, and how to stop its comparison. */
export interface Prestart {
  readonly state: TargetState;
  readonly prepared: Promise<Prepared>;
  /** Ends the comparison (the target stops, or the watcher could not start). */
  stop(): void;
}

/**
 * Judges the target's manifest and begins its comparison; undefined without SYNC_STATE_DIR.
 * `targets`: how many share the watcher's inotify budget, each with a bridge of its own.
 */
export function prestartTarget(
  config: Config,
  filter = new Filter(config.filter),
  targets = 1,
): Prestart | undefined {
  if (config.stateDir === undefined) return undefined;
  const state = targetState(config.stateDir, config, filter);
  const stopping = new AbortController();
  // In this tick, so that the comparison is queued before anything else loads.
  let prepared: Promise<Prepared>;
  try {
    const trust = trustManifest(state);
    prepared = Promise.resolve(
      trust.trusted
        ? { ...trust, comparison: compare(config, trust.manifest.file, stopping.signal, targets) }
        : trust,
    );
  } catch (error) {
    prepared = Promise.reject(error);
  }
  prepared.catch(() => {}); // the target hears of a failure in prepare(); until then it is no unhandled rejection
  return { state, prepared, stop: () => stopping.abort() };
}

function compare(config: Config, manifest: ManifestFile, signal: AbortSignal, targets: number): Comparison {
  let open = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  // Natively it need not wait: a bridge watches each directory before it is listed, within a
  // share of the inotify budget the watcher leaves (it comes first: past that, the gate).
  const watches = readInotifyLimits().watches?.value;
  const bridge = watches === undefined ? undefined : openBridge(watches / BRIDGE_SHARE / targets);
  const diff = compareWithManifest(
    { sourceDir: config.sourceDir, filter: config.filter, manifest, maxPaths: FAST_START_MAX_PATHS },
    { signal, gate, bridge },
  );
  diff.catch(() => {}); // start() hears of a failure; until then it is no unhandled rejection
  return { open, diff, bridge };
}
