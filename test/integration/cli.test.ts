import { resolve } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';
import { runCli } from './support/daemon.ts';

// The built entry point on a Node older than filesync needs: a clear refusal before anything
// loads, not a TypeError from a dependency. (process.version is made to read as Node 20.)

it('refuses an old Node with exit 78 and what to do, before loading anything', async () => {
  const cli = resolve('dist/cli.js');
  const script = `Object.defineProperty(process, 'version', { value: 'v20.20.2' }); await import(${JSON.stringify(cli)});`;
  const result = await execa(process.execPath, ['--input-type=module', '-e', script, '--', '--help'], {
    reject: false,
  });
  expect(result.exitCode).toBe(78);
  expect(result.stdout).toBe('');
  expect(result.stderr).toMatch(/^filesync needs Node.js 22.12 or newer .*this is Node v20.20.2/);
});

it('takes help as --help, and names what is wrong with unexpected arguments', async () => {
  const help = await runCli({}, ['help']);
  expect(help.exitCode).toBe(0);
  expect(help.stdout).toMatch(/^Usage: filesync/);
  const extra = await runCli({}, ['check', 'extra']);
  expect(extra.exitCode).toBe(64);
  expect(extra.stderr).toMatch(/^filesync: check takes no arguments, got "extra"/);
  const unknown = await runCli({}, ['frobnicate']);
  expect(unknown.exitCode).toBe(64);
  expect(unknown.stderr).toMatch(/^filesync: unknown command "frobnicate"/);
});

it('names a misspelt setting with the one meant, next to the other problems', async () => {
  const result = await runCli({ SYNC_REMOTE_HSOT: 'backup', SYNC_DELETE: 'maybe' }, ['once']);
  expect(result.exitCode).toBe(78);
  expect(result.stderr).toMatch(/SYNC_REMOTE_HOST is required/);
  expect(result.stderr).toMatch(/SYNC_DELETE: expected true or false/);
  expect(result.stderr).toMatch(
    /SYNC_REMOTE_HSOT is not a filesync setting; did you mean SYNC_REMOTE_HOST\?/,
  );
});
