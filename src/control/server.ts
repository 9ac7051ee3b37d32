import { chmod, lstat, mkdir, rm } from 'node:fs/promises';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import { answerControl, type Control } from './routes.ts';

// Not `import … from 'node:http'`: its ESM facade reads every export, and the WebSocket and
// fetch getters load undici, 80–90 ms of every start (npm run bench: cold).
const { createServer } = process.getBuiltinModule('node:http');

export type { Control } from './routes.ts';

// The daemon's side of the control socket: `filesync sync` reaches it over a Unix socket that
// only the daemon's uid can open (socket.ts). Like the health server, it knows only an interface.

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
    if (request.method === 'POST') answerControl(request, response, control, log);
    else
      response
        .writeHead(405, { 'content-type': 'application/json', allow: 'POST' })
        .end(JSON.stringify({ error: 'method not allowed' }));
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
