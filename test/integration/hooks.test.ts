import { access, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Daemon } from './support/daemon.ts';
import { scenario as scenarioOn, stopCleanly, useTarget, watching } from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// Hooks after a successful sync (SYNC_HOOK_COMMAND, SYNC_HOOK_URL), against a real daemon and
// the sshd target: a web server's reload, a CI callback.

let target: Target;
useTarget((started) => {
  target = started;
});

/**
 * A hook script outside the source: it waits while `hold` exists, sleeps 30 s while `hang`
 * does, and appends one JSON line per call to `record`: its environment, its directory and its
 * changes file (NUL shown as ","), and whether that file was there.
 */
async function hookScript() {
  const dir = await mkdtemp(join(tmpdir(), 'filesync-hook-'));
  const script = join(dir, 'hook.sh');
  await writeFile(
    script,
    `d=${dir}
while [ -e "$d/hold" ]; do sleep 0.05; done
[ -e "$d/hang" ] && exec sleep 30
printf '{"kind":"%s","files":"%s","deleted":"%s","runs":"%s","target":"%s","cwd":"%s","file":"%s","changes":"%s","at":%s}\\n' \\
  "$FILESYNC_KIND" "$FILESYNC_FILES" "$FILESYNC_DELETED" "$FILESYNC_RUNS" "$FILESYNC_TARGET" "$PWD" \\
  "$FILESYNC_CHANGES_FILE" "$(tr '\\0' , < "$FILESYNC_CHANGES_FILE")" "$(date +%s%3N)" >> "$d/record"
`,
  );
  const calls = async () =>
    (await readFile(join(dir, 'record'), 'utf8').catch(() => ''))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, string | number>);
  return { dir, command: JSON.stringify(['/bin/sh', script]), calls };
}

/** Waits until the daemon has logged `count` successful runs of `kind`. */
function synced(daemon: Daemon, kind: 'batch' | 'full', count: number) {
  return waitFor(`${count} ${kind} runs`, () =>
    daemon.logs.filter((line) => line.msg === 'synced' && line.kind === kind).length >= count
      ? true
      : undefined,
  );
}

