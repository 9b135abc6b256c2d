// Whole-process start-up ratios, measured in one run: `aip --version` and `aip gpu-fit <local
// config.json>` against a bare `node -e 0`. Runs are interleaved (A B C A B C ...) so machine load
// hits all three alike, and the median of each is compared. Goals: --version <= 1.5x, gpu-fit <= 2x.
import {spawnSync} from 'node:child_process'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const bin = join(root, 'bin', 'run.js')
const config = join(root, 'test', 'fixtures', 'configs', 'qwen3-8b', 'config.json')
const rounds = Number(process.env.BENCH_ROUNDS ?? 21)
const env = {...process.env, NO_COLOR: '1', CI: 'true'}

const cases = {
  'node -e 0': [process.execPath, ['-e', '0']],
  'aip --version': [process.execPath, [bin, '--version']],
  'aip gpu-fit config.json': [process.execPath, [bin, 'gpu-fit', config, '--gpu', 'l4']],
}

function time([cmd, args]) {
  const t = process.hrtime.bigint()
  const r = spawnSync(cmd, args, {env, stdio: ['ignore', 'ignore', 'ignore']})
  const ms = Number(process.hrtime.bigint() - t) / 1e6
  if (r.status !== 0 && r.status !== 3) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`)
  return ms
}

const samples = Object.fromEntries(Object.keys(cases).map((k) => [k, []]))
for (const c of Object.values(cases)) time(c) // warm the file cache
for (let i = 0; i < rounds; i++) for (const [k, c] of Object.entries(cases)) samples[k].push(time(c))
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const base = median(samples['node -e 0'])
const goals = {'aip --version': 1.5, 'aip gpu-fit config.json': 2}
console.log(`startup (${rounds} interleaved rounds, medians)`)
for (const k of Object.keys(cases)) {
  const m = median(samples[k])
  const ratio = m / base
  const goal = goals[k]
  console.log(`  ${k.padEnd(26)} ${m.toFixed(1).padStart(7)} ms   ${ratio.toFixed(2)}x node${goal ? `   goal <= ${goal}x ${ratio <= goal ? 'met' : 'MISSED'}` : ''}`)
}

// Wall time on a shared 2-core machine is noisy; instruction counts are not. With valgrind on the
// PATH and BENCH_INSTRUCTIONS=1, each case also runs once under callgrind (slow: about a minute).
if (process.env.BENCH_INSTRUCTIONS === '1') {
  const has = spawnSync('valgrind', ['--version'], {stdio: 'ignore'}).status === 0
  if (!has) {
    console.log('instructions: valgrind not installed (apt-get install valgrind), skipped')
  } else {
    const count = ([cmd, args]) => {
      const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', cmd, ...args], {env, encoding: 'utf8'})
      const m = /Collected : (\d+)/.exec(r.stderr)
      if (!m) throw new Error(`callgrind failed for ${args.join(' ')}`)
      return Number(m[1])
    }
    const counts = Object.fromEntries(Object.entries(cases).map(([k, c]) => [k, count(c)]))
    console.log('startup instructions (callgrind, one run each)')
    for (const k of Object.keys(cases)) {
      const ratio = counts[k] / counts['node -e 0']
      const goal = goals[k]
      console.log(`  ${k.padEnd(26)} ${(counts[k] / 1e6).toFixed(0).padStart(7)} M   ${ratio.toFixed(2)}x node${goal ? `   goal <= ${goal}x ${ratio <= goal ? 'met' : 'MISSED'}` : ''}`)
    }
  }
}
