import { describe, expect, it } from 'vitest';
import { parseFailedPaths } from '../../../src/rsync/failed-paths.ts';

// rsync's messages for exit 23, as rsync 3.2/3.4 print them (taken from real runs as a non-root
// user against a target directory owned by root, and source files of mode 000).

const roots = { source: '/data', target: '/srv/mirror' };

describe('parseFailedPaths', () => {
  it('names each failing path relative to the source, whichever side failed', () => {
    const stderr = [
      'rsync: [sender] send_files failed to open "/data/t": Permission denied (13)',
      'rsync: [generator] delete_file: unlink(ro/gone.txt) failed: Permission denied (13)',
      'rsync: [generator] recv_generator: mkdir "/srv/mirror/ro/sub" failed: Permission denied (13)',
      '*** Skipping any contents from this failed directory ***',
      'rsync: [receiver] mkstemp "/srv/mirror/ro/.new file.txt.Ab12Cd" failed: Permission denied (13)',
      'rsync: [receiver] write failed on "/srv/mirror/big.bin": No space left on device (28)',
      'file has vanished: "/data/tmp.swp"',
      'rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1394) [sender=3.2.7]',
    ].join('\n');
    expect(parseFailedPaths(stderr, '', roots)?.map(({ path, reason }) => [path, reason])).toEqual([
      ['t', 'Permission denied'],
      ['ro/gone.txt', 'Permission denied'],
      ['ro/sub', 'Permission denied'],
      ['ro/new file.txt', 'Permission denied'],
      ['big.bin', 'No space left on device'],
    ]);
  });

  it("undoes rsync's escaping of a name's bytes, UTF-8 or not", () => {
    const stderr = [
      'rsync: [sender] send_files failed to open "/data/d\\#351j\\#340/caf\\#303\\#251": Permission denied (13)',
      'rsync error: some files/attrs were not transferred (see previous errors) (code 23) at main.c(1394) [sender=3.2.7]',
    ].join('\n');
    expect(parseFailedPaths(stderr, '', roots)?.map(({ path }) => path)).toEqual(['d\udce9j\udce0/café']);
  });

  it('reads each path against its own side, when one directory holds the other', () => {
    const nested = { source: '/data', target: '/data/mirror' };
    const stderr = [
      'rsync: [sender] send_files failed to open "/data/mirror/x": Permission denied (13)',
      'rsync: [receiver] mkstemp "/data/mirror/y/.z.Ab12Cd" failed: Permission denied (13)',
    ].join('\n');
    expect(parseFailedPaths(stderr, '', nested)?.map((f) => f.path)).toEqual(['mirror/x', 'y/z']);
  });

  it('keeps a real name that looks like a temporary one', () => {
    const stderr = 'rsync: [sender] send_files failed to open "/data/.env.sample": Permission denied (13)';
    expect(parseFailedPaths(stderr, '', roots)?.[0]?.path).toBe('.env.sample');
  });

  it('is not confined to paths when rsync skipped every deletion, or a message names none', () => {
    // rsync says so on stdout, among the --stats lines.
    const opendir = 'rsync: [sender] opendir "/data/locked" failed: Permission denied (13)';
    const stats = 'IO error encountered -- skipping file deletion\nNumber of files: 3';
    expect(parseFailedPaths(opendir, stats, roots)).toBeUndefined();
    expect(
      parseFailedPaths(`${opendir}\nIO error encountered -- skipping file deletion`, '', roots),
    ).toBeUndefined();
    expect(parseFailedPaths('rsync: [receiver] something went wrong', '', roots)).toBeUndefined();
    expect(
      parseFailedPaths('rsync: [sender] change_dir "/elsewhere" failed: No such file (2)', '', roots),
    ).toBeUndefined();
    expect(
      parseFailedPaths(
        'rsync: [generator] failed to set times on "/srv/mirror/.": Operation not permitted (1)',
        '',
        roots,
      ),
    ).toBeUndefined();
    expect(parseFailedPaths('', '', roots)).toBeUndefined();
  });
});
