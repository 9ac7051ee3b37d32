import { readFileSync } from 'node:fs';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import type { Filter } from '../filter.ts';
import { readdirNamed } from '../names.ts';

// The watch budget: the native watcher holds one inotify watch per directory, and the kernel
// allows each uid a number of watches and of inotify instances in all — per user namespace, so
// on a node every container of the same uid shares them, and they cannot be raised from inside
// one. `check` and the daemon's start compare the directories to watch with what is allowed,
// so a tree that will not fit is said before the kernel refuses a watch (after which filesync
// polls). The figures are read from /proc here; judging them is pure (judgeBudget).

/** A limit as the kernel applies it, and the sysctl that sets it. */
export interface Limit {
  readonly value: number;
  /** `fs.inotify.max_user_watches`, or `user.max_inotify_watches` where a user namespace's own is lower. */
  readonly sysctl: string;
}

export interface InotifyLimits {
  readonly watches: Limit | undefined;
  readonly instances: Limit | undefined;
}

/**
 * The limits that bind this process: each kernel setting and the user namespace's own
 * (/proc/sys/user, which can only be lower than its parent's), the lower of the two. Undefined
 * where /proc has neither (not Linux).
 */
export function readInotifyLimits(proc = '/proc'): InotifyLimits {
  const pick = (...candidates: [string, string][]): Limit | undefined => {
    let lowest: Limit | undefined;
    for (const [file, sysctl] of candidates) {
      const value = readNumber(`${proc}/sys/${file}`);
      if (value !== undefined && (lowest === undefined || value < lowest.value)) lowest = { value, sysctl };
    }
    return lowest;
  };
  return {
    watches: pick(
      ['fs/inotify/max_user_watches', 'fs.inotify.max_user_watches'],
      ['user/max_inotify_watches', 'user.max_inotify_watches'],
    ),
    instances: pick(
      ['fs/inotify/max_user_instances', 'fs.inotify.max_user_instances'],
      ['user/max_inotify_instances', 'user.max_inotify_instances'],
    ),
  };
}

function readNumber(path: string): number | undefined {
  try {
    const value = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  } catch {
    return undefined;
  }
}

/** inotify instances and watches held by processes of this uid that this process can see. */
export interface InUse {
  readonly instances: number;
  readonly watches: number;
}

/**
 * What other processes of the same uid hold, as far as this process can see them (in a
 * container: its own processes only — the rest of the node's share is invisible from here).
 * This process is left out, and so is any other running `program` (filesync's own CLI: a
 * daemon next to `filesync check` holds the very watches check is counting).
 */
export async function inotifyInUse(
  proc = '/proc',
  uid = process.getuid?.() ?? 0,
  self = process.pid,
  program = process.argv[1],
): Promise<InUse> {
  // Asynchronous: a few hundred processes take tens of ms to read, which must not hold the
  // daemon's start (its initial pass begins meanwhile).
  let instances = 0;
  let watches = 0;
  for (const pid of await list(proc)) {
    if (!/^\d+$/.test(pid) || Number(pid) === self) continue;
    try {
      if ((await stat(`${proc}/${pid}`)).uid !== uid) continue;
      const argv = (await readFile(`${proc}/${pid}/cmdline`, 'utf8')).split('\0');
      if (program !== undefined && argv.includes(program)) continue;
    } catch {
      continue;
    }
    for (const fd of await list(`${proc}/${pid}/fd`)) {
      try {
        if ((await readlink(`${proc}/${pid}/fd/${fd}`)) !== 'anon_inode:inotify') continue;
        instances++;
        const info = await readFile(`${proc}/${pid}/fdinfo/${fd}`, 'utf8');
        watches += info.match(/^inotify wd:/gm)?.length ?? 0;
      } catch {
        // the descriptor or the process went away while we looked
      }
    }
  }
  return { instances, watches };
}

async function list(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch {
    return [];
  }
}

/**
 * The directories the native watcher will watch: the source and every directory below it that
 * the filter keeps, symlinks not followed (as native.ts walks it).
 */
export function countWatchedDirectories(root: string, filter: Filter): number {
  let count = 0;
  const stack = [''];
  for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
    let entries: ReturnType<typeof readdirNamed>;
    try {
      entries = readdirNamed(dir === '' ? root : `${root}/${dir}`);
    } catch {
      continue; // unreadable or gone: the watcher cannot watch it either
    }
    count++;
    for (const entry of entries) {
      if (!entry.isDirectory()) continue;
      const child = dir === '' ? entry.name : `${dir}/${entry.name}`;
      if (!filter.isExcluded(child, true)) stack.push(child);
    }
  }
  return count;
}

/** Warned from this share of a limit; refused at all of it. */
export const WARN_SHARE = 0.8;

export interface BudgetVerdict {
  readonly level: 'ok' | 'warn' | 'fail';
  /** The figures, for people: `1,204 directories to watch: 1% of fs.inotify.max_user_watches=…`. */
  readonly detail: string;
  /** What to run on the host, when not ok. */
  readonly hint?: string;
}

/**
 * Judges `directories` (one watch each, one instance in all) against the limits, with what
 * other processes of the uid already hold. Pure.
 */
export function judgeBudget(directories: number, limits: InotifyLimits, inUse: InUse): BudgetVerdict {
  const parts: string[] = [];
  let level: BudgetVerdict['level'] = 'ok';
  const hints: string[] = [];
  const raise = (what: string, needed: number, limit: Limit) => {
    // Room for the tree to double, rounded to a power of two as the kernel's defaults are.
    const value = 2 ** Math.ceil(Math.log2(Math.max(needed * 2, limit.value + 1)));
    hints.push(
      `raise ${what} on the host (it is per uid and shared by every container of that uid on the node): \`sysctl ${limit.sysctl}=${value}\``,
    );
  };
  const judge = (needed: number, limit: Limit, what: string) => {
    const share = needed / Math.max(1, limit.value);
    const verdict = share >= 1 ? 'fail' : share >= WARN_SHARE ? 'warn' : 'ok';
    if (verdict === 'fail' || (verdict === 'warn' && level === 'ok')) level = verdict;
    if (verdict !== 'ok') raise(what, needed, limit);
    return `${Math.floor(share * 100)}% of ${limit.sysctl}=${count(limit.value)}`;
  };
  const { watches, instances } = limits;
  // The limit is the uid's: what other processes hold counts against it too.
  const others =
    inUse.watches > 0 ? ` and ${count(inUse.watches)} held by other processes of this uid here` : '';
  parts.push(
    watches === undefined
      ? `${count(directories)} directories to watch (the kernel's limit could not be read)`
      : `${count(directories)} directories to watch${others}: ${judge(directories + inUse.watches, watches, 'the watches')}`,
  );
  if (instances !== undefined) {
    parts.push(
      `1 inotify instance, ${count(inUse.instances)} more in use by this uid seen here: ${judge(inUse.instances + 1, instances, 'the instances')}`,
    );
  }
  if (level !== 'ok' && watches !== undefined && directories + inUse.watches >= watches.value * WARN_SHARE)
    hints.push('or exclude large directories with SYNC_EXCLUDE, or set SYNC_WATCH_MODE=poll');
  return { level, detail: parts.join('; '), ...(hints.length > 0 ? { hint: `${hints.join('; ')}.` } : {}) };
}

/** 1,204,000: thousands separated (toLocaleString would load ICU's data, 30 ms, on first use). */
export function count(value: number): string {
  return String(Math.trunc(value)).replace(/\B(?=(\d{3})+$)/g, ',');
}
