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

  it('ends every task when the caller stops, with its reason', async () => {
    const stopping = new AbortController();
    const running = inWorkers(WORKER, [{ hang: true }, { hang: true }], stopping.signal);
    stopping.abort(new Error('stopping'));
    await expect(running).rejects.toThrow('stopping');
  });
});
