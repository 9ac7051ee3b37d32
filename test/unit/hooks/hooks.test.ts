import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HookBatch } from '../../../src/hooks/batch.ts';
import { type HookOptions, Hooks } from '../../../src/hooks/hooks.ts';
import { createLogger } from '../../../src/log.ts';
import { waitFor } from '../../integration/support/wait.ts';

const log = createLogger({ level: 'silent', format: 'json' });

const batch = (paths: string[], extra: Partial<HookBatch> = {}): HookBatch => ({
  kind: 'batch',
  files: paths.length,
  deleted: 0,
  bytes: 7,
  paths,
  truncated: false,
  runs: 1,
  ...extra,
});

/** A hook runner around a shell script that appends what it was given to a record file. */
async function setup(script: string, options: Partial<HookOptions> = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-hook-'));
  const changesDir = await mkdtemp(join(tmpdir(), 'filesync-hook-changes-'));
  const record = join(dir, 'record');
  const results: string[] = [];
  const hooks = new Hooks({
    command: ['/bin/sh', '-c', script, 'hook', record],
    url: undefined,
    timeoutMs: 10_000,
    cwd: dir,
    target: 'sync@mirror:22:/srv',
    changesDir,
    log,
    onResult: (hook, result) => results.push(`${hook} ${result}`),
    cap: 100,
    backoffMs: () => 20,
    ...options,
  });
  const calls = async () =>
    (await readFile(record, 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, string>);
  return { hooks, dir, changesDir, results, calls };
}

/** Records the hook's environment and its changes file (NUL turned into ",") as a JSON line. */
const RECORDING = `printf '{"target":"%s","kind":"%s","files":"%s","deleted":"%s","bytes":"%s","runs":"%s","cwd":"%s","changes":"%s"}\\n' "$FILESYNC_TARGET" "$FILESYNC_KIND" "$FILESYNC_FILES" "$FILESYNC_DELETED" "$FILESYNC_BYTES" "$FILESYNC_RUNS" "$PWD" "$(tr '\\0' , < "$FILESYNC_CHANGES_FILE")" >> "$1"`;

describe('the hook command', () => {
  it('runs in the source directory with the fields and the changes file, which it removes after', async () => {
    const { hooks, dir, changesDir, results, calls } = await setup(RECORDING);
    hooks.offer(batch(['a.txt', 'dir/b c.txt'], { deleted: 1 }));
    await waitFor('the hook', async () => (await calls()).length === 1);
    expect(await hooks.settle(5000)).toBe(true);
    expect((await calls())[0]).toEqual({
      target: 'sync@mirror:22:/srv',
      kind: 'batch',
      files: '2',
      deleted: '1',
      bytes: '7',
      runs: '1',
      cwd: dir,
      changes: 'a.txt,dir/b c.txt,',
    });
    expect(results).toEqual(['command ok']);
    expect(await readdir(changesDir)).toEqual([]);
  });

  it('runs one at a time: what arrives meanwhile is one follow-up with the union', async () => {
    const { hooks, dir, calls } = await setup(
      `touch started; while [ ! -e go ]; do sleep 0.05; done; rm go; ${RECORDING}`,
    );
    hooks.offer(batch(['first']));
    await waitFor('the first call to start', () => existsSync(join(dir, 'started')));
    hooks.offer(batch(['second']));
    hooks.offer(batch(['third', 'second'], { kind: 'full' }));
    await writeFile(join(dir, 'go'), '');
    await waitFor('the first call', async () => (await calls()).length === 1);
    await writeFile(join(dir, 'go'), '');
    await waitFor('the follow-up', async () => (await calls()).length === 2);
    expect(await hooks.settle(5000)).toBe(true);
    expect((await calls()).map(({ kind, runs, changes }) => ({ kind, runs, changes }))).toEqual([
      { kind: 'batch', runs: '1', changes: 'first,' },
      { kind: 'full', runs: '2', changes: 'second,third,' },
    ]);
  });

  it('is stopped at its timeout, counted, and retried; a failing one is retried until it succeeds', async () => {
    const slow = await setup('sleep 30', { timeoutMs: 200, backoffMs: () => 60_000 });
    slow.hooks.offer(batch(['x']));
    await waitFor('the timeout', () => slow.results.includes('command timeout'), { timeoutMs: 10_000 });
    expect(await slow.hooks.settle(100)).toBe(false); // the retry was still to come

    const flaky = await setup(
      `n=$(cat tries 2>/dev/null || echo 0); echo $((n+1)) > tries; [ "$n" -ge 2 ] && ${RECORDING}`,
    );
    flaky.hooks.offer(batch(['y']));
    await waitFor('the third try', () => flaky.results.length === 3);
    expect(await flaky.calls()).toHaveLength(1);
    expect(flaky.results).toEqual(['command failed', 'command failed', 'command ok']);
    await flaky.hooks.settle(1000);

    const missing = await setup('', { command: ['/no/such/program'], backoffMs: () => 60_000 });
    missing.hooks.offer(batch(['z']));
    await waitFor('the failure', () => missing.results.length === 1);
    expect(missing.results).toEqual(['command failed']);
    await missing.hooks.settle(0);
  });

  it('counts a command that outlives its timeout as timed out, even if it then exits 0', async () => {
    const { hooks, results } = await setup(`trap 'exit 0' TERM; while :; do sleep 0.05; done`, {
      timeoutMs: 200,
    });
    hooks.offer(batch(['x']));
    await waitFor('the timeout', () => results.length > 0);
    expect(results[0]).toBe('command timeout');
    await hooks.settle(0);
  });

  it('is not held by a process it left running with its stderr, nor by a changes file it cannot write', async () => {
    const left = await setup(`setsid sleep 3 & ${RECORDING}`);
    left.hooks.offer(batch(['x']));
    await waitFor('the call', () => left.results.length > 0, { timeoutMs: 2500 });
    expect(left.results).toEqual(['command ok']);
    expect(await left.hooks.settle(1000)).toBe(true);

    const nowhere = await setup(RECORDING, { changesDir: '/nonexistent/filesync', backoffMs: () => 60_000 });
    nowhere.hooks.offer(batch(['y']));
    await waitFor('the failure', () => nowhere.results.length > 0);
    expect(nowhere.results).toEqual(['command failed']);
    expect(await nowhere.calls()).toEqual([]);
    expect(await nowhere.hooks.settle(0)).toBe(false);
  });

  it('when stopping: tries a call waiting out its backoff once more at once, and starts none after', async () => {
    const retried = await setup(`[ -e tried ] && ${RECORDING}; touch tried; [ -e "$1" ]`, {
      backoffMs: () => 60_000,
    });
    retried.hooks.offer(batch(['late']));
    await waitFor('the first failure', () => retried.results.length === 1);
    const begin = Date.now();
    expect(await retried.hooks.settle(10_000)).toBe(true);
    expect(Date.now() - begin).toBeLessThan(10_000);
    expect(retried.results).toEqual(['command failed', 'command ok']);

    const stopped = await setup(RECORDING);
    stopped.hooks.offer(batch(['never']));
    expect(await stopped.hooks.settle(0)).toBe(false);
    stopped.hooks.offer(batch(['after']));
    expect(await stopped.calls()).toEqual([]);
    expect(stopped.results).toEqual([]);
  });

  it('calls the URL after the command succeeded, and not before', async () => {
    const bodies: Record<string, unknown>[] = [];
    const server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      request.on('end', () => {
        bodies.push(JSON.parse(text) as Record<string, unknown>);
        response.end('ok');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/done`;
    try {
      const { hooks, dir, results, calls } = await setup(`[ -e ok ] && ${RECORDING}`, { url });
      hooks.offer(batch(['page.html']));
      await waitFor('a failed command', () => results.length > 0);
      expect(bodies).toEqual([]);
      await writeFile(join(dir, 'ok'), '');
      await waitFor('the URL', () => bodies.length === 1);
      expect(await calls()).toHaveLength(1);
      expect(results.slice(-2)).toEqual(['command ok', 'url ok']);
      expect(bodies[0]).toMatchObject({
        target: 'sync@mirror:22:/srv',
        kind: 'batch',
        files: 1,
        paths: ['page.html'],
        truncated: false,
        text: expect.stringMatching(/^filesync batch sync to sync@mirror:22:\/srv: 1 changed/),
      });
      await hooks.settle(1000);
    } finally {
      server.close();
    }
  });
});
