#!/usr/bin/env node
// Benchmark: `aip model preload` of a generated repo (a few large files, many small ones) from the
// loopback Hub into s3rver, against
//   - the loopback PutObject limit: the same bytes read from the Hub server and written to s3rver by
//     the simplest pipe (one GET piped into one PutObject per file, sequentially; a reference only:
//     s3rver stores a PutObject at about half the CPU of a multipart upload, which rewrites every
//     part into the object on completion, and no client sends 100+ MiB files as one PutObject),
//   - the two-step copy as run by hand: `hf download` (8 files at a time) to disk, then `aws s3 cp
//     --recursive` of the directory with the AWS CLI's defaults (and the same by the JS SDK; the
//     faster upload counts). Its upload half is also "what the sink accepts from a local client".
//     The download and upload times are printed, and with them the most that any copy overlapping
//     the two could gain here ((download + upload) / the longer of the two),
//   - the earlier two-step: download every file to disk, then one PutObject per file,
//   - `rclone copyurl` of each file (4 at a time) when rclone is installed,
// and the CPU of each process: s3rver is one JS thread, and how busy it is during the preload
// shows whether the sink is the ceiling.
// and the peak RSS of the preload process (the built CLI as a child; VmHWM from /proc), also with the
// repo doubled to show that memory stays flat. The Hub and s3rver each run in a process of their own
// (bench/support/peer.mjs), as they are other machines in real use; the reference copies run in this
// process, preload in its own.
//
// Throttled scenario (issue 18): a Hub that serves each connection at 10 MiB/s (a far or busy CDN
// edge), 4 shards of 128 MiB. The reference is what the sink accepts from a local client: the same
// files on local disk (no Hub) copied to s3rver the way a local client copies such files, with the
// AWS CLI's defaults (`aws s3 cp`: multipart above multipart_threshold 8 MB, multipart_chunksize 8 MB
// parts, max_concurrent_requests 10 at once across all files; docs.aws.amazon.com/cli/latest/topic/
// s3-config.html), measured in the same run: by the JS SDK with those settings and, when the AWS CLI
// is installed, by `aws s3 cp --recursive` itself. The goal line uses the faster of the two. Also
// printed: the sink's PutObject limit (one PutObject per file from memory, 4 at a time; no standard
// client sends 128 MiB files that way) and its multipart limit (8 MiB parts from memory, 16 in flight).
// Also with the model doubled (4 x 256 MiB) for RSS. The load average (os.loadavg) is printed with the
// figures: the machine may be shared.
//
//   node bench/preload.mjs                 # ~2 GiB unthrottled, then throttled (goals: >= 0.8x local client, >= 1.5x two-step, >= 1x rclone, RSS <= 300 MiB)
//   BENCH_PRELOAD_SCENARIOS=throttled      # only one scenario (unthrottled | throttled)
//   BENCH_PRELOAD_THROTTLE_MIB=10 BENCH_PRELOAD_SHARD_MIB=128   # the throttled scenario's rate and shard size
//   BENCH_PRELOAD_GIB=0.25 node bench/preload.mjs   # quick run
//   BENCH_PRELOAD_ROUNDS=3                          # interleaved rounds (references, then preload); medians
//   BENCH_PRELOAD_COMPARE=/path/to/other/checkout   # also time that build's preload in each round (A/B)
//   BENCH_PRELOAD_ARGS="--concurrency 4"            # extra preload flags
//   BENCH_PRELOAD_MULTIPART=1                       # also time a multipart copy reference (see below)
//   BENCH_PRELOAD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"   # node flags for the CLI (profiling)
// Needs `npm run build` first (runs dist/ through bin/run.js).
import {spawn} from 'node:child_process'
import {createReadStream, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync} from 'node:fs'
import {get} from 'node:http'
import {loadavg, tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {pipeline} from 'node:stream/promises'
import {fileURLToPath} from 'node:url'

import {Readable} from 'node:stream'

import {seededChunk} from '../test/support/hub-server.mjs'
import {cpuOf, median, peer} from './support/harness.mjs'
import {S3RVER_CREDENTIALS} from '../test/support/s3rver.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const MiB = 1024 * 1024
const GiB = 1024 * MiB
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

/** Runs `fn` over `items`, `n` at a time. */
async function pool(items, n, fn) {
  const queue = [...items]
  await Promise.all(Array.from({length: Math.min(n, queue.length)}, async () => {
    while (queue.length) await fn(queue.shift())
  }))
}

/** The bytes of a file as a local client has them (generated here, no network): 1 MiB chunks. */
function localBody(f) {
  if (f.data !== undefined) return Readable.from([Buffer.from(f.data, 'base64')])
  return Readable.from((function* () {
    for (let o = 0; o < f.size; o += MiB) yield seededChunk(f.seed, o, Math.min(MiB, f.size - o))
  })())
}

/** The sink's limit, one PutObject per file from local bytes, `n` files at a time. */
async function sinkSingle(files, s3, bucket, n = 4) {
  const {PutObjectCommand} = await import('@aws-sdk/client-s3')
  const t = performance.now()
  await pool(files.values(), n, (f) => s3.send(new PutObjectCommand({Bucket: bucket, Key: `sink/${f.path}`, Body: localBody(f), ContentLength: f.size})))
  return (performance.now() - t) / 1000
}

/**
 * The sink's limit for multipart objects: CreateMultipartUpload, UploadPart of `partSize` Buffers
 * made here (no network behind them), `inFlight` parts at once across all files, then
 * CompleteMultipartUpload; the object layout preload writes for files over 64 MiB.
 */
async function sinkMultipart(files, s3, bucket, partSize, inFlight = 16) {
  const {CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand, PutObjectCommand} = await import('@aws-sdk/client-s3')
  const t = performance.now()
  const uploads = []
  for (const f of files.values()) {
    if (f.size <= partSize) {
      await s3.send(new PutObjectCommand({Bucket: bucket, Key: `sinkmp/${f.path}`, Body: localBody(f), ContentLength: f.size}))
      continue
    }
    const {UploadId} = await s3.send(new CreateMultipartUploadCommand({Bucket: bucket, Key: `sinkmp/${f.path}`}))
    const u = {f, UploadId, parts: []}
    uploads.push(u)
    for (let o = 0, pn = 1; o < f.size; o += partSize, pn++) u.parts.push({pn, o, n: Math.min(partSize, f.size - o)})
  }
  // parts of all files interleaved, as preload's global budget schedules them
  const jobs = []
  for (let i = 0; uploads.some((u) => i < u.parts.length); i++) for (const u of uploads) if (i < u.parts.length) jobs.push({u, part: u.parts[i]})
  await pool(jobs, inFlight, async ({u, part}) => {
    const body = Buffer.from(seededChunk(u.f.seed, part.o, part.n))
    const r = await s3.send(new UploadPartCommand({Bucket: bucket, Key: `sinkmp/${u.f.path}`, UploadId: u.UploadId, PartNumber: part.pn, Body: body, ContentLength: part.n}))
    part.etag = r.ETag
  })
  sinkMultipart.partsSeconds = (performance.now() - t) / 1000
  await Promise.all(uploads.map((u) => s3.send(new CompleteMultipartUploadCommand({Bucket: bucket, Key: `sinkmp/${u.f.path}`, UploadId: u.UploadId, MultipartUpload: {Parts: u.parts.map((p) => ({PartNumber: p.pn, ETag: p.etag}))}}))))
  return (performance.now() - t) / 1000
}

/** The AWS CLI's s3 transfer defaults (docs.aws.amazon.com/cli/latest/topic/s3-config.html). */
const AWS_CLI = {multipartThreshold: 8 * 1024 * 1024, chunkSize: 8 * 1024 * 1024, maxConcurrentRequests: 10}

/** The files written to a local directory as a local client has them (not timed); returns the directory. */
async function filesOnDisk(files) {
  const dir = mkdtempSync(join(tmpdir(), 'aip-bench-local-'))
  for (const f of files.values()) {
    const p = join(dir, f.path)
    mkdirSync(dirname(p), {recursive: true})
    await pipeline(localBody(f), createWriteStream(p))
  }
  return dir
}

/**
 * What the sink accepts from a local client copying these files from disk with the AWS CLI's
 * defaults, done by the JS SDK: files above 8 MB as multipart uploads of 8 MB parts read from disk,
 * the others as one PutObject, at most 10 requests at once across all files (the CLI's transfer
 * manager schedules parts of several files together).
 */
async function sinkCliDefaults(files, dir, s3, bucket) {
  const {CreateMultipartUploadCommand, UploadPartCommand, CompleteMultipartUploadCommand, PutObjectCommand} = await import('@aws-sdk/client-s3')
  const {open} = await import('node:fs/promises')
  const t = performance.now()
  const jobs = []
  const uploads = []
  for (const f of files.values()) {
    const path = join(dir, f.path)
    if (f.size < AWS_CLI.multipartThreshold) {
      jobs.push(async () => s3.send(new PutObjectCommand({Bucket: bucket, Key: `cli/${f.path}`, Body: createReadStream(path), ContentLength: f.size})))
      continue
    }
    const u = {f, parts: [], uploadId: undefined, left: Math.ceil(f.size / AWS_CLI.chunkSize)}
    uploads.push(u)
    jobs.push(async () => {
      u.uploadId = (await s3.send(new CreateMultipartUploadCommand({Bucket: bucket, Key: `cli/${f.path}`}))).UploadId
    })
  }
  await pool(jobs, AWS_CLI.maxConcurrentRequests, (j) => j())
  const parts = []
  for (const u of uploads) for (let o = 0, pn = 1; o < u.f.size; o += AWS_CLI.chunkSize, pn++) parts.push({u, pn, o, n: Math.min(AWS_CLI.chunkSize, u.f.size - o)})
  await pool(parts, AWS_CLI.maxConcurrentRequests, async ({u, pn, o, n}) => {
    const fh = await open(join(dir, u.f.path))
    try {
      const body = Buffer.allocUnsafe(n)
      await fh.read(body, 0, n, o)
      const r = await s3.send(new UploadPartCommand({Bucket: bucket, Key: `cli/${u.f.path}`, UploadId: u.uploadId, PartNumber: pn, Body: body, ContentLength: n}))
      u.parts.push({PartNumber: pn, ETag: r.ETag})
    } finally {
      await fh.close()
    }
    // the transfer manager completes each upload as soon as its last part is in
    if (--u.left === 0) await s3.send(new CompleteMultipartUploadCommand({Bucket: bucket, Key: `cli/${u.f.path}`, UploadId: u.uploadId, MultipartUpload: {Parts: u.parts.sort((a, b) => a.PartNumber - b.PartNumber)}}))
  })
  return (performance.now() - t) / 1000
}

/** `aws s3 cp --recursive` of the directory with the CLI's defaults; undefined when the AWS CLI is not installed. */
async function awsCliCopy(dir, s3h, bucket) {
  const env = {PATH: process.env.PATH, HOME: process.env.HOME, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null'}
  const run = (args) =>
    new Promise((resolveP, reject) => {
      const child = spawn('aws', args, {env, stdio: ['ignore', 'ignore', 'pipe']})
      let err = ''
      child.stderr.on('data', (d) => (err += d))
      child.on('error', reject)
      child.on('close', (code) => (code === 0 ? resolveP() : reject(new Error(`aws ${args.slice(0, 2).join(' ')} exited ${code}: ${err.slice(-500)}`))))
    })
  try {
    await run(['--version'])
  } catch {
    return undefined
  }
  const t = performance.now()
  await run(['s3', 'cp', '--recursive', '--only-show-errors', '--endpoint-url', s3h.endpoint, dir, `s3://${bucket}/awscli/`])
  return (performance.now() - t) / 1000
}

const load = () => `load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`

/** `rclone copyurl` of every file (4 at a time) into the bucket; undefined when rclone is not installed. */
async function rcloneCopy(hub, repo, files, s3h, bucket) {
  // only what rclone needs: an AWS_CA_BUNDLE in the environment would make its S3 client fail on plain HTTP
  const env = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    RCLONE_CONFIG: '/dev/null',
    RCLONE_CONFIG_BENCHS3_TYPE: 's3',
    RCLONE_CONFIG_BENCHS3_PROVIDER: 'Other',
    RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    RCLONE_CONFIG_BENCHS3_ENDPOINT: s3h.endpoint,
    RCLONE_CONFIG_BENCHS3_REGION: 'us-east-1',
    RCLONE_CONFIG_BENCHS3_FORCE_PATH_STYLE: 'true',
  }
  const run = (args) =>
    new Promise((resolveP, reject) => {
      const child = spawn('rclone', args, {env, stdio: ['ignore', 'ignore', 'pipe']})
      let err = ''
      child.stderr.on('data', (d) => (err += d))
      child.on('error', reject)
      child.on('close', (code) => (code === 0 ? resolveP() : reject(new Error(`rclone ${args[0]} exited ${code}: ${err.slice(-500)}`))))
    })
  try {
    await run(['version'])
  } catch {
    return undefined
  }
  const t = performance.now()
  await pool(files.values(), 4, (f) => run(['copyurl', `${hub.url}/${repo}/resolve/main/${f.path}`, `benchs3:${bucket}/rclone/${f.path}`]))
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

/**
 * The download half of the two-step copy as an operator runs it: `hf download` (huggingface_hub
 * snapshot_download, max_workers=8: 8 files at a time) into a directory. Returns the directory and
 * the seconds; the upload half is then timed from that directory with the AWS CLI's defaults.
 */
async function downloadToDisk(hub, repo, files, workers = 8) {
  const dir = mkdtempSync(join(tmpdir(), 'aip-bench-hfdl-'))
  const t = performance.now()
  await pool(files.values(), workers, async (f) => {
    const p = join(dir, f.path)
    mkdirSync(dirname(p), {recursive: true})
    await pipeline(await httpGet(`${hub.url}/${repo}/resolve/main/${f.path}`), createWriteStream(p))
  })
  return {dir, seconds: (performance.now() - t) / 1000}
}

/** Runs the built CLI; returns seconds and peak RSS (VmHWM, polled from /proc while it runs). */
function preloadCli(hub, s3h, repo, bucket, root = ROOT, args = []) {
  return new Promise((resolveP, reject) => {
    const env = {PATH: process.env.PATH, HOME: mkdtempSync(join(tmpdir(), 'aip-bench-home-')), CI: 'true', NO_COLOR: '1', HF_ENDPOINT: hub.url, AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1'}
    const t = performance.now()
    const hub0 = cpuOf(hub.child.pid)
    const s30 = cpuOf(s3h.child.pid)
    const extra = [...(process.env.BENCH_PRELOAD_ARGS ?? '').split(/\s+/).filter(Boolean), ...args]
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
    let firstFile
    child.stdout.on('data', (d) => {
      out += d
      if (firstFile === undefined && /"event":\s*"file-start"/.test(out)) firstFile = (performance.now() - t) / 1000
    })
    child.stderr.on('data', (d) => (err += d))
    child.on('error', reject)
    child.on('close', (code) => {
      clearInterval(poll)
      if (code !== 0) return reject(new Error(`preload exited ${code}: ${err}${out.slice(-2000)}`))
      // hubCpu, s3Cpu: the Hub and s3rver processes during the run (s3rver is one JS thread)
      const hubCpu = cpuOf(hub.child.pid) - hub0
      const s3Cpu = cpuOf(s3h.child.pid) - s30
      const seconds = (performance.now() - t) / 1000
      // transfer: from the first file's start (after process start-up and planning) to the exit
      resolveP({seconds, transfer: seconds - (firstFile ?? 0), rss: hwm, cpu, hubCpu, s3Cpu, serverCpu: hubCpu + s3Cpu})
    })
  })
}

const fmt = (b) => `${(b / MiB).toFixed(0)} MiB`
const rate = (bytes, s) => `${(bytes / MiB / s).toFixed(0)} MiB/s`


/** What a preload's own CPU and the peers' came to, for the report line. */
const cpuNote = (r) => `CPU ${r.cpu.toFixed(1)}s; Hub ${r.hubCpu.toFixed(1)}s, s3rver ${r.s3Cpu.toFixed(1)}s = ${((100 * r.s3Cpu) / r.seconds).toFixed(0)}% of its one thread`

async function unthrottled() {
  const rounds = Math.max(1, Number(process.env.BENCH_PRELOAD_ROUNDS ?? 1))
  const compare = process.env.BENCH_PRELOAD_COMPARE ? resolve(process.env.BENCH_PRELOAD_COMPARE) : undefined
  const withMultipart = Boolean(process.env.BENCH_PRELOAD_MULTIPART)
  const buckets = ['pre2']
  for (let r = 0; r < rounds; r++) buckets.push(`pipe${r}`, `two${r}`, `pre${r}`, `cmp${r}`, `mp${r}`, `rcl${r}`, `cli${r}`, `aws${r}`)
  const size = Math.round(gib * GiB)
  const hub = await peer({peer: 'hub', repos: [{id: 'bench/model', totalBytes: size, seed: 1}, {id: 'bench/model-2x', totalBytes: size * 2, seed: 1000}]})
  const s3h = await peer({peer: 's3', buckets})
  const s3 = await s3client(s3h.endpoint)
  const asFiles = (list) => new Map(list.map((f) => [f.path, f]))
  try {
    const a = {files: asFiles(hub.repos['bench/model'])}
    const total = [...a.files.values()].reduce((x, f) => x + f.size, 0)
    console.log(`preload benchmark, unthrottled Hub: ${a.files.size} files, ${fmt(total)} (loopback Hub -> s3rver), ${rounds} round(s); ${load()}`)

    const t = {pipe: [], two: [], pre: [], cmp: [], mp: [], rcl: [], rss: [], cmpRss: [], dl: [], up: [], s3Busy: []}
    for (let r = 0; r < rounds; r++) {
      const tag = rounds > 1 ? `[${r + 1}/${rounds}] ` : ''
      const c0 = process.cpuUsage()
      const s0 = cpuOf(s3h.child.pid)
      const pipeS = await simplestPipe(hub, 'bench/model', a.files, s3, `pipe${r}`)
      const c1 = process.cpuUsage(c0)
      t.pipe.push(pipeS)
      console.log(`  ${tag}loopback PutObject limit (GET | PutObject, per file):     ${pipeS.toFixed(1)}s  ${rate(total, pipeS)}  (client CPU ${((c1.user + c1.system) / 1e6).toFixed(1)}s, s3rver ${(cpuOf(s3h.child.pid) - s0).toFixed(1)}s)`)
      if (withMultipart) {
        const m0 = process.cpuUsage()
        const mpS = await multipartPipe(hub, 'bench/model', a.files, s3, `mp${r}`)
        const m1 = process.cpuUsage(m0)
        t.mp.push(mpS)
        console.log(`  ${tag}reference: GET | multipart upload (lib-storage):         ${mpS.toFixed(1)}s  ${rate(total, mpS)}  (client CPU ${((m1.user + m1.system) / 1e6).toFixed(1)}s)`)
      }
      const twoS = await twoStep(hub, 'bench/model', a.files, s3, `two${r}`)
      t.two.push(twoS)
      console.log(`  ${tag}two-step, one PutObject per file (download, then upload): ${twoS.toFixed(1)}s  ${rate(total, twoS)}`)
      // The two-step an operator runs: `hf download` (8 files at a time), then `aws s3 cp --recursive`
      // (multipart above 8 MB, 8 MB parts, 10 at once); its upload half is also what the sink accepts
      // from a local client (the faster of the AWS CLI and the JS SDK with its defaults).
      const dl = await downloadToDisk(hub, 'bench/model', a.files)
      let upS
      try {
        const s1 = cpuOf(s3h.child.pid)
        const sdkS = await sinkCliDefaults(a.files, dl.dir, s3, `cli${r}`)
        const sdkBusy = (cpuOf(s3h.child.pid) - s1) / sdkS
        const awsS = await awsCliCopy(dl.dir, s3h, `aws${r}`)
        upS = Math.min(sdkS, awsS ?? Infinity)
        t.dl.push(dl.seconds)
        t.up.push(upS)
        console.log(`  ${tag}  download (as hf download, 8 files at a time):            ${dl.seconds.toFixed(1)}s  ${rate(total, dl.seconds)}`)
        console.log(`  ${tag}  upload from disk, AWS CLI defaults (JS SDK):             ${sdkS.toFixed(1)}s  ${rate(total, sdkS)}  (s3rver ${(100 * sdkBusy).toFixed(0)}% of its one thread)`)
        if (awsS !== undefined) console.log(`  ${tag}  upload from disk, aws s3 cp --recursive:                ${awsS.toFixed(1)}s  ${rate(total, awsS)}`)
        console.log(`  ${tag}two-step as run by hand (hf download, then aws s3 cp):    ${(dl.seconds + upS).toFixed(1)}s  ${rate(total, dl.seconds + upS)}  (the faster upload counted)`)
      } finally {
        rmSync(dl.dir, {recursive: true, force: true})
      }
      const rclS = await rcloneCopy(hub, 'bench/model', a.files, s3h, `rcl${r}`)
      if (rclS !== undefined) {
        t.rcl.push(rclS)
        console.log(`  ${tag}rclone copyurl (4 files at a time):                       ${rclS.toFixed(1)}s  ${rate(total, rclS)}`)
      } else if (r === 0) console.log(`  rclone copyurl: rclone is not installed, no comparison (apt-get install rclone)`)
      const pre = await preloadCli(hub, s3h, 'bench/model', `pre${r}`)
      t.pre.push(pre.seconds)
      t.rss.push(pre.rss)
      t.s3Busy.push(pre.s3Cpu / pre.seconds)
      console.log(`  ${tag}aip model preload (CLI, incl. start-up):                  ${pre.seconds.toFixed(1)}s  ${rate(total, pre.seconds)}  peak RSS ${fmt(pre.rss)}  ${cpuNote(pre)}`)
      if (compare) {
        const c = await preloadCli(hub, s3h, 'bench/model', `cmp${r}`, compare)
        t.cmp.push(c.seconds)
        t.cmpRss.push(c.rss)
        console.log(`  ${tag}comparison build (${compare}):  ${c.seconds.toFixed(1)}s  ${rate(total, c.seconds)}  peak RSS ${fmt(c.rss)}  ${cpuNote(c)}`)
      }
    }

    const b = {files: asFiles(hub.repos['bench/model-2x'])}
    const total2 = [...b.files.values()].reduce((x, f) => x + f.size, 0)
    const pre2 = await preloadCli(hub, s3h, 'bench/model-2x', 'pre2')
    console.log(`  aip model preload, repo doubled (${fmt(total2)}):            ${pre2.seconds.toFixed(1)}s  ${rate(total2, pre2.seconds)}  peak RSS ${fmt(pre2.rss)}`)

    const pipeS = median(t.pipe)
    const twoS = median(t.two)
    const preS = median(t.pre)
    const dlS = median(t.dl)
    const upS = median(t.up)
    const rss = Math.max(...t.rss)
    const vsLimit = pipeS / preS
    const vsTwo = twoS / preS
    const vsHand = (dlS + upS) / preS
    const vsLocal = upS / preS
    // A copy that overlaps download and upload takes at least the longer of the two: the most it can
    // gain over running them one after the other.
    const bound = (dlS + upS) / Math.max(dlS, upS)
    const rssGrowth = pre2.rss / rss
    console.log(`  (${load()})`)
    console.log('')
    if (rounds > 1) console.log(`medians of ${rounds} rounds: PutObject limit ${rate(total, pipeS)}, two-step ${rate(total, twoS)}, by hand ${rate(total, dlS + upS)}, preload ${rate(total, preS)}`)
    console.log(`throughput vs what the sink accepts from a local client (AWS CLI defaults, from disk): ${vsLocal.toFixed(2)}x (goal >= 0.8x) ${vsLocal >= 0.8 ? 'OK' : 'MISS'}`)
    console.log(`  (s3rver's one thread was ${(100 * median(t.s3Busy)).toFixed(0)}% busy during the preload: the sink is the ceiling)`)
    console.log(`speed-up vs download-then-upload as run by hand (hf download, then aws s3 cp): ${vsHand.toFixed(2)}x (goal >= 1.5x) ${vsHand >= 1.5 ? 'OK' : 'MISS'}`)
    console.log(`  (download ${dlS.toFixed(1)}s, upload ${upS.toFixed(1)}s: any copy that overlaps them gains at most ${bound.toFixed(2)}x here)`)
    console.log(`speed-up vs two-step with one PutObject per file: ${vsTwo.toFixed(2)}x (goal >= 1.5x) ${vsTwo >= 1.5 ? 'OK' : 'MISS'}  (no CLI uploads 100+ MiB files so; s3rver stores a PutObject at half the CPU of a multipart upload)`)
    if (t.rcl.length) {
      const vsRclone = median(t.rcl) / preS
      console.log(`speed vs rclone copyurl:      ${vsRclone.toFixed(2)}x (goal >= 1x) ${vsRclone >= 1 ? 'OK' : 'MISS'}`)
    }
    console.log(`throughput vs loopback PutObject limit: ${vsLimit.toFixed(2)}x (reference)`)
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

async function throttled() {
  const perConn = Number(process.env.BENCH_PRELOAD_THROTTLE_MIB ?? 10) * MiB
  const shard = Number(process.env.BENCH_PRELOAD_SHARD_MIB ?? 128) * MiB
  const rounds = Math.max(1, Number(process.env.BENCH_PRELOAD_ROUNDS ?? 1))
  const compare = process.env.BENCH_PRELOAD_COMPARE ? resolve(process.env.BENCH_PRELOAD_COMPARE) : undefined
  const partSize = 8 * MiB // preload's default
  const hub = await peer({
    peer: 'hub',
    bytesPerSecondPerConnection: perConn,
    repos: [
      {id: 'bench/throttled', shards: {count: 4, size: shard}, seed: 7},
      {id: 'bench/throttled-2x', shards: {count: 4, size: 2 * shard}, seed: 70},
    ],
  })
  const buckets = ['sink1', 'sinkmp', 'thr2', 'thrc4']
  for (let r = 0; r < rounds; r++) buckets.push(`sinkcli${r}`, `sinkaws${r}`, `thr${r}`, `thrcmp${r}`)
  const s3h = await peer({peer: 's3', buckets})
  const s3 = await s3client(s3h.endpoint)
  const asFiles = (list) => new Map(list.map((f) => [f.path, f]))
  let dir
  try {
    const files = asFiles(hub.repos['bench/throttled'])
    const total = [...files.values()].reduce((x, f) => x + f.size, 0)
    console.log(`preload benchmark, Hub throttled to ${fmt(perConn)}/s per connection: 4 shards of ${fmt(shard)} (+ config.json), ${fmt(total)}, ${rounds} round(s); ${load()}`)
    console.log(`  what the sink accepts from a local client = the same files from local disk, copied with the AWS CLI's defaults`)
    console.log(`  (multipart above 8 MB in 8 MB parts, 10 requests at once; by the JS SDK, and by \`aws s3 cp\` when installed); the faster one is the goal's reference`)
    dir = await filesOnDisk(files)
    const singleS = await sinkSingle(files, s3, 'sink1')
    console.log(`  sink PutObject limit (one PutObject per file from memory, 4 at a time): ${singleS.toFixed(1)}s  ${rate(total, singleS)}`)
    const mpS = await sinkMultipart(files, s3, 'sinkmp', partSize)
    console.log(`  sink multipart limit (${fmt(partSize)} parts from memory, 16 in flight):      ${mpS.toFixed(1)}s  ${rate(total, mpS)}  (parts ${sinkMultipart.partsSeconds.toFixed(1)}s, then CompleteMultipartUpload ${(mpS - sinkMultipart.partsSeconds).toFixed(1)}s)`)
    const one = await preloadCli(hub, s3h, 'bench/throttled', 'thrc4', ROOT, ['--connections', '4'])
    console.log(`  aip model preload --connections 4 (as many as one per file):        ${one.seconds.toFixed(1)}s  ${rate(total, one.seconds)}  peak RSS ${fmt(one.rss)}`)
    // interleaved rounds: the local client's copy, then preload's, so that both see the same machine
    const t = {local: [], pre: [], transfer: [], cmp: [], rss: []}
    for (let r = 0; r < rounds; r++) {
      const tag = rounds > 1 ? `[${r + 1}/${rounds}] ` : ''
      const s0 = cpuOf(s3h.child.pid)
      const cliS = await sinkCliDefaults(files, dir, s3, `sinkcli${r}`)
      const s3Cpu = cpuOf(s3h.child.pid) - s0
      console.log(`  ${tag}local client, AWS CLI defaults (JS SDK, from disk):                 ${cliS.toFixed(1)}s  ${rate(total, cliS)}  (s3rver ${s3Cpu.toFixed(1)}s = ${((100 * s3Cpu) / cliS).toFixed(0)}% of its one thread)`)
      const awsS = await awsCliCopy(dir, s3h, `sinkaws${r}`)
      if (awsS !== undefined) console.log(`  ${tag}local client, aws s3 cp --recursive (AWS CLI, from disk):           ${awsS.toFixed(1)}s  ${rate(total, awsS)}`)
      else if (r === 0) console.log(`  aws s3 cp: the AWS CLI is not installed (the JS SDK figure stands alone)`)
      t.local.push(Math.min(cliS, awsS ?? Infinity))
      const pre = await preloadCli(hub, s3h, 'bench/throttled', `thr${r}`)
      t.pre.push(pre.seconds)
      t.transfer.push(pre.transfer)
      t.rss.push(pre.rss)
      console.log(`  ${tag}aip model preload (defaults, CLI incl. start-up):                    ${pre.seconds.toFixed(1)}s  ${rate(total, pre.seconds)}  (from the first file on ${pre.transfer.toFixed(1)}s)  peak RSS ${fmt(pre.rss)}  ${cpuNote(pre)}`)
      if (compare) {
        const c = await preloadCli(hub, s3h, 'bench/throttled', `thrcmp${r}`, compare)
        t.cmp.push(c.seconds)
        console.log(`  ${tag}comparison build (${compare}):  ${c.seconds.toFixed(1)}s  ${rate(total, c.seconds)}  peak RSS ${fmt(c.rss)}`)
      }
    }
    const files2 = asFiles(hub.repos['bench/throttled-2x'])
    const total2 = [...files2.values()].reduce((x, f) => x + f.size, 0)
    const pre2 = await preloadCli(hub, s3h, 'bench/throttled-2x', 'thr2')
    console.log(`  aip model preload, model doubled (4 x ${fmt(2 * shard)}):                 ${pre2.seconds.toFixed(1)}s  ${rate(total2, pre2.seconds)}  peak RSS ${fmt(pre2.rss)}`)
    const localS = median(t.local)
    const preS = median(t.pre)
    const vsLocal = localS / preS
    const vsLocalTransfer = localS / median(t.transfer)
    const rss = Math.max(...t.rss)
    console.log('')
    if (rounds > 1) console.log(`throttled: medians of ${rounds} rounds: local client ${rate(total, localS)}, preload ${rate(total, preS)}`)
    console.log(`throttled (${load()}): throughput vs what the sink accepts from a local client (AWS CLI defaults, from disk): ${vsLocal.toFixed(2)}x (goal >= 0.8x) ${vsLocal >= 0.8 ? 'OK' : 'MISS'}`)
    console.log(`throttled: the same from the first file on (without the CLI's start-up and planning, which the in-process reference does not pay): ${vsLocalTransfer.toFixed(2)}x`)
    console.log(`throttled: vs the sink's PutObject limit ${(singleS / preS).toFixed(2)}x, vs its multipart limit ${(mpS / preS).toFixed(2)}x; vs --connections 4 ${(one.seconds / preS).toFixed(2)}x`)
    console.log(`throttled: peak RSS ${fmt(rss)}, model doubled ${fmt(pre2.rss)} (goal <= 300 MiB) ${Math.max(rss, pre2.rss) <= 300 * MiB ? 'OK' : 'MISS'}`)
    if (compare) console.log(`throttled A/B: this build vs ${compare}: ${(median(t.cmp) / preS).toFixed(2)}x faster`)
  } finally {
    if (dir) rmSync(dir, {recursive: true, force: true})
    await hub.stop()
    await s3h.stop()
  }
}

const scenarios = (process.env.BENCH_PRELOAD_SCENARIOS ?? 'unthrottled,throttled').split(',').map((x) => x.trim())
if (scenarios.includes('unthrottled')) await unthrottled()
if (scenarios.includes('unthrottled') && scenarios.includes('throttled')) console.log('')
if (scenarios.includes('throttled')) await throttled()