describe('SYNC_HOOK_COMMAND', () => {
  it('runs once per run that changed something, with its fields and changes file; never after a no-op', async () => {
    // (The initial pass calls it even when it sent nothing: the unit tests show that case.)
    const hook = await hookScript();
    const s = await scenarioOn(target, { SYNC_HOOK_COMMAND: hook.command });
    await writeFile(s.file('keep.txt'), 'so that the source is never empty');
    const daemon = await watching(s.env);
    // Once after the initial pass.
    await waitFor('the initial hook', async () => (await hook.calls()).length === 1);
    const [initial] = await hook.calls();
    expect(initial).toMatchObject({
      kind: 'initial',
      files: '1',
      deleted: '0',
      runs: '1',
      cwd: s.source,
      changes: 'keep.txt,',
    });
    expect(initial?.target).toMatch(new RegExp(`:${s.remoteDir}$`));

    await writeFile(s.file('index.html'), '<h1>new</h1>');
    await waitFor('the batch hook', async () => (await hook.calls()).length === 2);
    const batch = (await hook.calls())[1];
    expect(batch).toMatchObject({ kind: 'batch', files: '1', deleted: '0', changes: 'index.html,' });
    // The file was on the target when the hook ran, and the changes file is gone after it.
    expect(await target.read(`${s.remoteDir}/index.html`)).toBe('<h1>new</h1>');
    await expect(access(String(batch?.file))).rejects.toThrow(/ENOENT/);

    // A full pass over a tree in sync changes nothing: no hook. The next change's hook is the
    // third call, so none came between.
    daemon.signal('SIGUSR2');
    await synced(daemon, 'full', 2);
    await rm(s.file('index.html'));
    await waitFor('the deletion hook', async () => (await hook.calls()).length >= 3);
    expect((await hook.calls()).map(({ kind, deleted, changes }) => ({ kind, deleted, changes }))).toEqual([
      { kind: 'initial', deleted: '0', changes: 'keep.txt,' },
      { kind: 'batch', deleted: '0', changes: 'index.html,' },
      { kind: 'batch', deleted: '1', changes: 'index.html,' },
    ]);
    expect((await s.health('/metrics')).body).toMatch(
      /^filesync_hooks_total\{target="[^"]+",hook="command",result="ok"\} 3$/m,
    );
    // A rename: the new name is placed from the old copy before the batch, and still listed.
    await rename(s.file('keep.txt'), s.file('kept.txt'));
    await waitFor('the rename hook', async () => (await hook.calls()).length >= 4);
    expect((await hook.calls())[3]).toMatchObject({ files: '1', deleted: '1' });
    expect(
      String((await hook.calls())[3]?.changes)
        .split(',')
        .sort(),
    ).toEqual(['', 'keep.txt', 'kept.txt']);
    await stopCleanly(daemon);
  });

  it('coalesces what finishes while it runs into one follow-up, and a slow hook delays no sync', async () => {
    const hook = await hookScript();
    const s = await scenarioOn(target, { SYNC_HOOK_COMMAND: hook.command });
    const daemon = await watching(s.env);
    await waitFor('the initial hook', async () => (await hook.calls()).length === 1);
    await writeFile(join(hook.dir, 'hold'), '');
    await writeFile(s.file('a.txt'), 'a');
    await synced(daemon, 'batch', 1); // its hook now waits
    await writeFile(s.file('b.txt'), 'b');
    await synced(daemon, 'batch', 2);
    await writeFile(s.file('c.txt'), 'c');
    await synced(daemon, 'batch', 3);
    // Every change arrived while the hook was held.
    expect([...(await s.remote()).keys()].sort()).toEqual(['a.txt', 'b.txt', 'c.txt']);
    await rm(join(hook.dir, 'hold'));
    await waitFor('the follow-up', async () => (await hook.calls()).length === 3);
    const calls = (await hook.calls()).slice(1).map(({ runs, changes }) => ({ runs, changes }));
    expect(calls).toEqual([
      { runs: '1', changes: 'a.txt,' },
      { runs: '2', changes: 'b.txt,c.txt,' },
    ]);
    await stopCleanly(daemon);
  });

  it('is stopped at SYNC_HOOK_TIMEOUT, counted, and retried, while syncing goes on', async () => {
    const hook = await hookScript();
    const s = await scenarioOn(target, { SYNC_HOOK_COMMAND: hook.command, SYNC_HOOK_TIMEOUT: '1s' });
    const daemon = await watching(s.env);
    await waitFor('the initial hook', async () => (await hook.calls()).length === 1);
    await writeFile(join(hook.dir, 'hang'), '');
    await writeFile(s.file('slow.txt'), 'x');
    const timedOut = await daemon.waitForLog('the timeout', (line) => line.msg === 'hook command timed out');
    expect(timedOut).toMatchObject({
      level: 'warn',
      hook: 'command',
      hint: expect.stringMatching(/SYNC_HOOK_TIMEOUT/),
    });
    expect((await s.health('/metrics')).body).toMatch(
      /^filesync_hooks_total\{target="[^"]+",hook="command",result="timeout"\} [1-9]/m,
    );
    await writeFile(s.file('meanwhile.txt'), 'y');
    await waitFor('a change made while the hook failed', async () => (await s.remote()).has('meanwhile.txt'));
    await rm(join(hook.dir, 'hang'));
    // The retry carries both runs: the one that failed first, then the one since.
    await waitFor('the retried hook', async () => (await hook.calls()).length === 2, { timeoutMs: 30_000 });
    expect((await hook.calls())[1]).toMatchObject({ runs: '2', changes: 'slow.txt,meanwhile.txt,' });
    await stopCleanly(daemon);
  });
});

describe('SYNC_HOOK_URL', () => {
  it('is POSTed the same fields after the command succeeded', async () => {
    const bodies: { at: number; body: Record<string, unknown> }[] = [];
    const server = createServer((request, response) => {
      let text = '';
      request.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      request.on('end', () => {
        bodies.push({ at: Date.now(), body: JSON.parse(text) as Record<string, unknown> });
        response.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const hook = await hookScript();
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-path`;
      const s = await scenarioOn(target, { SYNC_HOOK_COMMAND: hook.command, SYNC_HOOK_URL: url });
      const daemon = await watching(s.env);
      await waitFor('the initial URL call', () => bodies.length === 1);
      await writeFile(s.file('report.csv'), '1,2');
      await waitFor('the batch URL call', () => bodies.length === 2);
      const calls = await hook.calls();
      expect(calls).toHaveLength(2);
      for (const [i, call] of calls.entries())
        expect(Number(call.at)).toBeLessThanOrEqual(bodies[i]?.at ?? 0);
      expect(bodies[1]?.body).toMatchObject({
        kind: 'batch',
        files: 1,
        deleted: 0,
        runs: 1,
        paths: ['report.csv'],
        truncated: false,
        target: expect.stringMatching(new RegExp(`:${s.remoteDir}$`)),
        text: expect.stringMatching(/^filesync batch sync to .*: 1 changed, 0 deleted/),
      });
      await stopCleanly(daemon);
      expect(JSON.stringify(daemon.logs)).not.toContain('secret-path');
    } finally {
      server.close();
    }
  });
});
