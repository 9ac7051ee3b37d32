import { execFile } from 'node:child_process';

/** The local rsync's version (`3.2.7`), or `unknown` where it cannot be read. Never throws. */
export function localRsyncVersion(): Promise<string> {
  return new Promise((resolve) => {
    execFile(
      'rsync',
      ['--version'],
      { timeout: 5000, env: { ...process.env, LC_ALL: 'C' } },
      (error, stdout) => {
        resolve(error === null ? (parseRsyncVersion(stdout) ?? 'unknown') : 'unknown');
      },
    );
  });
}

/** The version from `rsync --version`'s first line: `rsync  version 3.2.7  protocol version 31`. */
export function parseRsyncVersion(output: string): string | undefined {
  return /^rsync\s+version\s+v?(\S+)/m.exec(output)?.[1];
}
