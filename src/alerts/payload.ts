import type { Status, Transition } from '../status/status.ts';

// What the webhook POSTs, built from a transition and the status at that moment. Pure. `text`
// is one line for people, so Slack's and Mattermost's incoming webhooks (and relays that read
// `text`) show it as it is; the other fields are for machines.

export interface Alert {
  /** `failing`: syncing has started to fail; `recovered`: it goes through again. */
  readonly event: 'failing' | 'recovered';
  readonly text: string;
  /** The machine filesync runs on (the pod's name under Kubernetes). */
  readonly host: string;
  readonly target: string;
  readonly time: string;
  /** When the failure began. */
  readonly since: string;
  /** Failed runs so far (`failing`: 1), or in all (`recovered`). */
  readonly attempts: number;
  readonly pending: number;
  readonly lastSuccess: string | undefined;
  /** `failing` only: what failed and what to do. */
  readonly reason?: string;
  readonly message?: string;
  readonly hint?: string;
  /** `recovered` only: how long syncing was failing. */
  readonly downForMs?: number;
}

/** Sent once, when the watcher gives up and filesync polls instead (out of kernel watches). */
export interface WatchAlert {
  readonly event: 'watch-fallback';
  readonly text: string;
  readonly host: string;
  readonly time: string;
  readonly backend: string;
  readonly previous: string;
  readonly reason: string;
  readonly hint: string;
}

export function watchAlertOf(
  fallback: { readonly from: string; readonly to: string; readonly reason: string; readonly hint: string },
  host: string,
  now: Date,
): WatchAlert {
  return {
    event: 'watch-fallback',
    text: `filesync on ${host}: the ${fallback.from} watcher gave up (${fallback.reason}); ${fallback.to === 'poll' ? 'polling' : `watching with ${fallback.to}`} now, so changes arrive late — ${fallback.hint}`,
    host,
    time: now.toISOString(),
    backend: fallback.to,
    previous: fallback.from,
    reason: fallback.reason,
    hint: fallback.hint,
  };
}

export function alertOf(transition: Transition, status: Status, host: string, now: Date): Alert {
  const common = {
    host,
    target: status.target,
    time: now.toISOString(),
    pending: status.pending,
    lastSuccess: status.lastSuccess,
  };
  if (transition.type === 'recovered') {
    const downForMs = Math.max(0, now.getTime() - Date.parse(transition.since));
    const runs = `${transition.attempts} failed run${transition.attempts === 1 ? '' : 's'}`;
    return {
      event: 'recovered',
      text: `filesync on ${host}: syncing to ${status.target} recovered after ${about(downForMs)} (${runs}, ${status.pending} pending)`,
      ...common,
      since: transition.since,
      attempts: transition.attempts,
      downForMs,
    };
  }
  const failure = status.failure;
  const reason = failure?.reason ?? 'unknown';
  const message = failure?.message ?? '';
  const hint = failure?.hint ?? '';
  return {
    event: 'failing',
    text: `filesync on ${host}: syncing to ${status.target} is failing (${reason}): ${message} — ${hint} (${status.pending} pending)`,
    ...common,
    since: failure?.since ?? common.time,
    attempts: failure?.attempts ?? 1,
    reason,
    message,
    hint,
  };
}

/** A duration for people, to the second: 2m 5s, 1h 3m 0s. */
function about(ms: number): string {
  const seconds = Math.round(ms / 1000);
  if (seconds < 60) return `${seconds}s`;
  const parts = [
    [Math.floor(seconds / 3600), 'h'],
    [Math.floor((seconds % 3600) / 60), 'm'],
    [seconds % 60, 's'],
  ] as const;
  const first = parts.findIndex(([value]) => value > 0);
  return parts
    .slice(first)
    .map(([value, unit]) => `${value}${unit}`)
    .join(' ');
}
