// Start-up bundling (after tsc): Node 20 pays per module loaded (resolution, reads, ESM jobs), and
// a gpu-fit run loads ~150 modules through @oclif/core's index and our lib. This writes
//  - dist/vendor/oclif.cjs: the parts of @oclif/core aip uses, as one CommonJS file;
//  - dist/commands/**.js and dist/hooks/*.js: each command with the lib code it imports, as one
//    ESM file, importing oclif from the vendor file (one copy of oclif in the process).
// Heavy SDKs stay external and are still imported lazily where they are used. dist/lib stays as
// tsc wrote it (benchmarks and scripts import it). Measured by bench/startup.mjs.
import {build} from 'esbuild'
import {readdirSync, statSync} from 'node:fs'
import {dirname, join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const EXTERNAL = [
  '@kubernetes/client-node', '@aws-sdk/*', '@smithy/*', 'listr2', 'execa', '@inquirer/prompts',
  'p-retry', 'p-limit', 'typescript', 'ts-node', 'tsx',
]

const vendor = join(root, 'dist', 'vendor', 'oclif.cjs')
await build({
  stdin: {
    contents: `module.exports = {
      execute: require('@oclif/core/execute').execute,
      Command: require('@oclif/core/command').Command,
      Config: require('@oclif/core/config').Config,
      Flags: require('@oclif/core/flags'),
      Args: require('@oclif/core/args'),
    }`,
    resolveDir: root,
    loader: 'js',
  },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
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
const {rmSync} = await import('node:fs')
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
  target: 'node20',
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
