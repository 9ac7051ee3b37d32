import {
  chmod,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Daemon, runCli } from './support/daemon.ts';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import { makeKeyPair, TARGET_USER, type Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// The sync engine end to end: the built CLI, the real watcher, real rsync and ssh, and a real
// sshd container as the target. Every test syncs into a directory of its own.

let target: Target;
useTarget((started) => {
  target = started;
});
// The same sshd, but the key's authorized_keys line runs rrsync: no shell, one directory.
let restricted: Target;
useTarget(
  (started) => {
    restricted = started;
  },
  { restricted: true },
);

const scenario = (extra: Record<string, string> = {}) => scenarioOn(target, extra);

describe.each([
  ['a plain key', () => target],
  ['an rrsync-restricted key', () => restricted],
])('filesync watch, through %s', (_, current) => {
  const scenario = (extra: Record<string, string> = {}) => scenarioOn(current(), extra);

  it('mirrors creates, changes and deletes, with nested and empty directories', async () => {
    const s = await scenario();
    await writeFile(s.file('before.txt'), 'was there first');
    const daemon = await watching(s.env);
    expect((await s.remote()).get('before.txt')).toBe('f');
    expect(daemon.logs.find((line) => line.msg === 'initial sync started')?.entries).toBe(1);

    await mkdir(s.file('a/b/c'), { recursive: true });
    await mkdir(s.file('empty'));
    await writeFile(s.file('a/b/c/deep.txt'), 'deep');
    await writeFile(s.file('top.txt'), 'one');
    await waitForRemote(
      'creates',
      s.remote,
      (e) => e.get('a/b/c/deep.txt') === 'f' && e.get('empty') === 'd' && e.has('top.txt'),
    );

    await writeFile(s.file('top.txt'), 'two, longer');
    await waitFor(
      'the change',
      async () => (await current().read(`${s.remoteDir}/top.txt`)) === 'two, longer',
    );

    await rm(s.file('before.txt'));
    await rm(s.file('a/b'), { recursive: true });
    await waitForRemote(
      'deletes',
      s.remote,
      (e) => !e.has('before.txt') && !e.has('a/b') && e.get('a') === 'd',
    );

    expect((await s.health('/readyz')).status).toBe(200);
    expect((await s.health('/healthz')).status).toBe(200);
    const metrics = (await s.health('/metrics')).body;
    expect(metrics).toMatch(/filesync_syncs_total\{target="[^"]+",kind="full",outcome="ok"\} 1/);
    expect(metrics).toMatch(/filesync_syncs_total\{target="[^"]+",kind="batch",outcome="ok"\} [1-9]/);
    expect(metrics).toMatch(/filesync_files_deleted_total\{target="[^"]+"\} [1-9]/);
    await stopCleanly(daemon);
  });

  it('follows renames of files and of directories with contents, and editor-style saves', async () => {
    const s = await scenario();
    await mkdir(s.file('dir/sub'), { recursive: true });
    await writeFile(s.file('dir/sub/x.txt'), 'x');
    await writeFile(s.file('name.txt'), 'n');
    await writeFile(s.file('doc.txt'), 'version 1');
    const daemon = await watching(s.env);

    await rename(s.file('name.txt'), s.file('renamed.txt'));
    await rename(s.file('dir'), s.file('moved'));
    await writeFile(s.file('.doc.txt.swp'), 'version 2');
    await rename(s.file('.doc.txt.swp'), s.file('doc.txt'));
    await waitForRemote(
      'the renames',
      s.remote,
      (e) =>
        e.has('renamed.txt') &&
        !e.has('name.txt') &&
        e.get('moved/sub/x.txt') === 'f' &&
        !e.has('dir') &&
        !e.has('.doc.txt.swp'),
    );
    await waitFor(
      'the saved document',
      async () => (await current().read(`${s.remoteDir}/doc.txt`)) === 'version 2',
    );
    await stopCleanly(daemon);
  });

  it('syncs hostile file names as plain names and executes nothing', async () => {
    const s = await scenario();
    const daemon = await watching(s.env);
    // Each $(…) would create a file named `pwned-…` if any shell on either side ran it.
    const names = [
      'with space.txt',
      'ünïcødé ✓.txt',
      `quote's "double".txt`,
      `$(touch pwned-${process.pid})`,
      '-rf',
      '--delete',
      'new\nline.txt',
      '`touch pwned-backtick`;|&<>.txt',
    ];
    await mkdir(s.file('$(touch pwned-dir) dir'));
    for (const name of names) await writeFile(s.file(name), name);
    await writeFile(s.file('$(touch pwned-dir) dir/-inner'), 'inner');
    await waitForRemote(
      'every hostile name',
      s.remote,
      (e) => names.every((name) => e.get(name) === 'f') && e.has('$(touch pwned-dir) dir/-inner'),
    );
    expect(await current().read(`${s.remoteDir}/new\nline.txt`)).toBe('new\nline.txt');
    const remoteFound = await current().container.exec(['find', '/', '-xdev', '-name', 'pwned-*']);
    expect(remoteFound.output.trim()).toBe('');
    const localFound = await execa('find', [
      process.cwd(),
      tmpdir(),
      s.source,
      '-maxdepth',
      '1',
      '-name',
      'pwned-*',
    ]);
    expect(localFound.stdout.trim()).toBe('');
    await rm(s.file('-rf'));
    await waitForRemote('the deletion of "-rf"', s.remote, (e) => !e.has('-rf') && e.has('--delete'));
    await stopCleanly(daemon);
  });

  it('copies symlinks as symlinks and keeps modes and times', async () => {
    const s = await scenario();
    await writeFile(s.file('script.sh'), '#!/bin/sh\n');
    await chmod(s.file('script.sh'), 0o750);
    await utimes(s.file('script.sh'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
    await symlink('script.sh', s.file('link'));
    await symlink('/etc/passwd', s.file('outside'));
    const daemon = await watching(s.env);
    const entries = await s.remote();
    expect(entries.get('link')).toBe('l');
    expect(entries.get('outside')).toBe('l');
    const { output } = await current().exec(['stat', '-c', '%a %Y', `${s.remoteDir}/script.sh`]);
    expect(output.trim()).toBe(`750 ${Date.parse('2020-01-02T03:04:05Z') / 1000}`);
    expect((await current().exec(['readlink', `${s.remoteDir}/outside`])).output.trim()).toBe('/etc/passwd');

    await symlink('script.sh', s.file('new-link'));
    await waitForRemote('the new link', s.remote, (e) => e.get('new-link') === 'l');
    await stopCleanly(daemon);
  });

  it('never sends excluded files, nor files without a wanted extension', async () => {
    const s = await scenario({ SYNC_EXCLUDE: '*.tmp,cache/', SYNC_EXTENSIONS: '.txt,.rrd' });
    await mkdir(s.file('cache'));
    await writeFile(s.file('cache/c.txt'), 'cached');
    await writeFile(s.file('old.tmp'), 'x');
    const daemon = await watching(s.env);
    await writeFile(s.file('keep.txt'), 'k');
    await writeFile(s.file('data.rrd'), 'r');
    await writeFile(s.file('skip.log'), 's');
    await writeFile(s.file('x.tmp'), 't');
    await writeFile(s.file('cache/new.txt'), 'n');
    await waitForRemote('the wanted files', s.remote, (e) => e.has('keep.txt') && e.has('data.rrd'));
    // A last change after the unwanted ones: once it has arrived, they had every chance to.
    await writeFile(s.file('last.txt'), 'l');
    const entries = await waitForRemote('the last file', s.remote, (e) => e.has('last.txt'));
    expect([...entries.keys()].sort()).toEqual(['data.rrd', 'keep.txt', 'last.txt']);
    await stopCleanly(daemon);
  });

  it('keeps remote files when SYNC_DELETE=false', async () => {
    const s = await scenario({ SYNC_DELETE: 'false' });
    await writeFile(s.file('keep-me.txt'), 'k');
    const daemon = await watching(s.env);
    await rm(s.file('keep-me.txt'));
    await writeFile(s.file('after.txt'), 'a');
    const entries = await waitForRemote('the next file', s.remote, (e) => e.has('after.txt'));
    expect(entries.has('keep-me.txt')).toBe(true);
    await stopCleanly(daemon);
  });

  it('sends pending changes on SIGTERM before exiting', async () => {
    const s = await scenario({ SYNC_DEBOUNCE: '30s', SYNC_MAX_DELAY: '60s' });
    const daemon = await watching(s.env);
    await writeFile(s.file('pending.txt'), 'sent at shutdown');
    const { exitCode, stderr } = await daemon.stop('SIGTERM');
    expect(stderr).toBe('');
    expect(exitCode).toBe(0);
    expect(await current().read(`${s.remoteDir}/pending.txt`)).toBe('sent at shutdown');
    expect(daemon.logs.some((line) => line.msg === 'stopped; every change was sent')).toBe(true);
  });

  it('keeps changes while the target is down and delivers them when it is back', async () => {
    const s = await scenario();
    const daemon = await watching(s.env);
    await execa('docker', ['pause', current().container.getId()]);
    try {
      await writeFile(s.file('while-down.txt'), 'kept');
      await daemon.waitForLog('a failed attempt', (line) => line.msg.startsWith('sync failed'), 60_000);
      // Failing, and said so where people look; still ready (SYNC_READINESS=started).
      await waitFor(
        '/status to say failing',
        async () => JSON.parse((await s.health('/status')).body).state === 'failing',
      );
      expect((await s.health('/readyz')).status).toBe(200);
    } finally {
      await execa('docker', ['unpause', current().container.getId()]);
    }
    await waitFor(
      'the delivery',
      async () => (await current().read(`${s.remoteDir}/while-down.txt`)) === 'kept',
      { timeoutMs: 90_000 },
    );
    await waitFor('readiness to return', async () => (await s.health('/readyz')).status === 200, {
      timeoutMs: 30_000,
    });
    await stopCleanly(daemon);
  });

  it('keeps what the mirror deletes or overwrites in the trash, through full passes, and prunes expired days', async () => {
    const s = await scenario({ SYNC_BACKUP_DIR: '.trash', SYNC_BACKUP_RETENTION: '2d' });
    await writeFile(s.file('doomed.txt'), 'deleted later');
    await writeFile(s.file('doc.txt'), 'version 1');
    // Left by earlier runs: a day long expired, and yesterday's, which the retention keeps.
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const trash = `${s.remoteDir}/.trash`;
    const seeded = await current().exec([
      'sh',
      '-c',
      `mkdir -p '${trash}/2020-01-01/000000.000/old' '${trash}/${yesterday}/120000.000' && echo old > '${trash}/2020-01-01/000000.000/old/x.txt' && echo recent > '${trash}/${yesterday}/120000.000/y.txt'`,
    ]);
    expect(seeded.exitCode, seeded.output).toBe(0);
    const daemon = await watching(s.env);
    await waitForRemote(
      'the expired day to be pruned',
      s.remote,
      (e) => !e.has('.trash/2020-01-01') && e.get(`.trash/${yesterday}/120000.000/y.txt`) === 'f',
    );
    const pruned = await daemon.waitForLog('the prune', (line) => line.msg.startsWith('trash pruned'));
    expect(pruned.deleted).toBeGreaterThanOrEqual(1);

    await rm(s.file('doomed.txt'));
    await writeFile(s.file('doc.txt'), 'version 2');
    const kept = (e: Map<string, string>, name: string) =>
      [...e.keys()].find((path) =>
        new RegExp(`^\\.trash/\\d{4}-\\d\\d-\\d\\d/\\d{6}\\.\\d{3}/${name}$`).test(path),
      );
    const entries = await waitForRemote(
      'the deleted and the overwritten file in the trash',
      s.remote,
      (e) => !e.has('doomed.txt') && kept(e, 'doomed.txt') !== undefined && kept(e, 'doc.txt') !== undefined,
    );
    expect(await current().read(`${s.remoteDir}/doc.txt`)).toBe('version 2');
    expect(await current().read(`${s.remoteDir}/${kept(entries, 'doc.txt')}`)).toBe('version 1');
    expect(await current().read(`${s.remoteDir}/${kept(entries, 'doomed.txt')}`)).toBe('deleted later');

    // A full pass neither deletes the trash nor sends into it, and verify does not count it.
    daemon.signal('SIGUSR2');
    await waitFor('the full pass', async () =>
      /filesync_syncs_total\{target="[^"]+",kind="full",outcome="ok"\} [2-9]/.test(
        (await s.health('/metrics')).body,
      ),
    );
    const after = await s.remote();
    expect(kept(after, 'doomed.txt')).toBe(kept(entries, 'doomed.txt'));
    expect(after.get(`.trash/${yesterday}/120000.000/y.txt`)).toBe('f');
    const verify = await runCli(s.env, ['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    await stopCleanly(daemon);
  });

  it('keeps the running marker on the target while it runs and removes it on a clean stop; neither start looks for partial files', async () => {
    const s = await scenario({ LOG_LEVEL: 'debug' });
    await writeFile(s.file('a.txt'), 'a');
    const marker = '.filesync-partial/.filesync-running';
    for (const start of ['first', 'after a clean stop']) {
      const daemon = await watching(s.env);
      const pass = daemon.logs.find((line) => line.msg === 'running rsync');
      expect(pass?.args, start).not.toContain('--partial-dir=.filesync-partial');
      // How long the handshake took, once (npm run bench's start-up trace reads it).
      const up = daemon.logs.filter((line) => line.msg === 'shared SSH connection up');
      expect(
        up.map((line) => typeof line.durationMs),
        start,
      ).toEqual(['number']);
      expect((await current().list(s.remoteDir)).get(marker), start).toBe('f');
      await stopCleanly(daemon);
      expect([...(await current().list(s.remoteDir)).keys()], start).toEqual(['a.txt']);
    }
  });
});

describe('host keys', () => {
  it('refuses a changed host key under strict and transfers nothing', async () => {
    const s = await scenario();
    const dir = await mkdtemp(join(tmpdir(), 'filesync-wrong-host-'));
    const impostor = await makeKeyPair(dir, 'impostor');
    const [type, key] = impostor.publicKey.split(' ');
    const knownHosts = join(dir, 'known_hosts');
    await writeFile(knownHosts, `[${target.host}]:${target.port} ${type} ${key}\n`);
    await writeFile(s.file('secret.txt'), 'must not leave');
    const env = { ...s.env, SYNC_KNOWN_HOSTS: knownHosts };

    const daemon = Daemon.start(env);
    const failure = await daemon.waitForLog('the refusal', (line) => line.msg.startsWith('sync failed'));
    expect(failure.result).toBe('host-key');
    expect(String(failure.hint)).toMatch(/SYNC_KNOWN_HOSTS/);
    const ready = await s.health('/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body).reason).toMatch(/failing \(host-key/);
    expect((await target.exec(['test', '-e', s.remoteDir])).exitCode).not.toBe(0);
    // The watch budget is logged a second after the initial pass, or after 10 s when it cannot be.
    await daemon.waitForLog('the watch budget', (line) => line.msg.startsWith('watch budget'));
    await daemon.stop();

    const check = await runCli(env, ['check']);
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toMatch(/FAIL {2}host key/);
    expect(check.stdout).toMatch(/Host key verification failed/);
  });

  it('check says the target cannot be reached before it gets to the host key', async () => {
    const s = await scenario();
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const check = await runCli(
      { ...s.env, SYNC_REMOTE_HOST: '127.0.0.1', SYNC_REMOTE_PORT: String(closed) },
      ['check'],
    );
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toMatch(/FAIL {2}reachable {8}cannot reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
    expect(check.stdout).not.toMatch(/host key/);
    expect(check.stdout).not.toMatch(/retried/);
    const good = await runCli(s.env, ['check']);
    expect(good.stdout).toMatch(/PASS {2}reachable {8}\S+ answers as SSH-2\.0-/);
  });

  it('trusts on first use under accept-new, and then pins the key', async () => {
    const s = await scenario({ SYNC_HOST_KEY_POLICY: 'accept-new' });
    const knownHosts = join(await mkdtemp(join(tmpdir(), 'filesync-tofu-')), 'known_hosts');
    const env = { ...s.env, SYNC_KNOWN_HOSTS: knownHosts };
    await writeFile(s.file('tofu.txt'), 't');
    const result = await runCli(env, ['once']);
    expect(result.exitCode).toBe(0);
    const learned = await readFile(knownHosts, 'utf8');
    expect(learned).toContain('ssh-ed25519');
    expect((await s.remote()).has('tofu.txt')).toBe(true);

    // A restart later the target answers with another key (rebuilt, or someone in between):
    // the key learned on first use is remembered, so nothing is sent.
    const { publicKey: other } = await makeKeyPair(await mkdtemp(join(tmpdir(), 'filesync-other-')));
    const [hostField = ''] = learned.trim().split(' ');
    await writeFile(knownHosts, `${hostField} ${other.split(' ').slice(0, 2).join(' ')}\n`);
    await writeFile(s.file('after-restart.txt'), 'must not leave');
    const refused = await runCli(env, ['once']);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toMatch(/"result":"host-key"/);
    expect((await s.remote()).has('after-restart.txt')).toBe(false);
  });

  it('refuses accept-new with nowhere to remember the key (78), saying what to mount', async () => {
    const s = await scenario({ SYNC_HOST_KEY_POLICY: 'accept-new' });
    const { SYNC_KNOWN_HOSTS: _, ...env } = s.env;
    const result = await runCli(env, ['once']);
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toMatch(/SYNC_KNOWN_HOSTS is required when SYNC_HOST_KEY_POLICY=accept-new/);
  });
});

describe('filesync once and check', () => {
  it('warns of a misspelt setting when syncing, and refuses it under check', async () => {
    const s = await scenario({ SYNC_DEBOUNSE: '5s' });
    await writeFile(s.file('typo.txt'), 't');
    const once = await runCli(s.env, ['once']);
    expect(once.exitCode).toBe(0);
    expect(once.stdout).toMatch(
      /"level":"warn".*SYNC_DEBOUNSE is not a filesync setting; did you mean SYNC_DEBOUNCE\?/,
    );
    const check = await runCli(s.env, ['check']);
    expect(check.exitCode).toBe(78);
    expect(check.stderr).toMatch(/SYNC_DEBOUNSE is not a filesync setting; did you mean SYNC_DEBOUNCE\?/);
  });

  it('once makes one full pass and exits 0', async () => {
    const s = await scenario();
    await mkdir(s.file('d'));
    await writeFile(s.file('d/one.txt'), '1');
    const result = await runCli(s.env, ['once']);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      msg: 'synced',
      kind: 'full',
      filesTransferred: 1,
    });
    expect((await s.remote()).get('d/one.txt')).toBe('f');
  });

  it('once exits 1 with the reason when the target refuses the key', async () => {
    const s = await scenario();
    const stranger = await makeKeyPair(await mkdtemp(join(tmpdir(), 'filesync-stranger-')));
    const result = await runCli({ ...s.env, SYNC_SSH_KEY: stranger.keyPath }, ['once']);
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout.trim())).toMatchObject({ level: 'error', result: 'auth' });
  });

  it('check passes every step against a good target, and fails authentication with a stranger key', async () => {
    const s = await scenario();
    const good = await runCli(s.env, ['check']);
    expect(good.stdout).toMatch(/^PASS {2}key/m);
    expect(good.stdout).toMatch(/^PASS {2}host key/m);
    expect(good.stdout).toMatch(/^PASS {2}authentication/m);
    expect(good.stdout).toMatch(/^PASS {2}remote rsync +rsync 3\./m);
    expect(good.stdout).toMatch(/^PASS {2}remote directory/m);
    expect(good.exitCode).toBe(0);
    expect((await s.remote()).size).toBe(0);

    const stranger = await makeKeyPair(await mkdtemp(join(tmpdir(), 'filesync-stranger-')));
    const bad = await runCli({ ...s.env, SYNC_SSH_KEY: stranger.keyPath }, ['check']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/^FAIL {2}authentication .*Permission denied/m);
  });
});

describe('an rrsync-restricted key', () => {
  it('opens no shell and reaches nothing outside its directory', async () => {
    const s = await scenarioOn(restricted);
    const ssh = (command: string) =>
      execa(
        'ssh',
        [
          '-i',
          restricted.keyPath,
          '-p',
          String(restricted.port),
          '-o',
          `UserKnownHostsFile=${restricted.knownHostsPath}`,
          '-o',
          'BatchMode=yes',
          `${TARGET_USER}@${restricted.host}`,
          command,
        ],
        { reject: false },
      );
    const shell = await ssh('cat /etc/passwd');
    expect(shell.exitCode).not.toBe(0);
    expect(shell.stdout).toBe('');
    expect(shell.stderr).toMatch(/rrsync error/);
    // An rsync that asks for a path outside rrsync's directory is refused.
    const outside = await runCli({ ...s.env, SYNC_REMOTE_DIR: '/../escape' }, ['once']);
    expect(outside.exitCode).toBe(1);
    expect(outside.stdout).toMatch(/"result":"restricted"/);
    expect((await restricted.exec(['ls', '/home/filesync'])).output).not.toMatch(/escape/);
  });

  it('passes check, saying the key is restricted, and leaves nothing behind', async () => {
    const s = await scenarioOn(restricted);
    const check = await runCli(s.env, ['check']);
    expect(check.exitCode, check.stdout).toBe(0);
    expect(check.stdout).toMatch(
      /^PASS {2}authentication {3}.*which rrsync restricts to rsync \(no shell\)$/m,
    );
    expect(check.stdout).toMatch(/^PASS {2}remote rsync {5}rsync behind rrsync takes --mkpath/m);
    expect(check.stdout).toMatch(/^PASS {2}remote directory/m);
    expect([...(await s.remote()).keys()]).toEqual([]);
  });
});

describe('configuration errors', () => {
  it('exits 78 naming every bad variable, with no stack trace, before starting anything', async () => {
    const source = await mkdtemp(join(tmpdir(), 'filesync-bad-'));
    const result = await runCli(
      {
        SYNC_SOURCE_DIR: source,
        SYNC_REMOTE_HOST: 'h',
        SYNC_REMOTE_USER: 'u',
        SYNC_REMOTE_DIR: 'relative',
        SYNC_SSH_KEY: '/nope',
        SYNC_KNOWN_HOSTS: '/nope',
        SYNC_DEBOUNCE: 'soon',
      },
      ['watch'],
    );
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toMatch(/invalid configuration/);
    expect(result.stderr).toMatch(/SYNC_REMOTE_DIR: expected an absolute path/);
    expect(result.stderr).toMatch(/SYNC_DEBOUNCE: expected a duration/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stdout).toBe('');
  });

  it('exits 78 when the key file cannot be read', async () => {
    const s = await scenario({ SYNC_SSH_KEY: '/nonexistent/key' });
    const result = await runCli(s.env, ['once']);
    expect(result.exitCode).toBe(78);
    expect(result.stderr).toMatch(/SYNC_SSH_KEY: cannot read \/nonexistent\/key \(ENOENT\)/);
    expect((await stat(s.source)).isDirectory()).toBe(true);
  });

  it('exits 64 on an unknown command', async () => {
    expect((await runCli({}, ['sideways'])).exitCode).toBe(64);
  });
});
