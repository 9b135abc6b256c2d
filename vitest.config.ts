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
  },
})
