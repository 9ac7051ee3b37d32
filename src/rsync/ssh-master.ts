import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { CONNECT_TIMEOUT_MS, masterArgs, type SshTarget } from './ssh.ts';

/**
 * Keeps one SSH connection open for every transfer to share (ControlMaster). Transfers use
 * ControlMaster=no, so while the master is down they connect on their own and nothing waits
 * on it; `ensure()` before each run brings it back after the target returns.
 *
 * The master is started with node:child_process rather than execa: `watch` starts it before
 * loading the rest of filesync, so the SSH handshake overlaps the module loading (execa alone
 * takes 90–180 ms to import on a 2-core machine). It is an argv array, never a shell string.
 */
export class SshMaster implements AsyncDisposable {
  readonly #target: SshTarget;
  #process: { child: ChildProcess; exited: Promise<void>; spawnedAt: number; up: boolean } | undefined;
  #onExit: (stderr: string) => void;
  #onUp: (durationMs: number) => void = () => {};
  #first: Promise<boolean> | undefined;
  #stopped = false;

  constructor(target: SshTarget, onExit: (stderr: string) => void = () => {}) {
    this.#target = target;
    this.#onExit = onExit;
  }

  /** Where the master's unexpected exits are reported; set once the logger is loaded. */
  set onExit(onExit: (stderr: string) => void) {
    this.#onExit = onExit;
  }

  /**
   * Hears, once, how long after its spawn the first transfer found the connection up: the SSH
   * handshake, plus up to one poll (5 ms, on a thread that may be busy). Not heard when the
   * first transfer stops waiting first.
   */
  set onUp(onUp: (durationMs: number) => void) {
    this.#onUp = onUp;
  }

  /** Starts the master unless one is running. */
  ensure(): void {
    if (this.#process !== undefined || this.#stopped) return;
    const child = spawn('ssh', masterArgs(this.#target), { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096);
    });
    const exited = new Promise<void>((resolve) => {
      child.once('error', (error) => {
        stderr += error.message;
        resolve();
      });
      child.once('close', () => resolve());
    });
    const running = { child, exited, spawnedAt: performance.now(), up: false };
    this.#process = running;
    void exited.then(() => {
      if (this.#process !== running) return; // stopped on purpose
      this.#process = undefined;
      this.#onExit(stderr);
    });
  }

  /**
   * Call before each transfer: brings the master back if it is down. The first transfer waits
   * for the connection instead of making one of its own (one SSH handshake fewer at start-up);
   * later ones never wait, and connect on their own while the master is down.
   */
  async beforeTransfer(): Promise<void> {
    this.ensure();
    this.#first ??= this.ready(CONNECT_TIMEOUT_MS);
    await this.#first;
  }

  /**
   * Resolves once the shared connection accepts transfers (its control socket exists), the
   * master has given up, or `timeoutMs` has passed.
   */
  async ready(timeoutMs: number): Promise<boolean> {
    const running = this.#process;
    const deadline = Date.now() + timeoutMs;
    while (running !== undefined && this.#process === running && Date.now() < deadline) {
      if (existsSync(this.#target.controlPath)) {
        if (!running.up) this.#onUp(Math.round(performance.now() - running.spawnedAt));
        running.up = true;
        return true;
      }
      await delay(5);
    }
    return false;
  }

  /** Closes the shared connection; transfers in flight keep theirs until they end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const running = this.#process;
    this.#process = undefined;
    if (running === undefined) return;
    running.child.kill('SIGTERM');
    await running.exited;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
