import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/config/duration.ts';
import { loadConfig, parseConfig } from '../../../src/config/load.ts';
import { forTarget, targetName } from '../../../src/config/targets.ts';

const base = {
  SYNC_SOURCE_DIR: '/data',
  SYNC_REMOTE_HOST: 'backup.example.com',
  SYNC_REMOTE_USER: 'sync',
  SYNC_REMOTE_DIR: '/srv/mirror',
  SYNC_SSH_KEY: '/run/secrets/id',
  SYNC_KNOWN_HOSTS: '/run/secrets/known_hosts',
};

function problems(env: Record<string, string>): readonly string[] {
  const result = parseConfig(env);
  return result.ok ? [] : result.problems;
}

describe('parseDuration', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1.5s', 1500],
    ['7d', 604_800_000],
    ['250', 250],
    ['0', 0],
  ])('reads %s as %i ms', (input, ms) => expect(parseDuration(input)).toBe(ms));

  it.each(['', 'fast', '-1s', '5 sec', '1w'])('rejects %j', (input) =>
    expect(parseDuration(input)).toBeUndefined(),
  );
});

describe('SYNC_TARGETS', () => {
  const { SYNC_REMOTE_HOST: _h, SYNC_REMOTE_USER: _u, SYNC_REMOTE_DIR: _d, ...shared } = base;

  it('takes several ssh:// targets, IPv6 in brackets, a default port and an escaped path', () => {
    const result = parseConfig({
      ...shared,
      SYNC_TARGETS: 'ssh://sync@a.example.com/srv/mirror, ssh://backup@[2001:db8::7]:2222/data/my%20files',
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.targets).toEqual([
      { host: 'a.example.com', port: 22, user: 'sync', dir: '/srv/mirror' },
      { host: '2001:db8::7', port: 2222, user: 'backup', dir: '/data/my files' },
    ]);
    expect(result.config.remote).toEqual(result.config.targets[0]);
    const { config } = result;
    expect(config.targets.map((remote) => targetName(forTarget(config, remote)))).toEqual([
      'a.example.com:22/srv/mirror',
      '[2001:db8::7]:2222/data/my files',
    ]);
  });

  it('keeps the single-target settings working as one target', () => {
    const result = parseConfig(base);
    expect(result.ok && result.config.targets).toEqual([
      { host: 'backup.example.com', port: 22, user: 'sync', dir: '/srv/mirror' },
    ]);
  });

  it('refuses both ways at once, naming what to remove (78)', () => {
    expect(problems({ ...base, SYNC_TARGETS: 'ssh://sync@a/m' })).toEqual([
      'SYNC_TARGETS replaces SYNC_REMOTE_HOST, SYNC_REMOTE_USER, SYNC_REMOTE_DIR: set the targets one way, not both (remove them, or SYNC_TARGETS).',
    ]);
    expect(problems({ ...shared, SYNC_REMOTE_PORT: '2222', SYNC_TARGETS: 'ssh://sync@a/m' })[0]).toMatch(
      /^SYNC_TARGETS replaces SYNC_REMOTE_PORT: .*\(remove it, or SYNC_TARGETS\)\.$/,
    );
  });

  it.each([
    ['sync@a/m', 'is not an ssh:// URL'],
    ['ssh://a/m', 'needs a user name before @'],
    ['ssh://sync:pw@a/m', 'has a password, a query or a fragment'],
    ['ssh://sync@a', 'needs an absolute directory'],
    ['ssh://sync@a:99999/m', 'is not a URL'],
    ['ssh://sync@-a/m', 'needs a host name or IP address'],
    ['ssh://sy%zz@a/m', 'needs a user name before @'],
    ['ssh://sync@a:0/m', 'needs a port from 1 to 65535'],
    ['ssh://sync@a/100%', 'has a badly escaped path (write a % in it as %25)'],
  ])('refuses %j: it %s', (target, why) => {
    expect(problems({ ...shared, SYNC_TARGETS: target })).toEqual([
      `SYNC_TARGETS: ${JSON.stringify(target)} ${why} (expected ssh://user@host[:port]/absolute/dir)`,
    ]);
  });

  it('refuses a target listed twice, however spelt, and mirrors nested in one another', () => {
    expect(problems({ ...shared, SYNC_TARGETS: 'ssh://s@a/m,ssh://t@A:22/m/' })).toEqual([
      'SYNC_TARGETS: ssh://t@A:22/m/ is listed twice.',
    ]);
    expect(problems({ ...shared, SYNC_TARGETS: 'ssh://s@a/m,ssh://s@a/m/sub' })).toEqual([
      "SYNC_TARGETS: ssh://s@a/m/sub and /m on the same host nest one mirror inside the other, and the outer one's passes would delete the inner one: give each its own directory.",
    ]);
    expect(problems({ ...shared, SYNC_TARGETS: 'ssh://s@a/m,ssh://s@b/m/sub,ssh://s@a:2222/m/x' })).toEqual(
      [],
    );
    const root = parseConfig({ ...shared, SYNC_TARGETS: 'ssh://s@a/,ssh://s@b//x//' });
    expect(root.ok && root.config.targets.map(({ dir }) => dir)).toEqual(['/', '/x']);
  });

  it('still requires the single-target settings without SYNC_TARGETS', () => {
    expect(problems(shared).map((problem) => problem.split(' ')[0])).toEqual([
      'SYNC_REMOTE_HOST',
      'SYNC_REMOTE_USER',
      'SYNC_REMOTE_DIR',
    ]);
  });
});

describe('the alert and trash settings', () => {
  it('takes an http(s) webhook URL and leaves alerts off when blank', () => {
    const given = parseConfig({ ...base, SYNC_WEBHOOK_URL: 'https://hooks.example.com/T/B/x' });
    expect(given.ok && given.config.webhookUrl).toBe('https://hooks.example.com/T/B/x');
    const blank = parseConfig({ ...base, SYNC_WEBHOOK_URL: ' ' });
    expect(blank.ok && blank.config.webhookUrl).toBeUndefined();
    expect(problems({ ...base, SYNC_WEBHOOK_URL: 'ftp://x/y' })).toEqual([
      'SYNC_WEBHOOK_URL: expected an http:// or https:// URL, got "ftp:…"',
    ]);
    expect(problems({ ...base, SYNC_WEBHOOK_URL: 'hooks' })[0]).toMatch(/^SYNC_WEBHOOK_URL: expected/);
    // fetch refuses credentials in a URL, and its error would quote them.
    expect(problems({ ...base, SYNC_WEBHOOK_URL: 'https://me:secret@hooks.example/x' })).toEqual([
      'SYNC_WEBHOOK_URL: expected a URL without user:password@ (put a token in its path or query), got "https://…@…"',
    ]);
  });

  it('takes one name at the top of the mirror as the trash, and excludes it from syncing', () => {
    const result = parseConfig({ ...base, SYNC_BACKUP_DIR: '.trash/', SYNC_EXCLUDE: '*.tmp' });
    expect(result.ok && result.config.backup).toEqual({ dir: '.trash', retentionMs: 7 * 86_400_000 });
    expect(result.ok && result.config.filter.exclude).toEqual(['*.tmp', '/.trash']);
    const off = parseConfig(base);
    expect(off.ok && off.config.backup).toBeUndefined();
    for (const bad of ['/abs', 'a/b', '..', 'tr*sh'])
      expect(problems({ ...base, SYNC_BACKUP_DIR: bad })[0]).toMatch(/^SYNC_BACKUP_DIR: expected one/);
    expect(problems({ ...base, SYNC_BACKUP_DIR: '.filesync-partial' })).toEqual([
      "SYNC_BACKUP_DIR: .filesync-partial is filesync's partial-dir; choose another name.",
    ]);
    for (const arg of ['--delete-excluded', '--backup-dir=x', '--suffix=~', '-b'])
      expect(problems({ ...base, SYNC_BACKUP_DIR: 't', SYNC_RSYNC_EXTRA_ARGS: arg })).toEqual([
        `SYNC_RSYNC_EXTRA_ARGS: ${arg} is set by filesync itself and cannot be overridden; remove it.`,
      ]);
    expect(problems({ ...base, SYNC_RSYNC_EXTRA_ARGS: '--delete-excluded' })).toEqual([]);
    expect(problems({ ...base, SYNC_BACKUP_DIR: 't', SYNC_BACKUP_RETENTION: '12h' })).toEqual([
      'SYNC_BACKUP_RETENTION must be at least 1d: the trash is kept in whole days.',
    ]);
  });
});

describe('parseConfig', () => {
  it('applies the documented defaults', () => {
    const result = parseConfig(base);
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const { config } = result;
    expect(config.remote).toEqual({ host: 'backup.example.com', port: 22, user: 'sync', dir: '/srv/mirror' });
    expect(config.ssh.hostKeyPolicy).toBe('strict');
    expect(config.debounceMs).toBe(1000);
    expect(config.maxDelayMs).toBe(10_000);
    expect(config.resyncIntervalMs).toBe(3_600_000);
    expect(config.shutdownTimeoutMs).toBe(20_000);
    expect(config.healthPort).toBe(8080);
    expect(config.rsync).toMatchObject({
      delete: true,
      compress: false,
      checksum: false,
      update: false,
      partial: true,
    });
    expect(config.rsync.bwlimit).toBeUndefined();
    expect(config.log).toEqual({ level: 'info', format: 'json' });
    expect(Object.isFrozen(config.rsync)).toBe(true);
  });

  it('reads every kind of value', () => {
    const result = parseConfig({
      ...base,
      SYNC_REMOTE_PORT: '2222',
      SYNC_DEBOUNCE: '250ms',
      SYNC_MAX_DELAY: '1m',
      SYNC_DELETE: 'false',
      SYNC_EXCLUDE: ' *.tmp , .git/ ',
      SYNC_EXTENSIONS: '.txt,rrd',
      SYNC_RSYNC_COMPRESS: 'true',
      SYNC_RSYNC_BWLIMIT: '1.5M',
      SYNC_RSYNC_EXTRA_ARGS: '--chmod=D755,F644  --numeric-ids',
      SYNC_HEALTH_PORT: '0',
      LOG_FORMAT: 'pretty',
    });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const { config } = result;
    expect(config.remote.port).toBe(2222);
    expect(config.debounceMs).toBe(250);
    expect(config.maxDelayMs).toBe(60_000);
    expect(config.rsync.delete).toBe(false);
    expect(config.filter).toEqual({ include: ['*.txt', '*.rrd'], exclude: ['*.tmp', '.git/'] });
    expect(config.rsync.bwlimit).toBe('1.5M');
    expect(config.rsync.extraArgs).toEqual(['--chmod=D755,F644', '--numeric-ids']);
    expect(config.healthPort).toBe(0);
  });

  it('names every missing setting at once', () => {
    const found = problems({});
    for (const name of [
      'SYNC_SOURCE_DIR',
      'SYNC_REMOTE_HOST',
      'SYNC_REMOTE_USER',
      'SYNC_REMOTE_DIR',
      'SYNC_SSH_KEY',
    ]) {
      expect(found.some((p) => p.startsWith(`${name} is required`))).toBe(true);
    }
    expect(
      found.some((p) => p.startsWith('SYNC_KNOWN_HOSTS is required when SYNC_HOST_KEY_POLICY=strict')),
    ).toBe(true);
  });

  it.each([
    ['SYNC_REMOTE_PORT', '70000', 'expected a port number from 1 to 65535, got "70000"'],
    ['SYNC_DEBOUNCE', 'soon', 'expected a duration such as 500ms, 5s, 2m or 1h, got "soon"'],
    ['SYNC_REMOTE_HOST', '-oProxyCommand=x', 'expected a host name or IP address'],
    ['SYNC_REMOTE_USER', '-x', 'expected a user name'],
    ['SYNC_REMOTE_DIR', 'relative/dir', 'expected an absolute path'],
    ['SYNC_HOST_KEY_POLICY', 'no', 'expected one of strict, accept-new, got "no"'],
    ['SYNC_DELETE', 'maybe', 'SYNC_DELETE'],
    ['SYNC_RSYNC_BWLIMIT', 'fast', 'expected a bandwidth'],
    ['SYNC_RSYNC_EXTRA_ARGS', '--rsh=evil', '--rsh=evil is set by filesync itself'],
    ['SYNC_RSYNC_EXTRA_ARGS', 'plain', 'expected rsync options starting with "-"'],
    ['SYNC_EXTENSIONS', '*.txt', 'expected extensions such as .txt'],
    ['SYNC_KNOWN_HOSTS', '/a b/known_hosts', 'spaces, quotes or %'],
    ['LOG_LEVEL', 'loud', 'LOG_LEVEL'],
  ])('rejects %s=%j', (name, value, message) => {
    const found = problems({ ...base, [name]: value });
    expect(
      found.find(
        (p) => p.includes(message) && p.includes(name.replace(/^SYNC_RSYNC_EXTRA_ARGS$/, 'SYNC_RSYNC')),
      ),
    ).toBeDefined();
  });

  it('refuses include globs combined with extensions, and a max delay under the debounce', () => {
    expect(problems({ ...base, SYNC_INCLUDE: 'a/**', SYNC_EXTENSIONS: 'txt' })[0]).toMatch(
      /cannot be combined/,
    );
    expect(problems({ ...base, SYNC_DEBOUNCE: '5s', SYNC_MAX_DELAY: '1s' })[0]).toMatch(/SYNC_MAX_DELAY/);
  });

  it('lists what a boolean accepts', () => {
    expect(problems({ ...base, SYNC_DELETE: 'maybe' })).toEqual([
      'SYNC_DELETE: expected true or false (also 1/0, yes/no, on/off), got "maybe"',
    ]);
  });

  it('requires known_hosts under accept-new too: the key seen first must outlive a restart', () => {
    const { SYNC_KNOWN_HOSTS: _, ...env } = base;
    const found = problems({ ...env, SYNC_HOST_KEY_POLICY: 'accept-new' });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(
      /SYNC_KNOWN_HOSTS is required when SYNC_HOST_KEY_POLICY=accept-new.*writable volume/,
    );
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'filesync-config-'));
    await writeFile(
      join(dir, 'key'),
      '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    await writeFile(join(dir, 'known_hosts'), 'host ssh-ed25519 AAAA\n');
    await writeFile(join(dir, 'not-a-key'), 'hello\n');
  });

  it('accepts existing files and resolves the source directory', async () => {
    const result = await loadConfig({
      ...base,
      SYNC_SOURCE_DIR: `${dir}/.`,
      SYNC_SSH_KEY: join(dir, 'key'),
      SYNC_KNOWN_HOSTS: join(dir, 'known_hosts'),
    });
    expect(result.ok && result.config.sourceDir).toBe(dir);
  });

  it('reports a missing source directory, an unreadable key and a missing known_hosts', async () => {
    const result = await loadConfig({
      ...base,
      SYNC_SOURCE_DIR: join(dir, 'nope'),
      SYNC_SSH_KEY: join(dir, 'no-key'),
      SYNC_KNOWN_HOSTS: join(dir, 'no-known-hosts'),
    });
    expect(result.ok).toBe(false);
    const found = result.ok ? [] : result.problems;
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/SYNC_SOURCE_DIR: .*nope does not exist/);
    expect(found[1]).toMatch(/SYNC_SSH_KEY: cannot read .*no-key \(ENOENT\)/);
    expect(found[2]).toMatch(/SYNC_KNOWN_HOSTS: cannot read/);
  });

  it('names bad settings and bad files in the same message', async () => {
    const result = await loadConfig({
      ...base,
      SYNC_DELETE: 'maybe',
      SYNC_REMOTE_PORT: 'twenty-two',
      SYNC_SOURCE_DIR: join(dir, 'nope'),
      SYNC_SSH_KEY: join(dir, 'no-key'),
      SYNC_KNOWN_HOSTS: join(dir, 'no-known-hosts'),
    });
    const found = result.ok ? [] : result.problems;
    expect(found).toEqual([
      expect.stringMatching(/^SYNC_REMOTE_PORT: /),
      expect.stringMatching(/^SYNC_DELETE: expected true or false .*got "maybe"/),
      expect.stringMatching(/^SYNC_SOURCE_DIR: .*nope does not exist/),
      expect.stringMatching(/^SYNC_SSH_KEY: cannot read .*no-key/),
      expect.stringMatching(/^SYNC_KNOWN_HOSTS: cannot read .*ssh-keyscan -p 22 /),
    ]);
  });

  it('takes a known_hosts under accept-new that can be written, or created, and no other', async () => {
    const env = {
      ...base,
      SYNC_SOURCE_DIR: dir,
      SYNC_SSH_KEY: join(dir, 'key'),
      SYNC_HOST_KEY_POLICY: 'accept-new',
    };
    for (const path of [join(dir, 'known_hosts'), join(dir, 'not-yet')]) {
      expect((await loadConfig({ ...env, SYNC_KNOWN_HOSTS: path })).ok).toBe(true);
    }
    const result = await loadConfig({ ...env, SYNC_KNOWN_HOSTS: join(dir, 'no-such-dir', 'known_hosts') });
    expect(result.ok ? [] : result.problems).toEqual([
      expect.stringMatching(
        /SYNC_KNOWN_HOSTS: cannot write .*no-such-dir\/known_hosts .*mount a writable volume/,
      ),
    ]);
  });

  it('recognises a file that is not a private key', async () => {
    const result = await loadConfig({
      ...base,
      SYNC_SOURCE_DIR: dir,
      SYNC_SSH_KEY: join(dir, 'not-a-key'),
      SYNC_KNOWN_HOSTS: join(dir, 'known_hosts'),
    });
    expect(result.ok ? [] : result.problems).toEqual([
      `SYNC_SSH_KEY: ${join(dir, 'not-a-key')} does not look like an SSH private key.`,
    ]);
  });
});

