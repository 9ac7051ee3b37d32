import type { IncomingMessage, ServerResponse } from 'node:http';
import { messageOf } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { PauseReport, PauseRequest, SyncReport, SyncRequest } from './protocol.ts';

// What POST /sync, /pause and /resume do, the same on the control socket and, with a token, on
// the health port: each body is checked before anything runs, then one Control method answers.

/** What a control request asks of the daemon. */
export interface Control {
  sync(request: SyncRequest): Promise<SyncReport>;
  pause(request: PauseRequest): PauseReport;
  resume(): PauseReport;
}

/** Longest a sync may be asked to wait or a pause to last; the CLI checks its flags against it. */
export const MAX_SYNC_TIMEOUT_MS = 24 * 3_600_000;

/** The control endpoints, as the 404 answers list them. */
export const CONTROL_PATHS = ['/sync', '/pause', '/resume'] as const;

export function isControlPath(path: string): boolean {
  return (CONTROL_PATHS as readonly string[]).includes(path);
}

/** Answers one control request (its method and path already checked) as JSON. */
export function answerControl(
  request: IncomingMessage,
  response: ServerResponse,
  control: Control,
  log: Logger,
): void {
  const send = (status: number, body: unknown) => {
    response
      .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      .end(`${JSON.stringify(body)}\n`);
  };
  const route = ROUTES[(request.url ?? '').split('?')[0] ?? ''];
  if (route === undefined) {
    send(404, { error: 'not found', endpoints: CONTROL_PATHS.map((path) => `POST ${path}`) });
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
      log.error({ err: error }, 'a control request failed; this is a bug');
      send(500, { error: messageOf(error) });
    }
  })();
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

/** A small JSON body: a runaway or hostile client gets an error, not the daemon's memory. */
async function readJson(request: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of request) {
    text += String(chunk);
    if (text.length > 4096) throw new Error('the request is too large');
  }
  if (text === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error('the body is not JSON');
  }
}
