import type { PauseReport } from '../control/protocol.ts';
import type { Control } from '../control/routes.ts';
import type { Target } from '../target/target.ts';
import type { Watcher } from '../watch/watcher.ts';

/**
 * What `filesync sync`, `pause` and `resume` do to a running daemon, over the socket or the
 * network alike: sync hands over whatever the watcher has in hand first, then asks every
 * target at once.
 */
export function controlOf(targets: readonly Target[], watcher: Watcher): Control {
  const everyTarget = (act: (target: Target) => void) => {
    for (const target of targets) act(target);
  };
  const pauseReport = (): PauseReport => ({
    targets: targets.map((target) => {
      const { target: name, paused } = target.status();
      return { target: name, paused };
    }),
  });
  return {
    async sync({ wait, timeoutMs }) {
      const deadline = Date.now() + timeoutMs;
      // Polling sees no change until its next pass, and chokidar reports after its own
      // stat()s: there, what was written before the call is found by a full pass.
      if (watcher.backend !== 'native') everyTarget((target) => target.requestFull('rescan'));
      else if (wait) await watcher.settle(50, Math.min(500, timeoutMs), 'event');
      const left = Math.max(0, deadline - Date.now());
      const reports = await Promise.all(targets.map((target) => target.syncNow(left, wait, timeoutMs)));
      return { ok: reports.every((report) => report.ok), waited: wait, targets: reports };
    },
    pause({ forMs }) {
      everyTarget((target) => target.pause(forMs));
      return pauseReport();
    },
    resume() {
      everyTarget((target) => target.resume());
      return pauseReport();
    },
  };
}
