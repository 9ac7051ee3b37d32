#!/usr/bin/env node
// The entry point. Node's compile cache (under TMPDIR) is turned on before anything else loads:
// every start after the first skips compiling the modules (npm run bench: start → ready).
import { enableCompileCache } from 'node:module';

enableCompileCache?.();
await import('./main.ts');
