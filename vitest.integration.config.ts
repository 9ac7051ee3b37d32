import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/integration/**/*.test.ts'],
    setupFiles: ['test/fail-on-warnings.ts'],
    globalSetup: ['test/support/tmpdir.ts'],
    // One sshd container per file and a daemon per test: on two cores, files run one at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Every test stops the containers it starts (afterAll, `await using`), so testcontainers'
    // reaper, Ryuk, which must be pulled from a registry, is opt-in: `npm test` works offline.
    // TESTCONTAINERS_RYUK_DISABLED=false turns it back on.
    env: { TESTCONTAINERS_RYUK_DISABLED: process.env.TESTCONTAINERS_RYUK_DISABLED ?? 'true' },
  },
});
