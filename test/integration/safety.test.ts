import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Daemon, runCli } from './support/daemon.ts';
import {
  scenario as scenarioOn,
  stopCleanly,
  useTarget,
  waitForMirror,
  waitForRemote,
  watching,
} from './support/scenario.ts';
import type { Target } from './support/target.ts';
import { waitFor } from './support/wait.ts';

// Deletion safety: an empty or missing source (an unmounted volume, a host path Docker created
// empty) never empties the mirror, in `watch` and in `once`, unless SYNC_ALLOW_EMPTY_SOURCE says
// so; SYNC_MAX_DELETE caps what one run deletes.

let target: Target;
useTarget((started) => {
  target = started;
});

const scenario = (extra: Record<string, string> = {}) => scenarioOn(target, extra);

/** A mirror of three files, then a source emptied behind it. */
async function mirroredThenEmptied(extra: Record<string, string> = {}) {
  const s = await scenario(extra);
  await mkdir(s.file('docs'));
  for (const name of ['a.txt', 'b.txt', 'docs/c.txt']) await writeFile(s.file(name), name);
  expect((await runCli(s.env, ['once'])).exitCode).toBe(0);
  await rm(s.file('a.txt'));
  await rm(s.file('b.txt'));
  await rm(s.file('docs'), { recursive: true });
  return s;
}

const kept = (entries: Map<string, string>) =>
  entries.get('a.txt') === 'f' && entries.get('b.txt') === 'f' && entries.get('docs/c.txt') === 'f';

describe('an empty source', () => {
  it('keeps the mirror at start, says why on /readyz, and resumes once files appear', async () => {
    const s = await mirroredThenEmptied({ SYNC_RESYNC_INTERVAL: '0' });
    const daemon = Daemon.start(s.env);
    const held = await daemon.waitForLog('the guard', (line) => line.msg === 'sync failed: empty-source');
    expect(String(held.hint)).toMatch(/SYNC_ALLOW_EMPTY_SOURCE/);
    const ready = await s.health('/readyz');
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.body).reason).toMatch(/empty-source.*nothing was deleted/);
    expect((await s.health('/metrics')).body).toMatch(
      /filesync_syncs_total\{target="[^"]+",kind="full",outcome="empty-source"\} [1-9]/,
    );
    expect(kept(await s.remote())).toBe(true);

    // The volume is back: the held pass runs on its next retry and mirrors what is there now.
    await writeFile(s.file('new.txt'), 'the real data');
    await waitForMirror(target, s.source, s.remoteDir, 30_000);
    await waitFor('readiness', async () => (await s.health('/readyz')).status === 200, { timeoutMs: 30_000 });
    await stopCleanly(daemon);
  });

  it('keeps the mirror when the source empties while watching', async () => {
    const s = await scenario();
    for (const name of ['a.txt', 'b.txt']) await writeFile(s.file(name), name);
    const daemon = await watching(s.env);
    await rm(s.file('a.txt'));
    await rm(s.file('b.txt'));
    await daemon.waitForLog('the guard', (line) => line.msg === 'sync failed: empty-source');
    const entries = await s.remote();
    expect(entries.get('a.txt')).toBe('f');
    expect(entries.get('b.txt')).toBe('f');
    // After the initial pass, readiness stays (SYNC_READINESS=started); /status says why.
    const status = JSON.parse((await s.health('/status')).body);
    expect(status.targets[0]).toMatchObject({ state: 'failing', failure: { reason: 'empty-source' } });
    expect((await s.health('/readyz')).status).toBe(200);
    await daemon.stop();
  });

  it('is no fault when the mirror is empty too', async () => {
    const s = await scenario();
    const daemon = await watching(s.env);
    expect((await s.health('/readyz')).status).toBe(200);
    await writeFile(s.file('first.txt'), 'first');
    await waitForRemote('the first file', s.remote, (e) => e.get('first.txt') === 'f');
    await stopCleanly(daemon);
  });

  it('makes `once` exit 1 with the mirror kept, and empties it only when allowed', async () => {
    const s = await mirroredThenEmptied();
    const held = await runCli(s.env, ['once']);
    expect(held.exitCode).toBe(1);
    expect(held.stdout).toMatch(/"result":"empty-source"/);
    expect(kept(await s.remote())).toBe(true);

    const allowed = await runCli({ ...s.env, SYNC_ALLOW_EMPTY_SOURCE: 'true' }, ['once']);
    expect(allowed.exitCode).toBe(0);
    expect([...(await s.remote()).keys()]).toEqual([]);
  });

  it('refuses a missing source at start (78), and holds an empty one that Docker created', async () => {
    const s = await mirroredThenEmptied();
    await rm(s.source, { recursive: true });
    const missing = await runCli(s.env, ['once']);
    expect(missing.exitCode).toBe(78);
    expect(missing.stderr).toMatch(/SYNC_SOURCE_DIR/);
    // `docker run -v /missing:/data` creates /missing empty: the same as an unmounted volume.
    await mkdir(s.source);
    const created = await runCli(s.env, ['once']);
    expect(created.exitCode).toBe(1);
    expect(created.stdout).toMatch(/"result":"empty-source"/);
    expect(kept(await s.remote())).toBe(true);
  });
});

