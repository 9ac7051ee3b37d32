import { realpath } from 'node:fs/promises';
import { cleanEnv, EnvMissingError } from 'envalid';
import { PARTIAL_DIR, validatePatterns } from '../filter.ts';
import type { Config, Remote } from './config.ts';
import { checkFiles, fileSettingsOf, hookProgramProblem, readControlToken } from './files.ts';
import { extraArgsProblems } from './rsync-args.ts';
import { type SettingName, schema, settingTypes } from './schema.ts';
import { parseTargets } from './targets.ts';
import { controlTokenOf } from './token.ts';

/** Either a usable configuration or every reason it is not one. */
export type ConfigResult =
  | { readonly ok: true; readonly config: Config }
  | { readonly ok: false; readonly problems: readonly string[] };

/** Validates the environment and the files it names; never throws for bad input. */
export async function loadConfig(env: NodeJS.ProcessEnv): Promise<ConfigResult> {
  const parsed = parseConfig(env);
  // The files are checked even when other settings are wrong, so one message names them all.
  const fileProblems = await checkFiles(parsed.ok ? parsed.config : fileSettingsOf(env));
  if (!parsed.ok) return { ok: false, problems: [...parsed.problems, ...fileProblems] };
  const tokenFile = parsed.ok ? parsed.config.controlTokenFile : undefined;
  const token = tokenFile === undefined ? undefined : await readControlToken(tokenFile);
  if (token?.problem !== undefined) fileProblems.push(token.problem);
  const program = parsed.ok ? parsed.config.hooks.command?.[0] : undefined;
  const hookProblem =
    program === undefined || !parsed.ok
      ? undefined
      : await hookProgramProblem(program, parsed.config.sourceDir, env.PATH);
  if (hookProblem !== undefined) fileProblems.push(hookProblem);
  if (fileProblems.length > 0) return { ok: false, problems: fileProblems };
  const sourceDir = await realpath(parsed.config.sourceDir);
  const controlToken = token?.token ?? parsed.config.controlToken;
  return { ok: true, config: Object.freeze({ ...parsed.config, sourceDir, controlToken }) };
}

/**
 * Only SYNC_HEALTH_PORT, for `filesync status`: it asks the daemon over HTTP and needs nothing
 * else, so a shell with the port alone (or without the daemon's key files) can run it.
 */
export function parseHealthPort(
  env: NodeJS.ProcessEnv,
):
  | { readonly ok: true; readonly port: number }
  | { readonly ok: false; readonly problems: readonly string[] } {
  let envErrors: Partial<Record<string, Error>> = {};
  const raw = cleanEnv(
    env,
    { SYNC_HEALTH_PORT: schema.SYNC_HEALTH_PORT },
    {
      reporter: ({ errors }) => {
        envErrors = errors;
      },
    },
  );
  const error = envErrors.SYNC_HEALTH_PORT;
  if (error !== undefined) return { ok: false, problems: [describeEnvError('SYNC_HEALTH_PORT', error)] };
  return { ok: true, port: raw.SYNC_HEALTH_PORT };
}

