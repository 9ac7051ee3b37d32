import { Buffer } from 'node:buffer';
import { execFile } from 'node:child_process';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  rename,
  rm,
  symlink,
  truncate,
  unlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Filter } from '../../../src/filter.ts';
import { compareWithManifest } from '../../../src/state/compare.ts';
import { ManifestWriter, openManifest } from '../../../src/state/manifest.ts';
import { compareNatively, hasNativeCompare, openBridge } from '../../../src/state/native-compare.ts';
import { walkSource } from '../../../src/state/walk.ts';

const run = promisify(execFile);

// native/compare.c against the workers' walk (compare.ts), which the other tests pin down: on
// random trees changed at random in every way the fast start knows, both find the same.

/** Excludes files by name, and directories by a pattern for directories only. */
const FILTER = { include: [], exclude: ['*.tmp', 'cache/'] };

/** Names that sort around `/`, beyond U+FFFF against U+E000 and above (UTF-16 and bytes disagree), and not UTF-8. */
const NAMES = [
  'a',
  'a-b',
  'a.b',
  'ab',
  'b',
  'cache',
  'x.tmp',
  'z\u{1f600}',
  'z\ue000',
  'é',
  'long-name-here',
];
const RAW = Buffer.from([0x72, 0xff, 0x61]); // "r\xffa": not UTF-8

function seeded(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
    return (state >>> 12) % n; // the high bits: the low ones of this generator repeat soon
  };
}

async function manifestOf(root: string) {
  const file = join(await mkdtemp(join(tmpdir(), 'filesync-native-m-')), 'm');
  const writer = await ManifestWriter.create(file, {}, 7); // many small sections
  for await (const slice of walkSource(root, new Filter(FILTER))) await writer.add(slice);
  await writer.finish();
  return Object.assign(openManifest(file), { path: file });
}

/** Every entry below `dir` (relative paths), directories first. */
async function entriesBelow(root: string, dir = ''): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    found.push(path);
    if (entry.isDirectory()) found.push(...(await entriesBelow(root, path)));
  }
  return found;
}

async function build(random: (n: number) => number): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'filesync-native-'));
  const grow = async (dir: string, depth: number) => {
    for (const name of NAMES) {
      const pick = random(6);
      if (pick === 0) continue;
      const path = join(dir, name);
      if (pick === 1 && depth < 3) {
        await mkdir(path);
        await grow(path, depth + 1);
      } else if (pick === 2) await symlink(random(2) === 0 ? '../a' : 'elsewhere', path);
      else await writeFile(path, name.repeat(1 + random(3)));
    }
    if (random(3) === 0) await writeFile(Buffer.concat([Buffer.from(`${dir}/`), RAW]), 'raw');
  };
  await grow(root, 0);
  return root;
}

/** One change of every kind the fast start tells apart, at random places. */
async function change(root: string, random: (n: number) => number): Promise<void> {
  for (let n = 0; n < 8; n++) {
    const all = await entriesBelow(root);
    if (all.length === 0) return;
    const path = join(root, all[random(all.length)] ?? '');
    const dir = join(root, all[random(all.length)] ?? '');
    try {
      switch (random(10)) {
        case 0:
          await rm(path, { recursive: true });
          break;
        case 1:
          await writeFile(path, 'rewritten'); // a file: new size; a directory: EISDIR
          break;
        case 2:
          await chmod(path, 0o600);
          break;
        case 3: // the same size, another time
          await utimes(path, new Date(2_000_000_000_123), new Date(2_000_000_000_123));
          break;
        case 4:
          await rename(path, `${path}-moved`);
          break;
        case 5: // a type swap: whatever it was, a directory with something in it now
          await rm(path, { recursive: true });
          await mkdir(path);
          await writeFile(join(path, random(2) === 0 ? 'new' : 'new.tmp'), 'x');
          break;
        case 6: // a directory became a file
          await rm(dir, { recursive: true });
          await writeFile(dir, 'was a directory');
          break;
        case 7: // a new tree, and a new one the filter drops
          await mkdir(join(root, `new${n}/deep`), { recursive: true });
          await writeFile(join(root, `new${n}/deep/f`), 'x');
          await mkdir(join(root, `cache/x${n}`), { recursive: true });
          break;
        case 8:
          await truncate(path, 0);
          break;
        default:
          await unlink(path);
          await symlink('retargeted', path);
      }
    } catch {
      // a change that does not apply here (a directory rewritten, a path gone): the next one
    }
  }
}

