import type { PauseReport, PauseRequest, SyncReport, SyncRequest } from './protocol.ts';

// The CLI's side of the control socket.

// Not `import … from 'node:http'`: its ESM facade reads every export, and the WebSocket and
// fetch getters load undici, 35–55 ms of every `filesync sync` (npm run bench: control).
const { request } = process.getBuiltinModule('node:http');

/** What the daemon answered, or why nothing did. */
export type Answer<T> =
  | { readonly ok: true; readonly report: T }
  /** `answered`: the daemon was reached and refused (a bad request, or its own bug). */
  | { readonly ok: false; readonly problem: string; readonly answered: boolean };

/** Asks the daemon listening on `socketPath` to sync; gives up `graceMs` after its own timeout. */
export function askSync(socketPath: string, body: SyncRequest, graceMs = 5000): Promise<Answer<SyncReport>> {
  return ask(socketPath, '/sync', body, body.timeoutMs + graceMs);
}

export function askPause(socketPath: string, body: PauseRequest): Promise<Answer<PauseReport>> {
  return ask(socketPath, '/pause', body, 10_000);
}

export function askResume(socketPath: string): Promise<Answer<PauseReport>> {
  return ask(socketPath, '/resume', {}, 10_000);
}

function ask<T>(socketPath: string, path: string, body: unknown, timeoutMs: number): Promise<Answer<T>> {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const asked = request(
      {
        socketPath,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        timeout: timeoutMs,
      },
      (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          text += chunk;
        });
        response.on('end', () => {
          try {
            const parsed = JSON.parse(text) as T & { error?: string };
            if (response.statusCode === 200) resolve({ ok: true, report: parsed });
            else
              resolve({
                ok: false,
                problem: `HTTP ${response.statusCode}: ${parsed.error ?? text}`,
                answered: true,
              });
          } catch {
            resolve({
              ok: false,
              problem: `an answer that is not JSON: ${text.slice(0, 200)}`,
              answered: true,
            });
          }
        });
      },
    );
    asked.on('timeout', () => asked.destroy(new Error('no answer in time')));
    asked.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ ok: false, problem: error.code ?? error.message, answered: false }),
    );
    asked.end(payload);
  });
}
