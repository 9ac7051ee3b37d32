import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { planProbe, planTypeCheck, planVerify } from '../../../src/plan/dry-runs.ts';
import {
  batchList,
  FULL_PASS_PATHS,
  HOOK_PATHS,
  planJob,
  planStagedCleanup,
  WHOLE_LIST_BYTES_PER_ENTRY,
  WHOLE_LIST_CEILING,
  WHOLE_LIST_MAX_ENTRIES,
  WHOLE_LIST_MEMORY_SHARE,
  wholeListFits,
} from '../../../src/plan/plan.ts';
import { processRunner } from '../../../src/rsync/runner.ts';
import { masterArgs, quoteForRsync, remoteSpec, rsyncShell } from '../../../src/rsync/ssh.ts';
import { testConfig, testSsh } from '../fixtures.ts';

const config = testConfig;
const ssh = testSsh;

function context(env: Record<string, string> = {}) {
  const cfg = config(env);
  return { config: cfg, filter: new Filter(cfg.filter), ssh };
}

describe('planJob', () => {
  it('plans a full pass as one recursive rsync with deletions and the filters', () => {
    const plan = planJob({ kind: 'full', reason: 'start' }, context({ SYNC_EXCLUDE: '*.tmp' }));
    expect(plan.file).toBe('rsync');
    expect(plan.stdin).toBeUndefined();
    expect(plan.args).toContain('--archive');
    expect(plan.args).toContain('--mkpath');
    expect(plan.args).toContain('--delete');
    expect(plan.args).toContain('--partial-dir=.filesync-partial');
    expect(plan.args).toContain('--filter=- *.tmp');
    expect(plan.args).toContain('--timeout=60');
    expect(plan.args.slice(-2)).toEqual(['/data/', 'sync@backup.example.com:/srv/mirror/']);
    expect(plan.args).not.toContain('--no-inc-recursive'); // the tree's size is not known
  });

  it('sends the whole file list at once for a tree known to be small, incrementally beyond', () => {
    const plan = (entries: number) =>
      planJob({ kind: 'full', reason: 'start', entries }, context()).args.includes('--no-inc-recursive');
    expect(plan(100_000)).toBe(true);
    expect(plan(WHOLE_LIST_MAX_ENTRIES)).toBe(true);
    expect(plan(WHOLE_LIST_MAX_ENTRIES + 1)).toBe(false);
  });

  it('sends a larger tree whole only where its list takes at most a quarter of the memory available', () => {
    const plan = (entries: number | undefined, availableMemory: number | undefined) =>
      planJob({ kind: 'full', reason: 'start', entries, availableMemory }, context()).args.includes(
        '--no-inc-recursive',
      );
    const needs = (entries: number) => (entries * WHOLE_LIST_BYTES_PER_ENTRY) / WHOLE_LIST_MEMORY_SHARE;
    expect(plan(1_000_000, needs(1_000_000))).toBe(true);
    expect(plan(1_000_000, needs(1_000_000) - 1)).toBe(false);
    expect(plan(1_000_000, undefined)).toBe(false); // not asked: incremental, as before
    expect(plan(undefined, 64 * 1024 ** 3)).toBe(false); // the size is not known
    expect(plan(WHOLE_LIST_MAX_ENTRIES, 0)).toBe(true); // a small tree goes whole whatever is left
    expect(wholeListFits(1_000_000, 1024 ** 3)).toBe(true); // 160 MB against 256 MiB
    expect(wholeListFits(1_000_000, 512 * 1024 ** 2)).toBe(false); // a 512 MiB container
    // Never past the ceiling: the target's memory is not known here.
    expect(wholeListFits(WHOLE_LIST_CEILING, 1024 ** 4)).toBe(true);
    expect(wholeListFits(WHOLE_LIST_CEILING + 1, 1024 ** 4)).toBe(false);
  });

  it('maps each rsync setting to its option', () => {
    const plan = planJob(
      { kind: 'full', reason: 'start' },
      context({
        SYNC_RSYNC_COMPRESS: 'true',
        SYNC_RSYNC_CHECKSUM: 'true',
        SYNC_RSYNC_UPDATE: 'true',
        SYNC_RSYNC_PARTIAL: 'false',
        SYNC_RSYNC_BWLIMIT: '500',
        SYNC_RSYNC_EXTRA_ARGS: '--numeric-ids',
        SYNC_DELETE: 'false',
      }),
    );
    expect(plan.args).toEqual(
      expect.arrayContaining(['--compress', '--checksum', '--update', '--bwlimit=500', '--numeric-ids']),
    );
    expect(plan.args.some((arg) => arg.startsWith('--partial-dir'))).toBe(false);
    expect(plan.args).not.toContain('--delete');
  });

  it('sends a batch as one NUL-separated list on stdin, never in argv', () => {
    const hostile = ['-rf --delete', 'new\nline', 'q\'uo"te', '$(touch pwned)'];
    const plan = planJob(
      { kind: 'batch', paths: hostile.map((path) => ({ path, kind: 'file' })) },
      context(),
    );
    expect(plan.args).toEqual(expect.arrayContaining(['--dirs', '--files-from=-', '--from0']));
    expect(plan.args).not.toContain('--recursive');
    expect(plan.stdin).toBe(`${[...hostile].sort().join('\0')}\0`);
    for (const path of hostile) expect(plan.args).not.toContain(path);
  });

  it('itemizes every run, keeping the paths a hook lists, only when a hook is set', () => {
    const batch = { kind: 'batch', paths: [{ path: 'a', kind: 'file' }] } as const;
    const full = { kind: 'full', reason: 'start' } as const;
    const itemizes = (plan: { args: readonly string[] }) =>
      plan.args.some((arg) => arg.startsWith('--out-format='));
    expect(itemizes(planJob(batch, context()))).toBe(false);
    expect(planJob(batch, context()).itemize).toBeUndefined();
    expect(planJob(full, context()).itemize).toEqual({ keep: FULL_PASS_PATHS });
    for (const hook of [{ SYNC_HOOK_COMMAND: '["true"]' }, { SYNC_HOOK_URL: 'http://ci.example/x' }]) {
      expect(itemizes(planJob(batch, context(hook))), JSON.stringify(hook)).toBe(true);
      expect(planJob(batch, context(hook)).itemize).toEqual({ keep: HOOK_PATHS });
      expect(planJob(full, context(hook)).itemize).toEqual({ keep: HOOK_PATHS });
    }
  });

  it('maps owner and modes in every run, and asks the receiver to act as root only for an owner', () => {
    const args = (env: Record<string, string>) =>
      planJob({ kind: 'full', reason: 'start' }, context(env)).args;
    expect(args({}).filter((arg) => /chown|chmod|map|super|perms/.test(arg))).toEqual([]);
    expect(args({ SYNC_CHOWN: 'www-data:www-data', SYNC_CHMOD: 'D2775,F664' })).toEqual(
      expect.arrayContaining(['--chown=www-data:www-data', '--super', '--chmod=D2775,F664']),
    );
    expect(args({ SYNC_USERMAP: '1000:www-data, *:nobody', SYNC_GROUPMAP: '1000:www-data' })).toEqual(
      expect.arrayContaining(['--usermap=1000:www-data,*:nobody', '--groupmap=1000:www-data', '--super']),
    );
    // What is not asked for is the target's, not the source's.
    expect(args({ SYNC_CHOWN: ':www-data' })).toEqual(expect.arrayContaining(['--super', '--no-owner']));
    expect(args({ SYNC_CHOWN: 'nginx' })).toEqual(expect.arrayContaining(['--super', '--no-group']));
    expect(args({ SYNC_CHOWN: 'a:b' }).filter((arg) => arg.startsWith('--no-'))).toEqual([]);
    const portable = args({ SYNC_PERMS: 'target' });
    expect(portable).toEqual(expect.arrayContaining(['--no-perms', '--chmod=ugo=rwX']));
    expect(portable).not.toContain('--super');
    // verify compares by the same mapping, so what it changes on purpose is no drift
    expect(planVerify(context({ SYNC_CHOWN: ':www-data' })).args).toEqual(
      expect.arrayContaining(['--chown=:www-data', '--super', '--dry-run']),
    );
  });

  it('stages every run with SYNC_DELAY_UPDATES, and removes what a killed run staged apart, touching nothing else', () => {
    const delayed = context({
      SYNC_DELAY_UPDATES: 'true',
      SYNC_RSYNC_PARTIAL: 'false',
      SYNC_MAX_DELETE: '5',
    });
    const batch = { kind: 'batch', paths: [{ path: 'a', kind: 'file' }] } as const;
    const staging = ['--partial-dir=.filesync-partial', '--delay-updates'];
    for (const plan of [
      planJob(batch, delayed),
      planJob({ kind: 'full', reason: 'start' }, delayed),
      planVerify(delayed),
    ]) {
      expect(plan.args).toEqual(expect.arrayContaining(staging));
      expect(plan.args.filter((arg) => arg.startsWith('--filter=R'))).toEqual([]);
    }
    const cleanup = planStagedCleanup(delayed).args;
    const filters = cleanup.filter((arg) => arg.startsWith('--filter='));
    // The first rule that matches decides: the partial-dirs may go, every other name stays.
    expect(filters.slice(0, 2)).toEqual(['--filter=R .filesync-partial/***', '--filter=P *']);
    expect(filters.slice(-2)).toEqual(['--filter=S */', '--filter=H *']);
    expect(cleanup).toEqual(expect.arrayContaining(['--delete', '--existing', '--ignore-existing']));
    expect(cleanup.filter((arg) => /^--(max-delete|backup)/.test(arg))).toEqual([]);
    expect(planJob(batch, context()).args.filter((arg) => /delay/.test(arg))).toEqual([]);
  });

  it('passes the symlink policy to every run, verify included', () => {
    const args = (env: Record<string, string>) =>
      planJob({ kind: 'full', reason: 'start' }, context(env)).args;
    const linkArgs = (list: readonly string[]) => list.filter((arg) => /links|info=name/.test(arg));
    expect(linkArgs(args({}))).toEqual([]);
    expect(linkArgs(args({ SYNC_SYMLINKS: 'keep' }))).toEqual([]);
    expect(linkArgs(args({ SYNC_SYMLINKS: 'safe' }))).toEqual(['--safe-links', '--info=name1']);
    // A batch under `safe` itemizes too: the names rsync prints are counted, not kept.
    const safeBatch = planJob(
      { kind: 'batch', paths: [{ path: 'a', kind: 'file' }] },
      context({ SYNC_SYMLINKS: 'safe' }),
    );
    expect(safeBatch.itemize).toEqual({ keep: 0 });
    expect(safeBatch.args.some((arg) => arg.startsWith('--out-format='))).toBe(true);
    expect(linkArgs(args({ SYNC_SYMLINKS: 'copy-unsafe' }))).toEqual(['--copy-unsafe-links']);
    expect(linkArgs(args({ SYNC_SYMLINKS: 'ignore' }))).toEqual(['--no-links']);
    expect(linkArgs(planVerify(context({ SYNC_SYMLINKS: 'copy-unsafe' })).args)).toEqual([
      '--copy-unsafe-links',
    ]);
  });

  it('builds the -e value from validated parts and pins the host key', () => {
    const plan = planJob({ kind: 'full', reason: 'start' }, context());
    const rsh = plan.args[plan.args.indexOf('--rsh') + 1];
    expect(rsh).toContain('StrictHostKeyChecking=yes');
    expect(rsh).toContain('UserKnownHostsFile=/keys/known_hosts');
    expect(rsh).toContain('BatchMode=yes');
    expect(rsh).toContain('ControlMaster=no');
    expect(rsh).toContain('-p 2222');
  });
});

