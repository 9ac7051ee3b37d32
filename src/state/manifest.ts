import { Buffer } from 'node:buffer';
import { type FileHandle, open } from 'node:fs/promises';
import { bytesOf, nameOf } from '../names.ts';
import type { Entry, EntryType } from './entry.ts';

// The manifest file: what the target holds, one record per entry in the walk's order.
//
//   filesync-manifest 1\n
//   {identity as JSON}\n
//   <shared> <type> <size> <mtimeNs> <mode, octal> <uid> <gid> <ino>\0<name bytes>\0<link bytes>\0
//   …
//   end <count>\0\0\0
//
// Each path is written as the length of the prefix it shares with the one before (in bytes) and
// the rest: in a walk's order most of a path is its directory, so 1,000,000 entries take tens of
// megabytes, not hundreds. Names are bytes (names.ts), so a record is NUL-separated, not a line.
// A file without its `end` record, or with another count, was not written whole: it is refused.

const MAGIC = 'filesync-manifest 1';
const CHUNK = 1 << 20;
const TYPES = new Set<string>(['f', 'd', 'l', 'o']);

/** A manifest that cannot be read as one: truncated, foreign, or of another version. */
export class ManifestError extends Error {}

/** Writes a manifest to `file` (a temporary name: the store renames it into place). */
export class ManifestWriter {
  readonly #handle: FileHandle;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #previous: Buffer = Buffer.alloc(0);
  #count = 0;

  private constructor(handle: FileHandle) {
    this.#handle = handle;
  }

  static async create(file: string, identity: unknown): Promise<ManifestWriter> {
    const handle = await open(file, 'w', 0o600);
    const writer = new ManifestWriter(handle);
    writer.#push(Buffer.from(`${MAGIC}\n${JSON.stringify(identity)}\n`));
    return writer;
  }

  get count(): number {
    return this.#count;
  }

  async add(entries: readonly Entry[]): Promise<void> {
    for (const entry of entries) {
      const name = bytesOf(entry.path);
      const shared = sharedPrefix(this.#previous, name);
      const { type, size, mtimeNs, mode, uid, gid, ino } = entry;
      const fields = `${shared} ${type} ${size} ${mtimeNs} ${mode.toString(8)} ${uid} ${gid} ${ino}\0`;
      this.#push(Buffer.from(fields));
      this.#push(name.subarray(shared));
      this.#push(NUL);
      if (entry.link !== '') this.#push(bytesOf(entry.link));
      this.#push(NUL);
      this.#previous = name;
      this.#count++;
    }
    if (this.#buffered >= CHUNK) await this.#drain();
  }

  /** Writes the end record and makes the file durable (fsync); the store renames it. */
  async finish(): Promise<void> {
    this.#push(Buffer.from(`end ${this.#count}\0\0\0`));
    await this.#drain();
    await this.#handle.sync();
    await this.#handle.close();
  }

  /** Gives up on a manifest half written (the caller removes the file). */
  async abandon(): Promise<void> {
    await this.#handle.close().catch(() => {});
  }

  #push(bytes: Buffer): void {
    this.#chunks.push(bytes);
    this.#buffered += bytes.length;
  }

  async #drain(): Promise<void> {
    const data = Buffer.concat(this.#chunks, this.#buffered);
    this.#chunks = [];
    this.#buffered = 0;
    await this.#handle.write(data);
  }
}

const NUL = Buffer.of(0);

function sharedPrefix(a: Buffer, b: Buffer): number {
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length && a[i] === b[i]) i++;
  return i;
}

/** An opened manifest: the identity it was written for, and its entries to read in order. */
export interface OpenManifest {
  readonly identity: unknown;
  /** The entries, a slice at a time; throws ManifestError where the file is not whole. */
  readonly entries: AsyncGenerator<Entry[]>;
  /** Closes the file: reading the entries to their end does too. */
  close(): Promise<void>;
}

/** Opens a manifest and reads its header; throws ManifestError when it is not one. */
export async function openManifest(file: string): Promise<OpenManifest> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    const first = head.indexOf(0x0a);
    const second = first === -1 ? -1 : head.indexOf(0x0a, first + 1);
    if (second === -1 || second >= bytesRead || head.toString('utf8', 0, first) !== MAGIC)
      throw new ManifestError('it is not a filesync manifest of this version');
    let identity: unknown;
    try {
      identity = JSON.parse(head.toString('utf8', first + 1, second));
    } catch {
      throw new ManifestError('its header is not readable');
    }
    let closed: Promise<void> | undefined;
    const close = () => {
      closed ??= handle.close();
      return closed;
    };
    return { identity, entries: readEntries(handle, second + 1, close), close };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

async function* readEntries(
  handle: FileHandle,
  start: number,
  close: () => Promise<void>,
): AsyncGenerator<Entry[]> {
  try {
    let position = start;
    let rest: Buffer = Buffer.alloc(0);
    let previous: Buffer = Buffer.alloc(0);
    let count = 0;
    for (;;) {
      const chunk = Buffer.alloc(CHUNK);
      const { bytesRead } = await handle.read(chunk, 0, CHUNK, position);
      position += bytesRead;
      const read = chunk.subarray(0, bytesRead);
      const data = rest.length === 0 ? read : Buffer.concat([rest, read]);
      const slice: Entry[] = [];
      let at = 0;
      for (;;) {
        const a = data.indexOf(0, at);
        const b = a === -1 ? -1 : data.indexOf(0, a + 1);
        const c = b === -1 ? -1 : data.indexOf(0, b + 1);
        if (c === -1) break;
        const fields = data.toString('latin1', at, a).split(' ');
        at = c + 1;
        if (fields[0] === 'end') {
          const after = await handle.read(Buffer.alloc(1), 0, 1, position);
          if (Number(fields[1]) !== count || at !== data.length || after.bytesRead > 0)
            throw new ManifestError('it was not written whole');
          if (slice.length > 0) yield slice;
          return;
        }
        const [shared, type, size, mtimeNs, mode, uid, gid, ino] = fields;
        const prefix = Number(shared);
        if (fields.length !== 8 || !TYPES.has(type ?? '') || !(prefix <= previous.length))
          throw new ManifestError(`record ${count + 1} is malformed`);
        const name = Buffer.concat([previous.subarray(0, prefix), data.subarray(a + 1, b)]);
        previous = name;
        slice.push({
          path: nameOf(name),
          type: type as EntryType,
          size: BigInt(size ?? 0),
          mtimeNs: BigInt(mtimeNs ?? 0),
          mode: Number.parseInt(mode ?? '', 8),
          uid: Number(uid),
          gid: Number(gid),
          ino: BigInt(ino ?? 0),
          link: c === b + 1 ? '' : nameOf(data.subarray(b + 1, c)),
        });
        count++;
      }
      rest = Buffer.from(data.subarray(at));
      if (slice.length > 0) yield slice;
      if (bytesRead === 0) throw new ManifestError('it was not written whole');
    }
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    throw new ManifestError(
      `it could not be read (${error instanceof Error ? error.message : String(error)})`,
    );
  } finally {
    await close();
  }
}
