#!/usr/bin/env node
// Benchmark: `aip model preload` of a generated repo (a few large files, many small ones) from the
// loopback Hub into s3rver, against
//   - the loopback copy limit: the same bytes read from the Hub server and written to s3rver by the
//     simplest pipe (one GET piped into one PutObject per file, sequentially),
//   - the two-step copy: download every file to disk, then upload every file,
// and the peak RSS of the preload process (the built CLI as a child; VmHWM from /proc), also with the
// repo doubled to show that memory stays flat. The Hub and s3rver each run in a process of their own
// (bench/support/peer.mjs), as they are other machines in real use; the reference copies run in this
// process, preload in its own.
//
//   node bench/preload.mjs                 # ~2 GiB (goals: >= 0.8x limit, >= 1.5x two-step, RSS <= 300 MiB)
//   BENCH_PRELOAD_GIB=0.25 node bench/preload.mjs   # quick run
//   BENCH_PRELOAD_ROUNDS=3                          # interleaved rounds (limit, two-step, preload); medians
//   BENCH_PRELOAD_COMPARE=/path/to/other/checkout   # also time that build's preload in each round (A/B)
//   BENCH_PRELOAD_ARGS="--concurrency 4"            # extra preload flags
//   BENCH_PRELOAD_MULTIPART=1                       # also time a multipart copy reference (see below)
//   BENCH_PRELOAD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   # node flags for the CLI (profiling)
// Needs `npm run build` first (runs dist/ through bin/run.js).
import {fork, spawn} from 'node:child_process'
import {createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {get} from 'node:http'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath} from 'node:url'

import {S3RVER_CREDENTIALS} from '../test/support/s3rver.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1024 * 1024
const GiB = 1024 * MiB
/** Starts bench/support/peer.mjs with a request; resolves with its answer and the child. */
function peer(request) {
  return new Promise((resolveP, reject) => {
    const child = fork(join(ROOT, 'bench', 'support', 'peer.mjs'), {stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    child.once('message', (m) => resolveP({...m, child, stop: () => new Promise((r) => (child.once('exit', r), child.disconnect()))}))
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`peer ${request.peer} exited ${code}`)))
    child.send(request)
  })
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return 0
  }
}

const gib = Number(process.env.BENCH_PRELOAD_GIB ?? process.argv[2] ?? 2)

function httpGet(url) {
  return new Promise((resolveP, reject) => {
    get(url, (res) => {
      if (res.statusCode >= 300 && res.statusCode < 400 && res.headers.location) {
        res.resume()
        resolveP(httpGet(new URL(res.headers.location, url).toString()))
      } else resolveP(res)
    }).on('error', reject)
  })
}

