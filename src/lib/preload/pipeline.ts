/**
 * Hub -> S3 streaming preload: no temporary files, bounded memory, verified, resumable.
 *
 * Memory: a fixed pool of `concurrency` part buffers (default 8 x 16 MiB). A file's Hub stream is
 * read sequentially into a pool buffer (hashing it), the full buffer goes to UploadPart in the
 * background, and the next part waits for a free buffer: backpressure from S3 reaches the Hub socket.
 * Files of at most one part go up with a single PutObject.
 *
 * Verification: sha256 of the streamed bytes against the Hub's LFS oid (git blob sha1 and size for
 * small non-LFS files) BEFORE CompleteMultipartUpload/PutObject; a mismatch aborts the multipart
 * upload, so no object stands that is wrong. The marker is written last, only when every file is
 * verified.
 *
 * Resume: objects store x-amz-meta-sha256 (set at CreateMultipartUpload for LFS files). A rerun
 * skips objects whose size and sha256 match, continues an unfinished multipart upload (ListMultipart
 * Uploads + ListParts: the Hub stream is read again for the sha256, but parts whose size and MD5 ETag
 * match are not uploaded again), and aborts stale duplicates. A dropped Hub stream resumes at its
 * byte offset with Range.
 */
import {createHash} from 'node:crypto'

import type {S3Client} from '@aws-sdk/client-s3'

import {isNoSuchKey, isNotImplemented, s3Status, toS3Error} from '../aws/s3.js'
import {AipError, InterruptedError, networkErrorCode, UsageError} from '../errors.js'
import {type HubClient, type HubSibling} from '../hub/index.js'
import {MARKER_SCHEMA, type PreloadMarker, type PreloadMarkerFile, type WeightsLocation, weightsLocation, withCommit} from './layout.js'
import {selectFiles} from './select.js'

const MiB = 1024 * 1024
export const DEFAULT_PART_SIZE = 16 * MiB
export const MIN_PART_SIZE = 5 * MiB
const MAX_PARTS = 10_000

export interface PreloadOptions {
  repo: string
  /** Branch, tag or commit (default main). */
  revision?: string
  bucket: string
  prefix?: string
  include?: string[]
  exclude?: string[]
  /** Re-upload everything (aborting unfinished uploads, ignoring complete objects). */
  force?: boolean
  /** Part size in bytes (default 16 MiB, at least 5 MiB; raised for files over 10000 parts). */
  partSize?: number
  /** Part buffers in flight across all files (default 8): memory is about concurrency x partSize. */
  concurrency?: number
  /** Files transferred at once (default 4). */
  fileConcurrency?: number
  sse?: 'AES256' | 'aws:kms'
  sseKmsKeyId?: string
  storageClass?: string
  /** Attempts to resume a dropped Hub stream (default 5), and per-part upload retries (default 3). */
  streamRetries?: number
  partRetries?: number
  signal?: AbortSignal
  onEvent?: (e: PreloadEvent) => void
  aipVersion?: string
  /** For messages only. */
  s3Endpoint?: string
  /** Test hook: called after each part is uploaded. */
  afterPart?: (info: {path: string; partNumber: number}) => void | Promise<void>
}

export interface PreloadDeps {
  hub: HubClient
  s3: S3Client
}

export interface PreloadFileResult {
  path: string
  key: string
  size: number
  sha256: string
  lfs: boolean
  status: 'uploaded' | 'skipped' | 'resumed'
  /** Bytes not uploaded again thanks to parts of an unfinished upload. */
  resumedBytes: number
}

export interface PreloadResult {
  repo: string
  revision: string
  commit: string
  bucket: string
  uri: string
  markerUri: string
  files: PreloadFileResult[]
  totalBytes: number
  uploadedBytes: number
  skippedBytes: number
  resumedBytes: number
  durationMs: number
  bytesPerSecond: number
  notes: string[]
}

