import { tmpdir } from 'node:os';
import { basename } from 'node:path';
import { expect, it } from 'vitest';

it("writes temporary files under the run's own directory, which the run removes (test/support/tmpdir.ts)", () => {
  expect(basename(tmpdir())).toMatch(/^filesync-tests-/);
});
