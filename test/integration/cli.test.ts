import { resolve } from 'node:path';
import { execa } from 'execa';
import { expect, it } from 'vitest';

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
