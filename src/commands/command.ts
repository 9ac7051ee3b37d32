import type { Config } from '../config/config.ts';
import { forTarget } from '../config/targets.ts';
import { ExitCode } from '../errors.ts';
import type { Logger } from '../log.ts';

// What a command is: a row of the table (table.ts) that main.ts parses against, and the one
// helper that runs a command for every target.

/** Where a command writes what it has to say to the person at the terminal. */
export interface Output {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** A command-line option; `--name`, a boolean flag unless it takes a value. */
export interface OptionSpec {
  readonly type: 'boolean' | 'string';
  readonly short?: string;
  /** What a value option takes, for the usage text: `--timeout <duration>`. */
  readonly value?: string;
  /** One line for the usage text. */
  readonly description: string;
}

/** The options given on the command line, by name. */
export type Flags = Readonly<Record<string, string | boolean | undefined>>;

/** What a command that needs the whole configuration runs with: it is loaded once, by main.ts. */
export interface RunContext {
  readonly config: Config;
  readonly log: Logger;
  /** Resolves with the first SIGTERM or SIGINT. */
  readonly stop: Promise<string>;
  readonly flags: Flags;
  readonly output: Output;
}

interface Declaration {
  readonly name: string;
  /** One line for the usage text. */
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** How its exit codes differ from the common ones, for the usage text. */
  readonly exitCodes?: string;
}

/** A command in the table: what it is called, what it takes, what it needs, and how it runs. */
export type Command = Declaration &
  (
    | {
        /** The whole configuration, checked before anything starts. */
        readonly needs: 'config';
        /** Unknown SYNC_* names are errors rather than warnings: where a person checks settings. */
        readonly strictSettings?: boolean;
        run(context: RunContext): Promise<ExitCode>;
      }
    | {
        /** Only SYNC_HEALTH_PORT: the command asks the running daemon, which has the rest. */
        readonly needs: 'health-port';
        run(port: number, flags: Flags, output: Output): Promise<ExitCode>;
      }
    | {
        /** Nothing from the environment. */
        readonly needs: 'nothing';
        run(flags: Flags, output: Output): Promise<ExitCode>;
      }
  );

/** One target's run of a command: the configuration as that target sees it (`remote`). */
export type TargetRun = (view: Config, index: number) => Promise<ExitCode>;

/**
 * Runs a command for every target and returns their exit codes in the targets' order: one after
 * another, or all at once, so that one that is slow or down holds up no other. All at once,
 * every target finishes before the error of one is thrown.
 */
export async function eachTarget(
  config: Config,
  { concurrent }: { readonly concurrent: boolean },
  run: TargetRun,
): Promise<ExitCode[]> {
  const views = targetViews(config);
  if (!concurrent) {
    const codes: ExitCode[] = [];
    for (const [index, view] of views.entries()) codes.push(await run(view, index));
    return codes;
  }
  const runs = await Promise.allSettled(views.map((view, index) => run(view, index)));
  const thrown = runs.find((result) => result.status === 'rejected');
  if (thrown !== undefined) throw thrown.reason;
  return runs.map((result) => (result.status === 'fulfilled' ? result.value : ExitCode.failure));
}

/** The configuration as each target sees it (`remote` is that target), in the targets' order. */
export function targetViews(config: Config): Config[] {
  return config.targets.map((remote) => forTarget(config, remote));
}

/** The worst of several exit codes: any target's failure is the whole command's. */
export function worst(codes: readonly ExitCode[]): ExitCode {
  return Math.max(ExitCode.ok, ...codes) as ExitCode;
}
