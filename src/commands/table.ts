import type { Config } from '../config/config.ts';
import { describeTarget, targetName } from '../config/targets.ts';
import { ExitCode } from '../errors.ts';
import { createRuntime } from '../rsync/runtime.ts';
import { SshMaster } from '../rsync/ssh-master.ts';
import { packageVersion } from '../version.ts';
import { type Command, eachTarget, type OptionSpec, type Output, targetViews, worst } from './command.ts';

// Every command filesync has, in the order `filesync help` lists them. main.ts parses the
// command line against this table; the usage text is generated from it. A command's module
// loads only once it is chosen: `watch` starts its SSH handshake first, and loading the rest
// (prom-client, the watcher, the targets) takes as long as the handshake does.

const json = { type: 'boolean', description: 'print JSON, for scripts' } as const;

export const COMMANDS: readonly Command[] = [
  {
    name: 'watch',
    summary: 'mirror the source directory to the target continuously (default)',
    options: {},
    needs: 'config',
    async run({ config, log, stop }) {
      // Each target's SSH connection comes up while the rest of filesync loads, and so does a
      // fast start's comparison (SYNC_STATE_DIR).
      await using stack = new AsyncDisposableStack();
      const connected = [];
      for (const view of targetViews(config)) {
        const runtime = stack.use(await createRuntime(view));
        const master = stack.use(new SshMaster(runtime.ssh));
        master.ensure();
        connected.push({ config: view, connection: { runtime, master } });
      }
      const early = config.stateDir === undefined ? undefined : await loadPrestart();
      const setups = connected.map((setup) => ({
        ...setup,
        prestart: early?.prestartTarget(setup.config, undefined, connected.length),
      }));
      log.info(
        { version: packageVersion(), command: 'watch', config: describeConfig(config) },
        'filesync starting',
      );
      const { watchCommand } = await loadWatchCommand();
      return await watchCommand(config, log, stop, setups);
    },
  },
  {
    name: 'once',
    summary: 'one full pass, then exit (cron, Kubernetes Jobs, init containers)',
    options: {},
    needs: 'config',
    async run({ config, log, stop }) {
      const { onceCommand } = await import('./once.ts');
      const several = config.targets.length > 1;
      // Every target at once: one that is slow or down does not hold up the others.
      const codes = await eachTarget(config, { concurrent: true }, (view) =>
        onceCommand(view, several ? log.child({ target: targetName(view) }) : log, stop),
      );
      return worst(codes);
    },
  },
  {
    name: 'check',
    summary: 'verify the watch budget, key, host key, login, remote rsync and remote directory',
    options: {},
    needs: 'config',
    strictSettings: true,
    async run({ config, output }) {
      const { checkCommand, checkWatchBudget } = await import('./check.ts');
      const several = config.targets.length > 1;
      const budget = await checkWatchBudget(config, output.out);
      if (several) output.out('');
      const codes = await eachTarget(config, { concurrent: false }, (view, index) => {
        if (several) output.out(`${index > 0 ? '\n' : ''}target ${targetName(view)}`);
        return checkCommand(view, output.out);
      });
      if (several) {
        const failing = targetViews(config)
          .filter((_, i) => codes[i] !== ExitCode.ok)
          .map(targetName);
        output.out(failing.length === 0 ? '\nevery target passed' : `\nfailing: ${failing.join(', ')}`);
      }
      return worst([budget, ...codes]);
    },
  },
  {
    name: 'verify',
    summary: 'compare the source with the mirror and change nothing',
    options: { json },
    exitCodes: '0 in sync, 1 drifted, 2 could not compare',
    needs: 'config',
    async run({ config, stop, flags, output }) {
      const { verifyCommand } = await import('./verify.ts');
      const codes = await eachTarget(config, { concurrent: false }, (view) =>
        verifyCommand(view, stop, { json: flags.json === true, ...output }),
      );
      return worst(codes);
    },
  },
  {
    name: 'status',
    summary: 'ask the running daemon (on SYNC_HEALTH_PORT) how it is doing',
    options: { json },
    exitCodes: '0 healthy, 1 not, 2 no daemon answered',
    needs: 'health-port',
    async run(port, flags, output) {
      const { statusCommand } = await import('./status.ts');
      return statusCommand(port, { json: flags.json === true, ...output });
    },
  },
  {
    name: 'sync',
    summary: 'send what is pending now and wait until every target has it (CI steps)',
    options: {
      timeout: { type: 'string', value: 'duration', description: 'give up after this long (60s)' },
      'no-wait': { type: 'boolean', description: 'ask for the run, do not wait for it' },
    },
    exitCodes: '0 synced, 1 a target failed or the timeout passed, 2 no daemon answered',
    needs: 'nothing',
    async run(flags, output) {
      const { syncCommand } = await import('./sync.ts');
      return syncCommand(flags, output);
    },
  },
  {
    name: 'pause',
    summary: 'start no transfer until resumed; changes are kept (backups)',
    options: { for: { type: 'string', value: 'duration', description: 'resume by itself after this long' } },
    exitCodes: '0 paused, 2 no daemon answered',
    needs: 'nothing',
    async run(flags, output) {
      const { pauseCommand } = await import('./pause.ts');
      return pauseCommand(flags, output);
    },
  },
  {
    name: 'resume',
    summary: 'send what was collected while paused, and go on syncing',
    options: {},
    needs: 'nothing',
    async run(flags, output) {
      const { resumeCommand } = await import('./pause.ts');
      return resumeCommand(flags, output);
    },
  },
  {
    name: 'help',
    summary: 'print this text',
    options: {},
    needs: 'nothing',
    async run(_flags, { out }: Output) {
      out(usage());
      return ExitCode.ok;
    },
  },
];

