import { isIPv6 } from 'node:net';
import type { Config, Remote } from './config.ts';

// SYNC_TARGETS: several targets, each as `ssh://user@host[:port]/absolute/dir` (IPv6 hosts in
// brackets, a comma in a path as %2C), and the per-target view of the configuration.

const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;

/** Parses one target, or says what is wrong with it. */
export function parseTarget(input: string): Remote | string {
  const wrong = (why: string) =>
    `${JSON.stringify(input)} ${why} (expected ssh://user@host[:port]/absolute/dir)`;
  if (!input.startsWith('ssh://')) return wrong('is not an ssh:// URL');
  const url = URL.parse(input);
  if (url === null) return wrong('is not a URL');
  if (url.password !== '' || url.search !== '' || url.hash !== '')
    return wrong('has a password, a query or a fragment');
  const user = decodeURIComponent(url.username);
  if (!NAME.test(user)) return wrong('needs a user name before @');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!(NAME.test(host) || isIPv6(host))) return wrong('needs a host name or IP address');
  const port = url.port === '' ? 22 : Number(url.port);
  let dir: string;
  try {
    dir = decodeURIComponent(url.pathname);
  } catch {
    return wrong('has a badly escaped path');
  }
  if (!dir.startsWith('/') || /[\n\r\0]/.test(dir)) return wrong('needs an absolute directory');
  return { host, port, user, dir };
}

/** Every target, or every problem with them. */
export function parseTargets(inputs: readonly string[]): { targets: Remote[]; problems: string[] } {
  const targets: Remote[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const input of inputs) {
    const target = parseTarget(input);
    if (typeof target === 'string') {
      problems.push(`SYNC_TARGETS: ${target}`);
      continue;
    }
    const key = `${target.host}:${target.port}${target.dir}`;
    if (seen.has(key)) problems.push(`SYNC_TARGETS: ${input} is listed twice.`);
    seen.add(key);
    targets.push(target);
  }
  return { targets, problems };
}

/** The configuration as one target sees it: `remote` is that target. */
export function forTarget(config: Config, remote: Remote): Config {
  return Object.freeze({ ...config, remote });
}

/** `host:port/dir`: how logs, metrics and status name a target (low cardinality). */
export function targetName({ remote: { host, port, dir } }: Config): string {
  return `${isIPv6(host) ? `[${host}]` : host}:${port}${dir}`;
}
