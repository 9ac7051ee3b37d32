// The trash on the target (SYNC_BACKUP_DIR), pure: where a run moves what it deletes or
// overwrites, and which day directories pruning keeps. Names are UTC dates by filesync's clock:
// `trash/2026-12-01/233013.123/path/in/the/mirror`. A day is the unit of retention; a run has a
// directory of its own within it, so a file overwritten twice in a day keeps both old copies.

const DAY_MS = 86_400_000;

/** A day directory's name: YYYY-MM-DD. */
export function dayOf(time: Date): string {
  return time.toISOString().slice(0, 10);
}

/** The directory one run moves what it replaces into, relative to the mirror. */
export function runDir(trash: string, time: Date): string {
  const clock = time.toISOString().slice(11, 23).replace(/:/g, ''); // HHMMSS.mmm
  return `${trash}/${dayOf(time)}/${clock}`;
}

/**
 * The day directories pruning keeps: today, tomorrow (in case the clock steps back), and every
 * day a file in it may still be younger than the retention. A file moved there on day D is
 * kept until D + 1 day + retention has passed, so at least the retention.
 */
export function keptDays(now: Date, retentionMs: number): string[] {
  const days = Math.ceil(retentionMs / DAY_MS);
  const today = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  const kept: string[] = [];
  for (let back = -1; back <= days; back++) kept.push(dayOf(new Date(today - back * DAY_MS)));
  return kept;
}

/** Matches a day directory's name, as an rsync filter pattern. */
export const DAY_PATTERN = '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]';
