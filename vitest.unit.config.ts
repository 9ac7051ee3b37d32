import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts'],
    setupFiles: ['test/fail-on-warnings.ts'],
    globalSetup: ['test/support/tmpdir.ts'],
  },
});
