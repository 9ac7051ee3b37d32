import type { SurveyedPath } from './survey.ts';

// What the scheduler hands the planner: a full pass with its reason, or a batch of paths.

/**
 * Why a full pass runs: `start` (nothing was watched before it), `resync` (the periodic safety
 * net, SYNC_RESYNC_INTERVAL, while a watcher runs), `rescan` (a watcher error, a fallback, or a
 * poll tick: the watcher could not say what changed) or `overflow` (too many pending paths).
 * Only a `resync` pass can reveal a live change that was missed; see status/drift.ts.
 */
export type FullReason = 'start' | 'resync' | 'rescan' | 'overflow';

/** A full reconciliation of the tree. */
export interface FullJob {
  readonly kind: 'full';
  readonly reason: FullReason;
}

/** What to send: a full reconciliation of the tree, or a batch of changed paths. */
export type Job = FullJob | { readonly kind: 'batch'; readonly paths: readonly string[] };

/**
 * A job ready to plan: a batch's paths have been surveyed (see survey.ts); a full pass knows
 * roughly how many entries the tree holds, when anything has counted them.
 */
export type SurveyedJob =
  | (FullJob & { readonly entries?: number | undefined })
  | { readonly kind: 'batch'; readonly paths: readonly SurveyedPath[] };
