import type { FailedPath } from '../rsync/failed-paths.ts';

// Paths that keep failing on their own (a file filesync cannot read, a target directory that
// refuses writes), each on its own slower retry schedule, so they never hold back the rest.
// Pure: the scheduler gives it the time and acts on what it returns.

/** A path's failure as it changed: new, or with another reason than before. */
export interface PathFailure extends FailedPath {
  readonly attempts: number;
  readonly retryInMs: number;
  /** True when the path was not failing before, or failed for another reason. */
  readonly changed: boolean;
}

interface Failing {
  readonly failure: FailedPath;
  readonly attempts: number;
  readonly dueAt: number;
}

export interface PathRetryOptions {
  readonly minMs?: number;
  readonly maxMs?: number;
}

export class PathRetries {
  readonly #failing = new Map<string, Failing>();
  readonly #minMs: number;
  readonly #maxMs: number;

  constructor({ minMs = 10_000, maxMs = 300_000 }: PathRetryOptions = {}) {
    this.#minMs = minMs;
    this.#maxMs = maxMs;
  }

  get size(): number {
    return this.#failing.size;
  }

  /** The failing paths with their reasons, for status and metrics. */
  failing(): FailedPath[] {
    return [...this.#failing.values()].map(({ failure }) => failure);
  }

  /** Records a run's failed paths; returns each one's state, `changed` where it is news. */
  fail(paths: readonly FailedPath[], now: number): PathFailure[] {
    return paths.map((failure) => {
      const before = this.#failing.get(failure.path);
      const attempts = (before?.attempts ?? 0) + 1;
      const retryInMs = Math.min(this.#maxMs, this.#minMs * 2 ** Math.min(attempts - 1, 16));
      this.#failing.set(failure.path, { failure, attempts, dueAt: now + retryInMs });
      return { ...failure, attempts, retryInMs, changed: before?.failure.reason !== failure.reason };
    });
  }

  /**
   * A run went through without these paths failing: those that were failing have healed, and
   * are returned. A full pass covers every path (`all`).
   */
  succeeded(paths: Iterable<string> | 'all', failedNow: ReadonlySet<string>): string[] {
    const covered = paths === 'all' ? [...this.#failing.keys()] : [...paths];
    const healed = covered.filter((path) => this.#failing.has(path) && !failedNow.has(path));
    for (const path of healed) this.#failing.delete(path);
    return healed;
  }

  /**
   * Takes the paths whose retry is due. They stay failing, with no retry of their own, until
   * a run goes through without them failing (or fails them again).
   */
  take(now: number): string[] {
    const due = [...this.#failing].filter(([, { dueAt }]) => dueAt <= now);
    for (const [path, failing] of due)
      this.#failing.set(path, { ...failing, dueAt: Number.POSITIVE_INFINITY });
    return due.map(([path]) => path);
  }

  /** When the next retry is due; undefined when none is waiting. */
  nextDueAt(): number | undefined {
    let next: number | undefined;
    for (const { dueAt } of this.#failing.values()) if (next === undefined || dueAt < next) next = dueAt;
    return next === Number.POSITIVE_INFINITY ? undefined : next;
  }
}
