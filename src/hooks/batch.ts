import { DIFFERENCE_KINDS } from '../rsync/itemize.ts';
import type { Outcome } from '../rsync/outcome.ts';

// What a hook is told about the runs it follows: pure, so coalescing is tested on its own.

/** The run a hook follows: the first full pass after start, a batch, or a later full pass. */
export type HookKind = 'initial' | 'batch' | 'full';

/** One or more successful runs, as a hook sees them. */
export interface HookBatch {
  /** Of several runs coalesced: initial if one was, else full if one was, else batch. */
  readonly kind: HookKind;
  /** Entries created or changed on the target (files, directories, links). */
  readonly files: number;
  readonly deleted: number;
  /** The size of the files rsync transferred (its delta transfer may send less). */
  readonly bytes: number;
  /** The changed paths, relative to the source, at most `cap` of them. */
  readonly paths: readonly string[];
  /** True when more paths changed than `paths` lists. */
  readonly truncated: boolean;
  /** How many runs this covers. */
  readonly runs: number;
}

type Success = Extract<Outcome, { ok: true }>;

/**
 * What a successful run tells its hook; undefined when it changed nothing, which calls no hook
 * (except the initial pass: a server on the target may need to load once at start).
 */
export function hookBatchOf(kind: HookKind, outcome: Success, cap: number): HookBatch | undefined {
  const { itemized, stats } = outcome;
  const listed = itemized === undefined ? [] : DIFFERENCE_KINDS.flatMap((each) => itemized.kinds[each].paths);
  // The top directory itself ("."), created by the first run, is no change to report.
  const union = [...new Set(listed)].filter((path) => path !== '.');
  const top = listed.includes('.') ? 1 : 0;
  const deleted = itemized?.kinds.extra.count ?? stats.filesDeleted;
  const files = itemized === undefined ? stats.filesTransferred : itemized.total - deleted - top;
  if (files + deleted === 0 && kind !== 'initial') return undefined;
  const complete =
    itemized === undefined
      ? files + deleted === 0
      : itemized.uncounted !== true &&
        DIFFERENCE_KINDS.every((each) => itemized.kinds[each].count === itemized.kinds[each].paths.length);
  // (The top directory is listed first of its kind whenever it is there, so it is never cut off.)
  return {
    kind,
    files,
    deleted,
    bytes: stats.bytesTransferred,
    paths: union.slice(0, cap),
    truncated: !complete || union.length > cap,
    runs: 1,
  };
}

const RANK: Readonly<Record<HookKind, number>> = { batch: 0, full: 1, initial: 2 };

/** Two batches as one hook call: counts summed, paths united up to `cap`. */
export function coalesce(a: HookBatch, b: HookBatch, cap: number): HookBatch {
  const union = [...new Set([...a.paths, ...b.paths])];
  return {
    kind: RANK[b.kind] > RANK[a.kind] ? b.kind : a.kind,
    files: a.files + b.files,
    deleted: a.deleted + b.deleted,
    bytes: a.bytes + b.bytes,
    paths: union.slice(0, cap),
    truncated: a.truncated || b.truncated || union.length > cap,
    runs: a.runs + b.runs,
  };
}

/** The one-line summary the URL's `text` carries and the log repeats. */
export function summaryOf(batch: HookBatch, target: string): string {
  const runs = batch.runs > 1 ? ` (${batch.runs} runs)` : '';
  return `filesync ${batch.kind} sync to ${target}: ${batch.files} changed, ${batch.deleted} deleted, ${batch.bytes} bytes of files transferred${runs}`;
}
