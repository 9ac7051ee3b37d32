import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Config } from './config/config.ts';
import { loadConfig, parseHealthPort } from './config/load.ts';
import { describeTarget, forTarget, targetName } from './config/targets.ts';
import { unknownSettings } from './config/unknown.ts';
import { ExitCode, FilesyncError, messageOf } from './errors.ts';
import { createLogger } from './log.ts';
import { createRuntime } from './runtime.ts';
import { SshMaster } from './sync/ssh-master.ts';

// Wires things together: arguments, configuration, signals and exit codes. No logic lives here.
// Each command's modules load only once it is chosen: `watch` starts its SSH handshake first,
// and loading the rest (execa, prom-client, the watcher) takes as long as the handshake does.

const USAGE = `Usage: filesync [watch|once|check|verify [--json]|status [--json]|help]

  watch   mirror the source directory to the target continuously (default)
  once    one full pass, then exit (cron, Kubernetes Jobs, init containers)
  check   verify the key, host key, login, remote rsync and remote directory
  verify  compare the source with the mirror and change nothing; --json for scripts
  status  ask the running daemon (on SYNC_HEALTH_PORT) how it is doing; --json for scripts

Configuration comes from environment variables (SYNC_*); see docs/configuration.md.
Exit codes: 0 success, 1 sync or check failed, 64 usage error, 78 invalid configuration;
verify: 0 in sync, 1 drifted, 2 could not compare; status: 0 healthy, 1 not, 2 no daemon answered.`;

const COMMANDS = ['watch', 'once', 'check', 'verify', 'status'] as const;
type Command = (typeof COMMANDS)[number];
/** Commands that take --json. */
const JSON_COMMANDS: readonly Command[] = ['verify', 'status'];

async function main(argv: readonly string[]): Promise<ExitCode> {
  let parsed: ReturnType<typeof parseCli>;
  try {
    parsed = parseCli(argv);
  } catch (error) {
    process.stderr.write(`filesync: ${messageOf(error)}\n\n${USAGE}\n`);
    return ExitCode.usage;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.ok;
  }
  if (parsed.values.version) {
    process.stdout.write(`${packageVersion()}\n`);
    return ExitCode.ok;
  }
  const [name = 'watch', ...extra] = parsed.positionals;
  if (name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return ExitCode.ok;
  }
  if (!COMMANDS.includes(name as Command)) {
    process.stderr.write(`filesync: unknown command ${JSON.stringify(name)}\n\n${USAGE}\n`);
    return ExitCode.usage;
  }
  if (extra.length > 0) {
    process.stderr.write(
      `filesync: ${name} takes no arguments, got ${JSON.stringify(extra.join(' '))}\n\n${USAGE}\n`,
    );
    return ExitCode.usage;
  }
  const command = name as Command;
  if (parsed.values.json && !JSON_COMMANDS.includes(command)) {
    process.stderr.write(`filesync: --json applies to ${JSON_COMMANDS.join(', ')} only\n\n${USAGE}\n`);
    return ExitCode.usage;
  }

  if (command === 'status') return statusOf(parsed.values.json === true);

  const result = await loadConfig(process.env);
  const unknown = unknownSettings(process.env);
  // `check` is where a person asks whether the settings are right: there a typo is an error.
  const problems = result.ok ? (command === 'check' ? unknown : []) : [...result.problems, ...unknown];
  if (problems.length > 0) {
    const lines = problems.map((problem) => `  - ${problem}`).join('\n');
    process.stderr.write(`filesync: invalid configuration, nothing was started:\n${lines}\n`);
    return ExitCode.config;
  }
  if (!result.ok) return ExitCode.config; // unreachable: a failed load always has problems
  const { config } = result;
  const log = createLogger(config.log);
  for (const problem of unknown) log.warn({ hint: 'Fix the name, or remove it.' }, problem);
  const stop = stopSignal(log);
  const perTarget = config.targets.map((remote) => forTarget(config, remote));
  const several = perTarget.length > 1;

  try {
    switch (command) {
      case 'watch': {
        // Each target's SSH connection comes up while the rest of filesync loads.
        await using stack = new AsyncDisposableStack();
        const setups = [];
        for (const view of perTarget) {
          const runtime = stack.use(await createRuntime(view));
          const master = stack.use(new SshMaster(runtime.ssh));
          master.ensure();
          setups.push({ config: view, connection: { runtime, master } });
        }
        log.info({ version: packageVersion(), command, config: describeConfig(config) }, 'filesync starting');
        const { watchCommand } = await loadWatchCommand();
        return await watchCommand(config, log, stop, setups);
      }
      case 'once': {
        const { onceCommand } = await import('./commands/once.ts');
        // Every target at once: one that is slow or down does not hold up the others.
        const runs = await Promise.allSettled(
          perTarget.map((view) =>
            onceCommand(view, several ? log.child({ target: targetName(view) }) : log, stop),
          ),
        );
        // Every target has finished before an error of one is reported.
        const thrown = runs.find((run) => run.status === 'rejected');
        if (thrown !== undefined) throw thrown.reason;
        return worst(runs.map((run) => (run.status === 'fulfilled' ? run.value : ExitCode.failure)));
      }
      case 'check': {
        const { checkCommand } = await import('./commands/check.ts');
        const codes: ExitCode[] = [];
        for (const view of perTarget) {
          if (several) process.stdout.write(`${codes.length > 0 ? '\n' : ''}target ${targetName(view)}\n`);
          codes.push(await checkCommand(view, (line) => process.stdout.write(`${line}\n`)));
        }
        if (several) {
          const failing = perTarget.filter((_, i) => codes[i] !== ExitCode.ok).map(targetName);
          process.stdout.write(
            failing.length === 0 ? '\nevery target passed\n' : `\nfailing: ${failing.join(', ')}\n`,
          );
        }
        return worst(codes);
      }
      case 'verify': {
        const { verifyCommand } = await import('./commands/verify.ts');
        const codes: ExitCode[] = [];
        for (const view of perTarget) {
          codes.push(
            await verifyCommand(view, stop, {
              json: parsed.values.json === true,
              out: (line) => process.stdout.write(`${line}\n`),
              err: (line) => process.stderr.write(`${line}\n`),
            }),
          );
        }
        return worst(codes);
      }
      default:
        return command satisfies never;
    }
  } catch (error) {
    if (error instanceof FilesyncError) {
      log.fatal({ err: error, code: error.code, hint: error.hint }, error.message);
      return ExitCode.failure;
    }
    throw error;
  }
}

