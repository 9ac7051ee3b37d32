import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the daemon listens for its own CLI: a socket in a directory of the daemon's uid, mode
 * 0700, under TMPDIR. `docker exec` and `kubectl exec` run the CLI as that uid with the same
 * TMPDIR, so they find it; another uid cannot enter the directory.
 */
export function controlSocketPath(): string {
  return join(tmpdir(), `filesync-control-${process.getuid?.() ?? 'user'}`, 'control.sock');
}
