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
    // tests import the AWS SDK directly (aip's own process sets this where it loads the SDK); the
    // CLIs the e2e tests spawn get an isolated env and show what a user would see
    env: {AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true'},
  },
})
