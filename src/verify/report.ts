import { printable as printableName } from '../names.ts';
import { DIFFERENCE_KINDS, type DifferenceKind, type Itemized, itemizedOf } from '../rsync/itemize.ts';

// `filesync verify`'s pure half: which new-looking paths to check for a changed type, and the
// report, as text for people and JSON for scripts.

/** Paths printed per kind in the text report; --json lists them all. */
export const PRINTED_PATHS = 20;

const LABELS: Readonly<Record<DifferenceKind, string>> = {
  missing: 'missing on the target',
  extra: 'extra on the target',
  type: 'another type on the target (file, directory or symlink)',
  content: 'content differs (size or checksum)',
  symlink: 'symlink target differs',
  permissions: 'permissions differ',
  owner: 'owner or group differs',
  times: 'modification time differs (content may too)',
};

/**
 * The "missing" paths worth a type check: none below another missing path (whatever is below
 * a path that is new on the target is missing too), and none at all when the target directory
 * itself is missing.
 */
export function typeCandidates(missing: readonly string[]): string[] {
  const all = new Set(missing);
  if (all.has('.')) return [];
  return missing.filter((path) => {
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) {
      if (all.has(path.slice(0, at))) return false;
    }
    return true;
  });
}

/** Moves the paths found with another type from `missing` to `type`. */
export function withTypeChanges(itemized: Itemized, typed: ReadonlySet<string>): Itemized {
  if (typed.size === 0) return itemized;
  const { missing } = itemized.kinds;
  const stillMissing = missing.paths.filter((path) => !typed.has(path));
  const type = missing.paths.filter((path) => typed.has(path));
  return itemizedOf((kind) => {
    if (kind === 'missing') return { count: stillMissing.length, paths: stillMissing };
    if (kind === 'type') return { count: type.length, paths: type };
    return itemized.kinds[kind];
  });
}

/** What was compared, for the report's first line. */
export interface Compared {
  readonly source: string;
  readonly target: string;
}

/** The text report: a verdict line, then each kind that has paths, a few paths each. */
export function textReport(itemized: Itemized, compared: Compared): string[] {
  const between = `${compared.source} and ${compared.target}`;
  if (itemized.total === 0) return [`in sync: ${between} hold the same files`];
  const lines = [
    `drifted: ${itemized.total} ${itemized.total === 1 ? 'path differs' : 'paths differ'} between ${between}`,
  ];
  for (const kind of DIFFERENCE_KINDS) {
    const { count, paths } = itemized.kinds[kind];
    if (count === 0) continue;
    lines.push(`${kind} — ${LABELS[kind]} (${count}):`);
    for (const path of paths.slice(0, PRINTED_PATHS)) lines.push(`  ${printable(path)}`);
    if (count > PRINTED_PATHS) lines.push(`  … and ${count - PRINTED_PATHS} more (--json lists them all)`);
  }
  return lines;
}

/** A name on one line: control characters and backslashes escaped as in JSON, spaces kept. */
function printable(path: string): string {
  // A byte that is not UTF-8 as `\xHH` and a backslash as `\\` (names.ts), then control
  // characters as JSON escapes them: none of them can be mistaken for another.
  return printableName(path).replace(/\p{Cc}/gu, (char) => JSON.stringify(char).slice(1, -1));
}

/** The JSON report: every path of every kind. */
export function jsonReport(itemized: Itemized, compared: Compared): string {
  const differences = Object.fromEntries(DIFFERENCE_KINDS.map((kind) => [kind, itemized.kinds[kind].paths]));
  return JSON.stringify({
    status: itemized.total === 0 ? 'in-sync' : 'drifted',
    ...compared,
    total: itemized.total,
    differences,
  });
}