async function s3client(endpoint) {
  const {S3Client} = await import('@aws-sdk/client-s3')
  return new S3Client({endpoint, region: 'us-east-1', forcePathStyle: true, credentials: S3RVER_CREDENTIALS, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED'})
}

async function simplestPipe(hub, repo, files, s3, bucket) {
  const {PutObjectCommand} = await import('@aws-sdk/client-s3')
  const t = performance.now()
  for (const f of files.values()) {
    const body = await httpGet(`${hub.url}/${repo}/resolve/main/${f.path}`)
    await s3.send(new PutObjectCommand({Bucket: bucket, Key: `pipe/${f.path}`, Body: body, ContentLength: f.size}))
  }
  return (performance.now() - t) / 1000
}

/**
 * Reference only (not the limit): the same bytes through the SDK's managed multipart upload
 * (@aws-sdk/lib-storage, 16 MiB parts, 4 in flight), one file after another. On s3rver every
 * multipart upload pays CompleteMultipartUpload rewriting the parts into the object (a second write
 * of every byte) that a single PutObject does not; this separates that store cost from aip's own.
 */
async function multipartPipe(hub, repo, files, s3, bucket) {
  const {Upload} = await import('@aws-sdk/lib-storage')
  const t = performance.now()
  for (const f of files.values()) {
    const body = await httpGet(`${hub.url}/${repo}/resolve/main/${f.path}`)
    await new Upload({client: s3, params: {Bucket: bucket, Key: `mp/${f.path}`, Body: body, ContentLength: f.size}, partSize: 16 * MiB, queueSize: 4}).done()
  }
  return (performance.now() - t) / 1000
}

async function twoStep(hub, repo, files, s3, bucket) {
  const {PutObjectCommand} = await import('@aws-sdk/client-s3')
  const dir = mkdtempSync(join(tmpdir(), 'aip-bench-dl-'))
  const t = performance.now()
  try {
    for (const f of files.values()) {
      const body = await httpGet(`${hub.url}/${repo}/resolve/main/${f.path}`)
      await pipeline(body, createWriteStream(join(dir, f.path.replace(/\//g, '_'))))
    }
    for (const f of files.values()) {
      const p = join(dir, f.path.replace(/\//g, '_'))
      await s3.send(new PutObjectCommand({Bucket: bucket, Key: `two/${f.path}`, Body: createReadStream(p), ContentLength: statSync(p).size}))
    }
    return (performance.now() - t) / 1000
  } finally {
    rmSync(dir, {recursive: true, force: true})
  }
}

/** Runs the built CLI; returns seconds and peak RSS (VmHWM, polled from /proc while it runs). */
function preloadCli(hub, s3h, repo, bucket, root = ROOT) {
  return new Promise((resolveP, reject) => {
    const env = {PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'aip-bench-home-')), CI: 'true', NO_COLOR: '1', HF_ENDPOINT: hub.url, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1'}
    const t = performance.now()
    const peers0 = cpuOf(hub.child.pid) + cpuOf(s3h.child.pid)
    const extra = (process.env.BENCH_PRELOAD_ARGS ?? '').split(/\s+/).filter(Boolean)
    const nodeArgs = (process.env.BENCH_PRELOAD_NODE_ARGS ?? '').split(/\s+/).filter(Boolean)
    const child = spawn(process.execPath, [...nodeArgs, join(root, 'bin', 'run.js'), 'model', 'preload', `hf:${repo}`, '--bucket', bucket, '--s3-endpoint', s3h.endpoint, '--json', ...extra], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let hwm = 0
    let cpu = 0
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
        if (m) hwm = Math.max(hwm, Number(m[1]) * 1024)
        // utime + stime (clock ticks, 100 per second on Linux), the last sample before exit
        const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1].split(' ')
        cpu = Math.max(cpu, (Number(f[11]) + Number(f[12])) / 100)
      } catch {
        // exited
      }
    }, 50)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => {
      clearInterval(poll)
      if (code !== 0) return reject(new Error(`preload exited ${code}: ${err}${out.slice(-2000)}`))
      // serverCpu: the Hub and s3rver processes during the run
      resolveP({seconds: (performance.now() - t) / 1000, rss: hwm, cpu, serverCpu: cpuOf(hub.child.pid) + cpuOf(s3h.child.pid) - peers0})
    })
  })
}

const fmt = (b) => `${(b / MiB).toFixed(0)} MiB`
const rate = (bytes, s) => `${(bytes / MiB / s).toFixed(0)} MiB/s`

const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y)
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2
}

async function main() {
  const rounds = Math.max(1, Number(process.env.BENCH_PRELOAD_ROUNDS ?? 1))
  const compare = process.env.BENCH_PRELOAD_COMPARE ? resolve(process.env.BENCH_PRELOAD_COMPARE) : undefined
  const withMultipart = Boolean(process.env.BENCH_PRELOAD_MULTIPART)
  const buckets = ['pre2']
  for (let r = 0; r < rounds; r++) buckets.push(`pipe${r}`, `two${r}`, `pre${r}`, `cmp${r}`, `mp${r}`)
  const size = Math.round(gib * GiB)
  const hub = await peer({peer: 'hub', repos: [{id: 'bench/model', totalBytes: size, seed: 1}, {id: 'bench/model-2x', totalBytes: size * 2, seed: 1000}]})
  const s3h = await peer({peer: 's3', buckets})
  const s3 = await s3client(s3h.endpoint)
  const asFiles = (list) => new Map(list.map((f) => [f.path, f]))
  try {
    const a = {files: asFiles(hub.repos['bench/model'])}
    const total = [...a.files.values()].reduce((x, f) => x + f.size, 0)
    console.log(`preload benchmark: ${a.files.size} files, ${fmt(total)} (loopback Hub -> s3rver), ${rounds} round(s)`)

    const t = {pipe: [], two: [], pre: [], cmp: [], mp: [], rss: [], cmpRss: []}
    for (let r = 0; r < rounds; r++) {
      const tag = rounds > 1 ? `[${r + 1}/${rounds}] ` : ''
      const c0 = process.cpuUsage()
      const pipeS = await simplestPipe(hub, 'bench/model', a.files, s3, `pipe${r}`)
      const c1 = process.cpuUsage(c0)
      t.pipe.push(pipeS)
      console.log(`  ${tag}loopback copy limit (GET | PutObject, per file): ${pipeS.toFixed(1)}s  ${rate(total, pipeS)}  (client CPU ${((c1.user + c1.system) / 1e6).toFixed(1)}s)`)
      if (withMultipart) {
        const m0 = process.cpuUsage()
        const mpS = await multipartPipe(hub, 'bench/model', a.files, s3, `mp${r}`)
        const m1 = process.cpuUsage(m0)
        t.mp.push(mpS)
        console.log(`  ${tag}reference: GET | multipart upload (lib-storage):  ${mpS.toFixed(1)}s  ${rate(total, mpS)}  (client CPU ${((m1.user + m1.system) / 1e6).toFixed(1)}s)`)
      }
      const twoS = await twoStep(hub, 'bench/model', a.files, s3, `two${r}`)
      t.two.push(twoS)
      console.log(`  ${tag}two-step (download to disk, then upload):        ${twoS.toFixed(1)}s  ${rate(total, twoS)}`)
      const pre = await preloadCli(hub, s3h, 'bench/model', `pre${r}`)
      t.pre.push(pre.seconds)
      t.rss.push(pre.rss)
      console.log(`  ${tag}aip model preload (CLI, incl. start-up):         ${pre.seconds.toFixed(1)}s  ${rate(total, pre.seconds)}  peak RSS ${fmt(pre.rss)}  CPU ${pre.cpu.toFixed(1)}s (Hub+s3rver ${pre.serverCpu.toFixed(1)}s)`)
      if (compare) {
        const c = await preloadCli(hub, s3h, 'bench/model', `cmp${r}`, compare)
        t.cmp.push(c.seconds)
        t.cmpRss.push(c.rss)
        console.log(`  ${tag}comparison build (${compare}):  ${c.seconds.toFixed(1)}s  ${rate(total, c.seconds)}  peak RSS ${fmt(c.rss)}  CPU ${c.cpu.toFixed(1)}s (Hub+s3rver ${c.serverCpu.toFixed(1)}s)`)
      }
    }

    const b = {files: asFiles(hub.repos['bench/model-2x'])}
    const total2 = [...b.files.values()].reduce((x, f) => x + f.size, 0)
    const pre2 = await preloadCli(hub, s3h, 'bench/model-2x', 'pre2')
    console.log(`  aip model preload, repo doubled (${fmt(total2)}):   ${pre2.seconds.toFixed(1)}s  ${rate(total2, pre2.seconds)}  peak RSS ${fmt(pre2.rss)}`)

    const pipeS = median(t.pipe)
    const twoS = median(t.two)
    const preS = median(t.pre)
    const rss = Math.max(...t.rss)
    const vsLimit = pipeS / preS
    const vsTwo = twoS / preS
    const rssGrowth = pre2.rss / rss
    console.log('')
    if (rounds > 1) console.log(`medians of ${rounds} rounds: limit ${rate(total, pipeS)}, two-step ${rate(total, twoS)}, preload ${rate(total, preS)}`)
    console.log(`throughput vs loopback limit: ${vsLimit.toFixed(2)}x (goal >= 0.8x) ${vsLimit >= 0.8 ? 'OK' : 'MISS'}`)
    console.log(`speed-up vs two-step copy:    ${vsTwo.toFixed(2)}x (goal >= 1.5x) ${vsTwo >= 1.5 ? 'OK' : 'MISS'}`)
    console.log(`peak RSS:                     ${fmt(rss)} (goal <= 300 MiB) ${rss <= 300 * MiB ? 'OK' : 'MISS'}`)
    console.log(`peak RSS, repo doubled:       ${fmt(pre2.rss)} (${rssGrowth.toFixed(2)}x; flat when <= 1.15x) ${rssGrowth <= 1.15 ? 'OK' : 'MISS'}`)
    const largest = (files) => Math.max(...[...files.values()].map((f) => f.size))
    if (largest(a.files) <= 64 * MiB && largest(b.files) > 64 * MiB) {
      console.log(`  (not like for like: the repo's large files (${fmt(largest(a.files))}) go up as single streaming PUTs (<= 64 MiB), the doubled repo's as multipart uploads holding up to 8 x 8 MiB parts; use BENCH_PRELOAD_GIB >= 0.3)`)
    }
    if (withMultipart) console.log(`reference, not a goal: preload vs GET | multipart upload: ${(median(t.mp) / preS).toFixed(2)}x (s3rver rewrites multipart objects on completion)`)
    if (compare) console.log(`A/B: this build vs ${compare}: ${(median(t.cmp) / preS).toFixed(2)}x faster (median ${preS.toFixed(1)}s vs ${median(t.cmp).toFixed(1)}s; peak RSS ${fmt(rss)} vs ${fmt(Math.max(...t.cmpRss))})`)
  } finally {
    await hub.stop()
    await s3h.stop()
  }
}

await main()
