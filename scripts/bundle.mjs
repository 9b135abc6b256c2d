// Start-up bundling (after tsc): Node pays per module loaded (resolution, reads, ESM jobs), and
// a gpu-fit run loads ~150 modules through @oclif/core's index and our lib. This writes
//  - dist/vendor/oclif.cjs: the parts of @oclif/core aip uses, as one CommonJS file;
//  - dist/commands/**.js and dist/hooks/*.js: each command with the lib code it imports, as one
//    ESM file, importing oclif from the vendor file (one copy of oclif in the process);
//  - dist/fast/<id>.js: the fast path of the hot offline commands (gpu-fit), without oclif's Config;
//  - dist/catalog.json: the model catalog, parsed and validated (src/lib/catalog/store.ts).
// Heavy SDKs stay external and are still imported lazily where they are used. dist/lib stays as
// tsc wrote it (benchmarks and scripts import it). Measured by bench/startup.mjs.
import {build} from 'esbuild'
import {readdirSync, rmSync, statSync} from 'node:fs'
import {createRequire, isBuiltin} from 'node:module'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const EXTERNAL = [
  '@kubernetes/client-node', '@aws-sdk/*', '@smithy/*', 'listr2', 'execa', '@inquirer/prompts',
  'p-retry', 'p-limit', 'typescript', 'ts-node', 'tsx',
]

