#!/usr/bin/env node
// `aip --version` answers without loading oclif (it is what scripts call most often, and oclif's
// own start-up would double its cost); the output is the same as oclif's.
const argv = process.argv.slice(2)
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const {readFileSync} = await import('node:fs')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  process.stdout.write(`${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // --verbose prints stack traces; map them back to the TypeScript sources (costs start-up time,
  // so only then).
  if (argv.includes('--verbose')) process.setSourceMapsEnabled(true)
  // The build bundles the parts of oclif aip uses into one file (scripts/bundle.mjs); the commands
  // share that copy. Without a bundle (a plain tsc build), oclif loads from node_modules.
  const {createRequire} = await import('node:module')
  const require = createRequire(import.meta.url)
  let execute
  try {
    execute = require('../dist/vendor/oclif.cjs').execute
  } catch {
    execute = (await import('@oclif/core/execute')).execute
  }
  await execute({dir: import.meta.url})
}
