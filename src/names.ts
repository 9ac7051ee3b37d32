import { Buffer, isUtf8 } from 'node:buffer';
import { readdirSync } from 'node:fs';

// Linux names are bytes, and not every name is UTF-8 (archives from older systems, SMB and NFS
// shares, scanners). Inside filesync a path is a string in which every byte that is not part of
// valid UTF-8 stands for itself as a lone surrogate, U+DC80 to U+DCFF (Python's
// "surrogateescape"). Valid UTF-8 decodes as it always did, a decoder never produces those code
// points, and so every name survives the round trip byte for byte: from the kernel (fs.watch,
// readdir) to lstat and to rsync's NUL-separated list. Only logs and JSON show such a byte, as
// the visible escape `\xHH`.

/** A lone low surrogate of that range; with `u`, the low half of a pair (U+1F480 …) is not one. */
const ESCAPED = /[\udc80-\udcff]/u;

/** The path a name's bytes spell, invalid UTF-8 bytes escaped. */
export function nameOf(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let name = '';
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceLength(bytes, i);
    if (length > 0) {
      i += length;
      continue;
    }
    name += `${bytes.toString('utf8', start, i)}${String.fromCharCode(0xdc00 + (bytes[i] ?? 0))}`;
    i += 1;
    start = i;
  }
  return name + bytes.toString('utf8', start);
}

/**
 * nameOf() of `bytes[start, end)`, without a view made of them: valid UTF-8 (nearly every name)
 * decodes in one call, and only a name that decoded with a replacement character is read again.
 */
export function nameIn(bytes: Buffer, start: number, end: number): string {
  const name = bytes.toString('utf8', start, end);
  return name.includes('\ufffd') ? nameOf(bytes.subarray(start, end)) : name;
}

/** A path as fs calls take it: the string itself, unless it holds bytes that are not UTF-8. */
export function fsPathOf(path: string): string | Buffer {
  return ESCAPED.test(path) ? bytesOf(path) : path;
}

/** The bytes a path stands for: what lstat, readdir and rsync are given. */
export function bytesOf(path: string): Buffer {
  if (!ESCAPED.test(path)) return Buffer.from(path, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < path.length; i++) {
    const code = path.charCodeAt(i);
    if (code < 0xdc80 || code > 0xdcff) continue;
    const before = i > 0 ? path.charCodeAt(i - 1) : 0;
    if (before >= 0xd800 && before <= 0xdbff) continue; // the low half of a character above U+FFFF
    parts.push(Buffer.from(path.slice(start, i), 'utf8'), Buffer.of(code - 0xdc00));
    start = i + 1;
  }
  parts.push(Buffer.from(path.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/** True when a path holds bytes that are not UTF-8, which an argv string cannot carry. */
export function hasRawBytes(path: string): boolean {
  return ESCAPED.test(path);
}

/**
 * A path for people and logs: each byte that is not UTF-8 shown as `\xHH`, and so that this
 * cannot be mistaken for a name that holds those characters, a backslash as `\\`.
 */
export function printable(path: string): string {
  if (!ESCAPED.test(path) && !path.includes('\\')) return path;
  return path.replace(/[\udc80-\udcff]|\\/gu, (char) =>
    char === '\\' ? '\\\\' : `\\x${(char.charCodeAt(0) - 0xdc00).toString(16)}`,
  );
}

/** A source-relative path's directory: `a/b/c` → `a/b`; `a` → '' (the source root). */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash);
}

/** A directory entry, its name spelled as above. */
export interface NamedEntry {
  readonly name: string;
  isDirectory(): boolean;
}

/**
 * A directory's entries (readdirSync, withFileTypes), each name spelled as above. Listed as text,
 * the fast way; a directory where a name did not decode (U+FFFD) is listed again as bytes.
 */
export function readdirNamed(path: string): NamedEntry[] {
  if (!hasRawBytes(path)) {
    const entries = readdirSync(path, { withFileTypes: true });
    if (!entries.some((entry) => entry.name.includes('\ufffd'))) return entries;
  }
  return readdirSync(bytesOf(path), { withFileTypes: true, encoding: 'buffer' }).map((entry) => ({
    name: nameOf(entry.name),
    isDirectory: () => entry.isDirectory(),
  }));
}

/** The length of the valid UTF-8 sequence at `i`, or 0 when the byte there starts none. */
function sequenceLength(bytes: Buffer, i: number): number {
  const first = bytes[i] ?? 0;
  if (first < 0x80) return 1;
  const [length, min, max] =
    first >= 0xc2 && first <= 0xdf
      ? [2, 0x80, 0xbf]
      : first === 0xe0
        ? [3, 0xa0, 0xbf]
        : first === 0xed
          ? [3, 0x80, 0x9f] // no UTF-16 surrogates in UTF-8
          : first >= 0xe1 && first <= 0xef
            ? [3, 0x80, 0xbf]
            : first === 0xf0
              ? [4, 0x90, 0xbf]
              : first >= 0xf1 && first <= 0xf3
                ? [4, 0x80, 0xbf]
                : first === 0xf4
                  ? [4, 0x80, 0x8f]
                  : [0, 0, 0];
  if (length === 0 || i + length > bytes.length) return 0;
  const second = bytes[i + 1] ?? 0;
  if (second < min || second > max) return 0;
  for (let k = 2; k < length; k++) {
    const next = bytes[i + k] ?? 0;
    if (next < 0x80 || next > 0xbf) return 0;
  }
  return length;
}
