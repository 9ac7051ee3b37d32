import { Buffer } from 'node:buffer';

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

/**
 * An entry as walks and manifests hand it over: what rsync -a compares or sets, and the inode
 * number, packed into `key` (see KEY_LENGTH), so that telling whether the target needs to hear of
 * it again is one string compare, and a walk or a manifest read of 1,000,000 entries makes one
 * short string an entry, not a number and three BigInts per field. `fieldsOf()` reads them back.
 */
export interface Entry {
  /** Relative to the source, `/`-separated, names spelled as in names.ts. */
  readonly path: string;
  readonly type: EntryType;
  /** KEY_LENGTH bytes, one character each (latin1). */
  readonly key: string;
  /** What a symlink points to ('' for anything else). */
  readonly link: string;
}

/** An entry's fields, as lstat() gives them. */
export interface EntryFields {
  readonly path: string;
  readonly type: EntryType;
  readonly size: bigint;
  /** Nanoseconds since the epoch: a same-size rewrite within the second still differs. */
  readonly mtimeNs: bigint;
  /** st_mode; entryOf() keeps its permission bits (07777), fieldsOf() gives those. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly ino: bigint;
  readonly link: string;
}

// The key's bytes, little-endian; native/scan.c writes the same at the start of each record:
//
//   offset  size  field
//        0     1  type: 'f' file, 'd' directory, 'l' symlink, 'o' anything else
//        1     1  1 when the time at 28 is in whole seconds (it would not fit in nanoseconds)
//        2     2  0
//        4     4  mode & 07777
//        8     4  uid
//       12     4  gid
//       16     4  the time's nanoseconds
//       20     8  size (0 for a directory: its size says nothing rsync sends)
//       28     8  mtime in nanoseconds since the epoch (signed); in seconds when byte 1 says so
//       36     8  the inode number
//
// The inode number is part of the key: a file replaced by another (a restore, a copy kept with
// its times) is sent again and rsync's own check decides, and a created entry that carries the
// inode of a deleted one was moved (inodeOf).
export const KEY_LENGTH = 44;
const INO_AT = 36;

const BILLION = 1_000_000_000n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** The entry whose fields these are (the Node scanner's way, and tests'). */
export function entryOf(fields: EntryFields): Entry {
  const { path, type, size, mtimeNs, mode, uid, gid, ino, link } = fields;
  const bytes = Buffer.alloc(KEY_LENGTH);
  bytes.write(type, 0, 'latin1');
  bytes.writeUInt32LE(mode & 0o7777, 4);
  bytes.writeUInt32LE(uid, 8);
  bytes.writeUInt32LE(gid, 12);
  // The nanoseconds within the second, also before 1970 (the second is rounded down).
  const nanoseconds = ((mtimeNs % BILLION) + BILLION) % BILLION;
  bytes.writeUInt32LE(Number(nanoseconds), 16);
  bytes.writeBigUInt64LE(type === 'd' ? 0n : BigInt.asUintN(64, size), 20);
  if (mtimeNs >= INT64_MIN && mtimeNs <= INT64_MAX) bytes.writeBigInt64LE(mtimeNs, 28);
  else {
    bytes[1] = 1;
    bytes.writeBigInt64LE(BigInt.asIntN(64, (mtimeNs - nanoseconds) / BILLION), 28);
  }
  bytes.writeBigUInt64LE(BigInt.asUintN(64, ino), INO_AT);
  return { path, type, key: bytes.toString('latin1'), link: type === 'l' ? link : '' };
}

/** The fields an entry's key and inode hold. */
export function fieldsOf(entry: Entry): EntryFields {
  const bytes = Buffer.from(entry.key, 'latin1');
  const time = bytes.readBigInt64LE(28);
  const nanoseconds = bytes.readUInt32LE(16);
  return {
    path: entry.path,
    type: entry.type,
    size: bytes.readBigUInt64LE(20),
    mtimeNs: bytes[1] === 0 ? time : time * BILLION + BigInt(nanoseconds),
    mode: bytes.readUInt32LE(4),
    uid: bytes.readUInt32LE(8),
    gid: bytes.readUInt32LE(12),
    ino: bytes.readBigUInt64LE(INO_AT),
    link: entry.link,
  };
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

/** The entry's inode number, as it is spelled in its key: what tells a move. */
export function inodeOf(entry: Entry): string {
  return entry.key.slice(INO_AT);
}

/** Whether the target needs to hear of this entry again: anything rsync -a compares or sets, or another inode. */
export function sameEntry(a: Entry, b: Entry): boolean {
  return a.key === b.key && a.link === b.link;
}
