import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { bytesOf, fsPathOf, hasRawBytes, nameIn, nameOf, printable } from '../../src/names.ts';

describe('names as bytes', () => {
  it('decodes valid UTF-8 as it always did, and encodes it back unchanged', () => {
    for (const name of ['plain.txt', 'déjà vu', '日本語', '🦀 crab', '💀 archive', '📁', 'a\nb']) {
      expect(nameOf(Buffer.from(name))).toBe(name);
      expect(bytesOf(name)).toEqual(Buffer.from(name));
      expect(hasRawBytes(name)).toBe(false);
      expect(printable(name)).toBe(name);
      expect(fsPathOf(name)).toBe(name); // fs calls take the string itself
    }
    const raw = nameOf(Buffer.from([0x61, 0xff, 0x62]));
    expect(fsPathOf(`dir/${raw}`)).toEqual(Buffer.from([0x64, 0x69, 0x72, 0x2f, 0x61, 0xff, 0x62]));
    // A backslash is shown doubled, so that a name holding `\xe9` reads apart from the byte.
    expect(printable('\\xe9 literal')).toBe('\\\\xe9 literal');
  });

  it('keeps every character above U+FFFF, whose low halves fall in the escape range too', () => {
    for (let code = 0x10000; code <= 0x10ffff; code++) {
      const name = String.fromCodePoint(code);
      if (hasRawBytes(name) || !bytesOf(name).equals(Buffer.from(name)))
        throw new Error(`U+${code.toString(16)}`);
    }
    const mixed = `💀${nameOf(Buffer.from([0xe9]))}💩`;
    expect(bytesOf(mixed)).toEqual(
      Buffer.concat([Buffer.from('💀'), Buffer.from([0xe9]), Buffer.from('💩')]),
    );
    expect(printable(mixed)).toBe('💀\\xe9💩');
  });

  it('keeps every byte of a name that is not UTF-8: Latin-1, truncated and overlong sequences, encoded surrogates', () => {
    const names = [
      Buffer.from([0x64, 0xe9, 0x6a, 0xe0]), // "déjà" in Latin-1
      Buffer.from([0xe6, 0x97]), // a truncated sequence
      Buffer.from([0xc0, 0xaf]), // an overlong "/"
      Buffer.from([0xed, 0xa0, 0x80]), // a UTF-16 surrogate encoded as UTF-8
      Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0xa9]), // invalid, then "Aé"
    ];
    for (const bytes of names) {
      const name = nameOf(bytes);
      expect(hasRawBytes(name)).toBe(true);
      expect(bytesOf(name)).toEqual(bytes);
    }
    expect(printable(nameOf(Buffer.from([0x64, 0xe9, 0x6a, 0xe0])))).toBe('d\\xe9j\\xe0');
    expect(printable(nameOf(Buffer.from([0xff, 0xfe, 0x41, 0xc3, 0xa9])))).toBe('\\xff\\xfeAé');
  });

  it('round-trips any bytes at all (10,000 random names)', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
      return seed;
    };
    for (let n = 0; n < 10_000; n++) {
      const bytes = Buffer.from(Array.from({ length: 1 + (random() % 12) }, () => 1 + (random() % 255)));
      expect(bytesOf(nameOf(bytes))).toEqual(bytes);
      // The same, read out of a larger buffer without a view of its own.
      const framed = Buffer.concat([Buffer.from('ab'), bytes, Buffer.from([0xff])]);
      expect(nameIn(framed, 2, 2 + bytes.length)).toBe(nameOf(bytes));
    }
    // A name that holds U+FFFD itself is valid UTF-8: it stays that character.
    const replacement = Buffer.from('x\ufffdy');
    expect(nameIn(replacement, 0, replacement.length)).toBe('x\ufffdy');
  });
});

describe('readdirNamed', () => {
  it('lists as text, and as bytes only where a name is not UTF-8, with each name spelled as names.ts does', async () => {
    const { mkdtemp, mkdir, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { readdirNamed } = await import('../../src/names.ts');
    const root = await mkdtemp(join(tmpdir(), 'filesync-names-'));
    await mkdir(join(root, 'déjà'));
    await writeFile(join(root, 'plain'), 'x');
    const names = (path: string) =>
      readdirNamed(path)
        .map((entry) => `${entry.name}${entry.isDirectory() ? '/' : ''}`)
        .sort();
    expect(names(root)).toEqual(['déjà/', 'plain']);
    await mkdir(bytesOf(join(root, 'd\udce9j\udce0')));
    await writeFile(bytesOf(join(root, 'd\udce9j\udce0/caf\udce9')), 'x');
    expect(names(root)).toEqual(['déjà/', 'd\udce9j\udce0/', 'plain']);
    expect(names(join(root, 'd\udce9j\udce0'))).toEqual(['caf\udce9']);
  });
});
