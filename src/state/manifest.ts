import { Buffer } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { bytesOf, hasRawBytes, nameIn, nameOf } from '../names.ts';
import { type Entry, type EntryType, KEY_LENGTH, SLICE } from './entry.ts';

// The manifest file: what the target holds, one record per entry in the walk's order.
//
//   filesync-manifest 3\n
//   {identity as JSON}\n
//   <shared: 2> <rest: 2> <link: 2> <key: 44> <rest of the name's bytes> <link bytes>
//   …
//   end <count>\0\0\0
//   <offset> <count>\0<first name bytes>\0      one per section
//   …
//   <offset of the first section line, 20 digits>\n
//
// A record is binary: three lengths (little-endian), the entry's key as walks hand it over
// (entry.ts: what rsync -a compares and the inode number, byte for byte), then the bytes. Reading one
// takes no parsing of numbers, and comparing it with the source one string compare. Each path is
// written as the length of the prefix it shares with the one before (in bytes) and the rest: in
// a walk's order most of a path is its directory, so 1,000,000 entries take tens of megabytes,
// not hundreds. Names are bytes (names.ts).
//
// The records come in sections of SECTION entries, each starting afresh (shared 0), and the index
// after the end record says where each starts and with which path: a range of sections can be
// read on its own, by one of several workers comparing the tree in parallel (compare.ts).
// A file without its index, its `end` record or with another count was not written whole: refused.

const MAGIC = 'filesync-manifest 3';
const CHUNK = 1 << 20;
const TYPES = new Set<string>(['f', 'd', 'l', 'o']);
/** A record's fixed part: three lengths and the key. */
const RECORD = 6 + KEY_LENGTH;
/** Longer than any path or link target (PATH_MAX): a length past it is no record of ours. */
const MAX_LENGTH = 0xffff;
/** Entries per section: a range of sections is what one worker compares. */
export const SECTION = 4096;
/** The last line: where the index starts, fixed width so a reader finds it from the end. */
const FOOTER = 21;

/** A manifest that cannot be read as one: truncated, foreign, or of another version. */
export class ManifestError extends Error {}

/** Where a section starts in the file, how many entries it holds, and its first path. */
export interface Section {
  readonly offset: number;
  readonly count: number;
  readonly first: string;
}

/**
 * A manifest's records, encoded into sections apart from any file: by the writer as it goes, or
 * by a worker that walks one range of the source and hands its part over whole (EncodedPart).
 * Records are written straight into chunks of CHUNK bytes (no buffer per field, which 1,000,000
 * entries would make millions of).
 */
class Records {
  /** Full chunks, and the one being filled (`#chunk`, its first `#used` bytes). */
  #full: Buffer[] = [];
  #chunk: Buffer = Buffer.allocUnsafeSlow(CHUNK);
  #used = 0;
  #draining = false;
  /** Bytes encoded so far, from where the records start in the file (or the part). */
  offset: number;
  count = 0;
  readonly sections: { offset: number; count: number; first: Buffer }[] = [];
  readonly #sectionSize: number;
  /** The last path's bytes and this one's, in two buffers used in turn (none made per entry). */
  #previous = new PathBytes();
  #current = new PathBytes();
  /** The next record opens a section: the first, or the first after a part placed whole. */
  #fresh = true;

  constructor(sectionSize: number, offset = 0) {
    this.#sectionSize = sectionSize;
    this.offset = offset;
  }

  /** Bytes encoded and not yet taken. */
  get buffered(): number {
    return this.#full.reduce((sum, chunk) => sum + chunk.length, 0) + this.#used;
  }

