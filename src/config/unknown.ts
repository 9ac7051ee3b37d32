import { closest, distance } from 'fastest-levenshtein';
import { schema } from './schema.ts';

// Settings that look like filesync's but are none of them: a typo (SYNC_REMOTE_HSOT) would
// otherwise be ignored without a word, and the default used instead.

const KNOWN = Object.keys(schema);

/** A line for each SYNC_* variable that is no setting, with the closest known name. */
export function unknownSettings(env: NodeJS.ProcessEnv): string[] {
  return Object.keys(env)
    .filter((name) => name.startsWith('SYNC_') && !KNOWN.includes(name))
    .sort()
    .map((name) => {
      const near = closest(name, KNOWN);
      const guess =
        distance(name, near) <= Math.max(2, Math.floor(name.length / 4)) ? `; did you mean ${near}?` : '';
      return `${name} is not a filesync setting${guess} (docs/configuration.md lists them all)`;
    });
}
