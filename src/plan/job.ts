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

/**
 * A fast start (SYNC_STATE_DIR): what differs between the source and the manifest of what the
 * target held at the last clean stop, surveyed already (state/diff.ts). It makes the target
 * ready as a start-up full pass does.
 */
export interface StartJob {
  readonly kind: 'start';
  readonly paths: readonly SurveyedPath[];
}

/** What to send: a full reconciliation of the tree, a batch of changed paths, or a fast start. */
export type Job = FullJob | StartJob | { readonly kind: 'batch'; readonly paths: readonly string[] };

/** The source-relative paths a job names; undefined for a full pass (the whole tree). */
export function pathsOf(job: Job): readonly string[] | undefined {
  if (job.kind === 'full') return undefined;
  if (job.kind === 'batch') return job.paths;
  return job.paths.map(({ path }) => path);
}

/**
 * A job ready to plan: a batch's paths have been surveyed (see survey.ts); a full pass knows
 * roughly how many entries the tree holds, when anything has counted them, and how much memory
 * is still available to filesync (in bytes), when that was asked.
 */
export type SurveyedJob =
  | (FullJob & { readonly entries?: number | undefined; readonly availableMemory?: number | undefined })
  | { readonly kind: 'batch'; readonly paths: readonly SurveyedPath[] };