describe('planVerify', () => {
  it('is the full pass as a dry run that itemizes and keeps every path', () => {
    const full = planJob({ kind: 'full', reason: 'start' }, context({ SYNC_EXCLUDE: '*.tmp' }));
    const verify = planVerify(context({ SYNC_EXCLUDE: '*.tmp' }));
    expect(full.args).toContain('--out-format=%i %n');
    expect(full.itemize).toEqual({ keep: 20 });
    // The same command, but for rsync's progress, which nothing reads in a dry run.
    const options = full.args.slice(0, -2).filter((arg) => arg !== '--info=progress2');
    expect(verify.args).toEqual([...options, '--dry-run', ...full.args.slice(-2)]);
    expect(verify.progress).toBe(false);
    expect(verify.itemize?.keep).toBe(Number.POSITIVE_INFINITY);
    expect(verify.stdin).toBeUndefined();
  });

  it('deletes, and so reports extra entries, only with SYNC_DELETE', () => {
    expect(planVerify(context()).args).toContain('--delete');
    expect(planVerify(context({ SYNC_DELETE: 'false' })).args).not.toContain('--delete');
  });

  it('checks types with --existing over exactly the listed paths, as a dry run', () => {
    const plan = planTypeCheck(['a b', 'd'], context());
    expect(plan.args).toEqual(
      expect.arrayContaining(['--dry-run', '--existing', '--files-from=-', '--from0']),
    );
    expect(plan.args).not.toContain('--delete');
    expect(plan.stdin).toBe('a b\0d\0');
  });
});