describe('the control token', () => {
  const token = '0123456789abcdef0123';
  it('is off unless set, and checked without ever being quoted', () => {
    const off = parseConfig(base);
    expect(off.ok && off.config.controlToken).toBeUndefined();
    const on = parseConfig({ ...base, SYNC_CONTROL_TOKEN: token });
    expect(on.ok && on.config.controlToken).toBe(token);
    const short = problems({ ...base, SYNC_CONTROL_TOKEN: 'secret' });
    expect(short).toEqual([
      expect.stringMatching(/^SYNC_CONTROL_TOKEN: the token has 6 characters, .*at least 16/),
    ]);
    expect(short.join('')).not.toContain('secret');
    expect(problems({ ...base, SYNC_CONTROL_TOKEN: token, SYNC_CONTROL_TOKEN_FILE: '/run/t' })).toEqual([
      expect.stringMatching(/both set/),
    ]);
    expect(problems({ ...base, SYNC_CONTROL_TOKEN: token, SYNC_HEALTH_PORT: '0' })).toEqual([
      expect.stringMatching(/SYNC_HEALTH_PORT=0 turns that port off/),
    ]);
  });

  it('is read from SYNC_CONTROL_TOKEN_FILE without its newline; a missing or short file is named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync-token-'));
    await writeFile(
      join(dir, 'key'),
      '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    await writeFile(join(dir, 'token'), `${token}\n`);
    await writeFile(join(dir, 'short'), 'abc\n');
    const env = {
      ...base,
      SYNC_SOURCE_DIR: dir,
      SYNC_SSH_KEY: join(dir, 'key'),
      SYNC_HOST_KEY_POLICY: 'accept-new',
      SYNC_KNOWN_HOSTS: join(dir, 'kh'),
    };
    const read = await loadConfig({ ...env, SYNC_CONTROL_TOKEN_FILE: join(dir, 'token') });
    expect(read.ok && read.config.controlToken).toBe(token);
    for (const [file, message] of [
      ['none', /SYNC_CONTROL_TOKEN_FILE: cannot read .*none \(ENOENT\); mount the Secret there/],
      ['short', /SYNC_CONTROL_TOKEN_FILE \(.*short\): the token has 3 characters/],
    ] as const) {
      const result = await loadConfig({ ...env, SYNC_CONTROL_TOKEN_FILE: join(dir, file) });
      expect(result.ok ? [] : result.problems).toEqual([expect.stringMatching(message)]);
    }
  });
});

