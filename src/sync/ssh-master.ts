import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import { CONNECT_TIMEOUT_MS, masterArgs, type SshTarget } from './ssh.ts';

const MASTER_OPTIONS = { reject: false, stdin: 'ignore' } as const;

/**
 * Keeps one SSH connection open for every transfer to share (ControlMaster). Transfers use
 * ControlMaster=no, so while the master is down they connect on their own and nothing waits
 * on it; `ensure()` before each run brings it back after the target returns.
 */
export class SshMaster {
  readonly #target: SshTarget;
  #process: ResultPromise<typeof MASTER_OPTIONS> | undefined;
  #onExit: (stderr: string) => void;
  #first: Promise<boolean> | undefined;

  constructor(target: SshTarget, onExit: (stderr: string) => void = () => {}) {
    this.#target = target;
    this.#onExit = onExit;
  }

  /** Starts the master unless one is running. */
  ensure(): void {
    if (this.#process !== undefined) return;
    const child = execa('ssh', masterArgs(this.#target), MASTER_OPTIONS);
    this.#process = child;
    void child.then((result) => {
      if (this.#process !== child) return; // stopped on purpose
      this.#process = undefined;
      this.#onExit(result.stderr);
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
    const child = this.#process;
    const deadline = Date.now() + timeoutMs;
    while (child !== undefined && this.#process === child && Date.now() < deadline) {
      if (existsSync(this.#target.controlPath)) return true;
      await delay(5);
    }
    return false;
  }

  /** Closes the shared connection; transfers in flight keep theirs until they end. */
  async stop(): Promise<void> {
    const child = this.#process;
    this.#process = undefined;
    if (child === undefined) return;
    child.kill('SIGTERM');
    await child;
  }
}
