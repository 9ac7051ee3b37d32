import type { Job } from '../plan/job.ts';
import type { Outcome } from '../rsync/outcome.ts';
import type { PathFailure } from './path-retry.ts';

// What the scheduler says as it goes. The status fold, the metrics and the log lines subscribe
// to these; none of them needs the scheduler itself.

export type SchedulerState = 'idle' | 'waiting' | 'running' | 'backoff' | 'paused' | 'stopped';

/** What the scheduler reports; logging and metrics subscribe to these. */
export type SchedulerEvent =
  | { readonly type: 'started'; readonly job: Job; readonly attempt: number }
  | {
      readonly type: 'finished';
      readonly job: Job;
      readonly outcome: Outcome;
      readonly durationMs: number;
      readonly attempt: number;
      /** Set when the job failed and will be tried again after this long. */
      readonly retryInMs: number | undefined;
      /**
       * No change was reported from the moment the job was taken until it ended: nothing a
       * full pass changed then is explained by a live change the watcher saw.
       */
      readonly quiet: boolean;
    }
  | { readonly type: 'pending'; readonly paths: number; readonly full: boolean }
  /** A path failed on its own (the run went through for the rest); retried on its own schedule. */
  | { readonly type: 'path-failed'; readonly failure: PathFailure; readonly failing: number }
  /** A path that was failing went through. */
  | { readonly type: 'path-recovered'; readonly path: string; readonly failing: number }
  /** No transfer starts from now on (`filesync pause`); `until` (epoch ms) resumes by itself. */
  | { readonly type: 'paused'; readonly at: number; readonly until: number | undefined }
  /** Transfers go on; what was collected meanwhile is sent at once. */
  | { readonly type: 'resumed'; readonly at: number };
