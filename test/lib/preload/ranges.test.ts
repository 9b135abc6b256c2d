// Parallel ranged reads within a file (issue 18) and reruns after an interruption (issue 12):
// the loopback Hub serves each connection at a fixed rate and records how many responses of a file
// it serves at once.
import {CreateBucketCommand, ListPartsCommand, type S3Client} from '@aws-sdk/client-s3'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {type AipError, InterruptedError} from '../../../src/lib/errors.js'
import {HubClient} from '../../../src/lib/hub/index.js'
import {ChecksumMismatchError, MARKER_NAME, type PreloadEvent, type PreloadOptions, runPreload} from '../../../src/lib/preload/index.js'
import {HubServer, seededBytes} from '../../support/hub-server.js'
import {bucketContents, S3rverHandle, s3rverClient} from '../../support/s3rver.js'

const MiB = 1024 * 1024
const REPO = 'acme/ranged'
const A = 'model-00001-of-00002.safetensors'
const B = 'model-00002-of-00002.safetensors'
const FILES = {
  'config.json': JSON.stringify({model_type: 'llama'}),
  [A]: {size: 20 * MiB + 1, seed: 31},
  [B]: {size: 20 * MiB + 3, seed: 32},
}
const SIZE: Record<string, number> = {[A]: 20 * MiB + 1, [B]: 20 * MiB + 3}
const SEED: Record<string, number> = {[A]: 31, [B]: 32}

let hub: HubServer
let s3h: S3rverHandle
let s3: S3Client
let commit: string
let n = 0

beforeAll(async () => {
  hub = await HubServer.start()
  commit = hub.addRepo(REPO, {files: FILES}).commit
  s3h = await S3rverHandle.start()
  s3 = await s3rverClient(s3h)
})
afterAll(async () => {
  await hub?.stop()
  await s3h?.stop()
})
afterEach(() => {
  hub.clearFaults()
  hub.resetConcurrency()
})

async function newBucket(): Promise<string> {
  const name = `r${++n}-${Date.now().toString(36)}`
  await s3.send(new CreateBucketCommand({Bucket: name}))
  return name
}
function opts(bucket: string, extra: Partial<PreloadOptions> = {}): PreloadOptions & {events: PreloadEvent[]} {
  const events: PreloadEvent[] = []
  return {repo: REPO, bucket, prefix: 'models', partSize: 5 * MiB, aipVersion: 'test', onEvent: (e) => events.push(e), events, ...extra}
}
const client = () => new HubClient({endpoint: hub.url, maxRetryWaitMs: 20})
const root = `models/acme--ranged/`
const key = (p: string) => `${root}${commit}/${p}`
/** The ranges of a file: each partSize part cut into rangeSize ranges, as bytes=start-last. */
function fileRanges(size: number, partSize: number, rangeSize: number): string[] {
  const out: string[] = []
  for (let p = 0; p < size; p += partSize) for (let s = p; s < Math.min(p + partSize, size); s += rangeSize) out.push(`bytes=${s}-${Math.min(s + rangeSize, p + partSize, size) - 1}`)
  return out
}

async function expectComplete(bucket: string) {
  const c = await bucketContents(s3, bucket)
  for (const p of [A, B]) expect(c.get(key(p))?.equals(seededBytes(SIZE[p]!, SEED[p]!)), p).toBe(true)
  const marker = JSON.parse(c.get(key(MARKER_NAME))!.toString())
  const files = hub.repos.get(REPO)!.commits.get(commit)!
  for (const f of marker.files as Array<{path: string; sha256: string}>) expect(f.sha256, f.path).toBe(files.get(f.path)!.sha256)
}
async function expectNothingComplete(bucket: string) {
  const c = await bucketContents(s3, bucket)
  expect([...c.keys()].filter((k) => k.endsWith(MARKER_NAME) || k.includes('/refs/'))).toEqual([])
  return c
}
/** Aborts the run once `after` parts of file A are uploaded. */
function interruptAfter(after: number): {signal: AbortSignal; afterPart: PreloadOptions['afterPart']} {
  const ac = new AbortController()
  let parts = 0
  return {
    signal: ac.signal,
    afterPart: ({path}) => {
      if (path === A && ++parts === after) ac.abort(new InterruptedError())
    },
  }
}