/** NDJSON events (documented in the README): one JSON object per line on stdout with --json. */
export type PreloadEvent =
  | {event: 'plan'; repo: string; revision: string; commit: string; uri: string; files: number; bytes: number; skipFiles: number; skipBytes: number; partSize: number}
  | {event: 'file-skip'; path: string; size: number; reason: 'complete'}
  | {event: 'file-start'; path: string; size: number; key: string; multipart: boolean; resumeParts: number}
  | {event: 'part'; path: string; partNumber: number; bytes: number; reused: boolean}
  | {event: 'file-done'; path: string; size: number; sha256: string; status: 'uploaded' | 'resumed'; resumedBytes: number}
  | {event: 'retry'; path?: string; what: 'hub-stream' | 'part' | 'hub-request'; attempt: number; offset?: number; partNumber?: number; reason: string}
  | {event: 'abort-upload'; path: string; uploadId: string; reason: string}
  | {event: 'marker'; uri: string}
  | {event: 'progress'; bytes: number; totalBytes: number; filesDone: number; files: number}

export class ChecksumMismatchError extends AipError {
  constructor(message: string, details: Record<string, unknown>) {
    super('FAILED', message, {fix: 'retry the preload; if it persists, the Hub (or the mirror in HF_ENDPOINT) serves corrupt data', details})
    this.name = 'ChecksumMismatchError'
  }
}

interface Planned {
  sib: HubSibling & {size: number}
  key: string
  status?: 'skip'
  sha256?: string
}

/** A fixed pool of equal-size buffers; acquire() waits while all are in use. */
class BufferPool {
  private free: Buffer[] = []
  private waiters: Array<(b: Buffer) => void> = []
  private created = 0
  constructor(
    private readonly size: number,
    private readonly max: number,
  ) {}
  acquire(signal?: AbortSignal): Promise<Buffer> {
    const b = this.free.pop()
    if (b) return Promise.resolve(b)
    if (this.created < this.max) {
      this.created++
      return Promise.resolve(Buffer.allocUnsafeSlow(this.size))
    }
    return new Promise((resolve, reject) => {
      const w = (buf: Buffer) => {
        signal?.removeEventListener('abort', onAbort)
        resolve(buf)
      }
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w)
        reject(signal!.reason)
      }
      signal?.addEventListener('abort', onAbort, {once: true})
      this.waiters.push(w)
    })
  }
  release(b: Buffer): void {
    const w = this.waiters.shift()
    if (w) w(b)
    else this.free.push(b)
  }
}

/**
 * Sequential reader over a Hub file that survives dropped connections: on a stream error it reopens
 * the file with `Range: bytes=OFFSET-` and continues, up to `retries` times in a row.
 */
class HubFileReader {
  private reader?: ReadableStreamDefaultReader<Uint8Array>
  private leftover?: Uint8Array
  /** Bytes received from the network so far (the offset to resume at). */
  private received = 0
  private failures = 0
  constructor(
    private readonly hub: HubClient,
    private readonly repo: string,
    private readonly path: string,
    private readonly commit: string,
    private readonly size: number,
    private readonly retries: number,
    private readonly signal: AbortSignal | undefined,
    private readonly onRetry: (attempt: number, offset: number, reason: string) => void,
  ) {}

  private async open(): Promise<void> {
    const f = await this.hub.openFile(this.repo, this.path, this.commit, {start: this.received, signal: this.signal})
    this.reader = f.body.getReader()
  }

