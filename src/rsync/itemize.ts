import { Buffer } from 'node:buffer';
import { nameOf } from '../names.ts';

// Reads rsync's itemized changes (`--out-format=%i %n`, rsync(1) --itemize-changes) as kinds
// of difference. Pure, and fed one line at a time: a pass that changes a million files keeps a
// count and the first few paths of each kind, not a million strings.
//
//   YXcstpoguax name      Y: > < sent, c created locally, h hard link, . attributes only
//   *deleting   name      X: f file, d directory, L symlink, D device, S special
//                         c checksum/link target, s size, t time, p perms, o owner, g group,
//                         u a/c-time, a ACL, x xattrs; all "+" for an item new on the target

/** What rsync itemizes, printed as `%i` (11 characters), a space, and the name. */
export const ITEMIZE_FORMAT = '%i %n';

/** The kinds of difference, most significant first; each path is listed under one. */
export const DIFFERENCE_KINDS = [
  'missing',
  'extra',
  'type',
  'content',
  'symlink',
  'permissions',
  'owner',
  'times',
] as const;
export type DifferenceKind = (typeof DIFFERENCE_KINDS)[number];

/** How many paths differ in one way, and the first of them. */
export interface KindCount {
  readonly count: number;
  readonly paths: readonly string[];
}

/** The differences one run itemized; `total` is the number of paths that differ. */
export interface Itemized {
  readonly total: number;
  readonly kinds: Readonly<Record<DifferenceKind, KindCount>>;
  /** A run of the same job that was killed before it may have changed paths not counted here. */
  readonly uncounted?: true;
}

/** One itemized line: the path (no trailing "/"; "." for the root) and its kind of difference. */
export interface ItemizedLine {
  readonly path: string;
  /** undefined when the line is no difference filesync mirrors (a directory's times). */
  readonly kind: DifferenceKind | undefined;
}

const FLAGS = /^(?:\*deleting {2}|[<>ch.][fdLDS][ .+?a-zA-Z]{9})$/;
const changed = (flag: string | undefined) => flag !== undefined && flag !== '.' && flag !== ' ';

/** Parses one line of output; undefined for anything else rsync prints (stats, notices). */
export function parseItemizedLine(line: string): ItemizedLine | undefined {
  const flags = line.slice(0, 11);
  if (line.length < 13 || line[11] !== ' ' || !FLAGS.test(flags)) return undefined;
  const path = decodeName(line.slice(12)).replace(/(.)\/$/, '$1');
  return { path, kind: kindOf(flags) };
}

function kindOf(flags: string): DifferenceKind | undefined {
  if (flags.startsWith('*deleting')) return 'extra';
  const [update, type] = flags;
  const [checksum, size, time, perms, owner, group, otherTimes, acl, xattr] = flags.slice(2);
  if (flags.slice(2) === '+++++++++') return 'missing';
  if (type === 'L' && changed(checksum)) return 'symlink';
  if (changed(checksum) || changed(size)) return 'content';
  if (changed(perms) || changed(acl) || changed(xattr)) return 'permissions';
  if (changed(owner) || changed(group)) return 'owner';
  // A directory's mtime moves with every entry written into it; the mirror leaves it out.
  if (changed(time) || changed(otherTimes)) return type === 'd' ? undefined : 'times';
  // Sent with no attribute changed (--ignore-times, --checksum): its content differs.
  return update === '<' || update === '>' ? 'content' : undefined;
}

/**
 * Undoes rsync's escaping of names: every byte it will not print (control characters, and
 * under LC_ALL=C anything not ASCII) appears as `\#ooo` in octal, and the backslash of a
 * literal `\#ooo` in a name is itself escaped, so decoding each escape to its byte is exact.
 */
export function decodeName(escaped: string): string {
  if (!escaped.includes('\\#')) return escaped;
  const parts: Buffer[] = [];
  let last = 0;
  for (const match of escaped.matchAll(/\\#([0-7]{3})/g)) {
    parts.push(
      Buffer.from(escaped.slice(last, match.index), 'utf8'),
      Buffer.of(Number.parseInt(match[1] ?? '0', 8)),
    );
    last = match.index + match[0].length;
  }
  parts.push(Buffer.from(escaped.slice(last), 'utf8'));
  return nameOf(Buffer.concat(parts));
}

/** Counts itemized differences, keeping the first `keep` paths of each kind. */
export class ItemizedTally {
  readonly #keep: number;
  readonly #kinds = new Map<DifferenceKind, { count: number; paths: string[] }>();

  constructor(keep: number) {
    this.#keep = keep;
  }

  /** Adds one line; returns false when it is not an itemized line at all. */
  addLine(line: string): boolean {
    const item = parseItemizedLine(line);
    if (item === undefined) return false;
    if (item.kind !== undefined) this.add(item.kind, item.path);
    return true;
  }

  add(kind: DifferenceKind, path: string): void {
    let entry = this.#kinds.get(kind);
    if (entry === undefined) {
      entry = { count: 0, paths: [] };
      this.#kinds.set(kind, entry);
    }
    entry.count += 1;
    if (entry.paths.length < this.#keep) entry.paths.push(path);
  }

  result(): Itemized {
    return itemizedOf((kind) => {
      const entry = this.#kinds.get(kind);
      return entry === undefined ? { count: 0, paths: [] } : { count: entry.count, paths: [...entry.paths] };
    });
  }
}

/** An Itemized built kind by kind, with its total. */
export function itemizedOf(count: (kind: DifferenceKind) => KindCount): Itemized {
  const kinds: Record<DifferenceKind, KindCount> = {
    missing: count('missing'),
    extra: count('extra'),
    type: count('type'),
    content: count('content'),
    symlink: count('symlink'),
    permissions: count('permissions'),
    owner: count('owner'),
    times: count('times'),
  };
  const total = DIFFERENCE_KINDS.reduce((sum, kind) => sum + kinds[kind].count, 0);
  return { total, kinds };
}

/** The first `limit` paths of every kind, in kind order: what a log line names. */
export function firstPaths(itemized: Itemized, limit: number): string[] {
  return DIFFERENCE_KINDS.flatMap((kind) => itemized.kinds[kind].paths).slice(0, limit);
}

/**
 * `itemized` with `paths` counted under `kind` as well, those it lists already aside: what a
 * run's own output cannot show, such as files an earlier step of the same job put in place.
 */
export function withPaths(
  itemized: Itemized,
  kind: DifferenceKind,
  paths: readonly string[],
  keep: number,
): Itemized {
  const listed = new Set(DIFFERENCE_KINDS.flatMap((each) => itemized.kinds[each].paths));
  const added = paths.filter((path) => !listed.has(path));
  if (added.length === 0) return itemized;
  return itemizedOf((each) => {
    const { count, paths: kept } = itemized.kinds[each];
    if (each !== kind) return { count, paths: kept };
    return { count: count + added.length, paths: [...kept, ...added].slice(0, keep) };
  });
}
