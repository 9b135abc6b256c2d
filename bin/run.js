#!/usr/bin/env node
import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const argv = process.argv.slice(2)

// `aip ... | head`: when the reader goes away, drop the rest of the output and finish normally, so
// the exit code is still the command's (a gate's 3, say), not a crash on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error
    stream.write = () => true
  })
}

// `aip --version` answers without loading oclif (it is what scripts call most often, and oclif's
// own start-up would double its cost); the output is the same as oclif's.
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  process.stdout.write(`${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else {
  // --verbose prints stack traces; map them back to the TypeScript sources (costs start-up time,
  // so only then).
  if (argv.includes('--verbose')) process.setSourceMapsEnabled(true)
  // The build bundles the parts of oclif aip uses into one file (scripts/bundle.mjs); the commands
  // share that copy. Without a bundle (a plain tsc build), oclif loads from node_modules.
  const require = createRequire(import.meta.url)
  let execute
  try {
    execute = require('../dist/vendor/oclif.cjs').execute
  } catch {
    execute = (await import('@oclif/core/execute')).execute
  }
  await execute(ownCommandOptions(argv) ?? {dir: import.meta.url})
}

/**
 * For aip's own commands, load oclif without its core plugins (plugin-help, plugin-autocomplete):
 * they only add the `help` and `autocomplete` commands (and hooks for `plugins:postinstall`), and
 * finding and loading them (minimatch over the dependencies, two package.json files, two manifests)
 * is about a tenth of a gpu-fit run (bench/startup.mjs). `aip`, `aip --help`, `aip help ...`,
 * `aip autocomplete` and anything that is not ours (a typo goes to the not-found hook with every
 * command loaded) take the full path.
 */
function ownCommandOptions(args) {
  const first = args[0]
  if (!first || !/^[a-z][a-z0-9-]*$/.test(first) || first === 'help' || first === 'autocomplete') return undefined
  if (!existsSync(join(root, 'dist', 'commands', `${first}.js`)) && !existsSync(join(root, 'dist', 'commands', first))) return undefined
  try {
    const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
    // aip has no plugin installer (no plugin-plugins), so no user or dev plugins to look for either
    return {loadOptions: {root, pjson: {...pjson, oclif: {...pjson.oclif, plugins: []}}, userPlugins: false, devPlugins: false}}
  } catch {
    return undefined
  }
}