/** `filesync status` reads only SYNC_HEALTH_PORT: it asks the daemon, which has the rest. */
async function statusOf(json: boolean): Promise<ExitCode> {
  const port = parseHealthPort(process.env);
  if (!port.ok) {
    process.stderr.write(
      `filesync: invalid configuration:\n${port.problems.map((p) => `  - ${p}`).join('\n')}\n`,
    );
    return ExitCode.config;
  }
  const { statusCommand } = await import('./commands/status.ts');
  return statusCommand(port.port, {
    json,
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}

// Outside the `await using` block above: tsc (5.9) does not rewrite the .ts extension of an
// import() inside one.
const loadWatchCommand = () => import('./commands/watch.ts');

function parseCli(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
      json: { type: 'boolean' },
    },
  });
}

/** Resolves with the first SIGTERM or SIGINT; a second one exits at once. */
function stopSignal(log: ReturnType<typeof createLogger>): Promise<string> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (received) {
        log.warn({ signal }, 'second signal: exiting without waiting for pending changes');
        process.exit(ExitCode.failure);
      }
      received = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** The worst of several commands' exit codes: any failure is the whole command's. */
function worst(codes: readonly ExitCode[]): ExitCode {
  return Math.max(ExitCode.ok, ...codes) as ExitCode;
}

/** The settings worth a start-up line; the key's contents are never read into a log. */
function describeConfig(config: Config) {
  return {
    source: config.sourceDir,
    ...(config.targets.length === 1
      ? { target: describeTarget(config.remote) }
      : { targets: config.targets.map(describeTarget) }),
    hostKeyPolicy: config.ssh.hostKeyPolicy,
    delete: config.rsync.delete,
    include: config.filter.include,
    exclude: config.filter.exclude,
    debounceMs: config.debounceMs,
    maxDelayMs: config.maxDelayMs,
    resyncIntervalMs: config.resyncIntervalMs,
    healthPort: config.healthPort,
  };
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(
      `filesync: unexpected error, this is a bug: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exitCode = ExitCode.failure;
  },
);
