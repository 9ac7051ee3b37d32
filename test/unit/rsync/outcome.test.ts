import { describe, expect, it } from 'vitest';
import { classify, parseStats, unsafeLinksOf } from '../../../src/rsync/outcome.ts';

const stats = `
Number of files: 1,234 (reg: 1,200, dir: 34)
Number of created files: 2
Number of deleted files: 3
Number of regular files transferred: 1,002
Total file size: 9,999,999 bytes
Total transferred file size: 1,048,576 bytes
`;

describe('classify', () => {
  it('reads --stats on success, numbers with separators included', () => {
    expect(classify(0, '', stats)).toEqual({
      ok: true,
      vanished: false,
      stats: { files: 1234, filesTransferred: 1002, filesDeleted: 3, bytesTransferred: 1_048_576 },
    });
  });

  it('treats vanished source files (24) as success: they are looked at again next batch', () => {
    expect(classify(24, 'file has vanished: "/data/x"', '')).toMatchObject({ ok: true, vanished: true });
  });

  it.each([
    [255, 'Host key verification failed.', 'host-key'],
    [255, '@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@', 'host-key'],
    [255, 'filesync@host: Permission denied (publickey).', 'auth'],
    [255, 'ssh: connect to host x port 22: Connection refused', 'unreachable'],
    [255, 'ssh: Could not resolve hostname nowhere: Name or service not known', 'unreachable'],
    [
      12,
      'bash: line 1: rsync: command not found\nrsync: connection unexpectedly closed',
      'remote-rsync-missing',
    ],
    [23, 'rsync: [receiver] mkdir "/srv/x" failed: Permission denied (13)', 'remote-path'],
    [23, 'some files could not be transferred', 'partial'],
    [23, 'rsync: [receiver] chown "/srv/m/.a.G317oa" failed: Operation not permitted (1)', 'ownership'],
    [30, 'timeout in data send/receive', 'timeout'],
    [1, 'rsync: --bogus: unknown option', 'usage'],
    [20, 'received SIGINT', 'unknown'], // from outside: filesync's own cancel is the runner's
    [255, '', 'unreachable'],
    [99, 'what', 'unknown'],
  ])('exit %i with %j is %s', (exitCode, stderr, reason) => {
    const outcome = classify(exitCode, stderr, '');
    expect(outcome).toMatchObject({ ok: false, reason, exitCode });
    expect(outcome.ok ? '' : outcome.hint).not.toBe('');
  });

  it('takes a refused owner for the whole target, not a path failing on its own', () => {
    const stderr = 'rsync: [receiver] chown "/srv/m/a.txt" failed: Operation not permitted (1)';
    const roots = { source: '/data', target: '/srv/m' };
    expect(classify(23, stderr, '', undefined, roots)).toMatchObject({ ok: false, reason: 'ownership' });
  });

  it('keeps the last lines of stderr as the message', () => {
    const outcome = classify(23, 'a\nb\nc\nd\ne\nf\ng', '');
    expect(outcome.ok ? '' : outcome.message).toBe('c\nd\ne\nf\ng');
  });

  it('reads zeros from output without stats', () => {
    expect(parseStats('')).toEqual({ files: 0, filesTransferred: 0, filesDeleted: 0, bytesTransferred: 0 });
  });
});

describe('unsafeLinksOf', () => {
  it('reads the links --safe-links skipped, names unescaped, and nothing from a run that skipped none', () => {
    const stdout = [
      'ignoring unsafe symlink "abs" -> "/etc/passwd"',
      'd/new.txt',
      'ignoring unsafe symlink "d/esc\\#012ape" -> "../../caf\\#303\\#251"',
      stats,
    ].join('\n');
    expect(unsafeLinksOf(stdout)).toEqual([
      { path: 'abs', target: '/etc/passwd' },
      { path: 'd/esc\nape', target: '../../café' },
    ]);
    expect(unsafeLinksOf(stats)).toEqual([]);
    expect(classify(0, '', stdout)).toMatchObject({
      ok: true,
      unsafeLinks: [{ path: 'abs' }, { path: 'd/esc\nape' }],
    });
    expect(classify(0, '', stats)).not.toHaveProperty('unsafeLinks');
  });
});
