import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  scenario,
  stopCleanly,
  useTarget,
  waitForMirror,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import { TARGET_HOME, type Target } from './support/target.ts';

// Renames and moves reuse the copy already on the target (rsync's --fuzzy and --copy-dest; see
// src/plan/moves.ts): measured as the bytes the target's network interface received, through a
// plain and an rrsync-restricted key.

let plain: Target;
useTarget((started) => {
  plain = started;
});
let restricted: Target;
useTarget(
  (started) => {
    restricted = started;
  },
  { restricted: true },
);

const MiB = 1024 * 1024;

async function remoteSha1(target: Target, path: string): Promise<string> {
  const { output } = await target.exec(['sha1sum', path]);
  return output.trim().split(/\s+/)[0] ?? '';
}

describe.each([
  ['a plain key', () => plain],
  ['an rrsync-restricted key', () => restricted],
])('renames through %s', (_, current) => {
  it('renames a 100 MB file and then moves it to another directory with under 5 MB on the wire', async () => {
    const s = await scenario(current());
    const content = randomBytes(100 * MiB);
    const sha1 = createHash('sha1').update(content).digest('hex');
    await writeFile(s.file('big.bin'), content);
    await mkdir(s.file('archive'));
    const daemon = await watching(s.env);

    const before = await current().receivedBytes();
    await rename(s.file('big.bin'), s.file('big-renamed.bin'));
    await waitForRemote('the rename', s.remote, (e) => e.has('big-renamed.bin') && !e.has('big.bin'));
    expect(await remoteSha1(current(), `${s.remoteDir}/big-renamed.bin`)).toBe(sha1);
    const renamed = await current().receivedBytes();

    await rename(s.file('big-renamed.bin'), s.file('archive/big.bin'));
    await waitForRemote(
      'the move',
      s.remote,
      (e) => e.get('archive/big.bin') === 'f' && !e.has('big-renamed.bin'),
    );
    expect(await remoteSha1(current(), `${s.remoteDir}/archive/big.bin`)).toBe(sha1);
    const moved = await current().receivedBytes();
    expect((renamed - before) / MiB, 'MiB for the rename').toBeLessThan(5);
    expect((moved - before) / MiB, 'MiB for the rename and the move').toBeLessThan(5);
    await stopCleanly(daemon);
  });

  it('renames a directory of 1,000 files with under 5% of its bytes on the wire', async () => {
    const s = await scenario(current());
    await mkdir(s.file('photos'));
    for (let i = 0; i < 1000; i++) await writeFile(s.file(`photos/p${i}.jpg`), randomBytes(20 * 1024));
    const daemon = await watching(s.env);

    const before = await current().receivedBytes();
    await rename(s.file('photos'), s.file('photos-2026'));
    await waitForMirror(current(), s.source, s.remoteDir, 60_000);
    const bytes = (await current().receivedBytes()) - before;
    expect(bytes / (1000 * 20 * 1024), 'share of the directory on the wire').toBeLessThan(0.05);
    await stopCleanly(daemon);
  });
});

describe('moves, safely', () => {
  it('never writes through a symlink on the target that the source replaced by a directory', async () => {
    const s = await scenario(plain);
    const outside = `${TARGET_HOME}/outside-${process.pid}`;
    expect((await plain.exec(['mkdir', '-p', outside])).exitCode).toBe(0);
    await symlink(`../${basename(outside)}`, s.file('a'));
    await mkdir(s.file('b'));
    await writeFile(s.file('b/f.txt'), 'moved');
    const daemon = await watching(s.env);
    expect((await s.remote()).get('a')).toBe('l');

    await rm(s.file('a'));
    await mkdir(s.file('a'));
    await rename(s.file('b/f.txt'), s.file('a/f.txt'));
    await waitForMirror(plain, s.source, s.remoteDir);
    expect((await plain.list(outside)).size).toBe(0);
    await stopCleanly(daemon);
  });

  it('moves only what the filter accepts, and keeps the old copy in the trash', async () => {
    const s = await scenario(plain, { SYNC_INCLUDE: '*.txt', SYNC_BACKUP_DIR: '.trash' });
    await mkdir(s.file('inbox'));
    await mkdir(s.file('done'));
    await writeFile(s.file('inbox/x.txt'), 'moved');
    const daemon = await watching(s.env);

    await rename(s.file('inbox/x.txt'), s.file('done/x.txt'));
    await writeFile(s.file('done/skip.bin'), 'not wanted');
    const entries = await waitForRemote(
      'the move, and the old copy in the trash',
      s.remote,
      (e) =>
        e.get('done/x.txt') === 'f' &&
        !e.has('inbox/x.txt') &&
        [...e.keys()].some((path) => /^\.trash\/.*\/inbox\/x\.txt$/.test(path)),
    );
    expect(await plain.read(`${s.remoteDir}/done/x.txt`)).toBe('moved');
    expect(entries.has('done/skip.bin')).toBe(false);
    await stopCleanly(daemon);
  });
});
