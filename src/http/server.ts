import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { answerControl, type Control, isControlPath } from '../control/routes.ts';
import type { Logger } from '../log.ts';
import type { DaemonStatus } from '../status/status.ts';
import { bearerMatches } from './token.ts';

/** What the health endpoints report. */
export interface HealthSource {
  /** Liveness: the watcher and the sync loop are running. */
  live(): boolean;
  /** Readiness: the initial pass is done and syncing is not failing. */
  ready(): { readonly ready: true } | { readonly ready: false; readonly reason: string };
  /** For people on call: GET /status, and `filesync status`. */
  status(): DaemonStatus;
}

// Not `import … from 'node:http'`: its ESM facade reads every export, and the WebSocket and
// fetch getters load undici, 50 ms on the way to the first transfer (npm run bench: large).
const { createServer } = process.getBuiltinModule('node:http');

/** What GET /metrics serves: Prometheus's text exposition. */
export interface MetricsSource {
  scrape(): Promise<string>;
  readonly contentType: string;
}

/** POST /sync, /pause and /resume over the network: only with SYNC_CONTROL_TOKEN(_FILE) set. */
export interface NetworkControl {
  readonly control: Control;
  /** The bearer token a request must carry; never logged. */
  readonly token: string;
  readonly log: Logger;
}

const GET_PATHS = ['/healthz', '/readyz', '/status', '/metrics'];

/**
 * Serves GET /healthz, /readyz, /status and /metrics, and with `control` the POST endpoints
 * `filesync sync`, `pause` and `resume` use. Resolves once listening.
 */
export async function startHttpServer(
  port: number,
  health: HealthSource,
  metrics: MetricsSource,
  control?: NetworkControl,
): Promise<Server> {
  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const send = (status: number, body: unknown, type = 'application/json', headers = {}) => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
      response.end(typeof body === 'string' ? body : `${JSON.stringify(body)}\n`);
    };
    const path = request.url?.split('?')[0] ?? '';
    if (request.method === 'POST' && control !== undefined && isControlPath(path)) {
      // Without the right token the request is refused before its body is read, and the
      // connection closed: nothing of the body is taken.
      if (refused(request, control.token)) {
        return send(
          401,
          { error: 'a bearer token is required: Authorization: Bearer <SYNC_CONTROL_TOKEN>' },
          'application/json',
          { 'www-authenticate': 'Bearer realm="filesync"', connection: 'close' },
        );
      }
      return answerControl(request, response, control.control, control.log);
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      // Without a token there are no control endpoints here at all.
      if (GET_PATHS.includes(path))
        return send(405, { error: 'method not allowed' }, 'application/json', { allow: 'GET, HEAD' });
      return send(404, { error: 'not found', endpoints: GET_PATHS });
    }
    switch (path) {
      case '/healthz':
        return health.live() ? send(200, { status: 'ok' }) : send(503, { status: 'down' });
      case '/readyz': {
        const state = health.ready();
        return state.ready
          ? send(200, { status: 'ready' })
          : send(503, { status: 'not ready', reason: state.reason });
      }
      case '/status':
        return send(200, health.status());
      case '/metrics':
        return void metrics.scrape().then(
          (text) => send(200, text, metrics.contentType),
          (error: unknown) => send(500, { error: String(error) }),
        );
      default:
        return send(404, { error: 'not found', endpoints: GET_PATHS });
    }
  };
  const server = createServer(handle);
  // `Expect: 100-continue`: a control request without the right token gets its 401 instead of
  // an invitation to send its body.
  server.on('checkContinue', (request, response) => {
    const path = request.url?.split('?')[0] ?? '';
    const controlRequest = control !== undefined && request.method === 'POST' && isControlPath(path);
    if (!(controlRequest && refused(request, control.token))) response.writeContinue();
    handle(request, response);
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** A control request without the right bearer token. */
function refused(request: IncomingMessage, token: string): boolean {
  return !bearerMatches(request.headers.authorization, token);
}
