// Builds the native scanner and comparison (native/scan.c, native/compare.c) into build/scan.node: part of `npm run build`.
// A Node-API module, so one build serves every Node version from 18 on; compiled with the C
// compiler alone (CC, else cc) against the headers of the node-api-headers package, so nothing
// is downloaded. Without a C compiler it says so and leaves the scanner out: filesync then walks
// with Node's own calls (src/state/scan.ts), slower on large trees but alike in what it finds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const output = `${root}build/scan.node`;
const compiler = process.env.CC ?? 'cc';
const { include_dir: include } = createRequire(import.meta.url)('node-api-headers') as {
  include_dir: string;
};

mkdirSync(`${root}build`, { recursive: true });
rmSync(output, { force: true }); // never a stale one from other sources
try {
  execFileSync(
    compiler,
    [
      '-std=c11',
      '-O2',
      '-Wall',
      '-Wextra',
      '-Werror',
      '-fPIC',
      '-shared',
      `-I${include}`,
      '-pthread',
      `${root}native/scan.c`,
      `${root}native/compare.c`,
      '-o',
      output,
    ],
    { stdio: 'inherit' },
  );
} catch (error) {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
    console.error('build-native: native/scan.c did not compile (see above)');
    process.exit(1);
  }
  console.warn(
    `build-native: no C compiler (${compiler}) found, so the native scanner is not built; filesync walks ` +
      'the source with Node’s calls instead (slower fast starts on large trees). Install gcc to build it.',
  );
}
