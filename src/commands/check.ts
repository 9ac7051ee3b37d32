import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Config } from '../config/config.ts';
import { ExitCode } from '../errors.ts';
import { Filter } from '../filter.ts';
import { planMkpathProbe, planProbe } from '../plan/dry-runs.ts';
import { classify, type Outcome, RsyncExit } from '../rsync/outcome.ts';
import { processRunner } from '../rsync/runner.ts';
import { createRuntime } from '../rsync/runtime.ts';
import { commandArgs, type SshTarget } from '../rsync/ssh.ts';
import { countWatchedDirectories, inotifyInUse, judgeBudget, readInotifyLimits } from '../watch/budget.ts';

// `filesync check`: each step of reaching the target, one line a verdict, in the order they
// depend on each other. It stops at the first failure, since later steps cannot pass.

interface Verdict {
  readonly ok: boolean;
  readonly detail: string;
}

interface Step {
  readonly name: string;
  readonly run: () => Promise<Verdict>;
}

/** rsync features filesync relies on (--mkpath) arrived in 3.2.3. */
const MIN_REMOTE_RSYNC = [3, 2, 3] as const;

export async function checkCommand(config: Config, print: (line: string) => void): Promise<ExitCode> {
  await using runtime = await createRuntime(config);
  const ssh = runtime.ssh;
  const remote = `${config.remote.user}@${config.remote.host}:${config.remote.port}`;
  // Set by the authentication step when the key runs rrsync as a forced command: no shell, so
  // the later steps speak rsync's protocol only.
  const login: Login = { restricted: false };
  const steps: Step[] = [
    { name: 'key', run: () => checkKey(config, ssh) },
    { name: 'reachable', run: () => checkReachable(config) },
    { name: 'host key', run: () => checkHostKey(ssh, config, remote) },
    { name: 'authentication', run: () => checkAuth(ssh, remote, login) },
    {
      name: 'remote rsync',
      run: () =>
        login.restricted ? checkRestrictedRsync(config, ssh) : checkRemoteRsync(config, ssh, login),
    },
    { name: 'remote directory', run: () => checkRemoteDir(config, ssh) },
  ];
  print(`PASS  ${'configuration'.padEnd(17)}source ${config.sourceDir} → ${remote}:${config.remote.dir}`);
  for (const step of steps) {
    const verdict = await step.run();
    print(`${verdict.ok ? 'PASS' : 'FAIL'}  ${step.name.padEnd(17)}${verdict.detail}`);
    if (!verdict.ok) {
      print(`check failed at "${step.name}"; nothing was changed on the target.`);
      return ExitCode.failure;
    }
  }
  print('all checks passed');
  return ExitCode.ok;
}

/**
 * The watch budget, once for every target: the directories the native watcher will watch
 * against the kernel's limits for this uid. Warns from 80 %, fails at 100 % (exit 1), each with
 * the sysctl to run on the host. Local: it does not stop the target's checks.
 */
export async function checkWatchBudget(config: Config, print: (line: string) => void): Promise<ExitCode> {
  const step = 'watch budget'.padEnd(17);
  if (config.watch.mode === 'poll') {
    print(`PASS  ${step}SYNC_WATCH_MODE=poll holds no watches`);
    return ExitCode.ok;
  }
  const directories = countWatchedDirectories(config.sourceDir, new Filter(config.filter));
  const verdict = judgeBudget(directories, readInotifyLimits(), await inotifyInUse());
  const chokidar =
    config.watch.mode === 'chokidar'
      ? ' (SYNC_WATCH_MODE=chokidar also watches every file: more than this)'
      : '';
  const label = { ok: 'PASS', warn: 'WARN', fail: 'FAIL' }[verdict.level];
  print(
    `${label}  ${step}${verdict.detail}${chokidar}${verdict.hint === undefined ? '' : `: ${verdict.hint}`}`,
  );
  if (verdict.level === 'fail')
    print('the watcher would run out of watches and fall back to polling: raise the limit before starting.');
  return verdict.level === 'fail' ? ExitCode.failure : ExitCode.ok;
}