describe('the hook settings', () => {
  it('take the command as a JSON argv and refuse anything a shell would have to read', () => {
    const on = parseConfig({
      ...base,
      SYNC_HOOK_COMMAND: '["nginx", "-s", "reload"]',
      SYNC_HOOK_TIMEOUT: '5s',
    });
    expect(on.ok && on.config.hooks).toEqual({
      command: ['nginx', '-s', 'reload'],
      url: undefined,
      timeoutMs: 5000,
    });
    const off = parseConfig({ ...base, SYNC_HOOK_COMMAND: '' });
    expect(off.ok && off.config.hooks.command).toBeUndefined();
    for (const bad of ['nginx -s reload', '[]', '["", "x"]', '"nginx"', '[1]']) {
      expect(problems({ ...base, SYNC_HOOK_COMMAND: bad }), bad).toEqual([
        expect.stringMatching(/^SYNC_HOOK_COMMAND: expected a (non-empty )?JSON array of strings/),
      ]);
    }
    for (const timeout of ['10ms', '30d'])
      expect(problems({ ...base, SYNC_HOOK_TIMEOUT: timeout })).toEqual([
        expect.stringMatching(/^SYNC_HOOK_TIMEOUT must be between 1s and 1d/),
      ]);
    expect(problems({ ...base, SYNC_HOOK_URL: 'ftp://x' })).toEqual([
      expect.stringMatching(/^SYNC_HOOK_URL: expected an http/),
    ]);
  });
});