/** Both comparisons of `root` with the manifest at `file`, in a child process that is not root (nobody) when this one is. */
async function compareAs(root: string, file: string): Promise<string> {
  const here = (module: string) =>
    JSON.stringify(new URL(`../../../src/state/${module}`, import.meta.url).href);
  const script = `
    if (process.getuid() === 0) { process.setgid(65534); process.setuid(65534); }
    const { compareWithManifest } = await import(${here('compare.ts')});
    const { compareNatively } = await import(${here('native-compare.ts')});
    const { openManifest } = await import(${here('manifest.ts')});
    const manifest = openManifest(${JSON.stringify(file)});
    const base = { sourceDir: ${JSON.stringify(root)}, filter: ${JSON.stringify(FILTER)}, manifest: manifest.file };
    const { comparison, durationMs, ...workers } = await compareWithManifest(base, { native: false });
    const native = await compareNatively(base);
    console.log(JSON.stringify({ native, workers }));
    manifest.close();`;
  // A file, not --eval: the workers it starts take the process's flags.
  const child = join(await mkdtemp(join(tmpdir(), 'filesync-native-s-')), 'compare.mjs');
  await writeFile(child, script);
  await chmod(join(child, '..'), 0o755);
  const { stdout } = await run(process.execPath, [child]);
  return stdout;
}

