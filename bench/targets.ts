// SYNC_TARGETS: one watcher feeding two healthy targets and one frozen one, next to
// the same daemon with one target: how soon a change is on every healthy target, and what the
// extra targets cost in memory and kernel watches.
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { execa } from 'execa';
import { Daemon, freePort } from '../test/integration/support/daemon.ts';
import { startTarget, TARGET_HOME, TARGET_USER, type Target } from '../test/integration/support/target.ts';
import { waitFor } from '../test/integration/support/wait.ts';
import { inotifyWatches, percentile, processStats, writeTree } from './support.ts';

const SAMPLES = 15;

export async function measureTargets(first: Target, firstMirror: string) {
  const secondMirror = await mkdtemp(join(tmpdir(), 'filesync-bench-mirror2-'));
  await chmod(secondMirror, 0o777);
  await using second = await startTarget({
    mirrorDir: secondMirror,
    keyPair: { keyPath: first.keyPath, publicKey: first.publicKey },
  });
  const knownHosts = join(await mkdtemp(join(tmpdir(), 'filesync-bench-known-')), 'known_hosts');
  await writeFile(
    knownHosts,
    (await readFile(first.knownHostsPath, 'utf8')) + (await readFile(second.knownHostsPath, 'utf8')),
  );
  const source = await mkdtemp(join(tmpdir(), 'filesync-bench-targets-'));
  await writeTree(source, 10_000, 100);
  const url = (t: Target, name: string) => `ssh://${TARGET_USER}@${t.host}:${t.port}${TARGET_HOME}/${name}`;
  const common = {
    SYNC_SOURCE_DIR: source,
    SYNC_SSH_KEY: first.keyPath,
    SYNC_KNOWN_HOSTS: knownHosts,
    SYNC_DEBOUNCE: '200ms',
    NODE_OPTIONS: '--max-semi-space-size=4',
  };

  const run = async (targets: string[], mirrors: string[], name: string) => {
    const daemon = Daemon.start({
      ...common,
      SYNC_TARGETS: targets.join(','),
      SYNC_HEALTH_PORT: String(await freePort()),
    });
    await waitFor(
      "every healthy target's initial pass",
      () => daemon.logs.filter((l) => l.msg.startsWith('initial sync complete')).length === mirrors.length,
      { intervalMs: 5, timeoutMs: 600_000 },
    );
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const file = `dir0/${name}-${i}.txt`;
      const start = performance.now();
      await writeFile(join(source, file), `sample ${i}`);
      await waitFor('arrival everywhere', () => mirrors.every((m) => existsSync(join(m, file))), {
        intervalMs: 5,
        timeoutMs: 60_000,
      });
      samples.push(performance.now() - start);
      await delay(300);
    }
    const pid = daemon.pid ?? 0;
    const { rssMiB } = processStats(pid);
    const watches = inotifyWatches(pid);
    await daemon.stop();
    return {
      targets: targets.length,
      healthy: mirrors.length,
      p50Ms: Math.round(percentile(samples, 50)),
      p95Ms: Math.round(percentile(samples, 95)),
      rssMiB,
      inotifyWatches: watches,
    };
  };

  // The third target is down the hard way: frozen (docker pause), so its connections stall
  // until ssh's ConnectTimeout and rsync's --timeout give up, rather than being refused.
  await using stalled = await startTarget({
    keyPair: { keyPath: first.keyPath, publicKey: first.publicKey },
  });
  await writeFile(knownHosts, await readFile(stalled.knownHostsPath, 'utf8'), { flag: 'a' });
  await execa('docker', ['pause', stalled.container.getId()]);
  const one = await run([url(first, 'targets-one')], [join(firstMirror, 'targets-one')], 'one');
  const three = await run(
    [url(first, 'targets-a'), url(stalled, 'targets-stalled'), url(second, 'targets-b')],
    [join(firstMirror, 'targets-a'), join(secondMirror, 'targets-b')],
    'three',
  );
  await execa('docker', ['unpause', stalled.container.getId()]);
  return {
    files: 10_000,
    debounceMs: 200,
    oneTarget: one,
    twoHealthyOneStalled: three,
    extraRssMiBPerTarget: Math.round(((three.rssMiB - one.rssMiB) / 2) * 10) / 10,
  };
}