  add(entries: readonly Entry[]): void {
    for (const entry of entries) {
      const name = this.#current.set(entry.path);
      let section = this.sections[this.sections.length - 1];
      let shared: number;
      if (section === undefined || this.#fresh || section.count === this.#sectionSize) {
        section = { offset: this.offset, count: 0, first: Buffer.from(name) };
        this.sections.push(section);
        this.#fresh = false;
        shared = 0;
      } else shared = sharedPrefix(this.#previous.bytes, name);
      const link = entry.link === '' ? EMPTY : bytesOf(entry.link);
      const rest = name.length - shared;
      if (rest > MAX_LENGTH || link.length > MAX_LENGTH || shared > MAX_LENGTH)
        throw new Error(`a path or link too long for the manifest: ${entry.path}`);
      const length = RECORD + rest + link.length;
      this.#reserve(length);
      const chunk = this.#chunk;
      let at = this.#used;
      at = chunk.writeUInt16LE(shared, at);
      at = chunk.writeUInt16LE(rest, at);
      at = chunk.writeUInt16LE(link.length, at);
      at += chunk.write(entry.key, at, KEY_LENGTH, 'latin1');
      at += name.copy(chunk, at, shared);
      at += link.copy(chunk, at);
      if (at !== this.#used + length)
        throw new Error(`a manifest record of ${entry.path} came out malformed`);
      this.#used = at;
      this.offset += length;
      [this.#previous, this.#current] = [this.#current, this.#previous];
      this.count++;
      section.count++;
    }
  }

  /**
   * Counts a part encoded elsewhere as placed after what is here (the writer copies its bytes
   * once what is buffered is written); the next record opens a section.
   */
  append(part: EncodedPart): void {
    const base = this.offset;
    for (const { offset, count, first } of part.sections)
      this.sections.push({ offset: base + offset, count, first: Buffer.from(first) });
    this.offset += part.size;
    this.count += part.count;
    this.#fresh = true;
  }

  push(bytes: Buffer): void {
    this.#reserve(bytes.length);
    this.#used += bytes.copy(this.#chunk, this.#used);
    this.offset += bytes.length;
  }

  /** Room for `length` more bytes in the chunk being filled. */
  #reserve(length: number): void {
    if (this.#draining) throw new Error('manifest records added while they are being written');
    if (this.#used + length <= this.#chunk.length) return;
    if (this.#used > 0) this.#full.push(this.#chunk.subarray(0, this.#used));
    this.#chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK, length));
    this.#used = 0;
  }

  /** Adds `entries`, and writes them out to `handle` once the chunk is half full. */
  async addTo(handle: FileHandle, entries: readonly Entry[]): Promise<void> {
    this.add(entries);
    if (this.buffered >= CHUNK / 2) await this.drainTo(handle);
  }

  /**
   * Writes what is encoded and not yet written; the chunk is then filled again (written out at
   * half full, it is one buffer for the whole walk, not one a megabyte). Nothing may be added
   * until it is done: the bytes being written are the chunk's.
   */
  async drainTo(handle: FileHandle): Promise<void> {
    this.#draining = true;
    try {
      for (const chunk of this.#full) await writeAll(handle, chunk);
      if (this.#used > 0) await writeAll(handle, this.#chunk.subarray(0, this.#used));
    } finally {
      this.#draining = false;
    }
    this.#full = [];
    this.#used = 0;
  }
}

/**
 * One range's records, encoded apart (in a worker) into a file of their own: its bytes, from
 * offset 0, and its sections. On disk, not in memory: at 1,000,000 entries a part is 25 MB.
 */
export interface EncodedPart {
  readonly file: string;
  readonly size: number;
  readonly count: number;
  readonly sections: readonly {
    readonly offset: number;
    readonly count: number;
    readonly first: Uint8Array;
  }[];
}

/** Encodes a range's entries into `file` as a part of a manifest (ManifestWriter.addPart puts it in place). */
export async function encodePart(
  slices: AsyncIterable<Entry[]>,
  file: string,
  sectionSize = SECTION,
): Promise<EncodedPart> {
  const records = new Records(sectionSize);
  const handle = await open(file, 'w', 0o600);
  try {
    for await (const slice of slices) await records.addTo(handle, slice);
    await records.drainTo(handle);
  } finally {
    await handle.close();
  }
  return { file, size: records.offset, count: records.count, sections: records.sections };
}

/** Writes a manifest to `file` (a temporary name: the store renames it into place). */
export class ManifestWriter {
  readonly #handle: FileHandle;
  readonly #records: Records;

  private constructor(handle: FileHandle, records: Records) {
    this.#handle = handle;
    this.#records = records;
  }

  /** `sectionSize`: SECTION, but for tests that want many sections of a small tree. */
  static async create(file: string, identity: unknown, sectionSize = SECTION): Promise<ManifestWriter> {
    const handle = await open(file, 'w', 0o600);
    const header = Buffer.from(`${MAGIC}\n${JSON.stringify(identity)}\n`);
    const records = new Records(sectionSize);
    records.push(header);
    return new ManifestWriter(handle, records);
  }

  get count(): number {
    return this.#records.count;
  }

  async add(entries: readonly Entry[]): Promise<void> {
    await this.#records.addTo(this.#handle, entries);
  }

  /** Adds a range's records encoded apart (encodePart), after the ones before it in the walk. */
  async addPart(part: EncodedPart): Promise<void> {
    await this.#drain();
    const source = await open(part.file, 'r');
    try {
      const chunk = Buffer.allocUnsafe(CHUNK);
      let copied = 0;
      for (;;) {
        const { bytesRead } = await source.read(chunk, 0, CHUNK, copied);
        if (bytesRead === 0) break;
        await writeAll(this.#handle, chunk.subarray(0, bytesRead));
        copied += bytesRead;
      }
      if (copied !== part.size)
        throw new Error(`a part of the manifest holds ${copied} bytes, ${part.size} were encoded`);
    } finally {
      await source.close();
    }
    this.#records.append(part);
  }

  /** Writes the end record and the index, and makes the file durable (fsync); the store renames it. */
  async finish(): Promise<void> {
    const records = this.#records;
    records.push(Buffer.from(`end ${records.count}\0\0\0`));
    const index = records.offset;
    for (const { offset, count, first } of records.sections) {
      records.push(Buffer.from(`${offset} ${count}\0`));
      records.push(first);
      records.push(NUL);
    }
    records.push(Buffer.from(`${String(index).padStart(FOOTER - 1, '0')}\n`));
    await this.#drain();
    await this.#handle.sync();
    await this.#handle.close();
  }

  /** Gives up on a manifest half written (the caller removes the file). */
  async abandon(): Promise<void> {
    await this.#handle.close().catch(() => {});
  }

  async #drain(): Promise<void> {
    await this.#records.drainTo(this.#handle);
  }
}

const NUL = Buffer.of(0);
const EMPTY = Buffer.alloc(0);

/** A path's bytes (names.ts), written into one buffer that grows as paths need. */
class PathBytes {
  #buffer = Buffer.allocUnsafeSlow(1024);
  bytes: Buffer = this.#buffer.subarray(0, 0);

  /** Spells `path` as bytes; the view is good until the next set(). */
  set(path: string): Buffer {
    if (hasRawBytes(path)) {
      this.bytes = bytesOf(path);
      return this.bytes;
    }
    // UTF-8 takes at most 3 bytes for each UTF-16 unit.
    if (this.#buffer.length < 3 * path.length) this.#buffer = Buffer.allocUnsafeSlow(3 * path.length);
    this.bytes = this.#buffer.subarray(0, this.#buffer.write(path, 0, 'utf8'));
    return this.bytes;
  }
}

/** Writes all of `data` (a write may take less than it is given). */
async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  let at = 0;
  while (at < data.length) at += (await handle.write(data, at)).bytesWritten;
}

function sharedPrefix(a: Buffer, b: Buffer): number {
  const length = Math.min(a.length, b.length);
  let i = 0;
  while (i < length && a[i] === b[i]) i++;
  return i;
}

/**
 * Where an open manifest's records are: its descriptor (the process's, so a worker thread reads
 * by it too), its sections, and where the records end. Plain data, to post to a worker.
 */
export interface ManifestFile {
  readonly fd: number;
  readonly sections: readonly Section[];
  readonly end: number;
}

/** An opened manifest: the identity it was written for, its sections, and its entries. */
export interface OpenManifest {
  readonly identity: unknown;
  readonly file: ManifestFile;
  /** Entries in every section. */
  readonly count: number;
  /** Every entry, a slice at a time; throws ManifestError where the file is not whole. */
  entries(): AsyncGenerator<Entry[]>;
  close(): void;
}

/** Opens a manifest and reads its header and index; throws ManifestError when it is not one whole. */
export function openManifest(file: string): OpenManifest {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    readSync(fd, head, 0, head.length, 0);
    const first = head.indexOf(0x0a);
    const second = first === -1 ? -1 : head.indexOf(0x0a, first + 1);
    if (second === -1 || head.toString('utf8', 0, first) !== MAGIC)
      throw new ManifestError('it is not a filesync manifest of this version');
    let identity: unknown;
    try {
      identity = JSON.parse(head.toString('utf8', first + 1, second));
    } catch {
      throw new ManifestError('its header is not readable');
    }
    const { sections, end } = readIndex(fd, size, second + 1);
    const count = sections.reduce((sum, section) => sum + section.count, 0);
    let closed = false;
    const manifestFile = { fd, sections, end };
    return {
      identity,
      file: manifestFile,
      count,
      entries: () => readSections(manifestFile, 0, sections.length),
      close: () => {
        if (!closed) closeSync(fd);
        closed = true;
      },
    };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** The index at the end of the file, and where the records end (the `end` record's offset). */
function readIndex(fd: number, size: number, start: number): { sections: Section[]; end: number } {
  const whole = new ManifestError('it was not written whole');
  if (size < start + FOOTER) throw whole;
  const footer = Buffer.alloc(FOOTER);
  readSync(fd, footer, 0, FOOTER, size - FOOTER);
  const text = footer.toString('latin1');
  const at = /^\d{20}\n$/.test(text) ? Number(text.slice(0, -1)) : Number.NaN;
  if (!(at >= start && at <= size - FOOTER)) throw whole;
  const data = Buffer.alloc(size - FOOTER - at);
  readSync(fd, data, 0, data.length, at);
  const sections: Section[] = [];
  let position = 0;
  while (position < data.length) {
    const a = data.indexOf(0, position);
    const b = a === -1 ? -1 : data.indexOf(0, a + 1);
    if (b === -1) throw whole;
    const [offset, count] = data.toString('latin1', position, a).split(' ').map(Number);
    const previous = sections[sections.length - 1];
    if (
      offset === undefined ||
      count === undefined ||
      !(offset >= start && offset < at && count > 0) ||
      (previous !== undefined && offset <= previous.offset)
    )
      throw whole;
    sections.push({ offset, count, first: nameOf(data.subarray(a + 1, b)) });
    position = b + 1;
  }
  // The end record sits just before the index: `end <count>\0\0\0`.
  const total = sections.reduce((sum, section) => sum + section.count, 0);
  const endRecord = Buffer.from(`end ${total}\0\0\0`);
  const end = at - endRecord.length;
  const found = Buffer.alloc(endRecord.length);
  if (end < start || readSync(fd, found, 0, found.length, end) !== found.length || !found.equals(endRecord))
    throw whole;
  if ((sections[0]?.offset ?? end) !== start) throw whole;
  return { sections, end };
}

/** The records of sections [from, to), a slice at a time, each section read whole and counted. */
export async function* readSections(file: ManifestFile, from: number, to: number): AsyncGenerator<Entry[]> {
  const { fd, sections, end } = file;
  // One buffer for every read: the entries copy what they keep out of it.
  const buffer = Buffer.allocUnsafe(CHUNK);
  try {
    for (let s = from; s < to; s++) {
      const section = sections[s];
      if (section === undefined) return;
      const stop = sections[s + 1]?.offset ?? end;
      yield* readSection(fd, buffer, section, stop, s);
    }
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    throw new ManifestError(
      `it could not be read (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

function* readSection(
  fd: number,
  buffer: Buffer,
  section: Section,
  stop: number,
  index: number,
): Generator<Entry[]> {
  let position = section.offset;
  let rest: Buffer = Buffer.alloc(0);
  /** The current path's bytes: a record keeps the shared prefix and replaces what follows. */
  let name = Buffer.allocUnsafe(1024);
  let nameLength = 0;
  let count = 0;
  const malformed = () => new ManifestError(`record ${count + 1} of section ${index + 1} is malformed`);
  while (position < stop || rest.length > 0) {
    const length = Math.min(CHUNK, stop - position);
    const chunk = buffer.subarray(0, length);
    const bytesRead = length === 0 ? 0 : readSync(fd, chunk, 0, length, position);
    position += bytesRead;
    const data =
      rest.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([rest, chunk.subarray(0, bytesRead)]);
    let slice: Entry[] = [];
    let at = 0;
    while (at + RECORD <= data.length) {
      const prefix = data.readUInt16LE(at);
      const more = data.readUInt16LE(at + 2);
      const linkLength = data.readUInt16LE(at + 4);
      const next = at + RECORD + more + linkLength;
      if (next > data.length) break; // the rest of it is in the next read
      const key = at + 6;
      const type = String.fromCharCode(data[key] ?? 0);
      const flag = data[key + 1];
      if (!TYPES.has(type) || !(flag === 0 || flag === 1) || prefix > nameLength) throw malformed();
      if (type !== 'l' && linkLength > 0) throw malformed();
      const length = prefix + more;
      if (length > MAX_LENGTH) throw malformed(); // no path is that long (native/compare.c agrees)
      if (length > name.length) {
        const larger = Buffer.allocUnsafe(Math.max(length, 2 * name.length));
        name.copy(larger, 0, 0, prefix);
        name = larger;
      }
      const nameStart = key + KEY_LENGTH;
      data.copy(name, prefix, nameStart, nameStart + more);
      nameLength = length;
      slice.push({
        path: nameIn(name, 0, nameLength),
        type: type as EntryType,
        key: data.toString('latin1', key, key + KEY_LENGTH),
        link: linkLength === 0 ? '' : nameIn(data, nameStart + more, next),
      });
      at = next;
      count++;
      if (slice.length >= SLICE) {
        yield slice;
        slice = [];
      }
    }
    rest = Buffer.from(data.subarray(at));
    if (slice.length > 0) yield slice;
    if (bytesRead === 0) break; // the file ends early (cut since it was opened): counted below
  }
  if (count !== section.count || rest.length > 0)
    throw new ManifestError(`section ${index + 1} holds ${count} entries, its index says ${section.count}`);
}