describe('batchList', () => {
  it('lists files as themselves, directories by their contents, and vanished paths by their parent', () => {
    const list = batchList(
      [
        { path: 'a.txt', kind: 'file' },
        { path: 'new', kind: 'dir' },
        { path: 'x/gone.txt', kind: 'missing', ancestor: 'x' },
        { path: 'x/also-gone', kind: 'missing', ancestor: 'x' },
        { path: 'top', kind: 'missing', ancestor: '' },
      ],
      true,
    );
    expect(list).toEqual(['./', 'new/', 'x/']); // a.txt comes with ./
  });

  it('leaves out files that a listed directory sends anyway, and no others', () => {
    const list = batchList(
      [
        { path: 'new', kind: 'dir' },
        { path: 'new/f.txt', kind: 'file' },
        { path: 'new/sub', kind: 'dir' },
        { path: 'new/sub/g.txt', kind: 'file' },
        { path: 'old/deep/h.txt', kind: 'file' },
        { path: 'old/x', kind: 'missing', ancestor: 'old' },
        { path: 'top.txt', kind: 'file' },
      ],
      true,
    );
    expect(list).toEqual(['new/', 'new/sub/', 'old/', 'old/deep/h.txt', 'top.txt']);
  });

  it('leaves vanished paths out when deletions are off', () => {
    expect(batchList([{ path: 'gone', kind: 'missing', ancestor: '' }], false)).toEqual([]);
  });

  it('lists the source directory itself (a fast start found it changed) as ./, not as /', () => {
    const list = batchList(
      [
        { path: '', kind: 'dir' },
        { path: 'top.txt', kind: 'file' },
        { path: 'deep/f.txt', kind: 'file' },
      ],
      false,
    );
    expect(list).toEqual(['./', 'deep/f.txt']); // top.txt comes with ./
  });
});