  private async next(): Promise<Uint8Array | undefined> {
    for (;;) {
      if (this.signal?.aborted) throw this.signal.reason
      try {
        if (!this.reader) await this.open()
        const {done, value} = await this.reader!.read()
        if (done) {
          if (this.received < this.size) throw Object.assign(new Error(`stream ended at ${this.received} of ${this.size} bytes`), {code: 'ECONNRESET'})
          return undefined
        }
        this.received += value.length
        this.failures = 0
        return value
      } catch (err) {
        if (this.signal?.aborted) throw this.signal.reason
        if (err instanceof AipError) throw err
        this.reader?.cancel().catch(() => undefined)
        this.reader = undefined
        if (++this.failures > this.retries) {
          throw new AipError('FAILED', `download of ${this.repo}/${this.path} kept failing at byte ${this.received} of ${this.size}: ${(err as Error).message}`, {
            fix: 'check the network and rerun: the preload resumes where it stopped',
            cause: err,
          })
        }
        const reason = networkErrorCode(err) ?? (err as Error).message ?? 'stream error'
        this.onRetry(this.failures, this.received, reason)
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** (this.failures - 1))))
      }
    }
  }

  /** Fills buf[0..n) with the next n bytes of the file. */
  async fill(buf: Buffer, n: number): Promise<void> {
    let filled = 0
    while (filled < n) {
      let chunk = this.leftover ?? (await this.next())
      this.leftover = undefined
      if (!chunk) throw new AipError('FAILED', `${this.repo}/${this.path} is shorter than the ${this.size} bytes the Hub listed`, {fix: 'retry the preload'})
      const take = Math.min(chunk.length, n - filled)
      buf.set(take === chunk.length ? chunk : chunk.subarray(0, take), filled)
      filled += take
      if (take < chunk.length) {
        chunk = chunk.subarray(take)
        this.leftover = chunk
      }
    }
  }

  /** True when the stream holds more bytes than the listed size. */
  async hasExtra(): Promise<boolean> {
    if (this.leftover && this.leftover.length > 0) return true
    if (this.received > this.size) return true
    return false
  }

  close(): void {
    this.reader?.cancel().catch(() => undefined)
  }
}

