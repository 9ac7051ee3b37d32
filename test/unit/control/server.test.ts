import { mkdtemp, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { askSync } from '../../../src/control/client.ts';
import type { SyncRequest } from '../../../src/control/protocol.ts';
import { startControlServer } from '../../../src/control/server.ts';
import { createLogger } from '../../../src/log.ts';

const log = createLogger({ level: 'silent', format: 'json' });

/** A raw POST over the socket, body as given. */
function post(socketPath: string, body: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const asked = request({ socketPath, method: 'POST', path: '/sync' }, (response) => {
      let text = '';
      response.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, text }));
    });
    asked.on('error', reject);
    asked.end(body);
  });
}

describe('the control server', () => {
  it('answers a sync, refuses malformed requests with 400, and keeps running', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'filesync-control-')), 'private', 'control.sock');
    const asked: SyncRequest[] = [];
    const server = await startControlServer(
      path,
      {
        async sync(request) {
          asked.push(request);
          return { ok: true, waited: request.wait, targets: [] };
        },
        pause: ({ forMs }) => ({ targets: [{ target: 't', paused: { since: 's', until: String(forMs) } }] }),
        resume: () => ({ targets: [{ target: 't', paused: undefined }] }),
      },
      log,
    );
    try {
      expect(server).toBeDefined();
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await stat(join(path, '..'))).mode & 0o777).toBe(0o700);
      for (const body of [
        'null',
        '[]',
        '"x"',
        '{"timeoutMs":null}',
        '{"timeoutMs":0}',
        '{"timeoutMs":1000,"wait":"no"}',
        '{',
      ]) {
        expect((await post(path, body)).status, body).toBe(400);
      }
      expect(asked).toEqual([]);
      const answer = await askSync(path, { wait: false, timeoutMs: 1000 });
      expect(answer).toEqual({ ok: true, report: { ok: true, waited: false, targets: [] } });
      expect(asked).toEqual([{ wait: false, timeoutMs: 1000 }]);
    } finally {
      server?.close();
    }
  });

  it('leaves a socket another daemon listens on alone, and says so', async () => {
    const path = join(await mkdtemp(join(tmpdir(), 'filesync-control-')), 'private', 'control.sock');
    const control = {
      sync: async () => ({ ok: true, waited: true, targets: [] }),
      pause: () => ({ targets: [] }),
      resume: () => ({ targets: [] }),
    };
    const first = await startControlServer(path, control, log);
    try {
      expect(await startControlServer(path, control, log)).toBeUndefined();
      expect((await askSync(path, { wait: true, timeoutMs: 1000 })).ok).toBe(true);
    } finally {
      first?.close();
    }
  });
});
