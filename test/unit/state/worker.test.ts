import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { inWorkers } from '../../../src/state/worker.ts';

const WORKER = new URL('./fixtures/task-worker.ts', import.meta.url);

describe('inWorkers', () => {
  it('answers every task, in order', async () => {
    expect(await inWorkers(WORKER, [{}, {}, {}])).toEqual(['done', 'done', 'done']);
  });

  it('fails as a whole at the first failure, once it has ended the tasks still running', async () => {
    // The others run until they are ended, and it settles once all have: were they not ended,
    // this would never settle.
    await expect(inWorkers(WORKER, [{ hang: true }, { fail: 'boom' }, { hang: true }])).rejects.toThrow(
      'boom',
    );
  });

  it('fails, and leaves this process standing, when a task outgrows its worker’s heap', async () => {
    // A directory of millions of names would: that start is then a full pass (target.ts).
    await expect(inWorkers(WORKER, [{ grow: true }, { hang: true }])).rejects.toThrow(/out of memory/i);
    expect(await inWorkers(WORKER, [{}])).toEqual(['done']);
  });

  it('keeps no process alive for a task whose gate has not opened: it exits as if there were none', async () => {
    // As a daemon whose watcher cannot start after the fast start's workers were made.
    const script = join(await mkdtemp(join(tmpdir(), 'filesync-gate-')), 'gated.mjs');
    const workerModule = new URL('../../../src/state/worker.ts', import.meta.url).href;
    await writeFile(
      script,
      `import { inWorkers } from ${JSON.stringify(workerModule)};
      inWorkers(new URL(${JSON.stringify(WORKER.href)}), [{}, {}], undefined, new Promise(() => {}));
      console.log('left');`,
    );
    const { stdout } = await promisify(execFile)(process.execPath, [script], { timeout: 20_000 });
    expect(stdout.trim()).toBe('left');
  });

  it('runs a gated task once its gate opens', async () => {
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const running = inWorkers(WORKER, [{}], undefined, gate);
    setTimeout(open, 100);
    expect(await running).toEqual(['done']);
  });

  it('ends every task when the caller stops, with its reason', async () => {
    const stopping = new AbortController();
    const running = inWorkers(WORKER, [{ hang: true }, { hang: true }], stopping.signal);
    stopping.abort(new Error('stopping'));
    await expect(running).rejects.toThrow('stopping');
  });
});