/** The command that runs when none is named. */
export const DEFAULT_COMMAND = 'watch';

/** The usage text, from the table. */
export function usage(): string {
  const spelled = (command: Command) =>
    [
      command.name,
      ...Object.entries(command.options).map(([option, { value }]) =>
        value === undefined ? `[--${option}]` : `[--${option} <${value}>]`,
      ),
    ].join(' ');
  const width = Math.max(...COMMANDS.map((command) => spelled(command).length)) + 2;
  const lines = [
    `Usage: filesync [${COMMANDS.map(spelled).join('|')}]`,
    '',
    ...COMMANDS.map((command) => `  ${spelled(command).padEnd(width)}${command.summary}`),
    '',
    'Options:',
    '  -h, --help       print this text',
    '  -v, --version    print the version',
    ...commandOptions().map(
      ([option, { description }, takers]) => `  --${option.padEnd(15)}${description} (${takers.join(', ')})`,
    ),
    '',
    'Configuration comes from environment variables (SYNC_*); see docs/configuration.md.',
    'Exit codes: 0 success, 1 sync or check failed, 64 usage error, 78 invalid configuration;',
    COMMANDS.filter((command) => command.exitCodes !== undefined)
      .map((command) => `${command.name}: ${command.exitCodes}`)
      .join('; '),
  ];
  return lines.join('\n');
}

/** Each option the commands declare, once, with the commands that take it. */
function commandOptions(): [string, OptionSpec, string[]][] {
  const byName = new Map<string, [OptionSpec, string[]]>();
  for (const command of COMMANDS)
    for (const [option, spec] of Object.entries(command.options)) {
      const entry = byName.get(option) ?? [spec, []];
      entry[1].push(command.name);
      byName.set(option, entry);
    }
  return [...byName].map(([option, [spec, takers]]) => [option, spec, takers]);
}

// Outside the `await using` block above: tsc (5.9) does not rewrite the .ts extension of an
// import() inside one.
const loadWatchCommand = () => import('./watch.ts');
const loadPrestart = () => import('../state/prestart.ts');

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