describe('planProbe', () => {
  it('scopes both probe runs to the probe file alone', () => {
    const write = planProbe('.probe', 'write', context());
    const remove = planProbe('.probe', 'remove', context());
    for (const plan of [write, remove])
      expect(plan.args).toEqual(expect.arrayContaining(['--filter=+ /.probe', '--filter=- *']));
    expect(write.stdin).toBe('.probe\0');
    expect(remove.stdin).toBe('./\0');
    expect(remove.args).toContain('--delete');
  });
});

describe('ssh arguments', () => {
  it('quotes for rsync only what needs it, doubling inner single quotes', () => {
    expect(quoteForRsync('-oBatchMode=yes')).toBe('-oBatchMode=yes');
    expect(quoteForRsync('/a b/key')).toBe("'/a b/key'");
    expect(quoteForRsync("it's")).toBe("'it''s'");
  });

  it('survives rsync splitting the -e value (seen by a stand-in ssh)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync ssh-'));
    const target = { ...ssh, identityFile: join(dir, "k'ey %h"), controlPath: join(dir, 'ssh-control %') };
    const argvFile = join(dir, 'argv');
    const result = await execa(
      'rsync',
      ['-a', '--rsh', rsyncShell(target), `${dir}/`, remoteSpec(target, '/x')],
      {
        reject: false,
        env: { PATH: `${resolve('test/fixtures/bin')}:${process.env.PATH}`, FAKE_SSH_ARGV: argvFile },
      },
    );
    expect(result.exitCode).not.toBe(0);
    const argv = (await readFile(argvFile, 'utf8')).trimEnd().split('\n');
    expect(argv.slice(0, 4)).toEqual(['-F', 'none', '-i', `${dir}/k'ey %%h`]);
    expect(argv).toContain(`ControlPath=${dir}/ssh-control %%`);
    expect(argv).toContain('backup.example.com');
  });

  it('starts the master without a remote command', () => {
    expect(masterArgs(ssh).slice(-6)).toEqual([
      '-o',
      'ControlMaster=yes',
      '-o',
      'ControlPersist=no',
      '-N',
      'backup.example.com',
    ]);
  });

  it('brackets IPv6 addresses in the remote spec', () => {
    expect(remoteSpec({ host: '::1', user: 'u' }, '/d')).toBe('u@[::1]:/d/');
  });

  it('reports a refused connection from the runner as unreachable, with a hint', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filesync-run-'));
    const plan = planJob(
      { kind: 'full', reason: 'start' },
      { ...context(), config: { ...config(), sourceDir: dir } },
    );
    process.env.FAKE_SSH_ARGV = join(dir, 'argv');
    const path = process.env.PATH;
    process.env.PATH = `${resolve('test/fixtures/bin')}:${path}`;
    try {
      const outcome = await processRunner.run(plan, new AbortController().signal);
      expect(outcome).toMatchObject({ ok: false, reason: 'unreachable' });
    } finally {
      process.env.PATH = path;
    }
  });
});
