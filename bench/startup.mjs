// Whole-process start-up ratios, measured in one run, per Node runtime: `aip --version`,
// `aip gpu-fit qwen3-8b` (catalog) and `aip gpu-fit <config.json>` against a bare `node -e 0` on the
// same runtime. Runs are interleaved (A B C D A B C D ...) so machine load hits all alike, and the
// median of each is compared. Goals: --version <= 1.5x, gpu-fit <= 2.5x.
//
// BENCH_NODES: node binaries to compare, separated by ':' (default: /tmp/nodes/n22/bin/node and
// /tmp/nodes/n24/bin/node where present, else the Node running this script). Each runtime gets its
// own module compile cache (bin/run.js turns it on), filled by the warm-up run, as a user's second
// run finds it.
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')
const config = join(root, 'test', 'fixtures', 'configs', 'qwen3-8b', 'config.json')
const rounds = Number(process.env.BENCH_ROUNDS ?? 21)
const defaults = ['/tmp/nodes/n22/bin/node', '/tmp/nodes/n24/bin/node'].filter((p) => existsSync(p))
const nodes = process.env.BENCH_NODES ? process.env.BENCH_NODES.split(':').filter(Boolean) : defaults.length > 0 ? defaults : [process.execPath]

const goals = {'aip --version': 1.5, 'aip gpu-fit qwen3-8b': 2.5, 'aip gpu-fit config.json': 2.5}
const cases = (node) => ({
  'node -e 0': [node, ['-e', '0']],
  'aip --version': [node, [bin, '--version']],
  'aip gpu-fit qwen3-8b': [node, [bin, 'gpu-fit', 'qwen3-8b']],
  'aip gpu-fit config.json': [node, [bin, 'gpu-fit', config, '--gpu', 'l4']],
})
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const line = (k, value, ratio) => {
  const goal = goals[k]
  return `  ${k.padEnd(26)} ${value.padStart(9)}   ${ratio.toFixed(2)}x node${goal ? `   goal <= ${goal}x ${ratio <= goal ? 'met' : 'MISSED'}` : ''}`
}

for (const node of nodes) {
  const version = spawnSync(node, ['--version'], {encoding: 'utf8'}).stdout.trim()
  const cache = mkdtempSync(join(tmpdir(), 'aip-bench-cc-'))
  const env = {...process.env, NO_COLOR: '1', CI: 'true', NODE_COMPILE_CACHE: cache}
  const time = ([cmd, args]) => {
    const t = process.hrtime.bigint()
    const r = spawnSync(cmd, args, {env, stdio: ['ignore', 'ignore', 'ignore']})
    const ms = Number(process.hrtime.bigint() - t) / 1e6
    if (r.status !== 0 && r.status !== 3) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`)
    return ms
  }
  try {
    const cs = cases(node)
    const samples = Object.fromEntries(Object.keys(cs).map((k) => [k, []]))
    for (const c of Object.values(cs)) time(c) // warm the file cache and the compile cache
    for (let i = 0; i < rounds; i++) for (const [k, c] of Object.entries(cs)) samples[k].push(time(c))
    const base = median(samples['node -e 0'])
    console.log(`startup, Node ${version} (${rounds} interleaved rounds, medians)`)
    for (const k of Object.keys(cs)) console.log(line(k, `${median(samples[k]).toFixed(1)} ms`, median(samples[k]) / base))

    // Wall time on a shared machine is noisy; instruction counts are not. With valgrind on the
    // PATH and BENCH_INSTRUCTIONS=1, each case also runs once under callgrind (slow: minutes).
    if (process.env.BENCH_INSTRUCTIONS === '1') {
      if (spawnSync('valgrind', ['--version'], {stdio: 'ignore'}).status !== 0) {
        console.log('instructions: valgrind not installed (apt-get install valgrind), skipped')
      } else {
        const count = ([cmd, args]) => {
          const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', cmd, ...args], {env, encoding: 'utf8'})
          const m = /Collected : (\d+)/.exec(r.stderr)
          if (!m) throw new Error(`callgrind failed for ${args.join(' ')}`)
          return Number(m[1])
        }
        const counts = Object.fromEntries(Object.entries(cs).map(([k, c]) => [k, count(c)]))
        console.log(`startup instructions, Node ${version} (callgrind, one run each)`)
        for (const k of Object.keys(cs)) console.log(line(k, `${(counts[k] / 1e6).toFixed(0)} M`, counts[k] / counts['node -e 0']))
      }
    }
  } finally {
    rmSync(cache, {recursive: true, force: true})
  }
}
