#!/usr/bin/env node
// Builtins come through require(): `import ... from 'node:fs'` in an ES module makes Node build
// the builtin's ESM facade, reading every export, lazy ones included (fs.ReadStream loads all of
// node:stream), a cost every command would pay at start-up (bench/startup.mjs).
const nodeModule = process.getBuiltinModule?.('node:module') ?? (await import('node:module'))
const require = nodeModule.createRequire(import.meta.url)
const {existsSync, readFileSync} = require('node:fs')
const {join} = require('node:path')
const {fileURLToPath, pathToFileURL} = require('node:url')
const {tmpdir} = require('node:os')

const root = fileURLToPath(new URL('..', import.meta.url))
const argv = process.argv.slice(2)

// The module compile cache (Node >= 22.1): V8's code cache for every module loaded after this,
// kept on disk, so later runs skip parsing and compiling them. One directory per user (Node
// keys the entries by file and content and checks them); NODE_COMPILE_CACHE, when set, wins, and
// NODE_DISABLE_COMPILE_CACHE=1 turns it off.
try {
  nodeModule.enableCompileCache?.(process.env.NODE_COMPILE_CACHE || join(cacheHome(), 'aip', 'compile-cache'))
} catch {
  // an unwritable cache directory only costs the speed-up
}

function cacheHome() {
  if (process.env.XDG_CACHE_HOME) return process.env.XDG_CACHE_HOME
  const home = process.env.HOME || process.env.USERPROFILE
  return home ? join(home, '.cache') : tmpdir()
}

// `aip ... | head`: when the reader goes away, drop the rest of the output and finish normally, so
// the exit code is still the command's (a gate's 3, say), not a crash on EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error) => {
    if (error.code !== 'EPIPE') throw error
    stream.write = () => true
    // whoever waits for 'drain' (oclif's flush at the end of a command) would wait forever
    stream.emit('drain')
  })
}

// `aip --version` answers without loading oclif (it is what scripts call most often, and oclif's
// own start-up would double its cost); the output is the same as oclif's.
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-v')) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  process.stdout.write(`${pkg.name}/${pkg.version} ${process.platform}-${process.arch} node-${process.version}\n`)
} else if (!(await runFast(argv))) {
  // --verbose prints stack traces; map them back to the TypeScript sources (costs start-up time,
  // so only then).
  if (argv.includes('--verbose')) process.setSourceMapsEnabled(true)
  // The build bundles the parts of oclif aip uses into one file (scripts/bundle.mjs); the commands
  // share that copy. Without a bundle (a plain tsc build), oclif loads from node_modules.
  let execute
  try {
    execute = require('../dist/vendor/oclif.cjs').execute
  } catch {
    execute = (await import('@oclif/core/execute')).execute
  }
  await execute(ownCommandOptions(argv) ?? {dir: import.meta.url})
}

/**
 * The hot offline commands (gpu-fit) have a fast bundle (dist/fast/<id>.js, src/fast/run.ts): the
 * same command class and flags without loading oclif's configuration, plugins and help. It
 * declines (false) any invocation it does not reproduce exactly (a help flag, say), before doing
 * anything, and the oclif path runs instead.
 */
async function runFast(args) {
  const id = args[0]
  // stack traces (--verbose, AIP_VERBOSE=1) come from the usual path, mapped to the sources
  if (!id || !/^[a-z][a-z0-9-]*$/.test(id) || argv.includes('--verbose') || process.env.AIP_VERBOSE === '1' || process.env.AIP_FAST_PATH === '0') return false
  const file = join(root, 'dist', 'fast', `${id}.js`)
  if (!existsSync(file)) return false
  const pjson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
  const {run} = await import(pathToFileURL(file).href)
  return run(args.slice(1), {root, pjson})
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
