import type { Logger } from '../log.ts';
import type { Alert, WatchAlert } from './payload.ts';

// Sends alerts to SYNC_WEBHOOK_URL: one POST at a time, in order, each with a timeout and a
// couple of retries. Never blocks syncing and never throws: a failed delivery is logged and
// counted, and the alert is dropped.

export interface WebhookOptions {
  readonly timeoutMs?: number;
  /** Waits before the second and third attempt. */
  readonly retryDelaysMs?: readonly number[];
  /** Alerts waiting beyond this many are dropped, oldest first (a receiver down for long). */
  readonly maxQueued?: number;
  readonly fetch?: typeof globalThis.fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Called once per alert: delivered, or given up on. */
  readonly onResult?: (result: 'delivered' | 'failed' | 'dropped') => void;
}

export class Webhook {
  readonly #url: string;
  readonly #log: Logger;
  readonly #timeoutMs: number;
  readonly #retryDelaysMs: readonly number[];
  readonly #maxQueued: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #onResult: (result: 'delivered' | 'failed' | 'dropped') => void;
  readonly #queue: (Alert | WatchAlert)[] = [];
  #sending: Promise<void> | undefined;
  readonly #closing = new AbortController();

  constructor(url: string, log: Logger, options: WebhookOptions = {}) {
    this.#url = url;
    this.#log = log;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#retryDelaysMs = options.retryDelaysMs ?? [1000, 5000];
    this.#maxQueued = options.maxQueued ?? 20;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()));

    this.#onResult = options.onResult ?? (() => {});
  }

  /** Queues the alert and returns at once. */
  send(alert: Alert | WatchAlert): void {
    this.#queue.push(alert);
    while (this.#queue.length > this.#maxQueued) {
      const dropped = this.#queue.shift();
      this.#log.warn({ event: dropped?.event }, 'webhook alert dropped: too many waiting for the receiver');
      this.#onResult('dropped');
    }
    this.#sending ??= this.#drain();
  }

  /**
   * Waits up to `timeoutMs` for the alerts queued so far; true when none is left. Past the
   * deadline the POST in flight is abandoned and the rest dropped, so stopping never waits on a
   * hung receiver.
   */
  async settle(timeoutMs: number): Promise<boolean> {
    const sending = this.#sending;
    if (sending === undefined) return true;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    const done = await Promise.race([sending.then(() => true), timeout]);
    clearTimeout(timer);
    if (!done) {
      for (const _ of this.#queue.splice(0)) this.#onResult('dropped');
      this.#closing.abort();
    }
    return done;
  }

  async #drain(): Promise<void> {
    for (let alert = this.#queue.shift(); alert !== undefined; alert = this.#queue.shift()) {
      await this.#deliver(alert);
    }
    // In the same step as the queue was found empty: a send() from here on starts a new drain.
    this.#sending = undefined;
  }

  async #deliver(alert: Alert | WatchAlert): Promise<void> {
    const body = JSON.stringify(alert);
    const attempts = this.#retryDelaysMs.length + 1;
    for (let attempt = 1; ; attempt++) {
      const problem = await this.#post(body);
      if (problem === undefined) {
        this.#log.info({ event: alert.event, attempt }, 'webhook alert delivered');
        this.#onResult('delivered');
        return;
      }
      if (!problem.retry || attempt === attempts) {
        this.#log.warn(
          { event: alert.event, attempts: attempt, problem: problem.text, receiver: receiverOf(this.#url) },
          'webhook alert not delivered; syncing goes on',
        );
        this.#onResult('failed');
        return;
      }
      await this.#sleep(this.#retryDelaysMs[attempt - 1] ?? 0);
    }
  }

  /** One POST: undefined when the receiver took it, else what went wrong. */
  async #post(body: string): Promise<{ text: string; retry: boolean } | undefined> {
    try {
      const response = await this.#fetch(this.#url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'filesync' },
        body,
        redirect: 'error',
        signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#closing.signal]),
      });
      await response.body?.cancel();
      if (response.ok) return undefined;
      // A 4xx other than a timeout or rate limit will not change on its own: the URL or the
      // payload is wrong.
      const retry = response.status >= 500 || response.status === 408 || response.status === 429;
      return { text: `HTTP ${response.status}`, retry };
    } catch (error) {
      // Never the raw message: fetch's may quote the URL, whose path often holds the secret.
      const { name, cause } = error as Error & { cause?: { code?: string } };
      if (name === 'TimeoutError') return { text: `no answer within ${this.#timeoutMs} ms`, retry: true };
      if (this.#closing.signal.aborted) return { text: 'filesync stopped first', retry: false };
      return { text: cause?.code ?? name, retry: true };
    }
  }
}

/** The receiver's origin, for logs: a webhook URL's path often holds its secret. */
function receiverOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'the receiver';
  }
}
