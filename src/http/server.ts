import type { Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { DaemonStatus } from '../status/status.ts';

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

/** Serves GET /healthz, /readyz, /status and /metrics. Resolves once listening. */
export async function startHttpServer(
  port: number,
  health: HealthSource,
  registry: Registry,
): Promise<Server> {
  const server = createServer((request, response) => {
    const send = (status: number, body: unknown, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(typeof body === 'string' ? body : `${JSON.stringify(body)}\n`);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return send(405, { error: 'method not allowed' });
    switch (request.url?.split('?')[0]) {
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
        return void registry.metrics().then(
          (text) => send(200, text, registry.contentType),
          (error: unknown) => send(500, { error: String(error) }),
        );
      default:
        return send(404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/status', '/metrics'] });
    }
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