async function checkKey(config: Config, ssh: SshTarget): Promise<Verdict> {
  // -P '' fails on a passphrase-protected key, which BatchMode ssh could not use either.
  const result = await execa('ssh-keygen', ['-y', '-P', '', '-f', ssh.identityFile], { reject: false });
  if (result.exitCode !== 0) {
    return {
      ok: false,
      detail: `${config.ssh.keyPath} is not a usable private key without a passphrase (${result.stderr.trim() || result.shortMessage})`,
    };
  }
  const fingerprint = await execa('ssh-keygen', ['-l', '-f', '-'], { input: result.stdout, reject: false });
  return { ok: true, detail: `${config.ssh.keyPath} (${fingerprint.stdout.trim()})` };
}

/** How long `check` waits for the target's SSH greeting. */
const REACH_TIMEOUT_MS = 10_000;

/** Something answers at host:port, and it greets like an SSH server. */
async function checkReachable({ remote }: Config): Promise<Verdict> {
  const address = `${remote.host}:${remote.port}`;
  const fix = 'check SYNC_REMOTE_HOST and SYNC_REMOTE_PORT, and that sshd runs there';
  const greeting = await new Promise<string | Error>((resolve) => {
    const socket = connect({ host: remote.host, port: remote.port });
    let received = '';
    socket.setTimeout(REACH_TIMEOUT_MS, () => {
      socket.destroy();
      resolve(new Error(received === '' ? `no answer within ${REACH_TIMEOUT_MS / 1000}s` : 'no greeting'));
    });
    socket.setEncoding('latin1');
    // A server may send other lines before its version line (RFC 4253, 4.2).
    socket.on('data', (chunk: string) => {
      received += chunk;
      const lines = received.split(/\r?\n/);
      const version = lines.slice(0, -1).find((line) => line.startsWith('SSH-'));
      if (version !== undefined || received.length > 4096) {
        socket.destroy();
        resolve(version ?? lines[0] ?? '');
      }
    });
    socket.on('error', resolve);
    socket.on('close', () =>
      resolve(received === '' ? new Error('the connection was closed at once') : received),
    );
  });
  if (greeting instanceof Error) {
    const code = (greeting as NodeJS.ErrnoException).code;
    return { ok: false, detail: `cannot reach ${address} (${code ?? greeting.message}): ${fix}.` };
  }
  if (!greeting.startsWith('SSH-')) {
    return {
      ok: false,
      detail: `${address} answers, but not as an SSH server (${JSON.stringify(greeting.slice(0, 60))}): ${fix}.`,
    };
  }
  return { ok: true, detail: `${address} answers as ${greeting.trim()}` };
}

async function checkHostKey(ssh: SshTarget, config: Config, remote: string): Promise<Verdict> {
  // No authentication is offered, so this gets only as far as verifying the host key: being
  // refused for want of credentials means the key matched.
  const { outcome } = await runSsh(ssh, ['true'], ['-o', 'PreferredAuthentications=none']);
  if (!outcome.ok && (outcome.reason === 'host-key' || outcome.reason === 'unreachable')) {
    return failed(outcome);
  }
  const source =
    config.ssh.hostKeyPolicy === 'strict'
      ? `pinned in ${ssh.knownHostsFile}`
      : `accepted on first use into ${ssh.knownHostsFile}`;
  return { ok: true, detail: `${remote} presents the host key ${source}` };
}

interface Login {
  restricted: boolean;
}

async function checkAuth(ssh: SshTarget, remote: string, login: Login): Promise<Verdict> {
  const { outcome } = await runSsh(ssh, ['true']);
  if (outcome.ok) return { ok: true, detail: `logged in to ${remote} with the key` };
  // rrsync answered `true` with its refusal: the login went through, to a forced command.
  if (outcome.reason === 'restricted' && outcome.exitCode !== RsyncExit.remoteShell) {
    login.restricted = true;
    return {
      ok: true,
      detail: `logged in to ${remote} with the key, which rrsync restricts to rsync (no shell)`,
    };
  }
  return failed(outcome);
}

/**
 * Behind rrsync there is no `rsync --version` to read, and rsync's protocol tells no version.
 * What filesync needs of it is --mkpath (3.2.3): a dry run with it into the remote directory
 * shows it is understood, and creates nothing.
 */
