// rsync's --info=progress2 lines: one for the whole run, rewritten in place with \r, e.g.
//   "  6,000,000  66%    2.94MB/s    0:00:01 (xfr#2, to-chk=1/4)"
// (ir-chk while incremental recursion is still listing; the part in brackets comes after each
// transferred file). Pure: the runner feeds lines, the job runner logs the latest now and then.

/** How far a run has got, as rsync counts it. */
export interface Progress {
  /** Bytes of file data sent or matched so far. */
  readonly bytes: number;
  /** Of the bytes rsync knows about so far (all of them once listing is done). */
  readonly percent: number;
  /** rsync's own rendering of the current rate, such as "2.94MB/s". */
  readonly rate: string;
  /** Files transferred so far, with the entries left to check out of those listed. */
  readonly files?: { readonly transferred: number; readonly toCheck: number; readonly listed: number };
}

const PROGRESS =
  /^\s*([\d,]+)\s+(\d{1,3})%\s+(\S+\/s)\s+\d+:\d\d:\d\d(?:\s+\(xfr#(\d+), (?:to|ir)-chk=(\d+)\/(\d+)\))? */;

/**
 * The progress a line starts with, and the rest of the line; undefined when it starts with none.
 * rsync owes a progress line its newline and pays it on whichever stream it writes next: when
 * that was a warning on stderr, the next stdout line (an itemized change) follows the progress
 * on the same line, and must not be lost with it.
 */
export function parseProgress(line: string): { progress: Progress; rest: string } | undefined {
  const match = PROGRESS.exec(line);
  if (match === null) return undefined;
  const [whole, bytes = '', percent = '', rate = '', transferred, toCheck, listed] = match;
  const rest = line.slice(whole.length);
  const progress = { bytes: Number(bytes.replaceAll(',', '')), percent: Number(percent), rate };
  if (transferred === undefined) return { progress, rest };
  const files = { transferred: Number(transferred), toCheck: Number(toCheck), listed: Number(listed) };
  return { progress: { ...progress, files }, rest };
}
