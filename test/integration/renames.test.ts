import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import {
  scenario,
  stopCleanly,
  useTarget,
  waitForMirror,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';

// Renames and moves reuse the copy already on the target (rsync's --fuzzy and --copy-dest; see
// src/sync/moves.ts): measured as the bytes the target's network interface received, through a
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

/** Bytes the target has received on its network interface so far. */
async function received(target: Target): Promise<number> {
  const { output } = await target.exec(['cat', '/sys/class/net/eth0/statistics/rx_bytes']);
  return Number(output.trim());
}

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

    const before = await received(current());
    await rename(s.file('big.bin'), s.file('big-renamed.bin'));
    await waitForRemote('the rename', s.remote, (e) => e.has('big-renamed.bin') && !e.has('big.bin'));
    expect(await remoteSha1(current(), `${s.remoteDir}/big-renamed.bin`)).toBe(sha1);
    const renamed = await received(current());

    await rename(s.file('big-renamed.bin'), s.file('archive/big.bin'));
    await waitForRemote(
      'the move',
      s.remote,
      (e) => e.get('archive/big.bin') === 'f' && !e.has('big-renamed.bin'),
    );
    expect(await remoteSha1(current(), `${s.remoteDir}/archive/big.bin`)).toBe(sha1);
    const moved = await received(current());
    expect((renamed - before) / MiB, 'MiB for the rename').toBeLessThan(5);
    expect((moved - before) / MiB, 'MiB for the rename and the move').toBeLessThan(5);
    await stopCleanly(daemon);
  });

  it('renames a directory of 1,000 files with under 5% of its bytes on the wire', async () => {
    const s = await scenario(current());
    await mkdir(s.file('photos'));
    for (let i = 0; i < 1000; i++) await writeFile(s.file(`photos/p${i}.jpg`), randomBytes(20 * 1024));
    const daemon = await watching(s.env);

    const before = await received(current());
    await rename(s.file('photos'), s.file('photos-2026'));
    await waitForMirror(current(), s.source, s.remoteDir, 60_000);
    const bytes = (await received(current())) - before;
    expect(bytes / (1000 * 20 * 1024), 'share of the directory on the wire').toBeLessThan(0.05);
    await stopCleanly(daemon);
  });
});
