// lsyncd on the same tree and target, for comparison, when it is installed.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { TARGET_USER, type Target } from '../test/integration/support/target.ts';
import { idleCpu, inotifyWatches, median, processStats, rsyncOnce, sshArgs } from './support.ts';

const luaString = (value: string) => JSON.stringify(value);

export async function measureLsyncd(
  target: Target,
  source: string,
  remoteDir: string,
  { runs, idleMs }: { runs: number; idleMs: number },
) {
  const which = await execa('lsyncd', ['--version'], { reject: false });
  if (which.exitCode !== 0) return { skipped: 'lsyncd is not installed (apt-get install lsyncd)' };
  const version = /Version: (\S+)/.exec(which.stdout)?.[1];
  await rsyncOnce(target, source, remoteDir); // in sync, as filesync's target is
  const config = join(await mkdtemp(join(tmpdir(), 'filesync-bench-lsyncd-')), 'lsyncd.lua');
  await writeFile(
    config,
    `settings { nodaemon = true, insist = false }
sync {
  default.rsync,
  source = ${luaString(source)},
  target = ${luaString(`${TARGET_USER}@${target.host}:${remoteDir}/`)},
  delay = 1,
  rsync = { archive = true, rsh = ${luaString(`/usr/bin/ssh ${sshArgs(target).join(' ')}`)} },
}
`,
  );
  const ready: number[] = [];
  let readings = { rssMiB: 0, inotifyWatches: 0, idleCpuSeconds: 0 };
  for (let i = 0; i < runs; i++) {
    const { child, readyMs } = await startLsyncd(config);
    ready.push(readyMs);
    const pid = child.pid ?? 0;
    if (i === runs - 1) {
      const idleCpuSeconds = await idleCpu(pid, idleMs);
      readings = { rssMiB: processStats(pid).rssMiB, inotifyWatches: inotifyWatches(pid), idleCpuSeconds };
    }
    child.kill('SIGTERM');
    await child;
  }
  return { version, readyMs: Math.round(median(ready)), ...readings };
}

/** Spawns lsyncd with `config` and resolves once it says its startup finished, with the time. */
export async function startLsyncd(config: string) {
  const begin = performance.now();
  const child = execa('lsyncd', ['-log', 'Normal', config], { reject: false, buffer: false });
  await new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (/Startup of .* finished/.test(seen)) resolve();
    });
    void child.then(() => reject(new Error(`lsyncd exited before its startup finished:\n${seen}`)));
  });
  return { child, readyMs: performance.now() - begin };
}
