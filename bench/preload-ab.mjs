#!/usr/bin/env node
// A/B of `aip model preload` builds (and flag sets) on the unthrottled 2 GiB repo of bench/preload.mjs,
// in alternating rounds, with the sink's store on tmpfs (/dev/shm when it exists) so that this
// machine's disk writeback (s3rver writes every byte twice for a multipart object) does not decide
// the figures: it made runs drift 20-30% within one bench. Each run's bucket is removed after it.
// Prints seconds, MiB/s, s3rver's CPU (one JS thread) and the CLI's CPU per run, and medians.
//
//   node bench/preload-ab.mjs /path/to/other/checkout            # this build vs that one (both built)
//   BUILDS='{"this":["."],"c4":[".","--connections","4"]}' node bench/preload-ab.mjs   # flag sets
//   BENCH_AB_ROUNDS=4 BENCH_AB_GIB=2 BENCH_AB_THROTTLE_MIB=0 BENCH_AB_SINK_DIR=/dev/shm
import {spawn} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'

import {S3RVER_CREDENTIALS} from '../test/support/s3rver.mjs'
import {cpuOf, median, peer} from './support/harness.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1024 * 1024
const rounds = Math.max(1, Number(process.env.BENCH_AB_ROUNDS ?? 4))
const gib = Number(process.env.BENCH_AB_GIB ?? 2)
const throttle = Number(process.env.BENCH_AB_THROTTLE_MIB ?? 0) * MiB
const builds = process.env.BUILDS ? JSON.parse(process.env.BUILDS) : {this: [ROOT], ...(process.argv[2] ? {other: [resolve(process.argv[2])]} : {})}
for (const v of Object.values(builds)) v[0] = resolve(ROOT, v[0])
for (const [k, [dir]] of Object.entries(builds)) if (!existsSync(join(dir, 'dist'))) throw new Error(`${k}: ${dir} has no dist/ (npm run build there first)`)

const sinkRoot = process.env.BENCH_AB_SINK_DIR ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir())
const sinkDir = mkdtempSync(join(sinkRoot, 'aip-s3rver-'))
const hub = await peer({peer: 'hub', bytesPerSecondPerConnection: throttle, repos: [{id: 'bench/model', totalBytes: Math.round(gib * 1024 * MiB), seed: 1}]})
const buckets = []
for (let r = 0; r < rounds; r++) for (const b of Object.keys(builds)) buckets.push(`${b.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${r}`)
const s3h = await peer({peer: 's3', buckets, directory: sinkDir})
const total = hub.repos['bench/model'].reduce((a, f) => a + f.size, 0)
console.log(`preload A/B: ${(total / MiB).toFixed(0)} MiB${throttle ? `, Hub at ${throttle / MiB} MiB/s per connection` : ', unthrottled'}, ${rounds} alternating rounds, sink store in ${sinkRoot}`)
const res = Object.fromEntries(Object.keys(builds).map((k) => [k, []]))
try {
  for (let r = 0; r < rounds; r++) {
    const keys = Object.keys(builds)
    for (const b of r % 2 ? [...keys].reverse() : keys) {
      const [dir, ...args] = builds[b]
      const bucket = `${b.toLowerCase().replace(/[^a-z0-9-]/g, '-')}-${r}`
      const env = {PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'aip-ab-home-')), CI: 'true', NO_COLOR: '1', HF_ENDPOINT: hub.url, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1'}
      const s0 = cpuOf(s3h.child.pid)
      const t = performance.now()
      let cli = 0
      await new Promise((ok, bad) => {
        const c = spawn(process.execPath, [join(dir, 'bin', 'run.js'), 'model', 'preload', 'hf:bench/model', '--bucket', bucket, '--s3-endpoint', s3h.endpoint, '--json', ...args], {env, stdio: ['ignore', 'ignore', 'pipe']})
        const poll = setInterval(() => (cli = Math.max(cli, cpuOf(c.pid))), 50)
        let err = ''
        c.stderr.on('data', (d) => (err += d))
        c.on('close', (code) => (clearInterval(poll), code === 0 ? ok() : bad(new Error(`${b}: preload exited ${code}: ${err.slice(-1000)}`))))
      })
      const s = (performance.now() - t) / 1000
      const s3 = cpuOf(s3h.child.pid) - s0
      res[b].push(s)
      rmSync(join(sinkDir, bucket), {recursive: true, force: true})
      console.log(`  round ${r + 1} ${b.padEnd(12)} ${s.toFixed(1)}s  ${(total / MiB / s).toFixed(0)} MiB/s  s3rver ${s3.toFixed(1)}s (${((100 * s3) / s).toFixed(0)}% of its thread)  CLI ${cli.toFixed(1)}s`)
    }
  }
  const first = Object.keys(res)[0]
  for (const k of Object.keys(res)) console.log(`median ${k}: ${median(res[k]).toFixed(1)}s${k === first ? '' : `  (${first} is ${(median(res[k]) / median(res[first])).toFixed(2)}x as fast)`}`)
} finally {
  await hub.stop()
  await s3h.stop()
  rmSync(sinkDir, {recursive: true, force: true})
}
