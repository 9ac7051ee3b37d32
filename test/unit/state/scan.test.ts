import { Buffer } from 'node:buffer';
import { execFileSync } from 'node:child_process';
import { chmodSync, lchownSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { bytesOf } from '../../../src/names.ts';
import { fieldsOf } from '../../../src/state/entry.ts';
import { defaultScanner, listDirectory, NATIVE, type Scanner } from '../../../src/state/scan.ts';
import { walkSource } from '../../../src/state/walk.ts';
import { collect } from './support.ts';

/** A tree with every kind of entry and name the two scanners could read apart. */
async function tree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'filesync-scan-'));
  const at = (path: string) => join(root, path);
  mkdirSync(at('dir/sub'), { recursive: true });
  writeFileSync(at('dir/sub/file'), 'hello');
  execFileSync('touch', ['-h', '-d', '@1700000000.123456789', at('dir/sub/file')]); // to the nanosecond
  writeFileSync(at('setuid'), '');
  chmodSync(at('setuid'), 0o4755);
  writeFileSync(at('owned'), '');
  if (process.getuid?.() === 0) lchownSync(at('owned'), 1234, 5678);
  symlinkSync('dir/sub/file', at('link'));
  symlinkSync(`${'long/'.repeat(600)}target`, at('long-link')); // 3,006 bytes
  symlinkSync(Buffer.from([0x66, 0xff, 0x2f, 0x67]), Buffer.from(at('raw-link'))); // f\xff/g
  execFileSync('mkfifo', [at('fifo')]);
  // Names whose order differs by code unit and by byte, and names that are not UTF-8.
  for (const name of ['\u{1F600}', '\uFF45', 'e', 'E', 'é', 'a b', 'x\uFFFDy'])
    writeFileSync(at(`dir/${name}`), name);
  writeFileSync(Buffer.concat([Buffer.from(`${root}/dir/raw`), Buffer.from([0xe9, 0x80])]), 'latin-1');
  execFileSync('touch', ['-d', '@-86400.5', at('dir')]); // before 1970: a negative time survives
  writeFileSync(at('2300'), '');
  execFileSync('touch', ['-d', '@10413792000.5', at('2300')]); // past what nanoseconds fit in 64 bits
  // A path as long as Linux allows (PATH_MAX), and a name below it past that: lstat() by path
  // cannot reach it, nor can rsync, so neither scanner lists it.
  let deep = at('deep');
  while (deep.length < 4000) deep = `${deep}/${'d'.repeat(100)}`;
  mkdirSync(deep, { recursive: true });
  const inDeep = (command: string) =>
    execFileSync('sh', ['-c', `cd "$1" && ${command} "$2"`, 'sh', deep, 'n'.repeat(200)]);
  inDeep('touch');
  onTestFinished(() => void inDeep('rm')); // what the tests' cleanup cannot reach by path
  mkdirSync(at('many'));
  // More than the native scanner's first 64 KiB of records: it grows its buffer.
  for (let i = 0; i < 1500; i++)
    writeFileSync(at(`many/${String(i).padStart(4, '0')}-${'n'.repeat(40)}`), '');
  return root;
}

const ALL = new Filter({ include: [], exclude: [] });

describe('the native scanner', () => {
  it('is built and loads, so walks take it', () => {
    expect(defaultScanner, `${NATIVE} did not load: install a C compiler (gcc) and run npm run build`).toBe(
      'native',
    );
  });

  it('lists what Node’s own calls list, field for field and in the same order', async () => {
    const root = await tree();
    const native = await collect(walkSource(root, ALL, {}, 'native'));
    const node = await collect(walkSource(root, ALL, {}, 'node'));
    expect(native.length).toBeGreaterThan(1500);
    expect(native).toEqual(node);
    const byPath = new Map(native.map((entry) => [entry.path, fieldsOf(entry)]));
    expect(byPath.get('dir/sub/file')).toMatchObject({ type: 'f', size: 5n });
    expect(byPath.get('dir/sub/file')?.mtimeNs).toBe(1_700_000_000_123_456_789n);
    expect(byPath.get('dir')?.mtimeNs).toBe(-86_400_500_000_000n);
    expect(byPath.get('2300')?.mtimeNs).toBe(10_413_792_000_500_000_000n);
    expect(native.filter(({ path }) => path.startsWith('deep/')).at(-1)?.type).toBe('d');
    expect(byPath.get('setuid')?.mode).toBe(0o4755);
    if (process.getuid?.() === 0) expect(byPath.get('owned')).toMatchObject({ uid: 1234, gid: 5678 });
    expect(byPath.get('link')).toMatchObject({ type: 'l', link: 'dir/sub/file' });
    expect(byPath.get('long-link')?.link).toHaveLength(3006);
    expect(bytesOf(byPath.get('raw-link')?.link ?? '')).toEqual(Buffer.from([0x66, 0xff, 0x2f, 0x67]));
    expect(byPath.get('fifo')?.type).toBe('o');
    expect(native.map(({ path }) => path).filter((path) => path.startsWith('dir/'))).toEqual([
      'dir/E',
      'dir/a b',
      'dir/e',
      'dir/raw\udce9\udc80',
      'dir/sub',
      'dir/sub/file',
      'dir/x\uFFFDy',
      'dir/é',
      'dir/\u{1F600}', // a surrogate pair: before U+FF45 in code units, after it in bytes
      'dir/\uFF45',
    ]);
  });

  it.each<Scanner>(['native', 'node'])(
    '%s: a directory that is gone, or is not one, has no listing',
    async (scanner) => {
      const root = await tree();
      expect(listDirectory(join(root, 'gone'), scanner)).toBeUndefined();
      expect(listDirectory(join(root, 'setuid'), scanner)).toBeUndefined();
      expect(listDirectory(join(root, 'dir'), scanner)?.names).toHaveLength(9);
    },
  );
});
