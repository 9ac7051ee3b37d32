// What the CLI and the daemon say to each other over the control socket: JSON over HTTP.

/** POST /sync: send what is pending now; with `wait`, answer once every target has it. */
export interface SyncRequest {
  readonly wait: boolean;
  readonly timeoutMs: number;
}

/** One target's answer to a sync. */
export interface TargetSync {
  /** user@host:port:dir */
  readonly target: string;
  readonly ok: boolean;
  /** Why not: the run that failed, or the timeout. */
  readonly failure?: { readonly reason: string; readonly message: string; readonly hint: string };
  /** Paths still waiting to be sent. */
  readonly pending: number;
  /** Paths that fail on their own (not on the target). */
  readonly failingPaths: readonly { readonly path: string; readonly reason: string }[];
}

/** The answer to POST /sync. */
export interface SyncReport {
  readonly ok: boolean;
  /** With `wait: false`: the run was asked for, nothing was waited for. */
  readonly waited: boolean;
  readonly targets: readonly TargetSync[];
}

/** POST /pause: no transfer starts until POST /resume, or for `forMs`. */
export interface PauseRequest {
  readonly forMs: number | undefined;
}

/** The answer to POST /pause and POST /resume: each target as /status shows it. */
export interface PauseReport {
  readonly targets: readonly {
    readonly target: string;
    readonly paused: { readonly since: string; readonly until: string | undefined } | undefined;
  }[];
}
