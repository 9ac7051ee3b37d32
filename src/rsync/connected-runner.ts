import type { PlanRunner } from './runner.ts';
import type { SshMaster } from './ssh-master.ts';

/**
 * A target's runs over its shared SSH connection (ssh-master.ts). Each run waits for the
 * connection right before its spawn — the first until it is up, later ones not at all — rather
 * than before its job's local work, so a pass looks at the source while SSH connects. A run
 * stops waiting when it is cancelled. Once `stopping` is aborted (the target stops), runs no
 * longer bring a closed connection back: they connect on their own, as every run may.
 */
export function connectedRunner(
  master: Pick<SshMaster, 'beforeTransfer'>,
  runner: PlanRunner,
  stopping: AbortSignal,
): PlanRunner {
  return {
    async run(plan, signal, onProgress) {
      if (!stopping.aborted) await untilAborted(master.beforeTransfer(), signal);
      return runner.run(plan, signal, onProgress);
    },
  };
}

/** Resolves with `promise`, or as soon as `signal` aborts (the runner then says cancelled). */
function untilAborted(promise: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    promise.then(done, done);
  });
}
