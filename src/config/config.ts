/** Which host keys ssh accepts: pinned only, or trust-on-first-use. */
export type HostKeyPolicy = 'strict' | 'accept-new';

/** How changes are noticed; see SYNC_WATCH_MODE. */
export type WatchMode = 'auto' | 'native' | 'chokidar' | 'poll';

/** One target: an SSH user, host and port, and a directory there. */
export interface Remote {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** Absolute directory on the target (inside rrsync's directory, for a restricted key). */
  readonly dir: string;
}

/** The validated, frozen configuration. Nothing outside src/config reads process.env. */
export interface Config {
  /** Absolute, resolved path of the directory to mirror. */
  readonly sourceDir: string;
  /** The target this configuration is for: the first of `targets`, or the one forTarget set. */
  readonly remote: Remote;
  /** Every target (SYNC_TARGETS, or the one of SYNC_REMOTE_*), in order. */
  readonly targets: readonly Remote[];
  readonly ssh: {
    /** The private key as configured; filesync uses a private 0600 copy of it. */
    readonly keyPath: string;
    /** Pinned host keys; under `accept-new` without one, keys are kept in the runtime directory. */
    readonly knownHostsPath: string | undefined;
    readonly hostKeyPolicy: HostKeyPolicy;
  };
  readonly filter: {
    /** Globs a file must match one of (empty: every file). Extensions arrive here as `*.ext`. */
    readonly include: readonly string[];
    /** Globs of files and directories never synced. */
    readonly exclude: readonly string[];
  };
  readonly rsync: {
    readonly delete: boolean;
    /** Let an empty or missing source empty the mirror (off: such a run deletes nothing). */
    readonly allowEmptySource: boolean;
    /** rsync's --max-delete, per run. */
    readonly maxDelete: number | undefined;
    readonly compress: boolean;
    readonly checksum: boolean;
    readonly update: boolean;
    readonly partial: boolean;
    /** Files of a run are staged and renamed into place at its end; see SYNC_DELAY_UPDATES. */
    readonly delayUpdates: boolean;
    readonly bwlimit: string | undefined;
    readonly extraArgs: readonly string[];
    /** What a symlink becomes on the target; see SYNC_SYMLINKS. */
    readonly symlinks: 'keep' | 'safe' | 'copy-unsafe' | 'ignore';
    /** What lands on the target: its owner and modes. */
    readonly ownership: {
      /** rsync --chown; undefined: the SSH user's (or, as root, the source's). */
      readonly chown: string | undefined;
      readonly usermap: readonly string[];
      readonly groupmap: readonly string[];
      /** rsync --chmod rules. */
      readonly chmod: readonly string[];
      /** `target`: modes are not sent (--no-perms); new entries take the target's umask. */
      readonly perms: 'preserve' | 'target';
    };
    readonly ioTimeoutMs: number;
  };
  readonly watch: {
    readonly mode: WatchMode;
    /** Time between full passes while polling. */
    readonly pollIntervalMs: number;
  };
  readonly debounceMs: number;
  readonly maxDelayMs: number;
  readonly resyncIntervalMs: number;
  readonly shutdownTimeoutMs: number;
  /** Where each target's manifest is kept for fast restarts; undefined: every start is a full pass. */
  readonly stateDir: string | undefined;
  readonly healthPort: number;
  /**
   * The bearer token of POST /sync, /pause and /resume on the health port; undefined: they do
   * not exist there. Read from SYNC_CONTROL_TOKEN_FILE when loading; never logged.
   */
  readonly controlToken: string | undefined;
  /** Where the token was read from, if from a file. */
  readonly controlTokenFile: string | undefined;
  /**
   * What /readyz answers: `started` once the initial pass has gone through, for good; `syncing`
   * also turns it 503 while runs fail.
   */
  readonly readiness: ReadinessMode;
  /** Where alerts are POSTed; undefined: none are sent. */
  readonly webhookUrl: string | undefined;
  /** What runs after each run that changed something on a target; see hooks/. */
  readonly hooks: {
    /** argv, no shell; undefined: none. */
    readonly command: readonly string[] | undefined;
    /** POSTed after the command; undefined: none. */
    readonly url: string | undefined;
    readonly timeoutMs: number;
  };
  /** The trash on the target; undefined: deleted and overwritten files are gone. */
  readonly backup:
    | {
        /** Relative to remote.dir, no trailing slash. */
        readonly dir: string;
        readonly retentionMs: number;
      }
    | undefined;
  readonly log: {
    readonly level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
    readonly format: 'json' | 'pretty';
  };
}

/** What /readyz answers; see Config.readiness. */
export type ReadinessMode = 'started' | 'syncing';
