import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { execa } from 'execa';
import { waitFor } from './wait.ts';

const CLI = resolve('dist/cli.js');

/** Runs the CLI with this Node; `prefix` runs it under another command (e.g. unshare). */
function spawnCli(env: Record<string, string>, args: readonly string[], prefix: readonly string[] = []) {
  const [file = process.execPath, ...rest] = [...prefix, process.execPath, CLI, ...args];
  return execa(file, rest, {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root', ...env },
    extendEnv: false,
    reject: false,
    // A stop is the daemon's to finish: execa's default SIGKILL 5 s after kill() would cut a
    // long one (a 1,000,000-entry manifest) and look like a daemon that died. Disposal kills.
    forceKillAfterDelay: false,
  });
}
type Child = ReturnType<typeof spawnCli>;

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly [key: string]: unknown;
}

/** filesync running from the built dist/, as a child process with its own environment. */
export class Daemon implements AsyncDisposable {
  readonly logs: LogLine[] = [];
  readonly #process: Child;
  #stdout = '';
  #exited = false;

  private constructor(process: Child) {
    this.#process = process;
    void process.then(() => {
      this.#exited = true;
    });
    process.stdout?.on('data', (chunk: Buffer) => {
      this.#stdout += chunk.toString();
      const lines = this.#stdout.split('\n');
      this.#stdout = lines.pop() ?? '';
      for (const line of lines) {
        if (line.trim() === '') continue;
        this.logs.push(JSON.parse(line) as LogLine);
      }
    });
  }

  static start(
    env: Record<string, string>,
    args: string[] = ['watch'],
    prefix: readonly string[] = [],
  ): Daemon {
    return new Daemon(spawnCli(env, args, prefix));
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  /** Waits for a log line that satisfies `match`. */
  waitForLog(
    what: string,
    match: (line: LogLine) => boolean,
    timeoutMs = 20_000,
    intervalMs = 100,
  ): Promise<LogLine> {
    return waitFor(what, () => this.logs.find(match), { timeoutMs, intervalMs });
  }

  /** Sends a signal and returns at once. */
  signal(signal: NodeJS.Signals): void {
    this.#process.kill(signal);
  }

  /** Sends a signal and waits for the exit; returns the exit code, stdout and stderr. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ exitCode: number | undefined; stderr: string }> {
    this.#process.kill(signal);
    return this.exited();
  }

  async exited(): Promise<{ exitCode: number | undefined; stderr: string; stdout: string }> {
    const result = await this.#process;
    return { exitCode: result.exitCode, stderr: String(result.stderr), stdout: String(result.stdout) };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#exited) {
      this.#process.kill('SIGKILL');
      await this.#process;
    }
  }
}

/** A TCP port nothing listens on right now, for the health endpoints. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

/** Runs a filesync command to completion (under `prefix`, as spawnCli). */
export async function runCli(env: Record<string, string>, args: string[], prefix: readonly string[] = []) {
  const result = await spawnCli(env, args, prefix);
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}