async function checkRestrictedRsync(config: Config, ssh: SshTarget): Promise<Verdict> {
  const empty = await mkdtemp(join(tmpdir(), 'filesync-empty-'));
  try {
    const plan = planMkpathProbe(empty, { config, filter: new Filter({ include: [], exclude: [] }), ssh });
    const outcome = await processRunner.run(plan, AbortSignal.timeout(60_000));
    if (!outcome.ok) {
      return {
        ok: false,
        detail: `rsync on the target, behind rrsync, refused a dry run with --mkpath (rsync ≥ ${MIN_REMOTE_RSYNC.join('.')} is needed): ${outcome.message} — ${outcome.hint}`,
      };
    }
    return {
      ok: true,
      detail: `rsync behind rrsync takes --mkpath, so it is ${MIN_REMOTE_RSYNC.join('.')} or newer (rrsync hides the exact version)`,
    };
  } finally {
    await rm(empty, { recursive: true, force: true });
  }
}

async function checkRemoteRsync(config: Config, ssh: SshTarget, login: Login): Promise<Verdict> {
  const result = await runSsh(ssh, ['rsync', '--version']);
  // rrsync from rsync 3.4 on lets `true` through, and refuses only here.
  if (!result.outcome.ok && result.outcome.reason === 'restricted') {
    login.restricted = true;
    return checkRestrictedRsync(config, ssh);
  }
  const version = /rsync\s+version\s+v?(\d+)\.(\d+)\.(\d+)/.exec(result.stdout);
  if (result.outcome.ok === false || version === null) {
    return {
      ok: false,
      detail: 'rsync is not installed on the target: install it there (apt-get install rsync).',
    };
  }
  const found = version.slice(1, 4).map(Number);
  const tooOld = compareVersions(found, MIN_REMOTE_RSYNC) < 0;
  const text = found.join('.');
  return tooOld
    ? {
        ok: false,
        detail: `rsync ${text} on the target is older than ${MIN_REMOTE_RSYNC.join('.')}; upgrade it.`,
      }
    : { ok: true, detail: `rsync ${text}` };
}

async function checkRemoteDir(config: Config, ssh: SshTarget): Promise<Verdict> {
  // Writes a probe file with the same options as a real batch, then removes it; the probe's
  // plans are scoped to its one name, so nothing else on the target is touched.
  const probeDir = await mkdtemp(join(tmpdir(), 'filesync-probe-'));
  const name = `.filesync-check-${process.pid}-${Date.now()}`;
  try {
    await writeFile(join(probeDir, name), 'filesync check\n');
    const context = {
      config: { ...config, sourceDir: probeDir },
      filter: new Filter({ include: [], exclude: [] }),
      ssh,
    };
    const write = await processRunner.run(planProbe(name, 'write', context), AbortSignal.timeout(60_000));
    await rm(join(probeDir, name));
    // A refused owner still leaves the probe there, the SSH user's: it goes too.
    const remove = await processRunner.run(planProbe(name, 'remove', context), AbortSignal.timeout(60_000));
    if (!write.ok && write.reason === 'ownership')
      return {
        ok: false,
        detail: `the target refused the owner asked for: ${write.message} — ${write.hint}`,
      };
    if (!write.ok)
      return {
        ok: false,
        detail: `cannot write into ${config.remote.dir}: ${write.message} — ${write.hint}`,
      };
    if (!remove.ok) return { ok: false, detail: `cannot delete in ${config.remote.dir}: ${remove.message}` };
    const { chown, usermap, groupmap } = config.rsync.ownership;
    const owned = chown !== undefined || usermap.length > 0 || groupmap.length > 0;
    return {
      ok: true,
      detail: `${config.remote.dir} is writable (a probe file was written${owned ? ' with the owner asked for' : ''} and removed)`,
    };
  } finally {
    await rm(probeDir, { recursive: true, force: true });
  }
}

async function runSsh(
  ssh: SshTarget,
  remoteCommand: readonly string[],
  extraOptions: readonly string[] = [],
): Promise<{ outcome: Outcome; stdout: string }> {
  const result = await execa('ssh', commandArgs(ssh, remoteCommand, extraOptions), {
    reject: false,
    stdin: 'ignore',
    timeout: 30_000,
  });
  // ssh's own failures exit 255, and its stderr names the cause the same way rsync's does.
  return { outcome: classify(result.exitCode ?? 255, result.stderr, ''), stdout: result.stdout };
}

function failed(outcome: Outcome & { ok: false }): Verdict {
  return { ok: false, detail: `${outcome.message} — ${outcome.hint}` };
}

function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
