import {
  appendFile,
  chmod,
  lstat,
  lutimes,
  mkdir,
  mkdtemp,
  rename,
  rm,
  symlink,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNever } from '../../../src/assert.ts';
import { bytesOf } from '../../../src/names.ts';

// Seeded histories of filesystem operations over a small namespace, so that operations collide:
// a few directories and names, every kind of change filesync must mirror. A history depends on
// its seed alone; applying it ignores operations the filesystem refuses (renaming a directory
// over a full one, writing below a file), which is itself part of the test.

/** mulberry32: a small, fast, seedable generator; the same seed gives the same history. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export type Operation =
  | { readonly op: 'write'; readonly path: string; readonly size: number; readonly fill: number }
  | { readonly op: 'append' | 'same-size'; readonly path: string; readonly fill: number }
  | { readonly op: 'truncate'; readonly path: string; readonly size: number }
  | { readonly op: 'rm' | 'mkdir'; readonly path: string }
  | { readonly op: 'rename'; readonly path: string; readonly to: string }
  | { readonly op: 'chmod'; readonly path: string; readonly mode: number }
  | { readonly op: 'touch'; readonly path: string; readonly seconds: number }
  | { readonly op: 'symlink'; readonly path: string; readonly target: string }
  | { readonly op: 'move-in'; readonly path: string; readonly files: number }
  | { readonly op: 'move-out'; readonly path: string };

/** One burst of operations, then a pause (shorter or longer than the debounce). */
export interface Burst {
  readonly operations: readonly Operation[];
  readonly pauseMs: number;
}

// Some names are not UTF-8 (names.ts: a byte that is not stands for itself as U+DC80 + byte):
// Latin-1 "é" alone, and a directory ending in a stray 0xff.
const DIRS = ['', 'a', 'b', 'a/c', 'b\udcff'];
const NAMES = ['x', 'y', 'z', 'a', 'c', 'd\udce9j\udce0'];
// Relative, dangling and absolute targets; never one that exists outside the source, and
// apply() never follows a link anyway (see `reachable`).
const LINK_TARGETS = ['x', 'a', '../x', 'a/y', 'nowhere', 'c/../z', '/nonexistent/filesync-fuzz'];

export function history(seed: number, operations: number, pausesMs: readonly number[]): Burst[] {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
  const path = () => {
    const dir = pick(DIRS);
    const name = pick(NAMES);
    return dir === '' ? name : `${dir}/${name}`;
  };
  const operation = (): Operation => {
    const roll = next();
    if (roll < 0.2)
      return { op: 'write', path: path(), size: Math.floor(next() * 3000), fill: Math.floor(next() * 26) };
    if (roll < 0.27) return { op: 'append', path: path(), fill: Math.floor(next() * 26) };
    if (roll < 0.34) return { op: 'same-size', path: path(), fill: Math.floor(next() * 26) };
    if (roll < 0.38) return { op: 'truncate', path: path(), size: Math.floor(next() * 100) };
    if (roll < 0.48) return { op: 'rm', path: path() };
    if (roll < 0.58) return { op: 'mkdir', path: path() };
    if (roll < 0.7) return { op: 'rename', path: path(), to: path() };
    if (roll < 0.76) return { op: 'chmod', path: path(), mode: pick([0o600, 0o640, 0o644, 0o700, 0o755]) };
    if (roll < 0.82) return { op: 'touch', path: path(), seconds: 1_500_000_000 + Math.floor(next() * 1e8) };
    if (roll < 0.92) return { op: 'symlink', path: path(), target: pick(LINK_TARGETS) };
    if (roll < 0.96) return { op: 'move-in', path: path(), files: 1 + Math.floor(next() * 5) };
    return { op: 'move-out', path: path() };
  };
  const bursts: Burst[] = [];
  for (let left = operations; left > 0; ) {
    const size = Math.min(left, 1 + Math.floor(next() * 12));
    bursts.push({ operations: Array.from({ length: size }, operation), pauseMs: pick(pausesMs) });
    left -= size;
  }
  return bursts;
}

/** Operations that act on what the path's last component points at, not on a link there. */
const FOLLOWS_LAST = new Set<Operation['op']>(['write', 'append', 'same-size', 'truncate', 'chmod', 'mkdir']);

/**
 * True when `rel` can be acted on without passing through a symlink: every directory above it
 * (and the path itself, when the operation would follow it) is real or missing. The histories
 * make links that point outside the source; this is what keeps the test from writing there.
 */
async function reachable(root: string, rel: string, followsLast: boolean): Promise<boolean> {
  const parts = rel.split('/');
  for (let depth = 1; depth <= (followsLast ? parts.length : parts.length - 1); depth++) {
    const stats = await lstat(bytesOf(join(root, ...parts.slice(0, depth)))).catch(() => undefined);
    if (stats?.isSymbolicLink() === true) return false;
  }
  return true;
}

/** Applies one operation below `root`; `outside` is a scratch directory on the same filesystem. */
export async function apply(
  root: string,
  outside: string,
  operation: Operation,
): Promise<'done' | 'refused'> {
  const at = bytesOf(join(root, operation.path));
  if (!(await reachable(root, operation.path, FOLLOWS_LAST.has(operation.op)))) return 'refused';
  if (operation.op === 'rename' && !(await reachable(root, operation.to, false))) return 'refused';
  try {
    switch (operation.op) {
      case 'write':
        await writeFile(at, Buffer.alloc(operation.size, 97 + operation.fill));
        break;
      case 'append':
        await appendFile(at, String.fromCharCode(97 + operation.fill).repeat(10));
        break;
      case 'same-size': {
        // Same size, same second: only a nanosecond mtime tells the two versions apart.
        const { size } = await lstat(at);
        await writeFile(at, Buffer.alloc(size, 65 + operation.fill));
        break;
      }
      case 'truncate':
        await truncate(at, operation.size);
        break;
      case 'rm':
        await rm(at, { recursive: true, force: true });
        break;
      case 'mkdir':
        await mkdir(at, { recursive: true });
        break;
      case 'rename':
        await rename(at, bytesOf(join(root, operation.to)));
        break;
      case 'chmod': {
        // Directories keep their owner's rwx, or the target's (non-root) rsync could not enter them.
        const stats = await lstat(at);
        await chmod(at, stats.isDirectory() ? operation.mode | 0o700 : operation.mode);
        break;
      }
      case 'touch':
        await lutimes(at, operation.seconds, operation.seconds);
        break;
      case 'symlink':
        await rm(at, { recursive: true, force: true });
        await symlink(operation.target, at);
        break;
      case 'move-in': {
        const tree = await mkdtemp(join(outside, 'in-'));
        await mkdir(join(tree, 'deep'));
        for (let i = 0; i < operation.files; i++)
          await writeFile(join(tree, i % 2 ? 'deep' : '', `m${i}`), `moved ${i}`);
        await rename(tree, at);
        break;
      }
      case 'move-out':
        await rename(at, join(await mkdtemp(join(outside, 'out-')), 'gone'));
        break;
      default:
        assertNever(operation);
    }
    return 'done';
  } catch {
    return 'refused';
  }
}

/** A scratch directory beside the source, on the same filesystem, for trees moved in and out. */
export function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'filesync-fuzz-outside-'));
}
