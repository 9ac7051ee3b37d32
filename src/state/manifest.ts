import { Buffer } from 'node:buffer';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { bytesOf, nameOf } from '../names.ts';
import type { Entry, EntryType } from './entry.ts';

// The manifest file: what the target holds, one record per entry in the walk's order.
//
//   filesync-manifest 2\n
//   {identity as JSON}\n
//   <shared> <type> <size> <mtimeNs> <mode, octal> <uid> <gid> <ino>\0<name bytes>\0<link bytes>\0
//   …
//   end <count>\0\0\0
//   <offset> <count>\0<first name bytes>\0      one per section
//   …
//   <offset of the first section line, 20 digits>\n
//
// Each path is written as the length of the prefix it shares with the one before (in bytes) and
// the rest: in a walk's order most of a path is its directory, so 1,000,000 entries take tens of
// megabytes, not hundreds. Names are bytes (names.ts), so a record is NUL-separated, not a line.
//
// The records come in sections of SECTION entries, each starting afresh (shared 0), and the index
// after the end record says where each starts and with which path: a range of sections can be
// read on its own, by one of several workers comparing the tree in parallel (compare.ts).
// A file without its index, its `end` record or with another count was not written whole: refused.

const MAGIC = 'filesync-manifest 2';
const CHUNK = 1 << 20;
const TYPES = new Set<string>(['f', 'd', 'l', 'o']);
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
 */
class Records {
  chunks: Buffer[] = [];
  buffered = 0;
  /** Bytes encoded so far, from where the records start in the file (or the part). */
  offset: number;
  count = 0;
  readonly sections: { offset: number; count: number; first: Buffer }[] = [];
  readonly #sectionSize: number;
  #previous: Buffer = Buffer.alloc(0);
  /** The next record opens a section: the first, or the first after a part placed whole. */
  #fresh = true;

  constructor(sectionSize: number, offset = 0) {
    this.#sectionSize = sectionSize;
    this.offset = offset;
  }

