import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { freePort, runCli } from './support/daemon.ts';
import {
  remoteTree,
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForMirror,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// `filesync verify` against the real sshd target: a dry run of the full pass, read as kinds of
// difference. Each test mirrors a source with `once`, then changes the target behind
// filesync's back, and checks the verdict, the exit code and that nothing on the target moved.
// The daemon's side of the same question: a periodic full pass counts what it had to repair.

let target: Target;
useTarget((started) => {
  target = started;
});

/** A source mirrored to the target by `once`; `onTarget` runs a shell script in the mirror. */
async function mirrored(extra: Record<string, string> = {}) {
  const s = await scenarioOn(target, extra);
  await writeFile(s.file('keep.txt'), 'kept');
  await writeFile(s.file('gone with space.txt'), 'removed on the target');
  await writeFile(s.file('content.txt'), 'short');
  await writeFile(s.file('mode.txt'), 'mode');
  await chmod(s.file('mode.txt'), 0o644);
  await symlink('keep.txt', s.file('link'));
  await writeFile(s.file('file-here'), 'a file in the source');
  await mkdir(s.file('dir-here/inner'), { recursive: true });
  await writeFile(s.file('dir-here/inner/deep.txt'), 'deep');
  const once = await runCli(s.env, ['once']);
  expect(once.exitCode).toBe(0);
  const onTarget = async (script: string) => {
    const result = await target.exec(['sh', '-c', `cd "$1" && ${script}`, 'sh', s.remoteDir]);
    expect(result.exitCode, result.output).toBe(0);
  };
  const verify = async (json = false) => {
    const result = await runCli(s.env, json ? ['verify', '--json'] : ['verify']);
    return { ...result, report: json ? JSON.parse(result.stdout) : undefined };
  };
  return { ...s, onTarget, verify };
}

describe('filesync verify', () => {
  it('exits 0 on a mirror in sync', async () => {
    const s = await mirrored();
    const text = await s.verify();
    expect(text.stderr).toBe('');
    expect(text.stdout).toMatch(/^in sync: /);
    expect(text.exitCode).toBe(0);
    const json = await s.verify(true);
    expect(json.report).toMatchObject({ status: 'in-sync', total: 0, source: s.source });
    expect(json.exitCode).toBe(0);
  });

  it('reports each kind of drift with its paths, exits 1 and changes nothing', async () => {
    const s = await mirrored();
    await s.onTarget(
      [
        'rm "gone with space.txt"',
        'echo "only on the target" > "extra file.txt"',
        'echo "longer than it was" > content.txt',
        'chmod 600 mode.txt',
        'ln -sfn content.txt link',
        'rm file-here && mkdir -p file-here/sub && echo x > file-here/sub/x',
        'rm -r dir-here && echo "a file now" > dir-here',
      ].join(' && '),
    );
    const before = await remoteTree(target, s.remoteDir);

    const json = await s.verify(true);
    expect(json.exitCode).toBe(1);
    expect(json.report.status).toBe('drifted');
    expect(json.report.differences).toMatchObject({
      content: ['content.txt'],
      symlink: ['link'],
      permissions: ['mode.txt'],
      owner: [],
      times: [],
    });
    // The type changed at dir-here; what the source has below it is missing on the target.
    expect([...json.report.differences.type].sort()).toEqual(['dir-here', 'file-here']);
    expect([...json.report.differences.missing].sort()).toEqual([
      'dir-here/inner',
      'dir-here/inner/deep.txt',
      'gone with space.txt',
    ]);
    expect([...json.report.differences.extra].sort()).toEqual([
      'extra file.txt',
      'file-here/sub',
      'file-here/sub/x',
    ]);

    const text = await s.verify();
    expect(text.exitCode).toBe(1);
    expect(text.stdout).toMatch(/^drifted: 11 paths differ between /);
    for (const [heading, path] of [
      ['missing — missing on the target (3):', 'gone with space.txt'],
      ['extra — extra on the target (3):', 'extra file.txt'],
      ['type — another type on the target (file, directory or symlink) (2):', 'dir-here'],
      ['content — content differs (size or checksum) (1):', 'content.txt'],
      ['symlink — symlink target differs (1):', 'link'],
      ['permissions — permissions differ (1):', 'mode.txt'],
    ]) {
      const lines = text.stdout.split('\n');
      expect(lines).toContain(heading);
      expect(lines).toContain(`  ${path}`);
    }
    expect(await remoteTree(target, s.remoteDir)).toEqual(before);
  });

  it('with SYNC_DELETE=false, entries only on the target are not drift', async () => {
    const s = await mirrored({ SYNC_DELETE: 'false' });
    await s.onTarget('echo "kept by design" > "extra file.txt" && mkdir -p more/deep');
    const result = await s.verify();
    expect(result.stdout).toMatch(/^in sync: /);
    expect(result.exitCode).toBe(0);
  });

  it('excluded paths and the partial directory are not drift', async () => {
    const s = await mirrored({ SYNC_EXCLUDE: '*.tmp,cache/' });
    await writeFile(s.file('local.tmp'), 'never synced');
    await mkdir(s.file('cache'));
    await writeFile(s.file('cache/blob'), 'never synced');
    await s.onTarget(
      'mkdir -p .filesync-partial cache && echo p > .filesync-partial/f && echo t > remote.tmp',
    );
    const result = await s.verify();
    expect(result.stdout).toMatch(/^in sync: /);
    expect(result.exitCode).toBe(0);
  });

  it('reports everything missing when the target directory does not exist, and creates nothing', async () => {
    const s = await scenarioOn(target);
    await mkdir(s.file('a/b'), { recursive: true });
    await writeFile(s.file('a/b/one.txt'), 'one');
    const env = { ...s.env, SYNC_REMOTE_DIR: `${s.remoteDir}/not/yet` };
    const result = await runCli(env, ['verify', '--json']);
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(1);
    expect(JSON.parse(result.stdout).differences.missing).toEqual(['.', 'a', 'a/b', 'a/b/one.txt']);
    expect((await target.exec(['test', '-e', s.remoteDir])).exitCode).not.toBe(0);
  });

  it('exits 2 with the reason and the hint when the target cannot be reached', async () => {
    const s = await scenarioOn(target);
    const closed = await freePort();
    const env = { ...s.env, SYNC_REMOTE_HOST: '127.0.0.1', SYNC_REMOTE_PORT: String(closed) };
    const text = await runCli(env, ['verify']);
    expect(text.exitCode).toBe(2);
    expect(text.stdout).toBe('');
    expect(text.stderr).toMatch(/could not compare \(unreachable\): .*Connection refused/);
    expect(text.stderr).toMatch(/hint: Cannot reach the target: check SYNC_REMOTE_HOST/);
    const json = await runCli(env, ['verify', '--json']);
    expect(json.exitCode).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'error', reason: 'unreachable' });
  });

  it('rejects --json for a command that does not take it', async () => {
    const s = await scenarioOn(target);
    const result = await runCli(s.env, ['once', '--json']);
    expect(result.exitCode).toBe(64);
    expect(result.stderr).toMatch(/--json applies to verify, status only/);
  });
});