describe('preload: ranged reads within a file', () => {
  it('reads each large file as ranges (2 MiB by default, within parts) over several connections at once, within the global --connections budget', async () => {
    const bucket = await newBucket()
    hub.throttle(16 * MiB) // per connection: one connection alone would take ~1.3 s per file
    const before = {a: hub.contentRequests(A).length, b: hub.contentRequests(B).length}
    const o = opts(bucket, {connections: 3, concurrency: 8, fileConcurrency: 2})
    const r = await runPreload(o, {hub: client(), s3})
    // several Range requests of one file were being served at the same time...
    expect(hub.rangeConcurrency(A)).toBeGreaterThanOrEqual(2)
    expect(hub.rangeConcurrency(B)).toBeGreaterThanOrEqual(2)
    // ...and never more than the budget across all files
    expect(hub.rangeConcurrency()).toBe(3)
    // one GET per range, each exactly its bytes: every 5 MiB part cut into 2 MiB ranges
    expect(hub.contentRequests(A).slice(before.a).map((q) => q.range).sort()).toEqual(fileRanges(SIZE[A]!, 5 * MiB, 2 * MiB).sort())
    expect(hub.contentRequests(B).slice(before.b).map((q) => q.range).sort()).toEqual(fileRanges(SIZE[B]!, 5 * MiB, 2 * MiB).sort())
    expect(r.files.find((f) => f.path === A)).toMatchObject({status: 'uploaded', sha256: hub.repos.get(REPO)!.commits.get(commit)!.get(A)!.sha256})
    await expectComplete(bucket)
  })

  it('files that go up as one streamed PutObject are read ahead as ranges too, handed on in order', async () => {
    const bucket = await newBucket()
    hub.throttle(16 * MiB)
    const o = opts(bucket, {partSize: 8 * MiB, connections: 3, concurrency: 8, fileConcurrency: 1}) // 20 MiB files: one PutObject each at 8 MiB parts
    await runPreload(o, {hub: client(), s3})
    expect(o.events.filter((e) => e.event === 'file-start' && e.multipart)).toEqual([])
    expect(hub.rangeConcurrency(A)).toBe(3)
    const ranges = fileRanges(SIZE[A]!, SIZE[A]!, 2 * MiB)
    expect(hub.contentRequests(A).slice(-ranges.length).map((q) => q.range).sort()).toEqual(ranges.sort())
    expect(await s3h.pendingUploads(bucket)).toEqual([])
    await expectComplete(bucket)
  })

  it('a wrong byte in one range of a streamed PutObject: cut short, no object, nothing marked complete', async () => {
    const bucket = await newBucket()
    hub.corruptFile(A, 17 * MiB + 3) // the third 8 MiB range
    const err = (await runPreload(opts(bucket, {partSize: 8 * MiB, connections: 3, fileConcurrency: 1}), {hub: client(), s3}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(ChecksumMismatchError)
    const c = await expectNothingComplete(bucket)
    expect(c.has(key(A))).toBe(false)
  })

  it('with --connections 1 a file is read one range at a time', async () => {
    const bucket = await newBucket()
    hub.throttle(64 * MiB)
    await runPreload(opts(bucket, {connections: 1, concurrency: 4, fileConcurrency: 2}), {hub: client(), s3})
    expect(hub.rangeConcurrency()).toBe(1)
    await expectComplete(bucket)
  })

  it('a Hub that returns one wrong byte in one range: verification fails, the upload is aborted, nothing is marked complete', async () => {
    const bucket = await newBucket()
    hub.corruptFile(A, 13 * MiB + 7) // inside the third 5 MiB range
    const err = (await runPreload(opts(bucket, {connections: 4, concurrency: 8, fileConcurrency: 1}), {hub: client(), s3}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(ChecksumMismatchError)
    expect(err.exitCode).toBe(1)
    expect(err.message).toContain(`checksum mismatch for ${REPO}/${A}`)
    const c = await expectNothingComplete(bucket)
    expect(c.has(key(A))).toBe(false)
    expect((await s3h.pendingUploads(bucket)).filter((u) => u.key === key(A))).toEqual([])
  })

  it('a rerun after an interruption reuses every part already uploaded (ListParts), whichever ranges finished first', async () => {
    const bucket = await newBucket()
    hub.throttle(32 * MiB)
    const stop = interruptAfter(3)
    const err = await runPreload(opts(bucket, {connections: 4, concurrency: 4, fileConcurrency: 1, ...stop}), {hub: client(), s3}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InterruptedError)
    await expectNothingComplete(bucket)
    const pending = (await s3h.pendingUploads(bucket)).filter((u) => u.key === key(A))
    expect(pending).toHaveLength(1)
    // Parts S3 has whole (an UploadPart cut off by the interruption may have left a short one).
    const listed = await s3.send(new ListPartsCommand({Bucket: bucket, Key: key(A), UploadId: pending[0]!.uploadId}))
    const whole = (listed.Parts ?? []).filter((p) => p.Size === Math.min(5 * MiB, SIZE[A]! - (p.PartNumber! - 1) * 5 * MiB))
    const kept = whole.length
    expect(kept).toBeGreaterThanOrEqual(3)
    hub.clearFaults()
    const o = opts(bucket)
    const r = await runPreload(o, {hub: client(), s3})
    const parts = o.events.filter((e): e is Extract<PreloadEvent, {event: 'part'}> => e.event === 'part' && e.path === A)
    expect(parts.filter((e) => e.reused).map((e) => e.partNumber).sort()).toEqual(whole.map((p) => p.PartNumber).sort())
    expect(parts.filter((e) => !e.reused)).toHaveLength(5 - kept)
    const a = r.files.find((f) => f.path === A)!
    expect(a.status).toBe('resumed')
    expect(a.resumedBytes).toBe(parts.filter((e) => e.reused).reduce((x, e) => x + e.bytes, 0))
    expect(await s3h.pendingUploads(bucket)).toEqual([])
    await expectComplete(bucket)
  })
})

describe('preload: ranges, memory and the CDN URL', () => {
  it('cuts each part into --range-size ranges (a range never spans two parts; one larger than a part is a part)', async () => {
    const bucket = await newBucket()
    const before = hub.contentRequests(A).length
    await runPreload(opts(bucket, {rangeSize: 3 * MiB, connections: 4, fileConcurrency: 1}), {hub: client(), s3})
    expect(hub.contentRequests(A).slice(before).map((q) => q.range).sort()).toEqual(fileRanges(SIZE[A]!, 5 * MiB, 3 * MiB).sort())
    const bucket2 = await newBucket()
    const before2 = hub.contentRequests(A).length
    await runPreload(opts(bucket2, {rangeSize: 64 * MiB, connections: 4, fileConcurrency: 1}), {hub: client(), s3})
    expect(hub.contentRequests(A).slice(before2).map((q) => q.range).sort()).toEqual(fileRanges(SIZE[A]!, 5 * MiB, 5 * MiB).sort())
    await expectComplete(bucket2)
  })

  it('many connections cannot hold more than the memory budget: ranges beyond it wait', async () => {
    const bucket = await newBucket()
    hub.throttle(8 * MiB)
    // 64 connections, but memory for 2 parts of 5 MiB (2 + 2 + 1 MiB ranges each): at most 6 ranges
    // of the file in flight, whatever the number of connections
    await runPreload(opts(bucket, {connections: 64, concurrency: 2, fileConcurrency: 2}), {hub: client(), s3})
    expect(hub.rangeConcurrency()).toBeGreaterThanOrEqual(2)
    expect(hub.rangeConcurrency()).toBeLessThanOrEqual(6)
    await expectComplete(bucket)
  })

  it('the ranges of a file go straight to its signed CDN URL: one resolve per file, not one per range', async () => {
    const bucket = await newBucket()
    const before = {resolves: hub.resolveRequests(A).length, content: hub.contentRequests(A).length}
    await runPreload(opts(bucket, {connections: 4, fileConcurrency: 1}), {hub: client(), s3})
    expect(hub.contentRequests(A).length - before.content).toBe(fileRanges(SIZE[A]!, 5 * MiB, 2 * MiB).length)
    expect(hub.resolveRequests(A).length - before.resolves).toBe(1)
    await expectComplete(bucket)
  })

  it('a range that keeps failing fails the run with the Hub error (its UploadPart is stopped, not retried as an S3 error)', async () => {
    const bucket = await newBucket()
    hub.dropConnection(A, 0, 1000) // every response of A is cut before its first byte
    const o = opts(bucket, {connections: 4, fileConcurrency: 1, streamRetries: 1})
    const err = (await runPreload(o, {hub: client(), s3}).catch((e: unknown) => e)) as AipError
    // the Hub's error (cannot reach it / kept failing), not an S3 write error
    expect(['UNREACHABLE', 'FAILED']).toContain(err.code)
    expect(err.message).toMatch(/Hugging Face Hub|download of/)
    expect(err.message).not.toMatch(/s3:\/\/|bucket/i)
    expect(o.events.filter((e) => e.event === 'retry' && e.what === 'part')).toEqual([])
    await expectNothingComplete(bucket)
  })

  it('a CompleteMultipartUpload that succeeded but whose answer was lost: the retry fails, the object stands verified, the run completes', async () => {
    const bucket = await newBucket()
    const lost = s3h.loseNextAnswer(1, {method: 'POST', query: 'uploadId', key: A})
    const o = opts(bucket, {connections: 4, fileConcurrency: 1})
    const r = await runPreload(o, {hub: client(), s3})
    expect(lost.lost).toBe(1)
    expect(lost.seen).toBeGreaterThanOrEqual(2) // the SDK asked again, and s3rver no longer had the upload
    expect(r.files.find((f) => f.path === A)).toMatchObject({status: 'uploaded'})
    await expectComplete(bucket)
  })

  it('ranges reuse kept-alive connections: a range read to its end hands its connection to the next one', async () => {
    const bucket = await newBucket()
    const before = {conns: hub.connectionsOpened, content: hub.contentRequests(A).length + hub.contentRequests(B).length}
    await runPreload(opts(bucket, {connections: 3, fileConcurrency: 2}), {hub: client(), s3})
    const ranges = hub.contentRequests(A).length + hub.contentRequests(B).length - before.content
    expect(ranges).toBe(fileRanges(SIZE[A]!, 5 * MiB, 2 * MiB).length + fileRanges(SIZE[B]!, 5 * MiB, 2 * MiB).length)
    // 3 connections for the ranges (+ the small file's), not one per range
    expect(hub.connectionsOpened - before.conns).toBeLessThanOrEqual(5)
    await expectComplete(bucket)
  })

  it('a CDN URL refused mid-run (expired or revoked signature, 403) is resolved again and the copy completes', async () => {
    const bucket = await newBucket()
    hub.throttle(32 * MiB)
    const before = {resolves: hub.resolveRequests(A).length, requests: hub.requests.length}
    let revoked = false
    const o = opts(bucket, {
      connections: 2,
      fileConcurrency: 1,
      // one part's bytes held at once: later parts are read only after the first is uploaded, so
      // their ranges meet the revoked URL however slow the machine is (the whole file could
      // otherwise be read ahead before the first part's upload completes)
      concurrency: 1,
      afterPart: ({path}) => {
        if (path === A && !revoked) {
          revoked = true
          hub.revokeCdnUrls()
        }
      },
    })
    await runPreload(o, {hub: client(), s3})
    expect(revoked).toBe(true)
    expect(hub.requests.slice(before.requests).filter((r) => r.file === A && r.refused).length).toBeGreaterThanOrEqual(1)
    expect(hub.resolveRequests(A).length - before.resolves).toBe(2)
    expect(o.events.filter((e) => e.event === 'retry')).toEqual([]) // a refresh, not a failure
    await expectComplete(bucket)
  })
})

describe('preload: a rerun with another --part-size', () => {
  async function interrupted(bucket: string) {
    const stop = interruptAfter(1)
    const err = await runPreload(opts(bucket, {partSize: 5 * MiB, concurrency: 1, fileConcurrency: 1, ...stop}), {hub: client(), s3}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InterruptedError)
    const pending = await s3h.pendingUploads(bucket)
    expect(pending.map((u) => u.key)).toEqual([key(A)])
    return pending[0]!.uploadId
  }

  it('aborts the old multipart upload when the file now goes up as one object', async () => {
    const bucket = await newBucket()
    const uploadId = await interrupted(bucket)
    const o = opts(bucket, {partSize: 8 * MiB}) // at 8 MiB parts, files up to 64 MiB go up as one streamed PutObject
    await runPreload(o, {hub: client(), s3})
    expect(o.events).toContainEqual(expect.objectContaining({event: 'abort-upload', path: A, uploadId}))
    expect(await s3h.pendingUploads(bucket)).toEqual([])
    await expectComplete(bucket)
  })

  it('aborts the old multipart upload and starts a new one when its parts were cut with another size', async () => {
    const bucket = await newBucket()
    const uploadId = await interrupted(bucket)
    const o = opts(bucket, {partSize: 6 * MiB})
    const r = await runPreload(o, {hub: client(), s3})
    expect(o.events).toContainEqual(expect.objectContaining({event: 'abort-upload', path: A, uploadId, reason: expect.stringContaining('another part size')}))
    expect(r.files.find((f) => f.path === A)).toMatchObject({status: 'uploaded', resumedBytes: 0})
    expect(await s3h.pendingUploads(bucket)).toEqual([])
    await expectComplete(bucket)
  })
})

describe('preload: interrupted', () => {
  it('says that a rerun resumes (one line and a Fix), and keeps the unfinished upload', async () => {
    const bucket = await newBucket()
    const stop = interruptAfter(1)
    const err = (await runPreload(opts(bucket, {concurrency: 1, fileConcurrency: 1, ...stop}), {hub: client(), s3}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(InterruptedError)
    expect(err.exitCode).toBe(130)
    expect(err.message).toMatch(new RegExp(`^preload of ${REPO} interrupted after \\d of 3 files; no marker was written, the unfinished uploads are kept$`))
    expect(err.fix).toBe('rerun the same command to resume: complete files are skipped and the parts already uploaded are reused')
    expect((await s3h.pendingUploads(bucket)).map((u) => u.key)).toEqual([key(A)])
  })
})