describe('SYNC_MAX_DELETE', () => {
  it('stops a run at the cap, names the reason, and verify still reports everything', async () => {
    const s = await scenario({ SYNC_MAX_DELETE: '2' });
    for (let i = 0; i < 6; i++) await writeFile(s.file(`f${i}.txt`), `file ${i}`);
    await writeFile(s.file('stays.txt'), 'stays');
    expect((await runCli(s.env, ['once'])).exitCode).toBe(0);
    for (let i = 0; i < 6; i++) await rm(s.file(`f${i}.txt`));

    const capped = await runCli(s.env, ['once']);
    expect(capped.exitCode).toBe(1);
    expect(capped.stdout).toMatch(/"result":"max-delete"/);
    expect(capped.stdout).toMatch(/SYNC_MAX_DELETE/);
    const left = [...(await s.remote()).keys()].filter((name) => /^f\d\.txt$/.test(name));
    expect(left).toHaveLength(4);

    const verify = await runCli(s.env, ['verify', '--json']);
    expect(verify.exitCode).toBe(1);
    expect(JSON.parse(verify.stdout).differences.extra).toHaveLength(4);
  });
});

describe('SYNC_MAX_DELETE while watching', () => {
  it('stops syncing once a run reaches the cap, instead of deleting that many more each retry', async () => {
    const s = await scenario({ SYNC_MAX_DELETE: '2' });
    for (let i = 0; i < 6; i++) await writeFile(s.file(`f${i}.txt`), `file ${i}`);
    await writeFile(s.file('stays.txt'), 'stays');
    const daemon = await watching(s.env);
    for (let i = 0; i < 6; i++) await rm(s.file(`f${i}.txt`));
    await waitFor(
      'two retries after the cap was reached',
      () => daemon.logs.filter((line) => line.msg === 'sync failed: max-delete').length >= 3,
      { timeoutMs: 30_000 },
    );
    const left = [...(await s.remote()).keys()].filter((name) => /^f\d\.txt$/.test(name));
    expect(left).toHaveLength(4);
    const { failure } = JSON.parse((await s.health('/status')).body).targets[0];
    expect(`${failure.reason}: ${failure.message}`).toMatch(/max-delete.*restarted/);
    await daemon.stop();
  });
});

describe('the source root itself', () => {
  it('counts only files the filter syncs: excluded entries and bare directories are empty', async () => {
    const s = await mirroredThenEmptied({ SYNC_EXCLUDE: '*.tmp' });
    await writeFile(join(s.source, 'scratch.tmp'), 'excluded');
    await mkdir(join(s.source, 'lost+found')); // a freshly formatted volume
    const held = await runCli(s.env, ['once']);
    expect(held.exitCode).toBe(1);
    expect(held.stdout).toMatch(/"result":"empty-source"/);
    expect(kept(await s.remote())).toBe(true);
  });
});