describe('drift is counted', () => {
  it('a periodic pass that repairs edits made on the target counts them and names the paths', async () => {
    const s = await scenarioOn(target, { SYNC_RESYNC_INTERVAL: '1s' });
    await writeFile(s.file('edited.txt'), 'original');
    await writeFile(s.file('deleted.txt'), 'original');
    await mkdir(s.file('dir'));
    await writeFile(s.file('dir/inside.txt'), 'inside');
    // Only on the target before the start: the initial pass removes it, and that is not drift.
    const stale = await target.exec([
      'sh',
      '-c',
      'mkdir -p "$1" && echo stale > "$1/stale.txt"',
      'sh',
      s.remoteDir,
    ]);
    expect(stale.exitCode).toBe(0);
    const daemon = await watching(s.env);
    const drift = async () => {
      const metrics = (await s.health('/metrics')).body;
      return Number(/^filesync_drift_repaired_total\{target="[^"]+"\} (\d+)$/m.exec(metrics)?.[1]);
    };
    await daemon.waitForLog('a periodic pass', (line) => line.msg === 'synced' && line.reason === 'resync');
    expect(await drift()).toBe(0);
    expect(daemon.logs.some((line) => line.msg.startsWith('full pass repaired drift'))).toBe(false);

    const edit = await target.exec([
      'sh',
      '-c',
      'cd "$1" && echo "changed behind its back" > edited.txt && rm deleted.txt && chmod 700 dir',
      'sh',
      s.remoteDir,
    ]);
    expect(edit.exitCode).toBe(0);
    await waitFor('the drift to be counted', async () => (await drift()) === 3);
    // One pass may have caught the edits half-way: every warning counts, together they name all.
    // (The log reaches this process through a pipe, so it may come after the metric.)
    const repaired = () => daemon.logs.filter((line) => line.msg.startsWith('full pass repaired drift'));
    await waitFor('the warnings', () => repaired().reduce((sum, line) => sum + Number(line.count), 0) === 3);
    const warnings = repaired();
    expect(warnings.every((line) => line.level === 'warn')).toBe(true);
    expect(warnings.flatMap((line) => line.paths as string[]).sort()).toEqual([
      'deleted.txt',
      'dir',
      'edited.txt',
    ]);
    await waitForMirror(target, s.source, s.remoteDir);
    await stopCleanly(daemon);
  });
});
