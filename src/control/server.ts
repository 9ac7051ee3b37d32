import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PauseReport, PauseRequest, SyncReport, SyncRequest } from './protocol.ts';

// The daemon's side of the control socket: `filesync sync` reaches it over a Unix socket that
// only the daemon's uid can open (socket.ts). Like the health server, it knows only an interface.

/** What the control socket asks of the daemon. */
export interface Control {
  sync(request: SyncRequest): Promise<SyncReport>;
  pause(request: PauseRequest): PauseReport;
  resume(): PauseReport;
}

/** Longest a sync may be asked to wait; the CLI's --timeout is checked against it too. */
export const MAX_SYNC_TIMEOUT_MS = 24 * 3_600_000;

/**
 * Listens on `path`; resolves with the server, or undefined (and a warning) when the socket
 * cannot be had: another daemon of this uid listens there, or the directory is not ours.
 */
export async function startControlServer(
  path: string,
  control: Control,
  log: Logger,
): Promise<Server | undefined> {
  const problem = await claim(path).catch((error: unknown) => ({
    message: `${path} cannot be used (${messageOf(error)})`,
    hint: 'Set TMPDIR to a short, writable directory of this user; filesync sync cannot reach this daemon meanwhile.',
  }));
  if (problem !== undefined) {
    log.warn({ socket: path, hint: problem.hint }, `no control socket: ${problem.message}`);
    return undefined;
  }
  const server = createServer((request, response) => {
    const send = (status: number, body: unknown) => {
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    const route = request.method === 'POST' ? ROUTES[request.url ?? ''] : undefined;
    if (route === undefined) {
      send(404, { error: 'not found', endpoints: Object.keys(ROUTES).map((path) => `POST ${path}`) });
      return;
    }
    void (async () => {
      let run: () => Promise<unknown> | unknown;
      try {
        run = route(control, await readJson(request));
      } catch (error) {
        send(400, { error: messageOf(error) });
        return;
      }
      try {
        send(200, await run());
      } catch (error) {
        log.error({ err: error }, 'a sync asked over the control socket failed; this is a bug');
        send(500, { error: messageOf(error) });
      }
    })();
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(path, 0o600);
  } catch (error) {
    server.close();
    log.warn(
      { socket: path, err: error, hint: 'Set TMPDIR to a short, writable directory of this user.' },
      'no control socket: filesync sync cannot reach this daemon',
    );
    return undefined;
  }
  return server;
}

/** Makes the socket's directory ours and 0700, and clears a stale socket; or says why not. */
async function claim(path: string): Promise<{ message: string; hint: string } | undefined> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const stats = await lstat(dir);
  const ours = stats.isDirectory() && stats.uid === process.getuid?.();
  if (ours && (stats.mode & 0o077) !== 0) await chmod(dir, 0o700);
  if (!ours) {
    return {
      message: `${dir} is not a private directory of this user (uid ${process.getuid?.()}, mode 0700)`,
      hint: 'Remove it, or set TMPDIR to a directory of this user; filesync sync cannot reach this daemon meanwhile.',
    };
  }
  if (await answers(path)) {
    return {
      message: `another filesync daemon of this user listens on ${path}`,
      hint: 'Give each daemon a TMPDIR of its own; filesync sync reaches the other one meanwhile.',
    };
  }
  await rm(path, { force: true }); // a socket left by a daemon that did not stop cleanly
  return undefined;
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** What each path does with its checked body; a bad body throws before anything runs. */
const ROUTES: Readonly<Record<string, (control: Control, body: unknown) => () => unknown>> = {
  '/sync': (control, body) => {
    const request = syncRequestOf(body);
    return () => control.sync(request);
  },
  '/pause': (control, body) => {
    const request = pauseRequestOf(body);
    return () => control.pause(request);
  },
  '/resume': (control) => () => control.resume(),
};

/** The body of POST /pause, checked: `{ "forMs": number }` or `{}`. */
function pauseRequestOf(body: unknown): PauseRequest {
  if (typeof body !== 'object' || body === null) throw new Error('expected a JSON object');
  const { forMs } = body as { forMs?: unknown };
  if (forMs !== undefined && (typeof forMs !== 'number' || !(forMs > 0) || forMs > MAX_SYNC_TIMEOUT_MS))
    throw new Error('forMs: expected a number of milliseconds, more than 0 and at most 24 h');
  return { forMs };
}

/** The body of POST /sync, checked: `{ "wait": boolean, "timeoutMs": number }`. */
function syncRequestOf(body: unknown): SyncRequest {
  if (typeof body !== 'object' || body === null) throw new Error('expected a JSON object');
  const { wait, timeoutMs } = body as { wait?: unknown; timeoutMs?: unknown };
  if (wait !== undefined && typeof wait !== 'boolean') throw new Error('wait: expected true or false');
  if (typeof timeoutMs !== 'number' || !(timeoutMs > 0) || timeoutMs > MAX_SYNC_TIMEOUT_MS)
    throw new Error('timeoutMs: expected a number of milliseconds, more than 0 and at most 24 h');
  return { wait: wait ?? true, timeoutMs };
}

/** A small JSON body; the socket is private, but a runaway client still gets an error. */
async function readJson(request: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of request) {
    text += String(chunk);
    if (text.length > 4096) throw new Error('the request is too large');
  }
  return text === '' ? {} : (JSON.parse(text) as unknown);
}
