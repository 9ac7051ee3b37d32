import { parseArgs } from 'node:util';
import type { Command, Flags, Output } from './commands/command.ts';
import { COMMANDS, DEFAULT_COMMAND, usage } from './commands/table.ts';
import { ExitCode, FilesyncError, messageOf } from './errors.ts';
import type { Logger } from './log.ts';
import { packageVersion } from './version.ts';

// Wires things together: the command line against the table of commands (commands/table.ts),
// the configuration loaded once, signals and exit codes. No logic lives here.

/** What the command line asks for, or what is wrong with it. */
export type CommandLine =
  | { readonly ok: true; readonly command: Command; readonly flags: Flags }
  | { readonly ok: true; readonly version: true }
  | { readonly ok: false; readonly message: string };

const GLOBAL_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** Parses argv against the table: one command (watch when none), and only the options it takes. */
export function parseCommandLine(argv: readonly string[]): CommandLine {
  const options = Object.fromEntries(
    COMMANDS.flatMap((command) =>
      Object.entries(command.options).map(([name, { type, short }]) => [
        name,
        short === undefined ? { type } : { type, short },
      ]),
    ),
  );
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: { ...options, ...GLOBAL_OPTIONS },
    });
  } catch (error) {
    return { ok: false, message: messageOf(error) };
  }
  const { help, version, ...flags } = parsed.values;
  const [name = DEFAULT_COMMAND, ...extra] = parsed.positionals;
  if (help === true) return { ok: true, command: helpCommand(), flags: {} };
  if (version === true) return { ok: true, version: true };
  if (name === 'help') return { ok: true, command: helpCommand(), flags: {} };
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (command === undefined) return { ok: false, message: `unknown command ${JSON.stringify(name)}` };
  if (extra.length > 0)
    return {
      ok: false,
      message: `${name} takes no arguments, got ${JSON.stringify(extra.join(' '))}`,
    };
  for (const option of Object.keys(flags)) {
    if (option in command.options) continue;
    const takers = COMMANDS.filter((candidate) => option in candidate.options).map(({ name }) => name);
    return { ok: false, message: `--${option} applies to ${takers.join(', ')} only` };
  }
  // No option is declared `multiple`, so no value is an array.
  return { ok: true, command, flags: flags as Flags };
}

/** Runs the command the arguments name; resolves with the process's exit code. */
export async function main(argv: readonly string[]): Promise<ExitCode> {
  const output: Output = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
  const line = parseCommandLine(argv);
  if (!line.ok) {
    output.err(`filesync: ${line.message}\n\n${usage()}`);
    return ExitCode.usage;
  }
  if ('version' in line) {
    output.out(packageVersion());
    return ExitCode.ok;
  }
  const { command, flags } = line;
  switch (command.needs) {
    case 'nothing':
      return command.run(flags, output);
    // The configuration (envalid) and the logger (pino) load only for the commands that use
    // them: `filesync sync` in a CI step starts in what Node itself takes (npm run bench: control).
    case 'health-port': {
      const { parseHealthPort } = await import('./config/load.ts');
      const port = parseHealthPort(process.env);
      if (!port.ok) {
        output.err(`filesync: invalid configuration:\n${port.problems.map((p) => `  - ${p}`).join('\n')}`);
        return ExitCode.config;
      }
      return command.run(port.port, flags, output);
    }
    case 'config': {
      const [{ loadConfig }, { unknownSettings }, { createLogger }] = await Promise.all([
        import('./config/load.ts'),
        import('./config/unknown.ts'),
        import('./log.ts'),
      ]);
      const result = await loadConfig(process.env);
      const unknown = unknownSettings(process.env);
      const problems = result.ok
        ? command.strictSettings === true
          ? unknown
          : []
        : [...result.problems, ...unknown];
      if (problems.length > 0) {
        const lines = problems.map((problem) => `  - ${problem}`).join('\n');
        output.err(`filesync: invalid configuration, nothing was started:\n${lines}`);
        return ExitCode.config;
      }
      if (!result.ok) return ExitCode.config; // unreachable: a failed load always has problems
      const { config } = result;
      const log = createLogger(config.log);
      for (const problem of unknown) log.warn({ hint: 'Fix the name, or remove it.' }, problem);
      try {
        return await command.run({ config, log, stop: stopSignal(log), flags, output });
      } catch (error) {
        if (error instanceof FilesyncError) {
          log.fatal({ err: error, code: error.code, hint: error.hint }, error.message);
          return ExitCode.failure;
        }
        throw error;
      }
    }
    default:
      return command satisfies never;
  }
}

/** Runs the command line's command and sets the exit code; an error that escapes it is a bug. */
export async function run(argv: readonly string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    process.stderr.write(
      `filesync: unexpected error, this is a bug: ${error instanceof Error ? error.stack : String(error)}\n`,
    );
    process.exitCode = ExitCode.failure;
  }
}

function helpCommand(): Command {
  const help = COMMANDS.find((command) => command.name === 'help');
  if (help === undefined) throw new Error('the command table has no help');
  return help;
}

/** Resolves with the first SIGTERM or SIGINT; a second one exits at once. */
function stopSignal(log: Logger): Promise<string> {
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
