import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import { type SettingName, schema } from './schema.ts';
import { tokenProblem } from './token.ts';

// The filesystem half of loading the configuration: the source directory, the key and
// known_hosts must be there, readable (or writable) by this user, before anything starts.

/** What checkFiles needs of the configuration. */
export interface FileSettings {
  readonly sourceDir: string | undefined;
  readonly remote: { readonly host: string; readonly port: number };
  readonly ssh: {
    readonly keyPath: string | undefined;
    readonly knownHostsPath: string | undefined;
    readonly hostKeyPolicy: string | undefined;
  };
}

/** The file settings as given, where the rest of the environment did not parse. */
export function fileSettingsOf(env: NodeJS.ProcessEnv): FileSettings {
  const given = (name: SettingName) => (env[name]?.trim() ? env[name] : undefined);
  const port = Number(env.SYNC_REMOTE_PORT ?? 22);
  return {
    sourceDir: given('SYNC_SOURCE_DIR'),
    remote: { host: given('SYNC_REMOTE_HOST') ?? 'HOST', port: Number.isInteger(port) ? port : 22 },
    ssh: {
      keyPath: given('SYNC_SSH_KEY'),
      knownHostsPath: given('SYNC_KNOWN_HOSTS'),
      hostKeyPolicy: given('SYNC_HOST_KEY_POLICY') ?? String(schema.SYNC_HOST_KEY_POLICY.default),
    },
  };
}

/** The filesystem half: the paths the configuration names must exist and be readable. */
export async function checkFiles(config: FileSettings): Promise<string[]> {
  const problems: string[] = [];
  // A setting not given at all has its own problem already ("… is required").
  const { sourceDir } = config;
  const source = sourceDir === undefined ? undefined : await stat(sourceDir).catch(() => null);
  if (source === null) {
    problems.push(
      `SYNC_SOURCE_DIR: ${sourceDir} does not exist; create it or mount the directory to mirror there.`,
    );
  } else if (source !== undefined && !source.isDirectory()) {
    problems.push(`SYNC_SOURCE_DIR: ${sourceDir} is not a directory.`);
  } else if (sourceDir !== undefined && !(await readable(sourceDir, constants.R_OK | constants.X_OK))) {
    problems.push(`SYNC_SOURCE_DIR: ${sourceDir} is not readable by this user (uid ${process.getuid?.()}).`);
  }

  const keyPath = config.ssh.keyPath;
  const key =
    keyPath === undefined
      ? undefined
      : await readFile(keyPath, 'utf8').catch((error: NodeJS.ErrnoException) => error);
  if (key instanceof Error) {
    problems.push(
      `SYNC_SSH_KEY: cannot read ${keyPath} (${key.code ?? key.message}); mount the private key there, readable by uid ${process.getuid?.()}.`,
    );
  } else if (key !== undefined && !key.includes('PRIVATE KEY')) {
    problems.push(`SYNC_SSH_KEY: ${keyPath} does not look like an SSH private key.`);
  }

  const knownHosts = config.ssh.knownHostsPath;
  if (
    knownHosts !== undefined &&
    config.ssh.hostKeyPolicy === 'strict' &&
    !(await readable(knownHosts, constants.R_OK))
  ) {
    problems.push(
      `SYNC_KNOWN_HOSTS: cannot read ${knownHosts}; under the strict policy it must list the target's host key (ssh-keyscan -p ${config.remote.port} ${config.remote.host}).`,
    );
  }
  if (
    knownHosts !== undefined &&
    config.ssh.hostKeyPolicy === 'accept-new' &&
    !(await writable(knownHosts))
  ) {
    problems.push(
      `SYNC_KNOWN_HOSTS: cannot write ${knownHosts} (uid ${process.getuid?.()}); under accept-new the key seen first is kept there, so mount a writable volume at ${dirname(knownHosts)} (the file need not exist yet), or pin the key and use strict.`,
    );
  }
  return problems;
}

/** The file can be written, or created where it does not exist yet. */
async function writable(path: string): Promise<boolean> {
  if (await readable(path, constants.W_OK)) return true;
  return !(await readable(path, constants.F_OK)) && readable(dirname(path), constants.W_OK);
}

async function readable(path: string, mode: number): Promise<boolean> {
  return access(path, mode).then(
    () => true,
    () => false,
  );
}

/** The token of SYNC_CONTROL_TOKEN_FILE, without its trailing newline; or why it cannot be had. */
export async function readControlToken(path: string): Promise<{ token?: string; problem?: string }> {
  const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => error);
  if (text instanceof Error)
    return {
      problem: `SYNC_CONTROL_TOKEN_FILE: cannot read ${path} (${text.code ?? text.message}); mount the Secret there, readable by uid ${process.getuid?.()}.`,
    };
  const token = text.replace(/\r?\n$/, '');
  const problem = tokenProblem(`SYNC_CONTROL_TOKEN_FILE (${path})`, token);
  return problem === undefined ? { token } : { problem };
}

/**
 * Whether SYNC_HOOK_COMMAND's program can be run: a path (relative to the source directory,
 * where it runs) that is executable, or a name found on PATH. A hook that cannot start would
 * fail, and be retried, after every sync.
 */
export async function hookProgramProblem(
  program: string,
  sourceDir: string,
  path: string | undefined,
): Promise<string | undefined> {
  if (program.includes('/')) {
    const file = isAbsolute(program) ? program : join(sourceDir, program);
    if (await readable(file, constants.X_OK)) return undefined;
    return `SYNC_HOOK_COMMAND: ${program} is not an executable file${file === program ? '' : ` (${file})`}; mount the script there with its execute bit set (chmod +x), or name a program on PATH.`;
  }
  for (const dir of (path ?? '').split(delimiter).filter((entry) => entry !== '')) {
    if (await readable(join(dir, program), constants.X_OK)) return undefined;
  }
  return `SYNC_HOOK_COMMAND: ${program} is not on PATH (${path ?? 'unset'}); it runs without a shell, so give its full path, or ["sh", "-c", "…"] for a shell command.`;
}