  add(entries: readonly Entry[]): void {
    for (const entry of entries) {
      const name = bytesOf(entry.path);
      let section = this.sections[this.sections.length - 1];
      let shared: number;
      if (section === undefined || this.#fresh || section.count === this.#sectionSize) {
        section = { offset: this.offset, count: 0, first: name };
        this.sections.push(section);
        this.#fresh = false;
        shared = 0;
      } else shared = sharedPrefix(this.#previous, name);
      const { type, size, mtimeNs, mode, uid, gid, ino } = entry;
      this.push(
        Buffer.from(`${shared} ${type} ${size} ${mtimeNs} ${mode.toString(8)} ${uid} ${gid} ${ino}\0`),
      );
      this.push(name.subarray(shared));
      this.push(NUL);
      if (entry.link !== '') this.push(bytesOf(entry.link));
      this.push(NUL);
      this.#previous = name;
      this.count++;
      section.count++;
    }
  }

  /** Places a part encoded elsewhere after what is here; the next record opens a section. */
  append(part: EncodedPart): void {
    const base = this.offset;
    this.push(Buffer.from(part.bytes.buffer, part.bytes.byteOffset, part.bytes.byteLength));
    for (const { offset, count, first } of part.sections)
      this.sections.push({ offset: base + offset, count, first: Buffer.from(first) });
    this.count += part.count;
    this.#fresh = true;
  }

  push(bytes: Buffer): void {
    this.chunks.push(bytes);
    this.buffered += bytes.length;
    this.offset += bytes.length;
  }

  /** What is buffered, in one buffer of its own (never a pooled slice: it may be transferred). */
  take(): Buffer {
    const data = Buffer.allocUnsafeSlow(this.buffered);
    let at = 0;
    for (const chunk of this.chunks) at += chunk.copy(data, at);
    this.chunks = [];
    this.buffered = 0;
    return data;
  }
}

/** One range's records, encoded in a worker: its bytes, from offset 0, and its sections. */
export interface EncodedPart {
  readonly bytes: Uint8Array;
  readonly count: number;
  readonly sections: readonly {
    readonly offset: number;
    readonly count: number;
    readonly first: Uint8Array;
  }[];
}

/** Encodes a range's entries as a part of a manifest (ManifestWriter.addPart puts it in place). */
export async function encodePart(
  slices: AsyncIterable<Entry[]>,
  sectionSize = SECTION,
): Promise<EncodedPart> {
  const records = new Records(sectionSize);
  for await (const slice of slices) records.add(slice);
  return { bytes: records.take(), count: records.count, sections: records.sections };
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
    this.#records.add(entries);
    if (this.#records.buffered >= CHUNK) await this.#drain();
  }

  /** Adds a range's records encoded apart (encodePart), after the ones before it in the walk. */
  async addPart(part: EncodedPart): Promise<void> {
    await this.#drain();
    this.#records.append(part);
    await this.#drain();
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
    const records = this.#records;
    if (records.buffered === 0) return;
    const data =
      records.chunks.length === 1 ? records.chunks[0] : Buffer.concat(records.chunks, records.buffered);
    records.chunks = [];
    records.buffered = 0;
    if (data !== undefined) await this.#handle.write(data);
  }
}

const NUL = Buffer.of(0);

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
  try {
    for (let s = from; s < to; s++) {
      const section = sections[s];
      if (section === undefined) return;
      const stop = sections[s + 1]?.offset ?? end;
      yield* readSection(fd, section, stop, s);
    }
  } catch (error) {
    if (error instanceof ManifestError) throw error;
    throw new ManifestError(
      `it could not be read (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

function* readSection(fd: number, section: Section, stop: number, index: number): Generator<Entry[]> {
  let position = section.offset;
  let rest: Buffer = Buffer.alloc(0);
  /** The current path's bytes: a record keeps the shared prefix and replaces what follows. */
  let name = Buffer.allocUnsafe(1024);
  let nameLength = 0;
  let count = 0;
  const malformed = () => new ManifestError(`record ${count + 1} of section ${index + 1} is malformed`);
  while (position < stop || rest.length > 0) {
    const length = Math.min(CHUNK, stop - position);
    const chunk = Buffer.alloc(length);
    const bytesRead = length === 0 ? 0 : readSync(fd, chunk, 0, length, position);
    position += bytesRead;
    const data =
      rest.length === 0 ? chunk.subarray(0, bytesRead) : Buffer.concat([rest, chunk.subarray(0, bytesRead)]);
    const slice: Entry[] = [];
    let at = 0;
    for (;;) {
      const a = data.indexOf(0, at);
      const b = a === -1 ? -1 : data.indexOf(0, a + 1);
      const c = b === -1 ? -1 : data.indexOf(0, b + 1);
      if (c === -1) break;
      const fields = new Fields(data, at, a, malformed);
      at = c + 1;
      const prefix = fields.number();
      const type = fields.type();
      const size = fields.big();
      const mtimeNs = fields.big();
      const mode = fields.number(8);
      const uid = fields.number();
      const gid = fields.number();
      const ino = fields.big();
      fields.end();
      if (prefix > nameLength) throw malformed();
      const length = prefix + (b - a - 1);
      if (length > name.length) {
        const larger = Buffer.allocUnsafe(Math.max(length, 2 * name.length));
        name.copy(larger, 0, 0, prefix);
        name = larger;
      }
      data.copy(name, prefix, a + 1, b);
      nameLength = length;
      slice.push({
        path: nameOf(name.subarray(0, nameLength)),
        type,
        size,
        mtimeNs,
        mode,
        uid,
        gid,
        ino,
        link: c === b + 1 ? '' : nameOf(data.subarray(b + 1, c)),
      });
      count++;
    }
    rest = Buffer.from(data.subarray(at));
    if (slice.length > 0) yield slice;
    if (bytesRead === 0 && rest.length > 0) break;
  }
  if (count !== section.count || rest.length > 0)
    throw new ManifestError(`section ${index + 1} holds ${count} entries, its index says ${section.count}`);
}

/**
 * A record's fields (`<shared> <type> <size> <mtimeNs> <mode> <uid> <gid> <ino>`), read from its
 * bytes one after the other, without a string or an array per record: a start reads 1,000,000.
 */
class Fields {
  #at: number;
  readonly #data: Buffer;
  readonly #end: number;
  readonly #malformed: () => ManifestError;

  constructor(data: Buffer, start: number, end: number, malformed: () => ManifestError) {
    this.#data = data;
    this.#at = start;
    this.#end = end;
    this.#malformed = malformed;
  }

  /** The next field's bounds, past its separator; a field is never empty. */
  #next(): [number, number] {
    const start = this.#at;
    if (start >= this.#end) throw this.#malformed();
    let end = start;
    while (end < this.#end && this.#data[end] !== SPACE) end++;
    if (end === start) throw this.#malformed();
    this.#at = end + 1;
    return [start, end];
  }

  number(radix = 10): number {
    const [start, end] = this.#next();
    if (end - start > 15) throw this.#malformed();
    let value = 0;
    for (let i = start; i < end; i++) {
      const digit = (this.#data[i] ?? 0) - ZERO;
      if (!(digit >= 0 && digit < radix)) throw this.#malformed();
      value = value * radix + digit;
    }
    return value;
  }

  /** A decimal of any length (a time in nanoseconds has 19 digits). */
  big(): bigint {
    const [start, end] = this.#next();
    if (end - start <= 15) {
      this.#at = start;
      return BigInt(this.number());
    }
    for (let i = start; i < end; i++) {
      const digit = (this.#data[i] ?? 0) - ZERO;
      if (!(digit >= 0 && digit < 10)) throw this.#malformed();
    }
    return BigInt(this.#data.toString('latin1', start, end));
  }

  type(): EntryType {
    const [start, end] = this.#next();
    const type = String.fromCharCode(this.#data[start] ?? 0);
    if (end !== start + 1 || !TYPES.has(type)) throw this.#malformed();
    return type as EntryType;
  }

  /** No field is left over. */
  end(): void {
    if (this.#at !== this.#end + 1) throw this.#malformed();
  }
}

const SPACE = 0x20;
const ZERO = 0x30;
