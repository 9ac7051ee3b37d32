import type { Entry } from '../../../src/state/entry.ts';

/** The filter the state's tests walk with: one pattern, so a dropped file shows. */
export const FILTER = { include: [], exclude: ['*.tmp'] };

/** Every entry of a walk or a manifest, its slices joined. */
export async function collect(source: AsyncIterable<Entry[]>): Promise<Entry[]> {
  const all: Entry[] = [];
  for await (const slice of source) all.push(...slice);
  return all;
}
