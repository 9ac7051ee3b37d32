import type { BigIntStats } from 'node:fs';
import { lstatSync, readlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { endianness } from 'node:os';
import { fileURLToPath } from 'node:url';
import { bytesOf, hasRawBytes, nameIn, nameOf, readdirNamed } from '../names.ts';
import { type Entry, type EntryType, entryOf, KEY_LENGTH } from './entry.ts';

// One directory of a walk: its names in the walk's order, and what lstat() says of each. Two
// ways, with the same results: the native scanner (native/scan.c, built into build/scan.node by
// `npm run build`), one call a directory that stats each name relative to it; and Node's own
// readdir() and lstatSync() by full path, when the scanner was not built (no C compiler) or
// cannot load here. On a 2-core machine the native one walks 101,000 entries in about 0.6 of
// Node's time (docs/performance.md): the walk is most of a fast start.

/** One directory's names, sorted as the walk visits them, and the entry each stands for. */
export interface Listing {
  readonly names: readonly string[];
  /** The entry of `names[i]`, at `path`; undefined when it vanished since, or cannot be seen. */
  entryAt(i: number, path: string): Entry | undefined;
}

export type Scanner = 'native' | 'node';

/** The directory at `absolute` (the source's root joined with a relative path); undefined when gone or unreadable. */
export function listDirectory(absolute: string, scanner: Scanner = defaultScanner): Listing | undefined {
  return scanner === 'native' && nativeScan !== undefined
    ? nativeListing(nativeScan, absolute)
    : nodeListing(absolute);
}

/** Names in the walk's order (a name holds no `/`, so code units decide as comparePaths does). */
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

type Scan = (path: Buffer) => Buffer | null;

/** What native/compare.c finds (see there): the differences as records, and the entries both hold. */
export interface NativeComparison {
  readonly diffs: Buffer;
  readonly entries: number;
  readonly truncated: boolean;
}

/** native/compare.c's compare(): the fast start's comparison in the thread pool. */
export type NativeCompare = (
  root: Buffer,
  fd: number,
  sections: Buffer,
  end: number,
  maxDiffs: number,
  cancel: Buffer,
  maxListing: number,
  bridge: NativeBridge | null,
) => Promise<NativeComparison>;

/** native/compare.c's bridge: inotify watches taken before each listing, until drained. */
export type NativeBridge = { readonly __bridge: unique symbol };

/** What happened in the bridge's directories: paths (each a 2-byte length and its bytes). */
export interface Drained {
  readonly paths: Buffer;
  readonly overflow: boolean;
}

/** The record layout of native/scan.c this reads (LAYOUT there): a scanner built before it changed is not used. */
const SCAN_LAYOUT = 2;

interface Addon {
  readonly scan: Scan;
  /** Missing from a build of before them. */
  readonly compare: NativeCompare | undefined;
  readonly bridge: ((maxWatches: number) => NativeBridge | null) | undefined;
  readonly drainBridge: ((bridge: NativeBridge) => Drained) | undefined;
}

/** The native scanner, when it was built, loads on this machine (its records are little-endian) and is of this layout. */
function loadNative(): Addon | undefined {
  if (endianness() !== 'LE') return undefined;
  try {
    const addon = createRequire(import.meta.url)(NATIVE) as Partial<Addon> & { layout?: number };
    const { scan, compare, bridge, drainBridge, layout } = addon;
    const fn = <T>(value: T | undefined) => (typeof value === 'function' ? value : undefined);
    return typeof scan === 'function' && layout === SCAN_LAYOUT
      ? { scan, compare: fn(compare), bridge: fn(bridge), drainBridge: fn(drainBridge) }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Where `npm run build` puts it: build/ at the package's root, beside src/ and dist/. */
export const NATIVE = fileURLToPath(new URL('../../build/scan.node', import.meta.url));

const addon = loadNative();
const nativeScan = addon?.scan;

/** The fast start's comparison in native code, when it was built (native-compare.ts). */
export const nativeCompare: NativeCompare | undefined = addon?.compare;
export const nativeBridge =
  addon?.bridge !== undefined && addon.drainBridge !== undefined
    ? { open: addon.bridge, drain: addon.drainBridge }
    : undefined;

/** The way walks take here: the native scanner when it loaded. */
export const defaultScanner: Scanner = nativeScan === undefined ? 'node' : 'native';

// The native record (native/scan.c): the entry's key (entry.ts), the name's length and the link's
// (48 bytes), then the name's bytes, then the link's.
const HEADER = 48;
const NAME_LENGTH_AT = KEY_LENGTH;
const LINK_LENGTH_AT = NAME_LENGTH_AT + 2;

function nativeListing(scan: Scan, absolute: string): Listing | undefined {
  const records = scan(bytesOf(absolute));
  if (records === null) return undefined;
  const items: { name: string; at: number }[] = [];
  for (let at = 0; at < records.length; ) {
    const nameLength = records.readUInt16LE(at + NAME_LENGTH_AT);
    const start = at + HEADER;
    items.push({ name: nameIn(records, start, start + nameLength), at });
    at = start + nameLength + records.readUInt16LE(at + LINK_LENGTH_AT);
  }
  items.sort((a, b) => byName(a.name, b.name));
  return {
    names: items.map((item) => item.name),
    entryAt(i, path) {
      const item = items[i];
      if (item === undefined) return undefined;
      const { at } = item;
      const type = String.fromCharCode(records[at] ?? 0x6f) as EntryType;
      const linkStart = at + HEADER + records.readUInt16LE(at + NAME_LENGTH_AT);
      return {
        path,
        type,
        key: records.toString('latin1', at, at + KEY_LENGTH),
        link:
          type === 'l'
            ? nameIn(records, linkStart, linkStart + records.readUInt16LE(at + LINK_LENGTH_AT))
            : '',
      };
    },
  };
}

function nodeListing(absolute: string): Listing | undefined {
  let names: string[];
  try {
    names = readdirNamed(absolute).map((entry) => entry.name);
  } catch {
    return undefined; // gone, or not readable: rsync reports what it cannot read
  }
  names.sort(byName);
  return {
    names,
    entryAt(i, path) {
      const full = `${absolute}/${names[i]}`;
      const stats = statOf(full);
      if (stats === undefined) return undefined;
      return entryAt(path, full, stats);
    },
  };
}

/**
 * The source directory itself, as the entry '' (its mode, owner and times are the mirror's top's):
 * Node's calls, which give what the native scanner gives. Undefined when it cannot be seen.
 */
export function rootEntry(absolute: string): Entry | undefined {
  // Through a symlink, as rsync takes `source/` and the walk lists it.
  const stats = statOf(`${absolute}/.`);
  return stats?.isDirectory() === true ? entryAt('', absolute, stats) : undefined;
}

/** The entry at `path` (relative), whose lstat() at `full` gave `stats`. */
function entryAt(path: string, full: string, stats: BigIntStats): Entry {
  const type = typeOf(stats);
  return entryOf({
    path,
    type,
    size: stats.size,
    mtimeNs: stats.mtimeNs,
    mode: Number(stats.mode),
    uid: Number(stats.uid),
    gid: Number(stats.gid),
    // Node holds them signed: an inode number past 2^63 (overlayfs, FUSE) would be negative.
    ino: BigInt.asUintN(64, stats.ino),
    link: type === 'l' ? linkOf(full) : '',
  });
}

/** lstat() of an absolute path; undefined when it is gone or cannot be seen. */
export function statOf(path: string): BigIntStats | undefined {
  try {
    // A name that is not UTF-8 as its bytes; any other as the string itself (no copy).
    return lstatSync(hasRawBytes(path) ? bytesOf(path) : path, { bigint: true, throwIfNoEntry: false });
  } catch {
    return undefined; // EACCES on the way: rsync reports it
  }
}

function typeOf(stats: BigIntStats): EntryType {
  return stats.isFile() ? 'f' : stats.isDirectory() ? 'd' : stats.isSymbolicLink() ? 'l' : 'o';
}

function linkOf(path: string): string {
  try {
    return nameOf(readlinkSync(bytesOf(path), { encoding: 'buffer' }));
  } catch {
    return '';
  }
}