describe('compareNatively', () => {
  it('is built here (npm run build), so the daemon takes it', () => {
    expect(hasNativeCompare).toBe(true);
  });

  it('finds what the workers find, on 40 random trees changed at random', async () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = seeded(seed);
      const root = await build(random);
      const manifest = await manifestOf(root);
      await change(root, random);
      const base = { sourceDir: root, filter: FILTER, manifest: manifest.file };
      const { comparison, durationMs, ...workers } = await compareWithManifest(base, {
        native: false,
        workers: 2,
      });
      expect(comparison).toBe('workers');
      const native = await compareNatively(base);
      expect(native, `seed ${seed}`).toEqual(workers);
      manifest.close();
      await rm(root, { recursive: true });
    }
  }, 60_000);

  it('cuts short as the workers do past the most paths, and leaves it to them when the filter drops what it counted', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-native-'));
    await mkdir(join(root, 'd'));
    const manifest = await manifestOf(root);
    for (let i = 0; i < 30; i++) await writeFile(join(root, `d/${i}.tmp`), 'dropped');
    const base = { sourceDir: root, filter: FILTER, manifest: manifest.file, maxPaths: 5 };
    // 30 new names, all dropped: more than it keeps (10), yet nothing to send.
    expect(await compareNatively(base)).toBeUndefined();
    expect(await compareWithManifest(base)).toMatchObject({
      paths: [{ path: 'd', kind: 'dir' }],
      truncated: false,
      comparison: 'workers',
    });
    for (let i = 0; i < 30; i++) await writeFile(join(root, `d/${i}`), 'sent');
    expect(await compareNatively(base)).toMatchObject({ truncated: true });
    manifest.close();
  });

  it('leaves a manifest that does not begin with the source directory to the workers', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-native-'));
    await writeFile(join(root, 'f'), 'x');
    const file = join(await mkdtemp(join(tmpdir(), 'filesync-native-m-')), 'm');
    const writer = await ManifestWriter.create(file, {});
    for await (const slice of walkSource(root, new Filter(FILTER)))
      await writer.add(slice.filter((e) => e.path !== ''));
    await writer.finish();
    const manifest = openManifest(file);
    const base = { sourceDir: root, filter: FILTER, manifest: manifest.file };
    expect(await compareNatively(base)).toBeUndefined();
    expect(await compareWithManifest(base)).toMatchObject({
      created: 1,
      paths: [{ path: '', kind: 'dir' }],
      comparison: 'workers',
    });
    manifest.close();
  });

  it('takes an unreadable directory as empty, as the walk does: what it held is sent as gone', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-native-'));
    await mkdir(join(root, 'd'));
    await writeFile(join(root, 'd/f'), 'x');
    await writeFile(join(root, 'g'), 'x');
    const manifest = await manifestOf(root);
    manifest.close();
    await chmod(join(root, 'd'), 0o000);
    // As root every directory is readable: the comparisons run as nobody, in a process of their own.
    await chmod(root, 0o755);
    await chmod(join(manifest.path, '..'), 0o755);
    await chmod(manifest.path, 0o644);
    const found = JSON.parse(await compareAs(root, manifest.path)) as { native: unknown; workers: unknown };
    expect(found.workers).toMatchObject({
      deleted: 1,
      paths: expect.arrayContaining([{ path: 'd/f', kind: 'missing', ancestor: 'd' }]),
    });
    expect(found.native).toEqual(found.workers);
  });

  it('compares no directory whose listing would take more than it keeps: that start is a full one, with the reason', async () => {
    const root = await mkdtemp(join(tmpdir(), 'filesync-native-'));
    await mkdir(join(root, 'big'));
    for (let i = 0; i < 40; i++) await writeFile(join(root, `big/${i}`), 'x'); // 40 records of 50 bytes
    const manifest = await manifestOf(root);
    const base = { sourceDir: root, filter: FILTER, manifest: manifest.file };
    expect(await compareNatively(base, undefined, 4000)).toMatchObject({ paths: [], entries: 42 });
    await expect(compareNatively(base, undefined, 1000)).rejects.toThrow(
      "the directory 'big' holds more than 1000 bytes of names and attributes",
    );
    await expect(compareNatively(base, undefined, 50)).rejects.toThrow(
      'the source directory holds more than 50 bytes',
    );
    manifest.close();
  });

  it('refuses a record that runs past its section', async () => {
    const root = await build(seeded(5));
    const manifest = await manifestOf(root);
    const second = manifest.file.sections[1];
    if (second === undefined) throw new Error('one section');
    const fd = openSync(manifest.path, 'r+');
    const rest = Buffer.alloc(2);
    rest.writeUInt16LE(0xfff0);
    writeSync(fd, rest, 0, 2, second.offset + 2); // the first record of section 2: its rest's length
    closeSync(fd);
    const base = { sourceDir: root, filter: FILTER, manifest: manifest.file };
    await expect(compareNatively(base)).rejects.toThrow(/record 1 of section 2/);
    manifest.close();
  });
});