describe('the hook program', () => {
  it('must be an executable path, or a name on PATH, when loading', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync-hookprog-'));
    await writeFile(
      join(dir, 'key'),
      '-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    await writeFile(join(dir, 'reload.sh'), '#!/bin/sh\n', { mode: 0o755 });
    await writeFile(join(dir, 'plain.sh'), '#!/bin/sh\n', { mode: 0o644 });
    const env = {
      ...base,
      SYNC_SOURCE_DIR: dir,
      SYNC_SSH_KEY: join(dir, 'key'),
      SYNC_HOST_KEY_POLICY: 'accept-new',
      SYNC_KNOWN_HOSTS: join(dir, 'kh'),
      PATH: '/usr/bin:/bin',
    };
    const load = async (command: string[]) => {
      const result = await loadConfig({ ...env, SYNC_HOOK_COMMAND: JSON.stringify(command) });
      return result.ok ? [] : result.problems;
    };
    expect(await load([join(dir, 'reload.sh')])).toEqual([]);
    expect(await load(['./reload.sh'])).toEqual([]); // it runs in the source directory
    expect(await load(['sh', '-c', 'true'])).toEqual([]);
    expect(await load([join(dir, 'plain.sh')])).toEqual([
      expect.stringMatching(/is not an executable file; .*chmod \+x/),
    ]);
    expect(await load(['no-such-program'])).toEqual([
      expect.stringMatching(
        /^SYNC_HOOK_COMMAND: no-such-program is not on PATH \(\/usr\/bin:\/bin\); it runs without a shell/,
      ),
    ]);
  });
});

