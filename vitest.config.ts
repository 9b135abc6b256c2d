import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Hang catchers, not speed checks: an e2e test runs up to ~10 CLIs in a row (each a Node start-up
    // plus its calls), which took over 60 s on a loaded 2-core machine (rollback.test.ts's first test,
    // ~12 s idle). A real hang still fails, after 3 minutes; each CLI is also killed after 60 s
    // (test/support/cli.ts). Speed is measured by benchmarks, never by these.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    pool: 'forks',
    // 2-core CI machines: loopback servers and spawned CLIs compete for CPU.
    maxWorkers: 2,
    reporters: ['default'],
    // temporary files: a private directory per run and per test file, removed after it (and the
    // run fails if anything is left): test/support/tmp-global.ts, tmp-setup.ts
    globalSetup: ['test/support/tmp-global.ts'],
    setupFiles: ['test/support/tmp-setup.ts'],
  },
})
