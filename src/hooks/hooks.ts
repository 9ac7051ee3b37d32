import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import { bytesOf, printable } from '../names.ts';
import { coalesce, type HookBatch, summaryOf } from './batch.ts';

// SYNC_HOOK_COMMAND and SYNC_HOOK_URL after each successful run of one target, as git-sync's
// exechook and webhook: never awaited by syncing, one call in flight, what finishes meanwhile
// coalesced into one follow-up, a failure retried with backoff (with whatever came since).

export type HookName = 'command' | 'url';
export type HookResult = 'ok' | 'failed' | 'timeout';

export interface HookOptions {
  /** argv, no shell; undefined: no command. */
  readonly command: readonly string[] | undefined;
  /** POSTed after the command succeeded; undefined: none. */
  readonly url: string | undefined;
  readonly timeoutMs: number;
  /** Where the command runs: the source directory. */
  readonly cwd: string;
  /** The target as /status names it (FILESYNC_TARGET). */
  readonly target: string;
  /** A private directory for the changes files. */
  readonly changesDir: string;
  readonly log: Logger;
  readonly onResult: (hook: HookName, result: HookResult) => void;
  /** Most paths a coalesced call lists. */
  readonly cap: number;
  /** The wait before the nth retry. */
  readonly backoffMs?: (attempt: number) => number;
}

/** Grace between SIGTERM and SIGKILL for a hook past its timeout. */
const KILL_GRACE_MS = 5000;
/** Most paths the URL's body lists; FILESYNC_CHANGES_FILE has them all (up to the cap). */
const URL_PATHS = 1000;
const URL_TIMEOUT_MS = 10_000;
/** How long a command's exit waits for its stderr to close (a process it left running). */
const DETACH_GRACE_MS = 1000;
/** Lines of the command's stderr a failure's log line quotes. */
const STDERR_LINES = 10;

let changesFiles = 0;

interface Call {
  readonly batch: HookBatch;
  readonly from: HookName;
}

export class Hooks {
  readonly #options: HookOptions;
  /** Aborted when stopping is past: nothing more is started, a running command is stopped. */
  readonly #stopping = new AbortController();
  /** Aborted when stopping begins: a backoff ends at once, for one last attempt. */
  readonly #hurry = new AbortController();
  /** The call to make next, and the step to start from (a retry after the URL failed). */
  #next: Call | undefined;
  #draining: Promise<void> | undefined;

  constructor(options: HookOptions) {
    this.#options = options;
  }

