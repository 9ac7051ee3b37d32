import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { PauseRequest, SyncRequest } from '../../../src/control/protocol.ts';
import type { Control } from '../../../src/control/routes.ts';
import { startHttpServer } from '../../../src/http/server.ts';
import { bearerMatches } from '../../../src/http/token.ts';
import { createLogger } from '../../../src/log.ts';
import { Metrics } from '../../../src/metrics.ts';

const TOKEN = 'c0ffee'.repeat(6);
const log = createLogger({ level: 'silent', format: 'json' });
const health = {
  live: () => true,
  ready: () => ({ ready: true }) as const,
  status: () => ({ status: 'ok' }) as never,
};

/** A Control that records what it was asked. */
function recording() {
  const asked: (SyncRequest | PauseRequest | 'resume')[] = [];
  const control: Control = {
    async sync(request) {
      asked.push(request);
      return { ok: true, waited: request.wait, targets: [] };
    },
    pause(request) {
      asked.push(request);
      return { targets: [] };
    },
    resume() {
      asked.push('resume');
      return { targets: [] };
    },
  };
  return { asked, control };
}

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function serve(control?: Control) {
  const server = await startHttpServer(
    0,
    health,
    new Metrics(),
    control === undefined ? undefined : { control, token: TOKEN, log },
  );
  servers.push(server);
  const { port } = server.address() as AddressInfo;
  return (path: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${port}${path}`, init).then(async (response) => ({
      status: response.status,
      headers: response.headers,
      body: (await response.json()) as Record<string, unknown>,
    }));
}

describe('bearerMatches', () => {
  it('accepts exactly `Bearer <token>` and nothing else', () => {
    expect(bearerMatches(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(bearerMatches(`Bearer ${TOKEN}x`, TOKEN)).toBe(false);
    expect(bearerMatches(`Bearer ${TOKEN.slice(1)}`, TOKEN)).toBe(false);
    expect(bearerMatches(`Basic ${TOKEN}`, TOKEN)).toBe(false);
    expect(bearerMatches(TOKEN, TOKEN)).toBe(false);
    expect(bearerMatches('Bearer ', TOKEN)).toBe(false);
    expect(bearerMatches(undefined, TOKEN)).toBe(false);
  });
});

describe('control over the health port', () => {
  it('does not exist without a token: POST /sync, /pause, /resume answer 404, GETs as before', async () => {
    const ask = await serve();
    for (const path of ['/sync', '/pause', '/resume']) {
      const answer = await ask(path, {
        method: 'POST',
        body: '{}',
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      expect(answer.status, path).toBe(404);
    }
    expect((await ask('/healthz')).status).toBe(200);
    expect((await ask('/healthz', { method: 'POST' })).status).toBe(405);
  });

  it('refuses a missing or wrong token with 401 before reading the body, and does nothing', async () => {
    const { asked, control } = recording();
    const ask = await serve(control);
    for (const authorization of [undefined, 'Bearer wrong-token-wrong-token', `Basic ${TOKEN}`]) {
      const answer = await ask('/pause', {
        method: 'POST',
        body: '{}',
        ...(authorization === undefined ? {} : { headers: { authorization } }),
      });
      expect(answer.status).toBe(401);
      expect(answer.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect(JSON.stringify(answer.body)).not.toContain(TOKEN);
    }
    expect(asked).toEqual([]);
  });

  it('answers `Expect: 100-continue` without the token with 401, not an invitation to send the body', async () => {
    const { asked, control } = recording();
    const server = await startHttpServer(0, health, new Metrics(), { control, token: TOKEN, log });
    servers.push(server);
    const { port } = server.address() as AddressInfo;
    const expectContinue = (authorization?: string) =>
      new Promise<{ status: number | undefined; invited: boolean }>((resolve, reject) => {
        let invited = false;
        const asked = request(
          {
            port,
            method: 'POST',
            path: '/resume',
            headers: { expect: '100-continue', ...(authorization ? { authorization } : {}) },
          },
          (response) => {
            response.resume();
            response.on('end', () => resolve({ status: response.statusCode, invited }));
          },
        );
        asked.on('continue', () => {
          invited = true;
          asked.end('{}');
        });
        asked.on('error', reject);
        asked.flushHeaders();
      });
    expect(await expectContinue()).toEqual({ status: 401, invited: false });
    expect(asked).toEqual([]);
    expect(await expectContinue(`Bearer ${TOKEN}`)).toEqual({ status: 200, invited: true });
    expect(asked).toEqual(['resume']);
  });

  it('with the token: sync, pause and resume reach the daemon; bad bodies get 400', async () => {
    const { asked, control } = recording();
    const ask = await serve(control);
    const post = (path: string, body: unknown) =>
      ask(path, {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      });
    expect(await post('/sync', { timeoutMs: 5000 })).toMatchObject({
      status: 200,
      body: { ok: true, waited: true },
    });
    expect((await post('/pause', { forMs: 60_000 })).status).toBe(200);
    expect((await post('/resume', {})).status).toBe(200);
    expect(await post('/sync', { timeoutMs: -1 })).toMatchObject({ status: 400 });
    expect(await post('/sync', 'not json')).toMatchObject({
      status: 400,
      body: { error: 'the body is not JSON' },
    });
    expect(asked).toEqual([{ wait: true, timeoutMs: 5000 }, { forMs: 60_000 }, 'resume']);
    // The GET endpoints stay open, without a token.
    expect((await ask('/readyz')).status).toBe(200);
  });
});
