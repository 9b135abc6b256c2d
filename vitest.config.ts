import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
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
