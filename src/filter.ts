import { posix } from 'node:path';

// What is synced, decided twice from one definition: in-process for watch events (so excluded
// directories are not even watched) and by rsync for full passes (as --filter rules). The
// matcher implements rsync's own wildcard rules rather than a generic glob library's, because
// the two would disagree on `**`, braces and dot files, and then the full pass and the live
// watch would sync different sets.
//
// Pattern rules (rsync's):
//   *      any run of characters except "/"        ?      one character except "/"
//   **     any run of characters, "/" included     [a-z]  a character class ([!a-z] negates)
//   a pattern with a "/" or "**" in it is anchored at the source root (a leading "/" is optional);
//   one without is matched against the name at any depth; a trailing "/" matches directories only.

/** rsync's partial-dir: never synced, never deleted on the target. */
export const PARTIAL_DIR = '.filesync-partial';

interface Pattern {
  readonly source: string;
  readonly regex: RegExp;
  /** Matched against the whole relative path rather than the last name. */
  readonly anchored: boolean;
  readonly dirOnly: boolean;
}

function compile(pattern: string): Pattern {
  const dirOnly = pattern.endsWith('/');
  const core = pattern.replace(/\/+$/, '');
  const anchored = core.includes('/') || core.includes('**');
  const body = core.replace(/^\/+/, '');
  let regex = '';
  for (let i = 0; i < body.length; i++) {
    const char = body[i] as string;
    if (char === '*') {
      if (body[i + 1] === '*') {
        regex += '.*';
        while (body[i + 1] === '*') i++;
      } else {
        regex += '[^/]*';
      }
    } else if (char === '?') {
      regex += '[^/]';
    } else if (char === '[') {
      const end = body.indexOf(']', i + 2);
      if (end === -1) {
        regex += '\\[';
        continue;
      }
      const cls = body
        .slice(i + 1, end)
        .replace(/^!/, '^')
        .replace(/\\/g, '\\\\');
      regex += `[${cls}]`;
      i = end;
    } else {
      regex += char.replace(/[.+^${}()|\\]/g, '\\$&');
    }
  }
  return { source: pattern, regex: new RegExp(`^${regex}$`, 's'), anchored, dirOnly };
}

/** Returns what is wrong with a list of patterns, or undefined when they are all usable. */
export function validatePatterns(patterns: readonly string[]): string | undefined {
  const bad = patterns.find((pattern) => pattern.includes('\\') || /^\/*$/.test(pattern));
  return bad === undefined
    ? undefined
    : `${JSON.stringify(bad)} is not a usable glob (backslashes and bare "/" are not supported)`;
}

/** Decides which source-relative paths are synced. Paths use "/" and never start with one. */
export class Filter {
  readonly #include: readonly Pattern[];
  readonly #exclude: readonly Pattern[];

  constructor(options: { include: readonly string[]; exclude: readonly string[] }) {
    this.#include = options.include.map(compile);
    this.#exclude = [...options.exclude, `${PARTIAL_DIR}/`].map(compile);
  }

  /** True when the path, or a directory above it, is excluded. */
  isExcluded(path: string, isDir: boolean): boolean {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = i === parts.length ? path : parts.slice(0, i).join('/');
      const prefixIsDir = i < parts.length || isDir;
      if (this.#exclude.some((p) => matches(p, prefix, prefixIsDir))) return true;
    }
    return false;
  }

  /** True when the path is synced: not excluded and, for files, matching the includes if any. */
  accepts(path: string, isDir: boolean): boolean {
    if (this.isExcluded(path, isDir)) return false;
    if (isDir || this.#include.length === 0) return true;
    return this.#include.some((p) => matches(p, path, false));
  }

  /**
   * accepts() for a walk that never enters an excluded directory: every directory above `path`
   * is known to be accepted, so only the path itself is matched (a walk's hot path: one lstat
   * costs about as much as matching every prefix of a deep path).
   */
  acceptsChild(path: string, isDir: boolean): boolean {
    const slash = path.lastIndexOf('/');
    const name = slash === -1 ? path : path.slice(slash + 1);
    for (const pattern of this.#exclude) if (matchesName(pattern, path, name, isDir)) return false;
    if (isDir || this.#include.length === 0) return true;
    for (const pattern of this.#include) if (matchesName(pattern, path, name, false)) return true;
    return false;
  }

  /** True when the path is accepted as a file or as a directory: for hints of unknown type. */
  mayAccept(path: string): boolean {
    return this.accepts(path, true) || this.accepts(path, false);
  }

  /** True when a file at this path could never be accepted, so it need not be watched. */
  rejectsFile(path: string): boolean {
    return !this.accepts(path, false);
  }

  /** The same decisions as rsync --filter rules, for passes where rsync walks the tree. */
  rsyncRules(): string[] {
    const rules = this.#exclude.map((p) => `--filter=- ${rsyncPattern(p)}`);
    if (this.#include.length > 0) {
      rules.push('--filter=+ */', ...this.#include.map((p) => `--filter=+ ${rsyncPattern(p)}`));
      rules.push('--filter=- *');
    }
    return rules;
  }
}

function matches(pattern: Pattern, path: string, isDir: boolean): boolean {
  return matchesName(pattern, path, pattern.anchored ? path : posix.basename(path), isDir);
}

/** matches() with the last name already cut out of the path. */
function matchesName(pattern: Pattern, path: string, name: string, isDir: boolean): boolean {
  if (pattern.dirOnly && !isDir) return false;
  return pattern.regex.test(pattern.anchored ? path : name);
}

function rsyncPattern(pattern: Pattern): string {
  const core = pattern.source.replace(/\/+$/, '').replace(/^\/+/, '');
  return `${pattern.anchored ? '/' : ''}${core}${pattern.dirOnly ? '/' : ''}`;
}
