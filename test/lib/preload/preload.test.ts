import {CreateBucketCommand, HeadObjectCommand, type S3Client} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'

import {createS3Client} from '../../../src/lib/aws/s3.js'
import {AipError, InterruptedError, NotFoundError, UnauthorizedError} from '../../../src/lib/errors.js'
import {HubClient} from '../../../src/lib/hub/index.js'
import {
  ChecksumMismatchError,
  MARKER_NAME,
  type PreloadEvent,
  type PreloadOptions,
  readPreloadMarker,
  resolveWeightsLocation,
  runPreload,
  weightsLocation,
} from '../../../src/lib/preload/index.js'
import {HubServer, makeSafetensors, seededBytes} from '../../support/hub-server.js'
import {bucketContents, S3rverHandle, s3rverClient} from '../../support/s3rver.js'

const MiB = 1024 * 1024
const REPO = 'acme/tiny-llm'
const TOKEN = 'hf_goodtokenCCCCCCCCCCCC'
const FILES = {
  'config.json': JSON.stringify({model_type: 'llama', hidden_size: 64}),
  'tokenizer.json': JSON.stringify({version: '1.0', model: {vocab: {a: 1}}}),
  'model-00001-of-00002.safetensors': {size: 12 * MiB + 123, seed: 11},
  'model-00002-of-00002.safetensors': {size: 5 * MiB + 7, seed: 12},
  'model.safetensors.index.json': JSON.stringify({weight_map: {a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors'}}),
  'small.safetensors': makeSafetensors([{name: 'w', dtype: 'BF16', shape: [16, 16]}], {seed: 5}),
  'README.md': '# tiny',
  'original/consolidated.00.pth': {size: 1000, seed: 3},
}
const EXPECTED_PATHS = ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'small.safetensors', 'tokenizer.json']

let hub: HubServer
let s3h: S3rverHandle
let s3: S3Client
let commit: string
let bucketN = 0

function expectedBytes(path: string): Buffer {
  const v = FILES[path as keyof typeof FILES]
  if (typeof v === 'string') return Buffer.from(v)
  if (Buffer.isBuffer(v)) return v
  return seededBytes(v.size, v.seed)
}

async function newBucket(): Promise<string> {
  const name = `b${++bucketN}-${Date.now().toString(36)}`
  await s3.send(new CreateBucketCommand({Bucket: name}))
  return name
}

function opts(bucket: string, extra: Partial<PreloadOptions> = {}): PreloadOptions & {events: PreloadEvent[]} {
  const events: PreloadEvent[] = []
  return {repo: REPO, bucket, prefix: 'models', partSize: 5 * MiB, concurrency: 4, aipVersion: 'test', onEvent: (e) => events.push(e), events, ...extra}
}

const hubClient = (token?: string) => new HubClient({endpoint: hub.url, token, maxRetryWaitMs: 20})

async function expectComplete(bucket: string) {
  const contents = await bucketContents(s3, bucket)
  const root = `models/acme--tiny-llm/${commit}/`
  const keys = [...contents.keys()].sort()
  expect(keys).toEqual([...EXPECTED_PATHS.map((p) => root + p), root + MARKER_NAME, 'models/acme--tiny-llm/refs/main'].sort())
  for (const p of EXPECTED_PATHS) expect(contents.get(root + p)!.equals(expectedBytes(p)), p).toBe(true)
  const marker = JSON.parse(contents.get(root + MARKER_NAME)!.toString())
  expect(marker).toMatchObject({schema: 'aip.dev/preload/v1', repo: REPO, revision: 'main', commit, aipVersion: 'test'})
  expect(marker.files.map((f: {path: string}) => f.path).sort()).toEqual(EXPECTED_PATHS)
  const big = marker.files.find((f: {path: string}) => f.path === 'model-00001-of-00002.safetensors')
  expect(big.sha256).toBe(hub.repos.get(REPO)!.commits.get(commit)!.get('model-00001-of-00002.safetensors')!.sha256)
  expect(contents.get('models/acme--tiny-llm/refs/main')!.toString().trim()).toBe(commit)
  return contents
}

async function expectNothingComplete(bucket: string) {
  const contents = await bucketContents(s3, bucket)
  expect([...contents.keys()].filter((k) => k.endsWith(MARKER_NAME) || k.includes('/refs/'))).toEqual([])
  return contents
}

beforeAll(async () => {
  hub = await HubServer.start()
  commit = hub.addRepo(REPO, {files: FILES}).commit
  hub.addRepo('acme/gated', {files: FILES, gated: true, allow: [TOKEN]})
  hub.tokens.add('hf_nogrants0DDDDDDDDDDDD')
  s3h = await S3rverHandle.start()
  s3 = await s3rverClient(s3h)
})
afterAll(async () => {
  await hub?.stop()
  await s3h?.stop()
})

describe('runPreload', () => {
  it('streams the default file set into S3 byte-for-byte, then writes the marker and the ref', async () => {
    const bucket = await newBucket()
    const o = opts(bucket)
    const r = await runPreload(o, {hub: hubClient(), s3})
    expect(r.commit).toBe(commit)
    expect(r.uri).toBe(`s3://${bucket}/models/acme--tiny-llm/${commit}/`)
    expect(r.files.map((f) => f.status)).toEqual(EXPECTED_PATHS.map(() => 'uploaded'))
    await expectComplete(bucket)
    // multipart for the big file (3 parts of 5 MiB), object metadata carries the sha256
    expect(o.events.filter((e) => e.event === 'part' && e.path === 'model-00001-of-00002.safetensors')).toHaveLength(3)
    const head = await s3.send(new HeadObjectCommand({Bucket: bucket, Key: `models/acme--tiny-llm/${commit}/model-00001-of-00002.safetensors`}))
    expect(head.Metadata?.sha256).toBe(r.files.find((f) => f.path === 'model-00001-of-00002.safetensors')!.sha256)
    // the marker is the last object written
    expect(o.events.at(-1)).toEqual({event: 'marker', uri: `s3://${bucket}/models/acme--tiny-llm/${commit}/${MARKER_NAME}`})
    // deploy's view of it
    const loc = await resolveWeightsLocation(s3, {bucket, repo: REPO, revision: 'main'})
    expect(loc.uri).toBe(r.uri)
    expect(loc.marker.files).toHaveLength(EXPECTED_PATHS.length)
  })

  it('skips complete files on a rerun (no downloads), and --force uploads everything again', async () => {
    const bucket = await newBucket()
    await runPreload(opts(bucket), {hub: hubClient(), s3})
    const before = hub.requests.filter((r) => r.content).length
    const again = await runPreload(opts(bucket), {hub: hubClient(), s3})
    expect(again.files.every((f) => f.status === 'skipped')).toBe(true)
    expect(again.uploadedBytes).toBe(0)
    expect(hub.requests.filter((r) => r.content).length).toBe(before)
    await expectComplete(bucket)
    const forced = await runPreload(opts(bucket, {force: true}), {hub: hubClient(), s3})
    expect(forced.files.every((f) => f.status === 'uploaded')).toBe(true)
    expect(forced.uploadedBytes).toBe(forced.totalBytes)
    await expectComplete(bucket)
  })

  it('fails a gated repo without a token with UnauthorizedError naming HF_TOKEN, and writes nothing', async () => {
    const bucket = await newBucket()
    const err = (await runPreload(opts(bucket, {repo: 'acme/gated'}), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect(err.exitCode).toBe(6)
    expect(err.fix).toContain('HF_TOKEN')
    expect((await bucketContents(s3, bucket)).size).toBe(0)
  })

  it('fails a gated repo with a token lacking access (403) and writes nothing; the right token works', async () => {
    const bucket = await newBucket()
    const err = (await runPreload(opts(bucket, {repo: 'acme/gated'}), {hub: hubClient('hf_nogrants0DDDDDDDDDDDD'), s3}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect(err.message).toContain('403')
    expect((await bucketContents(s3, bucket)).size).toBe(0)
    const ok = await runPreload(opts(bucket, {repo: 'acme/gated'}), {hub: hubClient(TOKEN), s3})
    expect(ok.files).toHaveLength(EXPECTED_PATHS.length)
  })

  it('fails an unknown repo and an unknown revision with NotFoundError (exit 4), bucket empty', async () => {
    const bucket = await newBucket()
    const repo = (await runPreload(opts(bucket, {repo: 'acme/missing'}), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
    expect(repo).toBeInstanceOf(NotFoundError)
    expect(repo.message).toContain('acme/missing')
    const rev = (await runPreload(opts(bucket, {revision: 'v2'}), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
    expect(rev).toBeInstanceOf(NotFoundError)
    expect(rev.message).toContain('"v2"')
    expect((await bucketContents(s3, bucket)).size).toBe(0)
  })

  it('retries 429 answers (Retry-After) and completes', async () => {
    const bucket = await newBucket()
    hub.rateLimitNext(3, 0)
    const o = opts(bucket)
    const retries: number[] = []
    const c = new HubClient({endpoint: hub.url, maxRetryWaitMs: 20, onRetry: (r) => retries.push(r.status ?? 0)})
    await runPreload(o, {hub: c, s3})
    expect(retries).toEqual([429, 429, 429])
    await expectComplete(bucket)
  })

  it('resumes a Hub range dropped mid-way with a Range request from the byte offset to the end of that range', async () => {
    const bucket = await newBucket()
    const path = 'model-00001-of-00002.safetensors'
    const size = 12 * MiB + 123
    hub.dropConnection(path, 512 * 1024 + 5, 1) // the first response of the file is cut after 512 KiB + 5 bytes
    const before = hub.contentRequests(path).length
    const o = opts(bucket)
    await runPreload(o, {hub: hubClient(), s3})
    const retry = o.events.find((e) => e.event === 'retry' && e.what === 'hub-stream')
    expect(retry).toMatchObject({path, what: 'hub-stream', attempt: 1})
    const offset = (retry as {offset: number}).offset
    // the ranges: each 5 MiB part cut into 2 MiB ranges
    const ranges: Array<[number, number]> = []
    for (let p = 0; p < size; p += 5 * MiB) for (let s = p; s < Math.min(p + 5 * MiB, size); s += 2 * MiB) ranges.push([s, Math.min(s + 2 * MiB, p + 5 * MiB, size)])
    const cut = ranges.find(([s, e]) => s <= offset && offset < e)!
    expect(offset - cut[0]).toBe(512 * 1024 + 5)
    const reqs = hub.contentRequests(path).slice(before)
    // one ranged GET per range, plus the one that resumed the cut range from its offset to the range's end
    expect(reqs).toHaveLength(ranges.length + 1)
    expect(reqs.map((r) => r.range)).toContain(`bytes=${offset}-${cut[1] - 1}`)
    await expectComplete(bucket)
  })

  it('on a checksum mismatch aborts the upload: no object for the file, no marker, FAILED', async () => {
    const bucket = await newBucket()
    const path = 'model-00001-of-00002.safetensors'
    hub.corruptFile(path, 6 * MiB)
    try {
      const err = (await runPreload(opts(bucket, {fileConcurrency: 1}), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
      expect(err).toBeInstanceOf(ChecksumMismatchError)
      expect(err.exitCode).toBe(1)
      expect(err.message).toContain(path)
    } finally {
      hub.clearFaults()
    }
    const contents = await expectNothingComplete(bucket)
    expect([...contents.keys()].some((k) => k.endsWith(path))).toBe(false)
    expect(await s3h.pendingUploads(bucket)).toEqual([])
  })

  it('at the default part size, LFS files up to 64 MiB go up as one streaming PutObject, verified', async () => {
    const bucket = await newBucket()
    const o = opts(bucket, {partSize: 16 * MiB})
    const r = await runPreload(o, {hub: hubClient(), s3})
    expect(r.files.map((f) => f.status)).toEqual(EXPECTED_PATHS.map(() => 'uploaded'))
    const starts = o.events.filter((e) => e.event === 'file-start')
    expect(starts.length).toBe(EXPECTED_PATHS.length)
    expect(starts.every((e) => e.event === 'file-start' && !e.multipart)).toBe(true)
    expect(o.events.filter((e) => e.event === 'part')).toEqual([])
    const big = 'model-00001-of-00002.safetensors'
    const head = await s3.send(new HeadObjectCommand({Bucket: bucket, Key: `models/acme--tiny-llm/${commit}/${big}`}))
    expect(head.Metadata?.sha256).toBe(hub.repos.get(REPO)!.commits.get(commit)!.get(big)!.sha256)
    expect(await s3h.pendingUploads(bucket)).toEqual([])
    await expectComplete(bucket)
  })

  it('a streamed PutObject whose bytes do not match the LFS sha256 is cut short: no object, no marker, FAILED', async () => {
    for (const offset of [100, 12 * MiB + 122]) {
      // a byte early in the file, and the very last byte (the held-back final chunk)
      const bucket = await newBucket()
      const path = 'model-00001-of-00002.safetensors'
      hub.corruptFile(path, offset)
      try {
        const err = (await runPreload(opts(bucket, {partSize: 16 * MiB, fileConcurrency: 1}), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
        expect(err).toBeInstanceOf(ChecksumMismatchError)
        expect(err.exitCode).toBe(1)
        expect(err.message).toContain(path)
      } finally {
        hub.clearFaults()
      }
      const contents = await expectNothingComplete(bucket)
      expect([...contents.keys()].some((k) => k.endsWith(path)), `offset ${offset}`).toBe(false)
      expect(await s3h.pendingUploads(bucket)).toEqual([])
    }
  })

  it('S3 500s on an UploadPart and on a streamed PutObject are retried by the SDK with the whole body, quietly', async () => {
    const bucket = await newBucket()
    const part = s3h.failNext(1, {method: 'PUT', part: true, key: `${bucket}/`})
    const put = s3h.failNext(1, {method: 'PUT', part: false, key: 'small.safetensors'})
    const warn = vi.spyOn(console, 'warn')
    const o = opts(bucket)
    try {
      await runPreload(o, {hub: hubClient(), s3})
    } finally {
      part.n = 0
      put.n = 0
      warn.mockRestore()
    }
    expect(part.failed).toBe(1)
    expect(put.failed).toBe(1)
    expect(put.seen).toBe(2)
    // retried inside the SDK (its backoff), not by restarting the file: no retry events, no warning
    expect(o.events.filter((e) => e.event === 'retry')).toEqual([])
    expect(warn).not.toHaveBeenCalled()
    await expectComplete(bucket)
  })

  it('fails a missing bucket with NotFoundError (exit 4) before touching anything', async () => {
    const err = (await runPreload(opts('no-such-bucket'), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(NotFoundError)
    expect(err.exitCode).toBe(4)
    expect(err.message).toContain('no-such-bucket')
  })

  it('a wrong repo is reported before a missing bucket (both asked at once)', async () => {
    const err = (await runPreload(opts('no-such-bucket', {repo: 'org/no-such-repo'}), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(NotFoundError)
    expect(err.message).toContain('org/no-such-repo')
    expect(err.message).not.toContain('no-such-bucket')
  })

  it('fails a denied bucket (bucket policy 403, and wrong credentials) with UnauthorizedError (exit 6)', async () => {
    const bucket = await newBucket()
    s3h.deny.add(bucket)
    try {
      const err = (await runPreload(opts(bucket), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
      expect(err).toBeInstanceOf(UnauthorizedError)
      expect(err.message).toContain(bucket)
    } finally {
      s3h.deny.delete(bucket)
    }
    const wrong = await createS3Client({endpoint: s3h.endpoint, credentials: {accessKeyId: 'WRONG', secretAccessKey: 'WRONG'}})
    const err2 = (await runPreload(opts(bucket), {hub: hubClient(), s3: wrong}).catch((e: unknown) => e)) as AipError
    expect(err2).toBeInstanceOf(UnauthorizedError)
    expect(err2.exitCode).toBe(6)
    expect((await bucketContents(s3, bucket)).size).toBe(0)
  })

  it('after an interrupted run, no marker stands; a rerun resumes the unfinished multipart upload', async () => {
    const bucket = await newBucket()
    const path = 'model-00001-of-00002.safetensors'
    const ac = new AbortController()
    const err = await runPreload(
      opts(bucket, {
        signal: ac.signal,
        fileConcurrency: 1,
        concurrency: 1,
        afterPart: ({path: p, partNumber}) => {
          if (p === path && partNumber === 2) ac.abort(new InterruptedError())
        },
      }),
      {hub: hubClient(), s3},
    ).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InterruptedError)
    await expectNothingComplete(bucket)
    const pending = await s3h.pendingUploads(bucket)
    expect(pending.map((p) => p.key)).toEqual([`models/acme--tiny-llm/${commit}/${path}`])
    expect(pending[0]!.parts).toBe(2)
    const o = opts(bucket)
    const r = await runPreload(o, {hub: hubClient(), s3})
    const big = r.files.find((f) => f.path === path)!
    expect(big.status).toBe('resumed')
    expect(big.resumedBytes).toBe(10 * MiB)
    expect(o.events.filter((e) => e.event === 'part' && e.path === path && e.reused)).toHaveLength(2)
    expect(await s3h.pendingUploads(bucket)).toEqual([])
    await expectComplete(bucket)
  })

  it('honours --include/--exclude', async () => {
    const bucket = await newBucket()
    const r = await runPreload(opts(bucket, {include: ['*.json'], exclude: ['tokenizer.json']}), {hub: hubClient(), s3})
    expect(r.files.map((f) => f.path)).toEqual(['config.json', 'model.safetensors.index.json'])
    const marker = await readPreloadMarker(s3, bucket, `models/acme--tiny-llm/${commit}/${MARKER_NAME}`)
    expect(marker?.files.map((f) => f.path).sort()).toEqual(['config.json', 'model.safetensors.index.json'])
    const err = (await runPreload(opts(bucket, {include: ['*.gguf']}), {hub: hubClient(), s3}).catch((e: unknown) => e)) as AipError
    expect(err.code).toBe('USAGE')
  })
})

describe('weightsLocation', () => {
  it('computes the commit-pinned layout and the ref key for branches', () => {
    const sha = 'a'.repeat(40)
    expect(weightsLocation({bucket: 'b', prefix: '/m/', repo: 'Org/Name', revision: sha})).toMatchObject({
      modelKey: 'm/Org--Name',
      uri: `s3://b/m/Org--Name/${sha}/`,
      markerKey: `m/Org--Name/${sha}/${MARKER_NAME}`,
    })
    const branch = weightsLocation({bucket: 'b', repo: 'Org/Name'})
    expect(branch.refKey).toBe('models/Org--Name/refs/main')
    expect(branch.uri).toBeUndefined()
  })

  it('resolveWeightsLocation fails with NotFoundError when nothing was preloaded', async () => {
    const bucket = await newBucket()
    await expect(resolveWeightsLocation(s3, {bucket, repo: 'x/y'})).rejects.toBeInstanceOf(NotFoundError)
    expect(await readPreloadMarker(s3, bucket, 'nope/.aip-preload.json')).toBeUndefined()
  })
})