describe('the bridge', () => {
  async function small() {
    const root = await mkdtemp(join(tmpdir(), 'filesync-bridge-'));
    for (const dir of ['a', 'a/b', 'c']) await mkdir(join(root, dir));
    for (const file of ['a/1', 'a/b/2', 'c/3', 'top']) await writeFile(join(root, file), file);
    const manifest = await manifestOf(root);
    return { root, manifest, base: { sourceDir: root, filter: FILTER, manifest: manifest.file } };
  }

  it('lets the comparison begin before the watcher: what changed after a directory was listed is drained as a change', async () => {
    const { root, manifest, base } = await small();
    await writeFile(join(root, 'a/1'), 'before the comparison');
    const bridge = openBridge(100);
    if (bridge === undefined) throw new Error('no bridge');
    const found = await compareWithManifest(base, { bridge, gate: Promise.resolve() });
    expect(found).toMatchObject({ comparison: 'native', paths: [{ path: 'a/1', kind: 'file' }] });
    // Listed, and not yet watched by the watcher: only the bridge sees these.
    await writeFile(join(root, 'a/b/2'), 'after its listing');
    await chmod(join(root, 'c'), 0o700);
    await writeFile(join(root, 'new'), 'created');
    await rm(join(root, 'top'));
    const { paths, overflow } = bridge.drain();
    expect(overflow).toBe(false);
    expect(paths).toEqual(expect.arrayContaining(['a/b/2', 'c', 'new', 'top']));
    // Drained, it holds nothing more: the watcher sees what follows.
    await writeFile(join(root, 'later'), 'x');
    expect(bridge.drain()).toEqual({ paths: [], overflow: false });
    manifest.close();
  });

  it('walks a new tree only once the watcher runs: the bridge watches nothing below a new directory', async () => {
    const { root, manifest, base } = await small();
    await mkdir(join(root, 'n'));
    const bridge = openBridge(100);
    if (bridge === undefined) throw new Error('no bridge');
    let listed = false;
    const found = await compareNatively(base, undefined, undefined, bridge, async () => {
      // Listed and compared: what is made below the new directory now, before the watcher runs,
      // no watch sees; the walk that follows does.
      listed = true;
      await mkdir(join(root, 'n/s'));
      await writeFile(join(root, 'n/s/f'), 'made while the watcher started');
    });
    expect(listed).toBe(true);
    expect(found?.paths).toEqual([
      { path: '', kind: 'dir' },
      { path: 'n', kind: 'dir' },
      { path: 'n/s', kind: 'dir' },
      { path: 'n/s/f', kind: 'file' },
    ]);
    bridge.drain();
    manifest.close();
  });

  it('bridges a source directory reached through a symlink, as rsync takes `source/`', async () => {
    const { root, manifest } = await small();
    const link = join(await mkdtemp(join(tmpdir(), 'filesync-bridge-link-')), 'source');
    await symlink(root, link);
    const bridge = openBridge(100);
    if (bridge === undefined) throw new Error('no bridge');
    const base = { sourceDir: link, filter: FILTER, manifest: manifest.file };
    expect(await compareNatively(base, undefined, undefined, bridge)).toMatchObject({
      paths: [],
      entries: 8,
    });
    await writeFile(join(root, 'top'), 'changed through the link');
    expect(bridge.drain().paths).toEqual(['top']);
    manifest.close();
  });

  it('waits at the gate no longer than its target runs: stopped, it ends', async () => {
    const { manifest, base } = await small();
    const stopping = new AbortController();
    const comparing = compareWithManifest(base, { signal: stopping.signal, gate: new Promise(() => {}) });
    stopping.abort(new Error('stopping'));
    await expect(comparing).rejects.toThrow(/stopping/);
    manifest.close();
  });

  it('says when the kernel dropped events, so that the start is a full pass', async () => {
    const { root, manifest, base } = await small();
    const bridge = openBridge(100);
    if (bridge === undefined) throw new Error('no bridge');
    await compareNatively(base, undefined, undefined, bridge);
    // Two events a write (modified, closed), more than fs.inotify.max_queued_events (16,384 here).
    const queued = Number(
      (await import('node:fs')).readFileSync('/proc/sys/fs/inotify/max_queued_events', 'utf8'),
    );
    for (let i = 0; i <= queued / 2 + 1; i++) writeFileSync(join(root, i % 2 === 0 ? 'top' : 'a/1'), `${i}`);
    expect(bridge.drain()).toMatchObject({ overflow: true });
    manifest.close();
  });

  it('past its watches, leaves the comparison to after the gate (the watcher’s budget comes first)', async () => {
    const { root, manifest, base } = await small();
    const bridge = openBridge(2); // the tree has 4 directories
    if (bridge === undefined) throw new Error('no bridge');
    expect(await compareNatively(base, undefined, undefined, bridge)).toBeUndefined();
    expect(bridge.drain()).toEqual({ paths: [], overflow: false }); // it let go of its watches at once
    let open = () => {};
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const comparing = compareWithManifest(base, { bridge: openBridge(2), gate });
    await writeFile(join(root, 'c/3'), 'while the watcher starts');
    open();
    expect(await comparing).toMatchObject({ comparison: 'native', paths: [{ path: 'c/3', kind: 'file' }] });
    manifest.close();
  });
});
