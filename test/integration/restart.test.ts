import { randomBytes } from 'node:crypto';
import {
  chmod,
  mkdir,
  mkdtemp,
  open,
  readdir,
  rename,
  rm,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openManifest } from '../../src/state/manifest.ts';
import { type Daemon, freePort } from './support/daemon.ts';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForMirror,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// Restarts with SYNC_STATE_DIR against the real sshd target: a clean stop writes the manifest, a
// start that can trust it sends only what changed meanwhile and is ready then, and the full
// comparison after readiness repairs (and counts as drift) whatever else differs. A start that
// cannot trust it is a full pass, and says why.

let target: Target;
useTarget((started) => {
  target = started;
});

/** A scenario with a state directory; the periodic pass off, so each full pass is one we caused. */
async function stateful(extra: Record<string, string> = {}) {
  const stateDir = await mkdtemp(join(tmpdir(), 'filesync-state-'));
  const s = await scenarioOn(target, { SYNC_STATE_DIR: stateDir, SYNC_RESYNC_INTERVAL: '0', ...extra });
  const metric = async (pattern: RegExp) => Number(pattern.exec((await s.health('/metrics')).body)?.[1]);
  const drift = () => metric(/^filesync_drift_repaired_total\{target="[^"]+"\} (\d+)$/m);
  const starts = (kind: string) =>
    metric(new RegExp(`^filesync_starts_total\\{target="[^"]+",kind="${kind}"\\} (\\d+)$`, 'm'));
  const status = async () => JSON.parse((await s.health('/status')).body).targets[0];
  return { ...s, stateDir, drift, starts, status };
}

/** The fast start's full comparison, run once the target is ready. */
function comparedInBackground(daemon: Daemon) {
  return daemon.waitForLog(
    'the full comparison after readiness',
    (line) => line.msg === 'synced' && line.reason === 'resync',
  );
}

async function stopWritingManifest(daemon: Daemon) {
  await stopCleanly(daemon);
  const written = daemon.logs.findLast((line) => line.msg.includes('manifest written'));
  expect(written?.msg).toMatch(/^manifest written/);
}

describe('a restart with SYNC_STATE_DIR', () => {
  it('sends every kind of change made while stopped, is ready then, and the full comparison finds nothing left', async () => {
    const s = await stateful();
    const second = 1_700_000_000;
    await mkdir(s.file('dir/deep'), { recursive: true });
    // Changed in place, each in a directory nothing else changes: a directory that gained or lost
    // entries is sent one level deep, and would carry them along whether or not the start saw them.
    for (const dir of ['same', 'perm', 'links']) await mkdir(s.file(dir));
    await writeFile(s.file('same/same-second.txt'), 'aaaa');
    await utimes(s.file('same/same-second.txt'), second + 0.1, second + 0.1);
    await writeFile(s.file('deleted.txt'), 'deleted');
    await mkdir(s.file('deleted-dir/inner'), { recursive: true });
    await writeFile(s.file('deleted-dir/inner/f'), 'f');
    await writeFile(s.file('dir/renamed.txt'), 'renamed within its directory');
    await writeFile(s.file('dir/deep/moved.txt'), 'moved to another directory');
    await writeFile(s.file('perm/chmod.txt'), 'chmod');
    await chmod(s.file('perm/chmod.txt'), 0o644);
    await mkdir(s.file('dir-to-file'));
    await writeFile(s.file('dir-to-file/f'), 'f');
    await writeFile(s.file('file-to-dir'), 'a file');
    await writeFile(s.file('links/target-a'), 'a');
    await writeFile(s.file('links/target-b'), 'b');
    await symlink('target-a', s.file('links/link'));
    await writeFile(s.file('untouched.txt'), 'untouched');

    const first = await watching(s.env);
    expect(await s.status()).toMatchObject({
      start: { kind: 'full', reason: expect.stringMatching(/^no manifest yet/) },
    });
    await stopWritingManifest(first);
    const [manifest] = (await readdir(s.stateDir)).filter((name) => name.endsWith('.manifest'));
    expect(manifest).toBeDefined();

    // While it is stopped: every kind of change.
    await writeFile(s.file('same/same-second.txt'), 'bbbb');
    await utimes(s.file('same/same-second.txt'), second + 0.9, second + 0.9);
    await writeFile(s.file('created.txt'), 'created');
    await mkdir(s.file('created-dir/sub'), { recursive: true });
    await writeFile(s.file('created-dir/sub/f'), 'new and deep');
    await rm(s.file('deleted.txt'));
    await rm(s.file('deleted-dir'), { recursive: true });
    await rename(s.file('dir/renamed.txt'), s.file('dir/renamed-now.txt'));
    await rename(s.file('dir/deep/moved.txt'), s.file('moved-here.txt'));
    await chmod(s.file('perm/chmod.txt'), 0o600);
    await rm(s.file('dir-to-file'), { recursive: true });
    await writeFile(s.file('dir-to-file'), 'a file now');
    await rm(s.file('file-to-dir'));
    await mkdir(s.file('file-to-dir'));
    await writeFile(s.file('file-to-dir/f'), 'inside');
    await rm(s.file('links/link'));
    await symlink('target-b', s.file('links/link'));

    const second_ = await watching(s.env);
    const fast = second_.logs.find((line) => line.msg.startsWith('fast start'));
    // Compared by native/compare.c, which `npm run build` built (walked in workers where it was not).
    expect(fast).toMatchObject({ created: 7, deleted: 4, comparison: 'native', scanner: 'native' });
    expect(await s.status()).toMatchObject({
      ready: true,
      start: {
        kind: 'fast',
        reason: expect.stringMatching(/^the manifest of the last clean stop is trusted/),
      },
    });
    // Sent before ready, as one run of the start job, not by the full comparison.
    const started = second_.logs.find((line) => line.msg === 'synced' && line.kind === 'start');
    expect(started?.pathCount).toBeGreaterThan(0);
    await comparedInBackground(second_);
    await waitForMirror(target, s.source, s.remoteDir);
    expect(await s.drift()).toBe(0);
    expect(await s.starts('fast')).toBe(1);
    expect(await s.starts('full')).toBe(0);
    await stopWritingManifest(second_);

    // Nothing changed: ready without sending anything.
    const third = await watching(s.env);
    expect(third.logs.find((line) => line.msg.startsWith('fast start'))).toMatchObject({
      created: 0,
      changed: 0,
      deleted: 0,
    });
    await comparedInBackground(third);
    expect(await s.drift()).toBe(0);
    await stopWritingManifest(third);
  });

  it('repairs an edit made on the target while stopped in the full comparison, and counts it as drift', async () => {
    const s = await stateful();
    await writeFile(s.file('edited.txt'), 'original');
    await writeFile(s.file('kept.txt'), 'kept');
    await stopWritingManifest(await watching(s.env));
    const edit = await target.exec([
      'sh',
      '-c',
      'cd "$1" && echo "changed behind its back" > edited.txt && echo stray > stray.txt',
      'sh',
      s.remoteDir,
    ]);
    expect(edit.exitCode).toBe(0);
    const daemon = await watching(s.env);
    expect((await s.status()).start.kind).toBe('fast');
    await comparedInBackground(daemon);
    await waitForMirror(target, s.source, s.remoteDir);
    await waitFor('the drift to be counted', async () => (await s.drift()) === 2);
    await stopCleanly(daemon);
  });

  it('sends what happened to the source directory itself while stopped: its mode is the mirror top’s, and no drift', async () => {
    const s = await stateful();
    await writeFile(s.file('inside.txt'), 'inside');
    await chmod(s.source, 0o755);
    await stopWritingManifest(await watching(s.env));
    const mode = async () => (await target.exec(['stat', '-c', '%a', s.remoteDir])).output.trim();
    expect(await mode()).toBe('755');
    // Only the top's own mode changes: nothing inside it does.
    await chmod(s.source, 0o750);
    const daemon = await watching(s.env);
    expect(daemon.logs.find((line) => line.msg.startsWith('fast start'))).toMatchObject({
      created: 0,
      changed: 1,
      deleted: 0,
    });
    expect(await mode()).toBe('750'); // at ready, not by the full comparison after it
    await comparedInBackground(daemon);
    expect(await s.drift()).toBe(0);
    await stopCleanly(daemon);
  });

  it('does not trust the manifest after a kill -9, nor one written with other settings', async () => {
    const s = await stateful();
    await writeFile(s.file('a.txt'), 'a');
    await stopWritingManifest(await watching(s.env));

    const killed = await watching(s.env);
    expect((await s.status()).start.kind).toBe('fast');
    await killed.stop('SIGKILL');
    await writeFile(s.file('b.txt'), 'made while it was down');
    const after = await watching(s.env);
    expect(await s.status()).toMatchObject({
      start: { kind: 'full', reason: expect.stringMatching(/did not stop cleanly \(pid \d+/) },
    });
    expect(after.logs.find((line) => line.msg === 'full start: the manifest is not trusted')).toBeDefined();
    await waitForMirror(target, s.source, s.remoteDir);
    await stopWritingManifest(after);

    // Another filter: what the target holds was decided by other rules.
    const other = await watching({
      ...s.env,
      SYNC_EXCLUDE: '*.log',
      SYNC_HEALTH_PORT: String(await freePort()),
    });
    const line = other.logs.find((each) => each.msg === 'full start: the manifest is not trusted');
    expect(line?.reason).toMatch(/written for another filter/);
    await stopCleanly(other);
  });

  it('takes a full start, saying why, when a record deep in the manifest cannot be read', async () => {
    const s = await stateful();
    for (let i = 0; i < 5000; i++) await writeFile(s.file(`f${String(i).padStart(4, '0')}`), `${i}`);
    await stopWritingManifest(await watching(s.env));
    // Its header and index are whole (it opens and is trusted); its last section's first record
    // names a type no manifest holds, so only the comparison finds out.
    const [name] = (await readdir(s.stateDir)).filter((each) => each.endsWith('.manifest'));
    const path = join(s.stateDir, name ?? '');
    const opened = openManifest(path);
    const last = opened.file.sections.at(-1);
    opened.close();
    expect(opened.file.sections.length).toBeGreaterThan(1);
    const handle = await open(path, 'r+');
    await handle.write('q', (last?.offset ?? 0) + 6);
    await handle.close();
    await writeFile(s.file('made-while-down.txt'), 'sent by the full start');

    const daemon = await watching(s.env);
    expect(await s.status()).toMatchObject({
      start: { kind: 'full', reason: expect.stringMatching(/^the manifest could not be read: .*malformed/) },
    });
    const line = daemon.logs.find((each) => each.msg === 'full start: the manifest is not trusted');
    expect(line?.reason).toMatch(/malformed/);
    await waitForMirror(target, s.source, s.remoteDir);
    expect(await s.starts('full')).toBe(1);
    await stopCleanly(daemon);
  });
});

describe('a restart without SYNC_STATE_DIR', () => {
  const PARTIAL = '--partial-dir=.filesync-partial';
  /** The initial pass's arguments: the first rsync the job runner logs. */
  const initialPass = async (daemon: Daemon) =>
    (await daemon.waitForLog('the initial pass', (line) => line.msg === 'running rsync')).args as string[];

  it('looks for partial files only after a kill -9, and resumes the one a killed transfer left; a first start and one after a clean stop leave the partial-dir out', async () => {
    const s = await scenarioOn(target, { LOG_LEVEL: 'debug' });
    const marker = `${s.remoteDir}/.filesync-partial/.filesync-running`;
    const exists = async (path: string) => (await target.exec(['test', '-e', path])).exitCode === 0;
    const leftOut = (daemon: Daemon) =>
      daemon.logs.some((line) => line.msg.startsWith('full pass without the partial-dir'));
    await writeFile(s.file('a.bin'), 'the old version');

    const first = await watching(s.env); // a first start: no partial file can be waiting
    expect(await initialPass(first)).not.toContain(PARTIAL);
    expect(leftOut(first)).toBe(true);
    expect(await exists(marker)).toBe(true); // while it runs
    await stopCleanly(first);
    expect(await exists(`${s.remoteDir}/.filesync-partial`)).toBe(false); // removed with the marker

    await writeFile(s.file('b.txt'), 'made while it was stopped');
    const second = await watching(s.env);
    expect(await initialPass(second)).not.toContain(PARTIAL);
    await waitForMirror(target, s.source, s.remoteDir);
    // Its live runs keep the partial-dir.
    await writeFile(s.file('c.txt'), 'c');
    await second.waitForLog('a live run', (line) => line.msg === 'synced' && line.kind === 'batch');
    expect(second.logs.filter((line) => line.msg === 'running rsync').at(-1)?.args).toContain(PARTIAL);
    await second.stop('SIGKILL');
    expect(await exists(marker)).toBe(true);

    // What a transfer killed halfway leaves: the new version's first half, in the partial-dir.
    const content = randomBytes(2 * 1024 * 1024);
    await writeFile(s.file('a.bin'), content);
    const partial = `${s.remoteDir}/.filesync-partial/a.bin`;
    await target.container.copyContentToContainer([
      { content: content.subarray(0, content.length / 2), target: partial },
    ]);
    await target.container.exec(['chown', 'filesync:filesync', partial]); // as rsync would have left it
    const before = await target.receivedBytes();
    // Slowed, so that the pass outlasts the marker's answer: a start begins its first pass before
    // that answer is in, without the partial-dir, and when the marker turns out to be there it
    // stops that pass and runs it again with the partial-dir (one finished by then is kept).
    const third = await watching({ ...s.env, SYNC_RSYNC_BWLIMIT: '256' });
    await waitForMirror(target, s.source, s.remoteDir);
    const passes = third.logs
      .filter((line) => line.msg === 'running rsync')
      .map((line) => line.args as string[]);
    expect(passes.at(-1)).toContain(PARTIAL); // the pass that sent the file
    // Before it, at most the one that went ahead of the marker's answer (it nearly always does:
    // the marker's round trip begins with the first pass), without the partial-dir.
    expect(passes.slice(0, -1).map((args) => args.includes(PARTIAL))).toEqual(
      passes.length > 1 ? [false] : [],
    );
    expect(leftOut(third)).toBe(false);
    // Resumed: the second half was sent, not the whole file.
    expect((await target.receivedBytes()) - before).toBeLessThan(1.5 * 1024 * 1024);
    expect(await exists(partial)).toBe(false);
    await stopCleanly(third);
    expect(await exists(marker)).toBe(false);
  });
});
