// One entry of the source tree as the manifest records it, and the order every walk and every
// manifest lists entries in: depth first, a directory before what it holds, names sorted.

/** `f` file, `d` directory, `l` symlink, `o` anything else rsync sends (a FIFO, a device). */
export type EntryType = 'f' | 'd' | 'l' | 'o';

/**
 * Entries a walk or a manifest reader hands over at a time. Small enough to die young: slices of
 * 4,096 entries (about 4 MB with their stats) outlived a worker's young generation and were
 * promoted, which grew its heap by tens of MB on a large tree.
 */
export const SLICE = 256;

export interface Entry {
  /** Relative to the source, `/`-separated, names spelled as in names.ts. */
  readonly path: string;
  readonly type: EntryType;
  readonly size: bigint;
  /** Nanoseconds since the epoch: a same-size rewrite within the second still differs. */
  readonly mtimeNs: bigint;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly ino: bigint;
  /** What a symlink points to ('' for anything else). */
  readonly link: string;
}

/**
 * The walk's order, component by component: `a` < `a/x` < `a-b`, the order a depth-first walk
 * of sorted names produces (a plain string sort would put `a-b` before `a/x`).
 */
export function comparePaths(a: string, b: string): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x === SLASH) return -1;
    if (y === SLASH) return 1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

const SLASH = 0x2f;

/** Whether the target needs to hear of this entry again: anything rsync -a compares or sets. */
export function sameEntry(a: Entry, b: Entry): boolean {
  return (
    a.type === b.type &&
    a.mode === b.mode &&
    a.uid === b.uid &&
    a.gid === b.gid &&
    a.link === b.link &&
    // A directory's size says nothing rsync sends; its time is what its entries did to it.
    (a.type === 'd' || a.size === b.size) &&
    a.mtimeNs === b.mtimeNs
  );
}
