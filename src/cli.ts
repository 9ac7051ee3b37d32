#!/usr/bin/env node
// The entry point. It refuses an old Node before anything else loads, then turns Node's compile
// cache (under TMPDIR) on: every start after the first skips compiling the modules (npm run
// bench: start → ready).
// A namespace import: a named one of an export that an old Node lacks fails before any check.
import * as nodeModule from 'node:module';
import { nodeTooOld } from './node-version.ts';

const tooOld = nodeTooOld(process.version);
if (tooOld !== undefined) {
  process.stderr.write(`${tooOld}\n`);
  process.exit(78);
}
nodeModule.enableCompileCache?.();
const { run } = await import('./main.ts');
await run(process.argv.slice(2));