describe('owner and modes on the target', () => {
  it("takes rsync's owner, map and chmod forms, and refuses others when loading", () => {
    const ok = parseConfig({ ...base, SYNC_CHOWN: 'www-data:www-data', SYNC_CHMOD: 'D2775, F664,o-w' });
    expect(ok.ok && ok.config.rsync.ownership).toEqual({
      chown: 'www-data:www-data',
      usermap: [],
      groupmap: [],
      chmod: ['D2775', 'F664', 'o-w'],
      perms: 'preserve',
    });
    for (const chown of ['nginx', ':www-data', '33:33', 'deploy:staff'])
      expect(problems({ ...base, SYNC_CHOWN: chown }), chown).toEqual([]);
    for (const chown of [':', 'a b', 'x:y:z', '../root'])
      expect(problems({ ...base, SYNC_CHOWN: chown }), chown).toEqual([
        expect.stringMatching(/^SYNC_CHOWN: expected user, user:group or :group/),
      ]);
    for (const chmod of ['D2775,F66', 'rwx', 'F+q', '8777'])
      expect(problems({ ...base, SYNC_CHMOD: chmod }), chmod).toEqual([
        expect.stringMatching(/^SYNC_CHMOD: expected rsync --chmod rules/),
      ]);
    expect(problems({ ...base, SYNC_USERMAP: '1000' })).toEqual([
      expect.stringMatching(/^SYNC_USERMAP: expected comma-separated from:to pairs/),
    ]);
    expect(problems({ ...base, SYNC_GROUPMAP: '100-200:www-data,*:nogroup' })).toEqual([]);
    expect(problems({ ...base, SYNC_CHOWN: 'a:b', SYNC_USERMAP: '*:c' })).toEqual([
      expect.stringMatching(/cannot be combined/),
    ]);
    expect(problems({ ...base, SYNC_PERMS: 'target', SYNC_CHMOD: 'F644' })).toEqual([
      expect.stringMatching(/choose one/),
    ]);
    expect(problems({ ...base, SYNC_PERMS: 'portable' })).toEqual([
      expect.stringMatching(/^SYNC_PERMS: expected one of preserve, target/),
    ]);
  });
});