  /** Queues a call for `batch` and returns at once; the call starts on a later turn. */
  offer(batch: HookBatch): void {
    if (this.#stopping.signal.aborted) return;
    const { cap } = this.#options;
    this.#next =
      this.#next === undefined
        ? { batch, from: this.#first }
        : { batch: coalesce(this.#next.batch, batch, cap), from: this.#first };
    // Not in the scheduler's own step: building the changes file (or loading fetch) is no
    // part of a sync.
    this.#draining ??= new Promise((resolve) => setImmediate(resolve)).then(() => this.#drain());
  }

  /**
   * Stops, giving the calls queued so far up to `timeoutMs`: one waiting out a backoff is tried
   * once more at once. Past it nothing is retried or started, and a command still running is
   * stopped (SIGTERM, SIGKILL after 5 s). True when every call went through.
   */
  async settle(timeoutMs: number): Promise<boolean> {
    this.#hurry.abort();
    const done = await within(this.#draining ?? Promise.resolve(), timeoutMs);
    const left = this.#next;
    this.#stopping.abort();
    // A command being stopped; one whose stderr a process it started keeps open is let go.
    await within(this.#draining ?? Promise.resolve(), KILL_GRACE_MS + DETACH_GRACE_MS + 1000);
    const finished = done && left === undefined;
    if (!finished) {
      this.#options.log.warn(
        { timeoutMs, kind: left?.batch.kind },
        'stopped before the hook ran for the last changes; the next start runs it (kind initial)',
      );
    }
    return finished;
  }

  #peek(): Call | undefined {
    return this.#next;
  }

  get #first(): HookName {
    return this.#options.command === undefined ? 'url' : 'command';
  }

  async #drain(): Promise<void> {
    try {
      let failures = 0;
      while (this.#next !== undefined && !this.#stopping.signal.aborted) {
        const { batch, from } = this.#next;
        this.#next = undefined;
        const failed = await this.#call(batch, from);
        if (failed === undefined) {
          failures = 0;
          continue;
        }
        failures += 1;
        // Newer runs join the retry; the command then runs again for them. (The await above
        // may have set #next, whatever the compiler's narrowing says.)
        const newer = this.#peek();
        this.#next =
          newer === undefined
            ? { batch, from: failed }
            : { batch: coalesce(batch, newer.batch, this.#options.cap), from: this.#first };
        // Stopping: the one attempt settle() asked for has been made.
        if (this.#stopping.signal.aborted || (this.#hurry.signal.aborted && failures > 1)) break;
        const waitMs = (this.#options.backoffMs ?? backoffMs)(failures);
        this.#options.log.info(
          { hook: failed, retryInMs: waitMs, attempt: failures + 1 },
          'hook will be retried',
        );
        await sleep(waitMs, AbortSignal.any([this.#stopping.signal, this.#hurry.signal]));
      }
    } finally {
      // In the same step as the queue was found empty: an offer() from here on starts a new drain.
      this.#draining = undefined;
    }
  }

  /** Runs the steps from `from` on; returns the one that failed, if any. */
  async #call(batch: HookBatch, from: HookName): Promise<HookName | undefined> {
    const { command, url, onResult } = this.#options;
    if (command !== undefined && from === 'command') {
      const result = await this.#runCommand(command, batch).catch((error: unknown) => {
        this.#options.log.warn({ hook: 'command', err: error }, 'hook command could not be run');
        return 'failed' as const;
      });
      if (result === 'cancelled') return 'command';
      onResult('command', result);
      if (result !== 'ok') return 'command';
    }
    if (url !== undefined) {
      const result = await this.#post(url, batch);
      if (result === 'cancelled') return 'url';
      onResult('url', result);
      if (result !== 'ok') return 'url';
    }
    return undefined;
  }

  async #runCommand(command: readonly string[], batch: HookBatch): Promise<HookResult | 'cancelled'> {
    const { cwd, target, changesDir, timeoutMs, log } = this.#options;
    const changesFile = join(changesDir, `hook-changes-${++changesFiles}`);
    const stderr: string[] = [];
    try {
      const list = batch.paths.map((path) => Buffer.concat([bytesOf(path), Buffer.of(0)]));
      await writeFile(changesFile, Buffer.concat(list), { mode: 0o600 });
      // Loaded on the first hook: execa is not on the way to the first transfer (runner.ts).
      const { execa } = await import('execa');
      if (this.#stopping.signal.aborted) return 'cancelled';
      const began = Date.now();
      const subprocess = execa(command[0] ?? '', command.slice(1), {
        cwd,
        // filesync's own environment, but for the control token: the hook needs none.
        env: {
          ...withoutToken(process.env),
          FILESYNC_TARGET: target,
          FILESYNC_KIND: batch.kind,
          FILESYNC_FILES: String(batch.files),
          FILESYNC_DELETED: String(batch.deleted),
          FILESYNC_BYTES: String(batch.bytes),
          FILESYNC_CHANGES_FILE: changesFile,
          FILESYNC_CHANGES_TRUNCATED: batch.truncated ? '1' : '0',
          FILESYNC_RUNS: String(batch.runs),
        },
        extendEnv: false,
        reject: false,
        stdin: 'ignore',
        // Its output is not filesync's log: stdout is dropped, stderr's last lines kept for one.
        stdout: 'ignore',
        // biome-ignore lint/correctness/useYield: the lines are kept here, not passed on
        stderr: function* (line: unknown) {
          stderr.push(String(line));
          if (stderr.length > STDERR_LINES) stderr.shift();
        },
        // A group of its own: a timeout stops what it started too (`sh -c` and its children),
        // which would otherwise hold its stderr open and the call with it.
        detached: true,
      });
      const group = running(subprocess.pid);
      let timedOut = false;
      let cancelled = false;
      const timer = setTimeout(() => {
        timedOut = true;
        group.stop();
      }, timeoutMs);
      const cancel = () => {
        cancelled = true;
        group.stop();
      };
      this.#stopping.signal.addEventListener('abort', cancel, { once: true });
      if (this.#stopping.signal.aborted) cancel();
      // A process it started outside its group (setsid, ssh -f) may keep its stderr open after
      // it exits: its exit is what counts, a moment later.
      const exited = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        subprocess.nodeChildProcess.once('exit', (exitCode, signal) => resolve({ exitCode, signal })),
      );
      const outcome = await Promise.race([
        subprocess,
        exited.then(async (exit) => {
          await new Promise((resolve) => setTimeout(resolve, DETACH_GRACE_MS).unref());
          return { detached: true, ...exit } as const;
        }),
      ]).finally(() => {
        clearTimeout(timer);
        this.#stopping.signal.removeEventListener('abort', cancel);
        group.done();
      });
      if ('detached' in outcome) subprocess.stderr?.destroy();
      const exitCode = 'detached' in outcome ? (outcome.exitCode ?? undefined) : outcome.exitCode;
      const signal = 'detached' in outcome ? (outcome.signal ?? undefined) : outcome.signal;
      const failed = 'detached' in outcome ? exitCode !== 0 : outcome.failed;
      const durationMs = Date.now() - began;
      if (cancelled) return 'cancelled';
      if (!failed && !timedOut) {
        log.info(
          {
            hook: 'command',
            kind: batch.kind,
            files: batch.files,
            deleted: batch.deleted,
            runs: batch.runs,
            durationMs,
          },
          'hook command ran',
        );
        return 'ok';
      }
      const notStarted = !('detached' in outcome) && outcome.exitCode === undefined && !timedOut;
      log.warn(
        {
          hook: 'command',
          command: command[0],
          exitCode,
          signal,
          timedOut: timedOut || undefined,
          killed: group.killed || undefined,
          stderr: stderr.length > 0 ? stderr : undefined,
          durationMs,
          hint: timedOut
            ? `The command ran past SYNC_HOOK_TIMEOUT (${timeoutMs} ms) and was stopped: make it faster, or raise the timeout.`
            : notStarted && !('detached' in outcome)
              ? `${command[0]} could not be started (${outcome.code ?? outcome.shortMessage}): check SYNC_HOOK_COMMAND; it runs without a shell, in ${cwd}.`
              : 'The command failed; its stderr is quoted here. Syncing goes on, and the hook is retried.',
        },
        timedOut ? 'hook command timed out' : 'hook command failed',
      );
      return timedOut ? 'timeout' : 'failed';
    } finally {
      await rm(changesFile, { force: true }).catch(() => {});
    }
  }

  async #post(url: string, batch: HookBatch): Promise<HookResult | 'cancelled'> {
    const { target, log } = this.#options;
    const paths = batch.paths.slice(0, URL_PATHS).map(printable);
    const body = {
      target,
      kind: batch.kind,
      files: batch.files,
      deleted: batch.deleted,
      bytes: batch.bytes,
      runs: batch.runs,
      paths,
      truncated: batch.truncated || batch.paths.length > paths.length,
      text: summaryOf(batch, target),
    };
    const began = Date.now();
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'filesync' },
        body: JSON.stringify(body),
        redirect: 'error',
        signal: AbortSignal.any([AbortSignal.timeout(URL_TIMEOUT_MS), this.#stopping.signal]),
      });
      await response.body?.cancel();
      if (response.ok) {
        log.info({ hook: 'url', kind: batch.kind, durationMs: Date.now() - began }, 'hook URL called');
        return 'ok';
      }
      log.warn(
        { hook: 'url', receiver: originOf(url), status: response.status },
        'hook URL answered an error',
      );
      return 'failed';
    } catch (error) {
      if (this.#stopping.signal.aborted) return 'cancelled';
      // Never the raw message: fetch's may quote the URL, whose path often holds a secret.
      const { name, cause } = error as Error & { cause?: { code?: string } };
      const timedOut = name === 'TimeoutError';
      log.warn(
        {
          hook: 'url',
          receiver: originOf(url),
          problem: timedOut ? `no answer within ${URL_TIMEOUT_MS} ms` : (cause?.code ?? name),
        },
        'hook URL not reached',
      );
      return timedOut ? 'timeout' : 'failed';
    }
  }
}

/** Hook process groups alive; filesync exiting, however it does, ends them. */
const groups = new Set<number>();
process.on('exit', () => {
  for (const group of groups) signalGroup(group, 'SIGKILL');
});

/** A hook's process group: stopped with SIGTERM, then SIGKILL after a grace. */
function running(pid: number | undefined) {
  let grace: NodeJS.Timeout | undefined;
  let killed = false;
  if (pid !== undefined) groups.add(pid);
  return {
    stop() {
      if (pid === undefined || grace !== undefined) return;
      signalGroup(pid, 'SIGTERM');
      grace = setTimeout(() => {
        killed = true;
        signalGroup(pid, 'SIGKILL');
      }, KILL_GRACE_MS);
    },
    done() {
      clearTimeout(grace);
      if (pid !== undefined) groups.delete(pid);
    },
    get killed() {
      return killed;
    },
  };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // gone already
  }
}

function withoutToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SYNC_CONTROL_TOKEN: _token, SYNC_CONTROL_TOKEN_FILE: _file, ...rest } = env;
  return rest;
}

/** Whether `promise` settles within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** 1 s, 2 s, 4 s … up to 5 minutes between retries. */
function backoffMs(attempt: number): number {
  return Math.min(300_000, 1000 * 2 ** (attempt - 1));
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The receiver's origin, for logs: a URL's path often holds its secret. */
function originOf(url: string): string {
  return URL.parse(url)?.origin ?? 'the receiver';
}