/** The pure half of loadConfig: values and their relations, without touching the filesystem. */
export function parseConfig(env: NodeJS.ProcessEnv): ConfigResult {
  let envErrors: Partial<Record<string, Error>> = {};
  const raw = cleanEnv(env, schema, {
    reporter: ({ errors }) => {
      envErrors = errors;
    },
  });
  // With SYNC_TARGETS, the single-target settings are neither needed nor allowed.
  const single = ['SYNC_REMOTE_HOST', 'SYNC_REMOTE_PORT', 'SYNC_REMOTE_USER', 'SYNC_REMOTE_DIR'] as const;
  const several = !('SYNC_TARGETS' in envErrors) && raw.SYNC_TARGETS.length > 0;
  if (several)
    for (const name of single) if (envErrors[name] instanceof EnvMissingError) delete envErrors[name];
  const problems = Object.entries(envErrors).map(([name, error]) =>
    describeEnvError(name as SettingName, error),
  );
  const failed = (name: SettingName) => name in envErrors;
  const listed = parseTargets(several ? raw.SYNC_TARGETS : []);
  problems.push(...listed.problems);
  const given = single.filter((name) => env[name] !== undefined);
  if (several && given.length > 0) {
    problems.push(
      `SYNC_TARGETS replaces ${given.join(', ')}: set the targets one way, not both (remove ${given.length === 1 ? 'it' : 'them'}, or SYNC_TARGETS).`,
    );
  }

  const extensions = raw.SYNC_EXTENSIONS;
  if (raw.SYNC_INCLUDE.length > 0 && extensions.length > 0) {
    problems.push(
      'SYNC_INCLUDE and SYNC_EXTENSIONS cannot be combined: put the extensions into the include globs instead (for example SYNC_INCLUDE=reports/**/*.csv).',
    );
  }
  const badExtension = extensions.find((ext) => !/^\.?[^./*?[\]\\]+$/.test(ext));
  if (badExtension !== undefined) {
    problems.push(
      `SYNC_EXTENSIONS: expected extensions such as .txt or rrd, got ${JSON.stringify(badExtension)}`,
    );
  }
  for (const name of ['SYNC_INCLUDE', 'SYNC_EXCLUDE'] as const) {
    const problem = failed(name) ? undefined : validatePatterns(raw[name]);
    if (problem !== undefined) problems.push(`${name}: ${problem}`);
  }
  if (!failed('SYNC_DEBOUNCE') && !failed('SYNC_MAX_DELAY') && raw.SYNC_MAX_DELAY < raw.SYNC_DEBOUNCE) {
    problems.push(
      `SYNC_MAX_DELAY (${raw.SYNC_MAX_DELAY}ms) must not be shorter than SYNC_DEBOUNCE (${raw.SYNC_DEBOUNCE}ms).`,
    );
  }
  if (!failed('SYNC_POLL_INTERVAL') && raw.SYNC_POLL_INTERVAL < 100) {
    problems.push('SYNC_POLL_INTERVAL must be at least 100ms.');
  }
  if (!failed('SYNC_IO_TIMEOUT') && raw.SYNC_IO_TIMEOUT < 1000) {
    problems.push('SYNC_IO_TIMEOUT must be at least 1s (rsync counts it in whole seconds).');
  }
  const knownHosts = raw.SYNC_KNOWN_HOSTS?.trim() === '' ? undefined : raw.SYNC_KNOWN_HOSTS;
  if (!failed('SYNC_HOST_KEY_POLICY') && raw.SYNC_HOST_KEY_POLICY === 'strict' && knownHosts === undefined) {
    problems.push(
      'SYNC_KNOWN_HOSTS is required when SYNC_HOST_KEY_POLICY=strict: point it at a known_hosts file that pins the target (make one with `ssh-keyscan -p PORT HOST > known_hosts` and check the fingerprint), or set SYNC_HOST_KEY_POLICY=accept-new to trust the key seen first.',
    );
  }
  if (
    !failed('SYNC_HOST_KEY_POLICY') &&
    raw.SYNC_HOST_KEY_POLICY === 'accept-new' &&
    knownHosts === undefined
  ) {
    problems.push(
      'SYNC_KNOWN_HOSTS is required when SYNC_HOST_KEY_POLICY=accept-new: the key seen first is written there, and it must outlive a restart, or a changed (possibly intercepted) host key would be trusted again after the next one. Point it at a file on a writable volume (it need not exist yet), or pin the key with strict.',
    );
  }
  if (knownHosts !== undefined && /[\s"'%]/.test(knownHosts)) {
    problems.push(
      `SYNC_KNOWN_HOSTS: ${JSON.stringify(knownHosts)} has spaces, quotes or % in it, which ssh options cannot carry; move the file to a plain path.`,
    );
  }
  const webhookUrl = failed('SYNC_WEBHOOK_URL') ? undefined : raw.SYNC_WEBHOOK_URL || undefined;
  const trash = failed('SYNC_BACKUP_DIR') ? undefined : raw.SYNC_BACKUP_DIR || undefined;
  problems.push(...extraArgsProblems(raw.SYNC_RSYNC_EXTRA_ARGS, trash !== undefined));
  if (!failed('SYNC_BACKUP_RETENTION') && raw.SYNC_BACKUP_RETENTION < 86_400_000) {
    problems.push('SYNC_BACKUP_RETENTION must be at least 1d: the trash is kept in whole days.');
  }
  if (!failed('SYNC_HOOK_TIMEOUT') && (raw.SYNC_HOOK_TIMEOUT < 1000 || raw.SYNC_HOOK_TIMEOUT > 86_400_000)) {
    problems.push(
      'SYNC_HOOK_TIMEOUT must be between 1s and 1d: a hook that may run longer holds every hook after it.',
    );
  }
  if (trash === PARTIAL_DIR) {
    problems.push(`SYNC_BACKUP_DIR: ${PARTIAL_DIR} is filesync's partial-dir; choose another name.`);
  }
  if (
    !failed('SYNC_CHOWN') &&
    raw.SYNC_CHOWN &&
    (raw.SYNC_USERMAP.length > 0 || raw.SYNC_GROUPMAP.length > 0)
  ) {
    problems.push(
      'SYNC_CHOWN cannot be combined with SYNC_USERMAP or SYNC_GROUPMAP (rsync turns --chown into both maps): use the maps alone, ending them with *:user and *:group.',
    );
  }
  if (
    !failed('SYNC_CHMOD') &&
    !failed('SYNC_PERMS') &&
    raw.SYNC_PERMS === 'target' &&
    raw.SYNC_CHMOD.length > 0
  ) {
    problems.push(
      'SYNC_CHMOD sets modes, and SYNC_PERMS=target leaves them to the target: choose one (remove SYNC_CHMOD, or set SYNC_PERMS=preserve).',
    );
  }
  const inPlace = raw.SYNC_RSYNC_EXTRA_ARGS.find((arg) => /^(--inplace|--append(-verify)?)$/.test(arg));
  if (raw.SYNC_DELAY_UPDATES && inPlace !== undefined) {
    problems.push(
      `SYNC_DELAY_UPDATES stages every file and puts it in place at the end, and ${inPlace} in SYNC_RSYNC_EXTRA_ARGS writes into the file itself: choose one.`,
    );
  }
  const source = failed('SYNC_SOURCE_DIR') ? undefined : raw.SYNC_SOURCE_DIR?.replace(/\/+$/, '');
  const stateDir = failed('SYNC_STATE_DIR') ? undefined : raw.SYNC_STATE_DIR;
  if (source !== undefined && stateDir !== undefined && `${stateDir}/`.startsWith(`${source}/`)) {
    problems.push(
      `SYNC_STATE_DIR=${raw.SYNC_STATE_DIR} is inside SYNC_SOURCE_DIR, so the manifests would be mirrored with the source: put them outside it (a volume of their own).`,
    );
  }
  const token = controlTokenOf(raw.SYNC_CONTROL_TOKEN, raw.SYNC_CONTROL_TOKEN_FILE, raw.SYNC_HEALTH_PORT);
  if (token.problem !== undefined) problems.push(token.problem);
  if (problems.length > 0) return { ok: false, problems };

  const targets: readonly Remote[] = several
    ? Object.freeze(listed.targets)
    : Object.freeze([
        {
          host: raw.SYNC_REMOTE_HOST,
          port: raw.SYNC_REMOTE_PORT,
          user: raw.SYNC_REMOTE_USER,
          dir: raw.SYNC_REMOTE_DIR,
        },
      ]);
  const include =
    extensions.length > 0 ? extensions.map((ext) => `*.${ext.replace(/^\./, '')}`) : raw.SYNC_INCLUDE;
  const config: Config = {
    sourceDir: raw.SYNC_SOURCE_DIR,
    remote: targets[0] as Remote,
    targets,
    ssh: { keyPath: raw.SYNC_SSH_KEY, knownHostsPath: knownHosts, hostKeyPolicy: raw.SYNC_HOST_KEY_POLICY },
    // The trash is never sent into nor deleted from: an excluded name is both, for rsync.
    filter: {
      include: Object.freeze([...include]),
      // Any type: a source file or link of the trash's name would replace the trash.
      exclude: trash === undefined ? raw.SYNC_EXCLUDE : Object.freeze([...raw.SYNC_EXCLUDE, `/${trash}`]),
    },
    rsync: {
      delete: raw.SYNC_DELETE,
      allowEmptySource: raw.SYNC_ALLOW_EMPTY_SOURCE,
      maxDelete: raw.SYNC_MAX_DELETE,
      compress: raw.SYNC_RSYNC_COMPRESS,
      checksum: raw.SYNC_RSYNC_CHECKSUM,
      update: raw.SYNC_RSYNC_UPDATE,
      partial: raw.SYNC_RSYNC_PARTIAL,
      delayUpdates: raw.SYNC_DELAY_UPDATES,
      bwlimit: raw.SYNC_RSYNC_BWLIMIT,
      extraArgs: raw.SYNC_RSYNC_EXTRA_ARGS,
      symlinks: raw.SYNC_SYMLINKS,
      ownership: {
        chown: raw.SYNC_CHOWN || undefined,
        usermap: raw.SYNC_USERMAP,
        groupmap: raw.SYNC_GROUPMAP,
        chmod: raw.SYNC_CHMOD,
        perms: raw.SYNC_PERMS,
      },
      ioTimeoutMs: raw.SYNC_IO_TIMEOUT,
    },
    watch: { mode: raw.SYNC_WATCH_MODE, pollIntervalMs: raw.SYNC_POLL_INTERVAL },
    debounceMs: raw.SYNC_DEBOUNCE,
    maxDelayMs: raw.SYNC_MAX_DELAY,
    resyncIntervalMs: raw.SYNC_RESYNC_INTERVAL,
    shutdownTimeoutMs: raw.SYNC_SHUTDOWN_TIMEOUT,
    stateDir: raw.SYNC_STATE_DIR,
    healthPort: raw.SYNC_HEALTH_PORT,
    controlToken: token.token,
    controlTokenFile: token.file,
    readiness: raw.SYNC_READINESS,
    webhookUrl,
    hooks: {
      command:
        failed('SYNC_HOOK_COMMAND') || raw.SYNC_HOOK_COMMAND.length === 0 ? undefined : raw.SYNC_HOOK_COMMAND,
      url: failed('SYNC_HOOK_URL') ? undefined : raw.SYNC_HOOK_URL || undefined,
      timeoutMs: raw.SYNC_HOOK_TIMEOUT,
    },
    backup: trash === undefined ? undefined : { dir: trash, retentionMs: raw.SYNC_BACKUP_RETENTION },
    log: { level: raw.LOG_LEVEL, format: raw.LOG_FORMAT },
  };
  return { ok: true, config: deepFreeze(config) };
}

function describeEnvError(name: SettingName, error: Error | undefined): string {
  const spec: { desc?: string; example?: string } = schema[name];
  if (error instanceof EnvMissingError) {
    const example = spec.example === undefined ? '' : ` (for example ${spec.example})`;
    return `${name} is required: ${(spec.desc ?? '').replace(/\.$/, '')}${example}.`;
  }
  const input = /"(.*)"/.exec(error?.message ?? '')?.[1];
  if (settingTypes[name] === 'boolean' && input !== undefined) {
    return `${name}: expected true or false (also 1/0, yes/no, on/off), got ${JSON.stringify(input)}`;
  }
  const choices = /^Value "(.*)" not in choices \[(.*)\]$/.exec(error?.message ?? '');
  if (choices !== null) {
    return `${name}: expected one of ${choices[2]?.split(',').join(', ')}, got ${JSON.stringify(choices[1])}`;
  }
  return `${name}: ${error?.message ?? 'invalid value'}`;
}

function deepFreeze<T extends object>(value: T): T {
  for (const child of Object.values(value)) {
    if (child !== null && typeof child === 'object' && !Object.isFrozen(child)) deepFreeze(child);
  }
  return Object.freeze(value);
}