/**
 * UploadPart without SigV4 payload signing (`x-amz-content-sha256: UNSIGNED-PAYLOAD`, what the AWS
 * CLI sends over HTTPS): the SDK otherwise hashes every part body with sha256 once more on the main
 * thread just to sign it, a third pass over every byte (about 7% of the CLI's CPU in bench/preload).
 * Content integrity does not rest on it: the whole file's sha256 is verified against the Hub's LFS
 * oid before CompleteMultipartUpload, and the transport (TLS on real S3) protects the bytes in flight.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function unsignedPayload<C extends {middlewareStack: any}>(cmd: C): C {
  cmd.middlewareStack.add(
    (next: (a: {request: {headers: Record<string, string>}}) => Promise<unknown>) => async (args: {request: {headers: Record<string, string>}}) => {
      args.request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD'
      return next(args)
    },
    {step: 'build', name: 'aipUnsignedPayload'},
  )
  return cmd
}

function md5(buf: Uint8Array): string {
  return createHash('md5').update(buf).digest('hex')
}
function gitBlobSha1(buf: Uint8Array): string {
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex')
}

export async function runPreload(opts: PreloadOptions, deps: PreloadDeps): Promise<PreloadResult> {
  const started = Date.now()
  const S3 = await import('@aws-sdk/client-s3')
  const {default: pLimit} = await import('p-limit')
  const {default: pRetry, AbortError} = await import('p-retry')
  const {hub, s3} = deps
  const signal = opts.signal
  const emit = (e: PreloadEvent) => opts.onEvent?.(e)
  const revision = opts.revision ?? 'main'
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const send = async <T>(cmd: any, ctx: {key?: string; action: string}): Promise<T> => {
    try {
      return (await s3.send(cmd, {abortSignal: signal})) as T
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      throw Object.assign(err as object, {aipContext: ctx})
    }
  }
  const s3err = (err: unknown, ctx: {key?: string; action: string}) => toS3Error(err, {bucket: opts.bucket, endpoint: opts.s3Endpoint, ...ctx})
  const checkAbort = () => {
    if (signal?.aborted) throw signal.reason ?? new InterruptedError()
  }

  // 1. The Hub: repo, revision -> commit, file list.
  const info = await hub.modelInfo(opts.repo, revision, signal)
  const commit = info.sha
  const sel = selectFiles(info.siblings, opts.include, opts.exclude)
  if (sel.files.length === 0) {
    throw new UsageError(`no files of ${opts.repo}@${revision} match --include ${sel.include.join(',')}${sel.exclude.length ? ` --exclude ${sel.exclude.join(',')}` : ''}`, {
      fix: `the repo has: ${info.siblings.slice(0, 8).map((s) => s.rfilename).join(', ')}${info.siblings.length > 8 ? ', ...' : ''}`,
    })
  }
  for (const f of sel.files) {
    if (f.size === undefined) {
      const head = await hub.headFile(opts.repo, f.rfilename, commit, signal)
      f.size = head.size
    }
    if (f.size === undefined) throw new AipError('FAILED', `the Hub did not report the size of ${opts.repo}/${f.rfilename}`, {fix: 'check HF_ENDPOINT points at a Hugging Face Hub'})
  }
  const loc: WeightsLocation = withCommit(weightsLocation({bucket: opts.bucket, prefix: opts.prefix, repo: opts.repo}), commit)
  const refLoc = weightsLocation({bucket: opts.bucket, prefix: opts.prefix, repo: opts.repo, revision})

  // 2. The bucket: exists and is ours to use.
  try {
    await send(new S3.HeadBucketCommand({Bucket: opts.bucket}), {action: 'access'})
  } catch (err) {
    if (signal?.aborted) throw signal.reason
    throw s3err(err, {action: 'access'})
  }

  const maxSize = Math.max(...sel.files.map((f) => f.size!))
  let partSize = Math.max(MIN_PART_SIZE, opts.partSize ?? DEFAULT_PART_SIZE)
  if (Math.ceil(maxSize / partSize) > MAX_PARTS) partSize = Math.ceil(maxSize / MAX_PARTS / MiB) * MiB
  const concurrency = Math.max(1, opts.concurrency ?? 8)
  const pool = new BufferPool(partSize, concurrency)
  const sse = {
    ...(opts.sse ? {ServerSideEncryption: opts.sse} : {}),
    ...(opts.sseKmsKeyId ? {SSEKMSKeyId: opts.sseKmsKeyId, ServerSideEncryption: 'aws:kms' as const} : {}),
  }
  const storage = opts.storageClass ? {StorageClass: opts.storageClass as never} : {}

  // 3. Plan: which objects are already complete.
  const planned: Planned[] = sel.files.map((sib) => ({sib: sib as HubSibling & {size: number}, key: `${loc.keyPrefix}${sib.rfilename}`}))
  if (!opts.force) {
    const headLimit = pLimit(16)
    await Promise.all(
      planned.map((p) =>
        headLimit(async () => {
          try {
            const h = await send<{ContentLength?: number; Metadata?: Record<string, string>}>(new S3.HeadObjectCommand({Bucket: opts.bucket, Key: p.key}), {key: p.key, action: 'read'})
            const sha = h.Metadata?.sha256
            const expected = p.sib.lfs?.sha256
            const blobOk = p.sib.lfs || !p.sib.blobId || !h.Metadata?.['git-blob'] || h.Metadata['git-blob'] === p.sib.blobId
            if (h.ContentLength === p.sib.size && sha && /^[0-9a-f]{64}$/.test(sha) && (!expected || expected === sha) && blobOk) {
              p.status = 'skip'
              p.sha256 = sha
            }
          } catch (err) {
            if (signal?.aborted) throw signal.reason
            if (!isNoSuchKey(err)) throw s3err(err, {key: p.key, action: 'read'})
          }
        }),
      ),
    )
  }
  const totalBytes = planned.reduce((a, p) => a + p.sib.size, 0)
  const skip = planned.filter((p) => p.status === 'skip')
  const skipBytes = skip.reduce((a, p) => a + p.sib.size, 0)
  emit({event: 'plan', repo: opts.repo, revision, commit, uri: loc.uri!, files: planned.length, bytes: totalBytes, skipFiles: skip.length, skipBytes, partSize})
  for (const p of skip) emit({event: 'file-skip', path: p.sib.rfilename, size: p.sib.size, reason: 'complete'})

  // A marker must never stand for a set that is being rewritten.
  if (skip.length < planned.length || opts.force) {
    try {
      await send(new S3.DeleteObjectCommand({Bucket: opts.bucket, Key: loc.markerKey!}), {key: loc.markerKey!, action: 'write'})
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (!isNoSuchKey(err)) throw s3err(err, {key: loc.markerKey!, action: 'write'})
    }
  }

  let doneBytes = skipBytes
  let filesDone = skip.length
  const progress = () => emit({event: 'progress', bytes: doneBytes, totalBytes, filesDone, files: planned.length})
  const results: PreloadFileResult[] = skip.map((p) => ({path: p.sib.rfilename, key: p.key, size: p.sib.size, sha256: p.sha256!, lfs: Boolean(p.sib.lfs), status: 'skipped', resumedBytes: 0}))

  const retryable = (err: unknown) => {
    if (signal?.aborted) return false
    const st = s3Status(err)
    return st === undefined || st >= 500 || st === 429 || st === 408 || (err as {name?: string}).name === 'SlowDown' || (err as {name?: string}).name === 'RequestTimeout'
  }
  const withRetry = <T>(fn: () => Promise<T>, ctx: {path: string; partNumber?: number; key: string; action: string}): Promise<T> =>
    pRetry(
      async () => {
        checkAbort()
        try {
          return await fn()
        } catch (err) {
          if (signal?.aborted) throw new AbortError(signal.reason instanceof Error ? signal.reason : String(signal.reason))
          if (!retryable(err)) throw new AbortError(s3err(err, {key: ctx.key, action: ctx.action}))
          throw err
        }
      },
      {
        retries: opts.partRetries ?? 3,
        minTimeout: 200,
        factor: 2,
        signal,
        onFailedAttempt: (e) => emit({event: 'retry', path: ctx.path, what: 'part', attempt: e.attemptNumber, ...(ctx.partNumber ? {partNumber: ctx.partNumber} : {}), reason: e.message}),
      },
    ).catch((err: unknown) => {
      if (signal?.aborted) throw signal.reason
      throw err instanceof AipError ? err : s3err(err, {key: ctx.key, action: ctx.action})
    })

  const metadataFor = (p: Planned, sha256?: string, blob?: string): Record<string, string> => ({
    ...(sha256 ? {sha256} : {}),
    ...(blob ? {'git-blob': blob} : {}),
    'aip-repo': opts.repo,
    'aip-commit': commit,
  })

  const verify = (p: Planned, sha256: string, size: number, blob?: string) => {
    const where = `${opts.repo}/${p.sib.rfilename}@${commit}`
    if (size !== p.sib.size) throw new ChecksumMismatchError(`size mismatch for ${where}: expected ${p.sib.size} bytes, got ${size}`, {path: p.sib.rfilename, expectedSize: p.sib.size, size})
    if (p.sib.lfs && p.sib.lfs.sha256 !== sha256) {
      throw new ChecksumMismatchError(`checksum mismatch for ${where}: expected sha256 ${p.sib.lfs.sha256}, got ${sha256}`, {path: p.sib.rfilename, expected: p.sib.lfs.sha256, actual: sha256})
    }
    if (!p.sib.lfs && p.sib.blobId && blob && p.sib.blobId !== blob) {
      throw new ChecksumMismatchError(`checksum mismatch for ${where}: expected git blob ${p.sib.blobId}, got ${blob}`, {path: p.sib.rfilename, expected: p.sib.blobId, actual: blob})
    }
  }

  const newReader = (p: Planned) =>
    new HubFileReader(hub, opts.repo, p.sib.rfilename, commit, p.sib.size, opts.streamRetries ?? 5, signal, (attempt, offset, reason) =>
      emit({event: 'retry', path: p.sib.rfilename, what: 'hub-stream', attempt, offset, reason}),
    )

  async function singlePut(p: Planned): Promise<PreloadFileResult> {
    emit({event: 'file-start', path: p.sib.rfilename, size: p.sib.size, key: p.key, multipart: false, resumeParts: 0})
    const buf = await pool.acquire(signal)
    const reader = newReader(p)
    try {
      const n = p.sib.size
      if (n > 0) await reader.fill(buf, n)
      const body = buf.subarray(0, n)
      const sha256 = createHash('sha256').update(body).digest('hex')
      const blob = p.sib.lfs ? undefined : gitBlobSha1(body)
      verify(p, sha256, n, blob)
      await withRetry(
        () =>
          send(
            new S3.PutObjectCommand({Bucket: opts.bucket, Key: p.key, Body: body, ContentLength: n, ContentMD5: Buffer.from(md5(body), 'hex').toString('base64'), Metadata: metadataFor(p, sha256, blob), ...sse, ...storage}),
            {key: p.key, action: 'write'},
          ),
        {path: p.sib.rfilename, key: p.key, action: 'write'},
      )
      doneBytes += n
      emit({event: 'file-done', path: p.sib.rfilename, size: n, sha256, status: 'uploaded', resumedBytes: 0})
      return {path: p.sib.rfilename, key: p.key, size: n, sha256, lfs: Boolean(p.sib.lfs), status: 'uploaded', resumedBytes: 0}
    } finally {
      reader.close()
      pool.release(buf)
    }
  }

  async function abortUpload(p: Planned, uploadId: string, reason: string): Promise<void> {
    try {
      await send(new S3.AbortMultipartUploadCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId}), {key: p.key, action: 'write'})
      emit({event: 'abort-upload', path: p.sib.rfilename, uploadId, reason})
    } catch (err) {
      if (!isNotImplemented(err) && !isNoSuchKey(err)) throw s3err(err, {key: p.key, action: 'write'})
    }
  }

  /** An unfinished upload of this key to continue (the newest), after aborting the others. */
  async function findUpload(p: Planned): Promise<{uploadId: string; parts: Map<number, {etag: string; size: number}>} | undefined> {
    let uploads: Array<{Key?: string; UploadId?: string; Initiated?: Date}> = []
    try {
      let keyMarker: string | undefined
      let idMarker: string | undefined
      for (;;) {
        const page = await send<{Uploads?: typeof uploads; IsTruncated?: boolean; NextKeyMarker?: string; NextUploadIdMarker?: string}>(
          new S3.ListMultipartUploadsCommand({Bucket: opts.bucket, Prefix: p.key, KeyMarker: keyMarker, UploadIdMarker: idMarker}),
          {key: p.key, action: 'list uploads of'},
        )
        uploads.push(...(page.Uploads ?? []))
        if (!page.IsTruncated) break
        keyMarker = page.NextKeyMarker
        idMarker = page.NextUploadIdMarker
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (isNotImplemented(err)) return undefined // the store cannot list them: start afresh
      throw s3err(err, {key: p.key, action: 'list uploads of'})
    }
    uploads = uploads.filter((u) => u.Key === p.key && u.UploadId).sort((a, b) => (b.Initiated?.getTime() ?? 0) - (a.Initiated?.getTime() ?? 0))
    if (opts.force) {
      for (const u of uploads) await abortUpload(p, u.UploadId!, '--force')
      return undefined
    }
    const [keep, ...stale] = uploads
    for (const u of stale) await abortUpload(p, u.UploadId!, 'superseded by a newer unfinished upload')
    if (!keep) return undefined
    const parts = new Map<number, {etag: string; size: number}>()
    try {
      let marker: string | undefined
      for (;;) {
        const page = await send<{Parts?: Array<{PartNumber?: number; ETag?: string; Size?: number}>; IsTruncated?: boolean; NextPartNumberMarker?: string}>(
          new S3.ListPartsCommand({Bucket: opts.bucket, Key: p.key, UploadId: keep.UploadId, PartNumberMarker: marker}),
          {key: p.key, action: 'list parts of'},
        )
        for (const part of page.Parts ?? []) if (part.PartNumber && part.ETag) parts.set(part.PartNumber, {etag: part.ETag.replace(/"/g, ''), size: part.Size ?? -1})
        if (!page.IsTruncated) break
        marker = page.NextPartNumberMarker
      }
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (isNotImplemented(err)) {
        await abortUpload(p, keep.UploadId!, 'parts cannot be listed')
        return undefined
      }
      throw s3err(err, {key: p.key, action: 'list parts of'})
    }
    return {uploadId: keep.UploadId!, parts}
  }

  async function multipart(p: Planned): Promise<PreloadFileResult> {
    const existing = await findUpload(p)
    let uploadId = existing?.uploadId
    if (!uploadId) {
      const created = await withRetry(
        () =>
          send<{UploadId?: string}>(
            new S3.CreateMultipartUploadCommand({Bucket: opts.bucket, Key: p.key, Metadata: metadataFor(p, p.sib.lfs?.sha256), ContentType: 'application/octet-stream', ...sse, ...storage}),
            {key: p.key, action: 'write'},
          ),
        {path: p.sib.rfilename, key: p.key, action: 'write'},
      )
      uploadId = created.UploadId!
    }
    const oldParts = existing?.parts ?? new Map<number, {etag: string; size: number}>()
    emit({event: 'file-start', path: p.sib.rfilename, size: p.sib.size, key: p.key, multipart: true, resumeParts: oldParts.size})
    const reader = newReader(p)
    const hash = createHash('sha256')
    const completed: Array<{PartNumber: number; ETag: string}> = []
    const inflight = new Set<Promise<void>>()
    let firstError: unknown
    let resumedBytes = 0
    let offset = 0
    let partNumber = 0
    try {
      while (offset < p.sib.size && firstError === undefined) {
        const buf = await pool.acquire(signal)
        if (firstError !== undefined) {
          pool.release(buf)
          break
        }
        const n = Math.min(partSize, p.sib.size - offset)
        try {
          await reader.fill(buf, n)
        } catch (err) {
          pool.release(buf)
          throw err
        }
        const body = buf.subarray(0, n)
        hash.update(body)
        const pn = ++partNumber
        offset += n
        const old = oldParts.get(pn)
        if (old && old.size === n && old.etag === md5(body)) {
          completed.push({PartNumber: pn, ETag: `"${old.etag}"`})
          pool.release(buf)
          resumedBytes += n
          doneBytes += n
          emit({event: 'part', path: p.sib.rfilename, partNumber: pn, bytes: n, reused: true})
          continue
        }
        const task = withRetry(
          () => send<{ETag?: string}>(unsignedPayload(new S3.UploadPartCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId, PartNumber: pn, Body: body, ContentLength: n})), {key: p.key, action: 'write'}),
          {path: p.sib.rfilename, partNumber: pn, key: p.key, action: 'write'},
        )
          .then(async (r) => {
            completed.push({PartNumber: pn, ETag: r.ETag!})
            doneBytes += n
            emit({event: 'part', path: p.sib.rfilename, partNumber: pn, bytes: n, reused: false})
            await opts.afterPart?.({path: p.sib.rfilename, partNumber: pn})
          })
          .catch((err: unknown) => {
            firstError ??= err
          })
          .finally(() => {
            pool.release(buf)
            inflight.delete(task)
          })
        inflight.add(task)
      }
      await Promise.all(inflight)
      if (firstError !== undefined) throw firstError
      checkAbort()
      const sha256 = hash.digest('hex')
      try {
        verify(p, sha256, offset)
      } catch (err) {
        await abortUpload(p, uploadId, 'checksum mismatch')
        throw err
      }
      completed.sort((a, b) => a.PartNumber - b.PartNumber)
      await withRetry(
        () =>
          send(new S3.CompleteMultipartUploadCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId, MultipartUpload: {Parts: completed}}), {key: p.key, action: 'write'}),
        {path: p.sib.rfilename, key: p.key, action: 'write'},
      )
      const status = resumedBytes > 0 ? 'resumed' : 'uploaded'
      emit({event: 'file-done', path: p.sib.rfilename, size: p.sib.size, sha256, status, resumedBytes})
      return {path: p.sib.rfilename, key: p.key, size: p.sib.size, sha256, lfs: Boolean(p.sib.lfs), status, resumedBytes}
    } catch (err) {
      await Promise.allSettled([...inflight])
      // Interrupted or failed: the unfinished upload stays for the next run to resume (checksum
      // mismatches were aborted above). A bucket lifecycle rule can expire forgotten ones.
      throw err
    } finally {
      reader.close()
    }
  }

  // 4. Transfer: biggest files first so small ones fill the gaps.
  const todo = planned.filter((p) => p.status !== 'skip').sort((a, b) => b.sib.size - a.sib.size)
  const fileLimit = pLimit(Math.max(1, opts.fileConcurrency ?? 4))
  const ticker = setInterval(progress, 1000)
  const abortAll = new AbortController()
  let failure: unknown
  try {
    await Promise.all(
      todo.map((p) =>
        fileLimit(async () => {
          if (failure !== undefined || abortAll.signal.aborted) return
          checkAbort()
          try {
            const r = p.sib.size <= partSize && (p.sib.lfs || p.sib.size <= 64 * MiB) ? await singlePut(p) : await multipart(p)
            results.push(r)
            filesDone++
          } catch (err) {
            failure ??= err
            abortAll.abort()
          }
        }),
      ),
    )
  } finally {
    clearInterval(ticker)
  }
  if (signal?.aborted) throw signal.reason ?? new InterruptedError()
  if (failure !== undefined) throw failure instanceof AipError ? failure : s3err(failure, {action: 'write'})
  progress()

  // 5. Every file verified: the marker, then the ref.
  const byPath = new Map(results.map((r) => [r.path, r]))
  const markerFiles: PreloadMarkerFile[] = planned.map((p) => {
    const r = byPath.get(p.sib.rfilename)!
    return {path: r.path, size: r.size, sha256: r.sha256, lfs: r.lfs}
  })
  const marker: PreloadMarker = {
    schema: MARKER_SCHEMA,
    repo: opts.repo,
    revision,
    commit,
    files: markerFiles,
    totalBytes,
    include: sel.include,
    exclude: sel.exclude,
    completedAt: new Date().toISOString(),
    aipVersion: opts.aipVersion ?? 'unknown',
  }
  const markerBody = Buffer.from(JSON.stringify(marker, null, 2) + '\n')
  await withRetry(
    () => send(new S3.PutObjectCommand({Bucket: opts.bucket, Key: loc.markerKey!, Body: markerBody, ContentLength: markerBody.length, ContentType: 'application/json', ...sse, ...storage}), {key: loc.markerKey!, action: 'write'}),
    {path: loc.markerKey!, key: loc.markerKey!, action: 'write'},
  )
  emit({event: 'marker', uri: loc.markerUri!})
  if (refLoc.refKey) {
    const ref = Buffer.from(`${commit}\n`)
    await withRetry(
      () => send(new S3.PutObjectCommand({Bucket: opts.bucket, Key: refLoc.refKey!, Body: ref, ContentLength: ref.length, ContentType: 'text/plain', ...sse}), {key: refLoc.refKey!, action: 'write'}),
      {path: refLoc.refKey!, key: refLoc.refKey!, action: 'write'},
    )
  }

  const durationMs = Date.now() - started
  const uploadedBytes = results.filter((r) => r.status !== 'skipped').reduce((a, r) => a + r.size - r.resumedBytes, 0)
  const resumedBytes = results.reduce((a, r) => a + r.resumedBytes, 0)
  results.sort((a, b) => (a.path < b.path ? -1 : 1))
  return {
    repo: opts.repo,
    revision,
    commit,
    bucket: opts.bucket,
    uri: loc.uri!,
    markerUri: loc.markerUri!,
    files: results,
    totalBytes,
    uploadedBytes,
    skippedBytes: skipBytes,
    resumedBytes,
    durationMs,
    bytesPerSecond: durationMs > 0 ? Math.round((uploadedBytes / durationMs) * 1000) : 0,
    notes: sel.notes,
  }
}