const vendor = join(root, 'dist', 'vendor', 'oclif.cjs')
// oclif's lib/ modules the fast path (src/fast, below) loads from this bundle only when it reaches
// them (errors, help, output): the modules themselves, by path, so there is one copy of each.
const oclifLib = join(dirname(createRequire(import.meta.url).resolve('@oclif/core/package.json')), 'lib')
const LAZY = ['errors/index.js', 'errors/error.js', 'errors/handle.js', 'help/index.js', 'parser/help.js', 'parser/errors.js', 'logger.js', 'ux/index.js']
await build({
  stdin: {
    contents: `module.exports = {
      execute: require('@oclif/core/execute').execute,
      Command: require('@oclif/core/command').Command,
      Config: require('@oclif/core/config').Config,
      Flags: require('@oclif/core/flags'),
      Args: require('@oclif/core/args'),
      lib: {${LAZY.map((p) => `${JSON.stringify(p)}: require(${JSON.stringify(join(oclifLib, p))})`).join(', ')}},
    }`,
    resolveDir: root,
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node22',
  outfile: vendor,
  external: EXTERNAL,
  // third-party code: a smaller file reads and pre-parses faster at every start
  minify: true,
  keepNames: true,
  logLevel: 'warning',
})

// '@oclif/core/<sub>' in command code -> the vendor bundle (named exports through a tiny shim).
const oclifShim = {
  name: 'oclif-vendor',
  setup(b) {
    b.onResolve({filter: /^@oclif\/core(\/(command|config|flags|args|execute))?$/}, (args) => ({path: args.path, namespace: 'oclif-shim'}))
    b.onLoad({filter: /.*/, namespace: 'oclif-shim'}, (args) => {
      const sub = args.path.split('/')[2]
      const body = {
        command: 'export const Command = v.Command',
        config: 'export const Config = v.Config',
        flags: 'const f = v.Flags; export const {boolean, string, integer, option, custom, url, file, directory, help, version} = f; export default f',
        args: 'const a = v.Args; export const {boolean, string, integer, option, custom, url, file, directory} = a; export default a',
        execute: 'export const execute = v.execute',
      }[sub ?? 'command']
      return {contents: `import {createRequire} from 'node:module'; const v = createRequire(import.meta.url)(${JSON.stringify('VENDOR')}); ${body}`, loader: 'js', resolveDir: root}
    })
  },
}

function files(dir) {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

// chunk names carry a content hash: drop the previous build's, or stale chunks pile up in dist/
// (test/e2e/bundle.test.ts loads every chunk there)
rmSync(join(root, 'dist', 'chunks'), {recursive: true, force: true})

const entries = [...files(join(root, 'src', 'commands')), ...files(join(root, 'src', 'hooks'))]
// One build with code splitting: code shared by commands becomes shared chunks, and what a command
// imports dynamically (the catalog, the Hub client, ...) becomes a chunk loaded only when reached.
const result = await build({
  entryPoints: entries,
  outbase: join(root, 'src'),
  outdir: join(root, 'dist'),
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  format: 'esm',
  target: 'node22',
  external: EXTERNAL,
  plugins: [oclifShim],
  // CommonJS dependencies inside an ESM bundle call require(): give them Node's.
  banner: {js: "import {createRequire as __aipCreateRequire} from 'node:module'; const require = __aipCreateRequire(import.meta.url);"},
  logLevel: 'warning',
  allowOverwrite: true,
  metafile: true,
  // stack traces (--verbose) name the TypeScript sources: bin/run.js turns source maps on then
  sourcemap: 'linked',
  sourcesContent: false,
})
// the shim names the vendor file relative to each output file
const {readFileSync, writeFileSync} = await import('node:fs')
for (const out of Object.keys(result.metafile.outputs)) {
  if (out.endsWith('.map')) continue
  const abs = join(root, out)
  const text = readFileSync(abs, 'utf8')
  if (!text.includes('"VENDOR"')) continue
  const rel = relative(dirname(abs), vendor)
  writeFileSync(abs, text.replaceAll('"VENDOR"', JSON.stringify(rel.startsWith('.') ? rel : `./${rel}`)))
}

// dist/fast/<id>.js: the fast path of the hot offline commands (src/fast/run.ts; bin/run.js picks
// it). The command's own module, with `@oclif/core/command` resolved to src/fast/command.ts and
// oclif's parser, flags and args bundled from oclif's sources, except the modules in LAZY, which
// become stubs that load the vendor bundle's copy when first touched (errors, help, output).
const FAST = ['gpu-fit']
// builtins a fast command may not reach (readline: oclif's stdin flags; crypto: config writes;
// fs/promises: model directories; util: its module object's lazy getters load worker_threads)
const LAZY_BUILTINS = ['crypto', 'readline', 'fs/promises', 'util']
{
  const fastDir = join(root, 'dist', 'fast')
  rmSync(fastDir, {recursive: true, force: true})
  const req = createRequire(import.meta.url)
  const lazyOrReal = (abs) => {
    const rel = relative(oclifLib, abs).split('\\').join('/')
    return LAZY.includes(rel) ? {path: rel, namespace: 'oclif-lazy'} : {path: abs}
  }
  const fastPlugin = {
    name: 'aip-fast',
    setup(b) {
      b.onResolve({filter: /^aip-fast:/}, (args) => ({path: args.path.slice('aip-fast:'.length), namespace: 'aip-fast'}))
      b.onLoad({filter: /.*/, namespace: 'aip-fast'}, (args) => ({
        contents: `import Cmd from ${JSON.stringify(join(root, 'src', 'commands', `${args.path}.ts`))}
import {runFast} from ${JSON.stringify(join(root, 'src', 'fast', 'run.ts'))}
export const run = (argv, opts) => runFast(Cmd, ${JSON.stringify(args.path)}, argv, opts)`,
        loader: 'js',
        resolveDir: root,
      }))
      b.onResolve({filter: /^@oclif\/core(\/.*)?$/}, (args) => {
        const sub = args.path.slice('@oclif/core/'.length)
        if (sub === 'command') return {path: join(root, 'src', 'fast', 'command.ts')}
        // base-command.ts only asks `instanceof Config`, which on the fast path is never true
        if (sub === 'config') return {path: 'config', namespace: 'oclif-none'}
        return lazyOrReal(sub.startsWith('lib/') ? join(oclifLib, sub.slice(4)) : req.resolve(args.path))
      })
      b.onResolve({filter: /^\.\.?\//}, (args) => (args.importer.startsWith(oclifLib + '/') ? lazyOrReal(createRequire(args.importer).resolve(args.path)) : undefined))
      b.onResolve({filter: /^\.\.\/vendor\/oclif\.cjs$/}, (args) => ({path: args.path, external: true}))
      // `import {readFileSync} from 'node:fs'` in an ES module makes Node build the builtin's ESM
      // facade, which reads every export, lazy getters included (fs.ReadStream loads all of
      // node:stream): about a tenth of a gpu-fit run. Imported through require() instead (esbuild
      // reads the named exports at use), the builtin loads as it does for CommonJS.
      b.onResolve({filter: /^(node:)?[a-z_/]+$/}, (args) => {
        if (!isBuiltin(args.path)) return undefined
        return args.namespace === 'builtin-cjs' ? {path: args.path, external: true} : {path: args.path, namespace: 'builtin-cjs'}
      })
      b.onLoad({filter: /.*/, namespace: 'builtin-cjs'}, (args) => {
        const id = JSON.stringify(args.path)
        if (!LAZY_BUILTINS.includes(args.path.replace(/^node:/, ''))) return {contents: `module.exports = require(${id})`, loader: 'js'}
        // loaded on first use: its export names are listed (from this Node) so that esbuild's
        // ESM interop can copy them as getters without loading the module
        const keys = JSON.stringify(Object.keys(req(args.path)))
        return {
          contents: `let m
const load = () => (m ??= require(${id}))
module.exports = new Proxy({}, {
  get: (_, k) => (k === '__esModule' ? false : load()[k]),
  has: (_, k) => k in load(),
  ownKeys: () => ${keys},
  getOwnPropertyDescriptor: (_, k) => ({configurable: true, enumerable: true, writable: true, value: undefined}),
})`,
          loader: 'js',
        }
      })
      b.onLoad({filter: /.*/, namespace: 'oclif-none'}, () => ({contents: 'export class Config {}', loader: 'js'}))
      // CommonJS stub: a Proxy that loads the module on the first property read (an oclif module
      // reads its dependencies' exports at call time: `errors_1.CLIError`); __esModule answers
      // without loading, so TypeScript's __importStar/__importDefault wrappers stay lazy too.
      b.onLoad({filter: /.*/, namespace: 'oclif-lazy'}, (args) => ({
        contents: `let m
const load = () => (m ??= require('../vendor/oclif.cjs').lib[${JSON.stringify(args.path)}])
module.exports = new Proxy({}, {
  get: (_, k) => (k === '__esModule' ? true : load()[k]),
  has: (_, k) => k in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, k) => {
    const d = Reflect.getOwnPropertyDescriptor(load(), k)
    return d && {...d, configurable: true}
  },
})`,
        loader: 'js',
        resolveDir: fastDir,
      }))
    },
  }
  await build({
    entryPoints: FAST.map((id) => ({in: `aip-fast:${id}`, out: id})),
    outdir: fastDir,
    chunkNames: '[name]-[hash]',
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node22',
    external: EXTERNAL,
    plugins: [fastPlugin],
    banner: {js: "import {createRequire as __aipCreateRequire} from 'node:module'; const require = __aipCreateRequire(import.meta.url);"},
    logLevel: 'warning',
    sourcemap: 'linked',
    sourcesContent: false,
  })
}

// dist/catalog.json: every shipped template's text with its validated entry (the tsc output's own
// parser and schema), read at run time by src/lib/catalog/store.ts instead of parsing the YAML
// while the text is unchanged.
{
  const {pathToFileURL} = await import('node:url')
  const lib = (p) => import(pathToFileURL(join(root, 'dist', 'lib', 'catalog', p)).href)
  const {loadTemplateFile, parseCatalog} = await lib('index.js')
  const {templateFiles} = await lib('store.js')
  const dir = join(root, 'templates', 'models')
  // in catalog order (by name, as listCatalog sorts), so that reading it needs no sort
  const files = Object.fromEntries(parseCatalog(dir).map((e) => templateFiles(dir).find((f) => f.replace(/\.ya?ml$/, '') === e.name)).map((f) => [f, {text: readFileSync(join(dir, f), 'utf8'), entry: loadTemplateFile(join(dir, f))}]))
  writeFileSync(join(root, 'dist', 'catalog.json'), JSON.stringify({files}))
}
