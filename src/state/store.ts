import { readFileSync } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Config } from '../config/config.ts';
import { targetName } from '../config/targets.ts';
import type { Filter } from '../filter.ts';
import { ManifestError, ManifestWriter, type OpenManifest, openManifest } from './manifest.ts';
import { removeParts, type SnapshotTask, snapshotInParts } from './snapshot.ts';

// SYNC_STATE_DIR: one manifest per target, and the marker that says a daemon is running on it.
//
// The manifest is trusted only when it can be: the marker is written before the daemon sends
// anything and removed only after a clean stop wrote a new manifest, so a daemon that was killed
// (or crashed, or stopped with changes unsent) leaves its marker, and the next start does not
// trust what it finds. The manifest carries what it was written for: the target, the source and
// every setting that changes what is sent; another one is not trusted either.

export interface TargetState {
  /** The manifest's file, and the marker's. */
  readonly manifest: string;
  readonly marker: string;
  /** What the manifest must have been written for. */
  readonly identity: Identity;
}

/** Everything that changes what a target holds for one source. */
export interface Identity {
  readonly target: {
    readonly user: string;
    readonly host: string;
    readonly port: number;
    readonly dir: string;
  };
  readonly source: string;
  readonly filter: readonly string[];
  readonly delete: boolean;
  readonly symlinks: string;
  readonly ownership: Config['rsync']['ownership'];
  readonly extraArgs: readonly string[];
}

export function targetState(stateDir: string, config: Config, filter: Filter): TargetState {
  const { user, host, port, dir } = config.remote;
  const identity: Identity = {
    target: { user, host, port, dir },
    source: config.sourceDir,
    filter: filter.rsyncRules(),
    delete: config.rsync.delete,
    symlinks: config.rsync.symlinks,
    ownership: config.rsync.ownership,
    extraArgs: config.rsync.extraArgs,
  };
  // A readable name, and a hash so two targets never share a file whatever their names hold.
  const name = targetName(config)
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .slice(0, 80);
  // node:crypto loads here, not with the module: a start without SYNC_STATE_DIR needs none of it
  // (loading it through the ESM facade costs ~30 ms of CPU; see http/token.ts).
  const { createHash } = process.getBuiltinModule('node:crypto');
  const hash = createHash('sha256').update(JSON.stringify(identity.target)).digest('hex').slice(0, 12);
  const base = join(stateDir, `${name}-${hash}`);
  return { manifest: `${base}.manifest`, marker: `${base}.running`, identity };
}

/** A manifest the start may use, or why not (one line in the log). */
export type Trust =
  | { readonly trusted: true; readonly manifest: OpenManifest }
  | { readonly trusted: false; readonly reason: string };

/** Opens the target's manifest if it can be trusted. */
export function trustManifest(state: TargetState): Trust {
  // At once, in the calling tick: a fast start's comparison begins with it (prestart.ts).
  let marker: string | undefined;
  try {
    marker = readFileSync(state.marker, 'utf8');
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    if (code !== 'ENOENT') marker = `its marker ${state.marker} cannot be read: ${message}`;
  }
  if (marker !== undefined) {
    return {
      trusted: false,
      reason: `the last daemon on this target did not stop cleanly (${marker.trim() || 'killed or crashed'}), so what the target holds is unknown`,
    };
  }
  let opened: OpenManifest;
  try {
    opened = openManifest(state.manifest);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { trusted: false, reason: 'no manifest yet: it is written when filesync stops cleanly' };
    const why = error instanceof ManifestError ? error.message : String(error);
    return { trusted: false, reason: `the manifest ${state.manifest} is unreadable: ${why}` };
  }
  const differs = differences(opened.identity, state.identity);
  if (differs.length > 0) {
    opened.close();
    return {
      trusted: false,
      reason: `the manifest was written for another ${differs.join(', ')}; what the target holds under these settings is unknown`,
    };
  }
  return { trusted: true, manifest: opened };
}

function differences(found: unknown, wanted: Identity): string[] {
  if (typeof found !== 'object' || found === null) return ['identity'];
  const record = found as Record<string, unknown>;
  return Object.entries(wanted)
    .filter(([key, value]) => JSON.stringify(record[key]) !== JSON.stringify(value))
    .map(([key]) => (key === 'extraArgs' ? 'SYNC_RSYNC_EXTRA_ARGS' : key));
}

/** From now until a clean stop, the manifest is not to be trusted: written and synced to disk. */
export async function markRunning(state: TargetState, stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true });
  const handle = await open(state.marker, 'w', 0o600);
  try {
    await handle.writeFile(`pid ${process.pid}, started ${new Date().toISOString()}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await syncDir(stateDir);
  // A stop cut off while writing its manifest (killed past its grace) left it half written,
  // and maybe the parts it was made of (<manifest>.<pid>.tmp, <manifest>.<pid>.part<k>).
  const prefix = `${basename(state.manifest)}.`;
  for (const name of await readdir(stateDir)) {
    const rest = name.startsWith(prefix) ? name.slice(prefix.length) : '';
    if (/^\d+\.(tmp|part\d+)$/.test(rest)) await rm(join(stateDir, name), { force: true });
  }
}

/** A manifest being written, to be committed after a clean stop or thrown away. */
export interface PendingManifest {
  readonly writer: ManifestWriter;
  readonly temporary: string;
  readonly state: TargetState;
}

export async function beginManifest(state: TargetState): Promise<PendingManifest> {
  const temporary = `${state.manifest}.${process.pid}.tmp`;
  return { writer: await ManifestWriter.create(temporary, state.identity), temporary, state };
}

/** Puts a finished manifest in place and removes the marker: the next start may trust it. */
export async function commitManifest(pending: PendingManifest, stateDir: string): Promise<void> {
  await rename(pending.temporary, pending.state.manifest);
  await syncDir(stateDir);
  await rm(pending.state.marker, { force: true });
  await syncDir(stateDir);
}

export async function discardManifest(pending: PendingManifest): Promise<void> {
  await pending.writer.abandon();
  await rm(pending.temporary, { force: true });
}

/** The manifest's size on disk, for the log. */
export async function sizeOf(file: string): Promise<number | undefined> {
  return (await stat(file).catch(() => undefined))?.size;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Walks the source once into a manifest for each target, while the watcher still runs: a change
 * made before an entry is read is reported and flushed; one made after differs from what the
 * manifest says, and the next start sends it. Committed only for targets whose flush went through.
 * The walk runs in worker threads (snapshot.ts), cut where the last manifest's sections start.
 */
export async function snapshotSource(
  sourceDir: string,
  filter: SnapshotTask['filter'],
  states: readonly TargetState[],
  options: Parameters<typeof snapshotInParts>[3] = {},
): Promise<PendingManifest[]> {
  const first = states[0];
  if (first === undefined) return [];
  // The parts are spooled next to the first manifest, and copied into each target's.
  const parts = await snapshotInParts(
    { sourceDir, filter },
    first.manifest,
    `${first.manifest}.${process.pid}`,
    options,
  );
  const pendings: PendingManifest[] = [];
  try {
    for (const state of states) pendings.push(await beginManifest(state));
    for (const part of parts) for (const pending of pendings) await pending.writer.addPart(part);
    for (const pending of pendings) await pending.writer.finish();
  } catch (error) {
    await Promise.all(pendings.map(discardManifest));
    throw error;
  } finally {
    await removeParts(parts.map((part) => part.file));
  }
  return pendings;
}