describe('symlink policy', () => {
  it('keeps links by default and takes only the four policies', () => {
    const dflt = parseConfig(base);
    expect(dflt.ok && dflt.config.rsync.symlinks).toBe('keep');
    for (const mode of ['keep', 'safe', 'copy-unsafe', 'ignore']) {
      const parsed = parseConfig({ ...base, SYNC_SYMLINKS: mode });
      expect(parsed.ok && parsed.config.rsync.symlinks, mode).toBe(mode);
    }
    expect(problems({ ...base, SYNC_SYMLINKS: 'portable' })).toEqual([
      expect.stringMatching(/^SYNC_SYMLINKS: expected one of keep, safe, copy-unsafe, ignore/),
    ]);
  });
});

describe('delayed updates', () => {
  it('is off by default, and refuses an extra argument that writes in place', () => {
    const dflt = parseConfig(base);
    expect(dflt.ok && dflt.config.rsync.delayUpdates).toBe(false);
    const on = parseConfig({ ...base, SYNC_DELAY_UPDATES: 'true' });
    expect(on.ok && on.config.rsync.delayUpdates).toBe(true);
    expect(problems({ ...base, SYNC_DELAY_UPDATES: 'true', SYNC_RSYNC_EXTRA_ARGS: '--inplace' })).toEqual([
      expect.stringMatching(/^SYNC_DELAY_UPDATES .* --inplace .*: choose one/),
    ]);
    expect(problems({ ...base, SYNC_RSYNC_EXTRA_ARGS: '--inplace' })).toEqual([]);
  });
});

describe('the state directory', () => {
  it('is off by default, and refused inside the source', () => {
    const dflt = parseConfig(base);
    expect(dflt.ok && dflt.config.stateDir).toBe(undefined);
    const on = parseConfig({ ...base, SYNC_STATE_DIR: '/var/lib/filesync' });
    expect(on.ok && on.config.stateDir).toBe('/var/lib/filesync');
    const inside = `${base.SYNC_SOURCE_DIR.replace(/\/+$/, '')}/.state`;
    expect(problems({ ...base, SYNC_STATE_DIR: inside })).toEqual([
      expect.stringMatching(/^SYNC_STATE_DIR=.* is inside SYNC_SOURCE_DIR/),
    ]);
    expect(problems({ ...base, SYNC_STATE_DIR: 'relative' })).toEqual([
      expect.stringMatching(/^SYNC_STATE_DIR: /),
    ]);
  });
});
