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
  const decode = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return undefined;
    }
  };
  const user = decode(url.username);
  if (user === undefined || !NAME.test(user)) return wrong('needs a user name before @');
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!(NAME.test(host) || isIPv6(host))) return wrong('needs a host name or IP address');
  const port = url.port === '' ? 22 : Number(url.port);
  if (port < 1) return wrong('needs a port from 1 to 65535');
  const path = decode(url.pathname);
  if (path === undefined) return wrong('has a badly escaped path (write a % in it as %25)');
  if (!path.startsWith('/') || /[\n\r\0]/.test(path)) return wrong('needs an absolute directory');
  // One spelling per directory, so the same target is not listed twice under two.
  const dir = path.replace(/\/{2,}/g, '/').replace(/\/+$/, '') || '/';
  return { host: host.toLowerCase(), port, user, dir };
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
    // A mirror inside another would be deleted by the other's full pass, and fill it.
    const nested = targets.find(
      (other) =>
        other.host === target.host &&
        other.port === target.port &&
        other.dir !== target.dir &&
        (inside(other.dir, target.dir) || inside(target.dir, other.dir)),
    );
    if (nested !== undefined) {
      problems.push(
        `SYNC_TARGETS: ${input} and ${nested.dir} on the same host nest one mirror inside the other, and the outer one's passes would delete the inner one: give each its own directory.`,
      );
    }
    targets.push(target);
  }
  return { targets, problems };
}

/** `path` is below `dir`. */
function inside(dir: string, path: string): boolean {
  return dir === '/' ? path !== '/' : path.startsWith(`${dir}/`);
}

/** The configuration as one target sees it: `remote` is that target. */
export function forTarget(config: Config, remote: Remote): Config {
  return Object.freeze({ ...config, remote });
}

/** `user@host:port:dir`: a target as people read it (status, start-up line, verify). */
export function describeTarget({ user, host, port, dir }: Remote): string {
  return `${user}@${host}:${port}:${dir}`;
}

/** `host:port/dir`: how logs, metrics and status name a target (low cardinality). */
export function targetName({ remote: { host, port, dir } }: Config): string {
  // A valid host with a colon is an IPv6 address (net.isIPv6 compiles a regex for 9 ms).
  return `${host.includes(':') ? `[${host}]` : host}:${port}${dir}`;
}
