#!/usr/bin/env node
// Benchmark: `aip model preload` of a generated repo (a few large files, many small ones) from the
// loopback Hub into s3rver, against
//   - the loopback copy limit: the same bytes read from the Hub server and written to s3rver by the
//     simplest pipe (one GET piped into one PutObject per file, sequentially),
//   - the two-step copy: download every file to disk, then upload every file,
// and the peak RSS of the preload process (the built CLI as a child; VmHWM from /proc), also with the
// repo doubled to show that memory stays flat.
//
//   node bench/preload.mjs                 # ~2 GiB (goals: >= 0.8x limit, >= 1.5x two-step, RSS <= 300 MiB)
//   BENCH_PRELOAD_GIB=0.25 node bench/preload.mjs   # quick run
// Needs `npm run build` first (runs dist/ through bin/run.js).
import {spawn} from 'node:child_process'
import {createReadStream, createWriteStream, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {get} from 'node:http'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath} from 'node:url'

import {HubServer} from '../test/support/hub-server.mjs'
import {S3RVER_CREDENTIALS, S3rverHandle} from '../test/support/s3rver.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1024 * 1024
const GiB = 1024 * MiB
const gib = Number(process.env.BENCH_PRELOAD_GIB ?? process.argv[2] ?? 2)

function repoFiles(totalBytes, seed) {
  const files = {'config.json': JSON.stringify({model_type: 'llama', hidden_size: 4096}), 'tokenizer.json': JSON.stringify({v: 1, pad: 'x'.repeat(200_000)})}
  const small = Math.floor(totalBytes * 0.1)
  const nSmall = 40
  for (let i = 0; i < nSmall; i++) files[`extra/shard-${String(i).padStart(3, '0')}.safetensors`] = {size: Math.floor(small / nSmall), seed: seed + 100 + i}
  const nLarge = 4
  for (let i = 0; i < nLarge; i++) files[`model-0000${i + 1}-of-0000${nLarge}.safetensors`] = {size: Math.floor((totalBytes - small) / nLarge), seed: seed + i}
  return files
}

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
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
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
function preloadCli(hub, s3h, repo, bucket) {
  return new Promise((resolveP, reject) => {
    const env = {PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'aip-bench-home-')), CI: 'true', NO_COLOR: '1', HF_ENDPOINT: hub.url, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1'}
    const t = performance.now()
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'run.js'), 'model', 'preload', `hf:${repo}`, '--bucket', bucket, '--s3-endpoint', s3h.endpoint, '--json'], {env, stdio: ['ignore', 'pipe', 'pipe']})
    let hwm = 0
    const poll = setInterval(() => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
        if (m) hwm = Math.max(hwm, Number(m[1]) * 1024)
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
      resolveP({seconds: (performance.now() - t) / 1000, rss: hwm})
    })
  })
}

const fmt = (b) => `${(b / MiB).toFixed(0)} MiB`
const rate = (bytes, s) => `${(bytes / MiB / s).toFixed(0)} MiB/s`

async function main() {
  const hub = await HubServer.start()
  const s3h = await S3rverHandle.start({buckets: ['pipe', 'two', 'pre', 'pre2']})
  const s3 = await s3client(s3h.endpoint)
  try {
    const size = Math.round(gib * GiB)
    const a = hub.addRepo('bench/model', {files: repoFiles(size, 1)})
    const total = [...a.files.values()].reduce((x, f) => x + f.size, 0)
    console.log(`preload benchmark: ${a.files.size} files, ${fmt(total)} (loopback Hub -> s3rver)`)

    const pipeS = await simplestPipe(hub, 'bench/model', a.files, s3, 'pipe')
    console.log(`  loopback copy limit (GET | PutObject, per file): ${pipeS.toFixed(1)}s  ${rate(total, pipeS)}`)
    const twoS = await twoStep(hub, 'bench/model', a.files, s3, 'two')
    console.log(`  two-step (download to disk, then upload):        ${twoS.toFixed(1)}s  ${rate(total, twoS)}`)
    const pre = await preloadCli(hub, s3h, 'bench/model', 'pre')
    console.log(`  aip model preload (CLI, incl. start-up):         ${pre.seconds.toFixed(1)}s  ${rate(total, pre.seconds)}  peak RSS ${fmt(pre.rss)}`)

    const b = hub.addRepo('bench/model-2x', {files: repoFiles(size * 2, 1000)})
    const total2 = [...b.files.values()].reduce((x, f) => x + f.size, 0)
    const pre2 = await preloadCli(hub, s3h, 'bench/model-2x', 'pre2')
    console.log(`  aip model preload, repo doubled (${fmt(total2)}):   ${pre2.seconds.toFixed(1)}s  ${rate(total2, pre2.seconds)}  peak RSS ${fmt(pre2.rss)}`)

    const vsLimit = pipeS / pre.seconds
    const vsTwo = twoS / pre.seconds
    const rssGrowth = pre2.rss / pre.rss
    console.log('')
    console.log(`throughput vs loopback limit: ${vsLimit.toFixed(2)}x (goal >= 0.8x) ${vsLimit >= 0.8 ? 'OK' : 'MISS'}`)
    console.log(`speed-up vs two-step copy:    ${vsTwo.toFixed(2)}x (goal >= 1.5x) ${vsTwo >= 1.5 ? 'OK' : 'MISS'}`)
    console.log(`peak RSS:                     ${fmt(pre.rss)} (goal <= 300 MiB) ${pre.rss <= 300 * MiB ? 'OK' : 'MISS'}`)
    console.log(`peak RSS, repo doubled:       ${fmt(pre2.rss)} (${rssGrowth.toFixed(2)}x; flat when <= 1.15x) ${rssGrowth <= 1.15 ? 'OK' : 'MISS'}`)
  } finally {
    await hub.stop()
    await s3h.stop()
  }
}

await main()
