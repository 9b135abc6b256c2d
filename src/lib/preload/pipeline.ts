/**
 * Hub -> S3 streaming preload: no temporary files, bounded memory, verified, resumable.
 *
 * Transport: the Hub is read over node:http(s) (HubClient.streamFile, keep-alive), so file bytes
 * arrive as the socket's own Buffers; they are hashed as they arrive and handed to S3 as they are
 * (a part body is a Readable over its list of chunks), never copied into part buffers.
 *
 * Three ways up, by file:
 *  - LFS files up to `singlePutMax` (64 MiB at the default 8 MiB part size or larger; the part size when a
 *    smaller one is given): one streaming PutObject, Content-Length from the Hub listing, the LFS
 *    sha256 in the metadata. The final chunk is held back until the sha256 of everything before it
 *    and it matches; on a mismatch the request is destroyed with fewer than Content-Length bytes
 *    sent, so S3 stores nothing (a key a lenient store kept anyway is deleted).
 *  - Other files of at most one part (non-LFS configs, tokenizers): read whole, verified (sha256,
 *    git blob sha1), then one PutObject with Content-MD5.
 *  - Larger files: a multipart upload of `partSize` parts, resumable part by part.
 *
 * Memory: at most `concurrency` parts (default 8 x 8 MiB) are held at once across all files; the
 * next part waits for a free slot, so backpressure from S3 reaches the Hub socket. Streaming PUTs
 * hold only what is in flight on their two sockets.
 *
 * Verification: sha256 of the streamed bytes against the Hub's LFS oid (git blob sha1 and size for
 * small non-LFS files) BEFORE CompleteMultipartUpload / before the last byte of a PutObject; a
 * mismatch aborts the multipart upload, so no object stands that is wrong. The marker is written
 * last, only when every file is verified.
 *
 * Resume: objects store x-amz-meta-sha256 (set at CreateMultipartUpload / PutObject for LFS files).
 * A rerun skips objects whose size and sha256 match, continues an unfinished multipart upload
 * (ListMultipartUploads + ListParts: the Hub stream is read again for the sha256, but parts whose
 * size and MD5 ETag match are not uploaded again; MD5 is computed only for such candidate parts), and
 * aborts stale duplicates. A dropped Hub stream resumes at its byte offset with Range.
 *
 * Retries: S3 requests with stream bodies get a fresh body per SDK attempt (freshBodyPerAttempt),
 * so the SDK's own retries apply to them too; a streaming PutObject retried starts its file over.
 */
import {createHash} from 'node:crypto'
import {Readable} from 'node:stream'

import type {S3Client} from '@aws-sdk/client-s3'

import {isNoSuchKey, isNotImplemented, s3Status, toS3Error} from '../aws/s3.js'
import {AipError, InterruptedError, networkErrorCode, UsageError} from '../errors.js'
import {type HubClient, type HubSibling} from '../hub/index.js'
import {MARKER_SCHEMA, type PreloadMarker, type PreloadMarkerFile, type WeightsLocation, weightsLocation, withCommit} from './layout.js'
import {selectFiles} from './select.js'

const MiB = 1024 * 1024
// 8 MiB: the AWS CLI's multipart_chunksize; 8 in flight keep peak RSS near 220 MiB (bench/preload.mjs)
export const DEFAULT_PART_SIZE = 8 * MiB
export const MIN_PART_SIZE = 5 * MiB
/** LFS files up to this size (at the default part size or larger) go up as one streaming PutObject. */
export const SINGLE_PUT_MAX = 64 * MiB
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
  /** Part size in bytes (default 8 MiB, at least 5 MiB; raised for files over 10000 parts). */
  partSize?: number
  /** Part buffers in flight across all files (default 8): memory is about concurrency x partSize. */
  concurrency?: number
  /**
   * LFS files of at most this many bytes go up as one streaming PutObject instead of a multipart
   * upload (default 64 MiB when partSize is at least the 8 MiB default, else partSize: a smaller
   * explicit part size asks for multipart granularity).
   */
  singlePutMax?: number
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

/** At most `max` holders at once; acquire() waits (abortably) for a free slot. */
class Slots {
  private used = 0
  private waiters: Array<() => void> = []
  constructor(private readonly max: number) {}
  acquire(signal?: AbortSignal): Promise<void> {
    if (this.used < this.max) {
      this.used++
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const w = () => {
        signal?.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = () => {
        this.waiters = this.waiters.filter((x) => x !== w)
        reject(signal!.reason)
      }
      signal?.addEventListener('abort', onAbort, {once: true})
      this.waiters.push(w)
    })
  }
  release(): void {
    const w = this.waiters.shift()
    if (w) w() // the slot passes to the waiter
    else this.used--
  }
}

/**
 * Sequential reader over a Hub file that survives dropped connections: on a stream error it reopens
 * the file with `Range: bytes=OFFSET-` and continues, up to `retries` times in a row. Chunks are the
 * socket's own Buffers (node:http), handed on without copying.
 */
class HubFileReader {
  private iter?: AsyncIterator<Buffer>
  private stream?: import('node:stream').Readable
  private leftover?: Buffer
  /** Bytes received from the network so far (the offset to resume at). */
  private received = 0
  private failures = 0
  private closed = false
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
    const f = await this.hub.streamFile(this.repo, this.path, this.commit, {start: this.received, signal: this.signal})
    this.stream = f.stream
    this.iter = f.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  }

  private drop(): void {
    this.stream?.destroy()
    this.stream = undefined
    this.iter = undefined
  }

  private async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.signal?.aborted) throw this.signal.reason
      if (this.closed) throw new Error(`read of ${this.path} after close`)
      try {
        if (!this.iter) await this.open()
        const {done, value} = await this.iter!.next()
        if (done) {
          if (this.received < this.size) throw Object.assign(new Error(`stream ended at ${this.received} of ${this.size} bytes`), {code: 'ECONNRESET'})
          return undefined
        }
        const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array)
        this.received += chunk.length
        this.failures = 0
        return chunk
      } catch (err) {
        if (this.signal?.aborted) throw this.signal.reason
        if (err instanceof AipError || this.closed) throw err
        this.drop()
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

  /**
   * The next chunk of at most `max` bytes (a view of the received Buffer, split at `max`); throws
   * when the file ends early. Bytes past the listed size are never returned.
   */
  async chunk(max: number): Promise<Buffer> {
    let c = this.leftover ?? (await this.next())
    this.leftover = undefined
    if (!c) throw new AipError('FAILED', `${this.repo}/${this.path} is shorter than the ${this.size} bytes the Hub listed`, {fix: 'retry the preload'})
    if (c.length > max) {
      this.leftover = c.subarray(max)
      c = c.subarray(0, max)
    }
    return c
  }

  /** The next n bytes of the file as a list of chunks (no copy), passing each to `onChunk`. */
  async take(n: number, onChunk: (c: Buffer) => void): Promise<Buffer[]> {
    const out: Buffer[] = []
    let got = 0
    while (got < n) {
      const c = await this.chunk(n - got)
      onChunk(c)
      out.push(c)
      got += c.length
    }
    return out
  }

  close(): void {
    this.closed = true
    this.drop()
  }
}

/** A Readable over a list of Buffers (a part body sent without concatenating it). */
function listBody(chunks: Buffer[]): Readable {
  let i = 0
  return new Readable({
    read() {
      while (i < chunks.length) if (!this.push(chunks[i++])) return
      this.push(null)
    },
  })
}

/**
 * Gives every SDK attempt of a command a fresh body from `make`. The SDK does not retry a request
 * whose body is a stream (it cannot rewind it; it only prints "An error was encountered in a
 * non-retryable streaming request." with console.warn): this middleware sits inside the SDK's retry
 * loop (right after the retry middleware), takes the spent stream off the request
 * after each attempt, and hands the next attempt a new one, so transient S3 errors (500, 503
 * SlowDown, resets) get the SDK's usual retries with backoff.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
function freshBodyPerAttempt<C extends {middlewareStack: any}>(cmd: C, make: () => Readable): C {
  let attempts = 0
  cmd.middlewareStack.addRelativeTo(
    (next: (a: {request: {body?: unknown}}) => Promise<unknown>) => async (args: {request: {body?: unknown}}) => {
      if (attempts++ > 0) args.request.body = make()
      try {
        return await next(args)
      } finally {
        // spent (or abandoned by a failed attempt): release it, and its Hub connection with it
        const spent = args.request.body
        args.request.body = undefined
        if (spent instanceof Readable) spent.destroy()
      }
    },
    // right after the retry middleware, on the request object it checks (signing works on a copy)
    {relation: 'after', toMiddleware: 'retryMiddleware', name: 'aipFreshBody'},
  )
  return cmd
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

function md5(chunks: Buffer[]): string {
  const h = createHash('md5')
  for (const c of chunks) h.update(c)
  return h.digest('hex')
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
  // Parts held in memory at once (each at most partSize bytes, as the socket's chunks).
  const slots = new Slots(concurrency)
  // LFS files up to this size go up as one streaming PutObject (no completion rewrite, one request).
  const singlePutMax = opts.singlePutMax ?? (partSize >= DEFAULT_PART_SIZE ? SINGLE_PUT_MAX : partSize)
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

  /** Small files whose sha256 is not known up front (non-LFS): read whole, verified, then one PutObject. */
  async function bufferedPut(p: Planned): Promise<PreloadFileResult> {
    emit({event: 'file-start', path: p.sib.rfilename, size: p.sib.size, key: p.key, multipart: false, resumeParts: 0})
    await slots.acquire(signal)
    const reader = newReader(p)
    try {
      const n = p.sib.size
      const hash = createHash('sha256')
      const blobHash = p.sib.lfs ? undefined : createHash('sha1').update(`blob ${n}\0`)
      const chunks = await reader.take(n, (c) => {
        hash.update(c)
        blobHash?.update(c)
      })
      const sha256 = hash.digest('hex')
      const blob = blobHash?.digest('hex')
      verify(p, sha256, n, blob)
      const contentMd5 = Buffer.from(md5(chunks), 'hex').toString('base64')
      await withRetry(
        () =>
          send(
            freshBodyPerAttempt(
              new S3.PutObjectCommand({Bucket: opts.bucket, Key: p.key, Body: listBody(chunks), ContentLength: n, ContentMD5: contentMd5, Metadata: metadataFor(p, sha256, blob), ...sse, ...storage}),
              () => listBody(chunks),
            ),
            {key: p.key, action: 'write'},
          ),
        {path: p.sib.rfilename, key: p.key, action: 'write'},
      )
      doneBytes += n
      emit({event: 'file-done', path: p.sib.rfilename, size: n, sha256, status: 'uploaded', resumedBytes: 0})
      return {path: p.sib.rfilename, key: p.key, size: n, sha256, lfs: Boolean(p.sib.lfs), status: 'uploaded', resumedBytes: 0}
    } finally {
      reader.close()
      slots.release()
    }
  }

  /**
   * LFS files up to singlePutMax: the Hub stream piped into one PutObject (its sha256, the LFS oid,
   * goes into the metadata up front). The body is hashed as it flows and its final chunk is held
   * back until the sha256 matches: on a mismatch (or a Hub stream that keeps failing) the request is
   * destroyed before S3 has Content-Length bytes, so S3 stores nothing. A key some store kept
   * anyway (s3rver may write a cut-off body) is deleted when its size is wrong. Retries start the
   * file over (SDK attempts get a fresh Hub stream each): these files are small enough for that.
   */
  async function streamPut(p: Planned): Promise<PreloadFileResult> {
    emit({event: 'file-start', path: p.sib.rfilename, size: p.sib.size, key: p.key, multipart: false, resumeParts: 0})
    const n = p.sib.size
    const expected = p.sib.lfs!.sha256
    let failed = undefined as unknown
    const failure = () => failed
    const local = new AbortController()
    const fail = (err: unknown) => {
      failed ??= err
      local.abort(err)
    }
    const readers: HubFileReader[] = []
    const makeBody = (): Readable => {
      const reader = newReader(p)
      readers.push(reader)
      const hash = createHash('sha256')
      let got = 0
      let pumping = false
      const body = new Readable({
        highWaterMark: 256 * 1024,
        read() {
          if (pumping) return
          pumping = true
          void (async () => {
            try {
              for (;;) {
                const c = await reader.chunk(n - got)
                hash.update(c)
                got += c.length
                if (got < n) {
                  if (!body.push(c)) break
                  continue
                }
                // The final chunk: released only when the whole file is verified.
                verify(p, hash.digest('hex'), got)
                body.push(c)
                body.push(null)
                reader.close()
                break
              }
              pumping = false
            } catch (err) {
              reader.close()
              if (body.destroyed) return // an attempt that ended (and released its body) first
              // Aborting the request is what stops it (pipe() ignores a source's errors); the body is
              // then destroyed without an error nobody would listen for.
              fail(err)
              body.destroy()
            }
          })()
        },
        destroy(err, cb) {
          reader.close()
          cb(err)
        },
      })
      return body
    }
    const linked = signal ? AbortSignal.any([signal, local.signal]) : local.signal
    try {
      await withRetry(
        async () => {
          if (failure() !== undefined) throw new AbortError(failure() as Error)
          try {
            return await s3.send(
              freshBodyPerAttempt(
                unsignedPayload(new S3.PutObjectCommand({Bucket: opts.bucket, Key: p.key, Body: makeBody(), ContentLength: n, ContentType: 'application/octet-stream', Metadata: metadataFor(p, expected), ...sse, ...storage})),
                makeBody,
              ),
              {abortSignal: linked},
            )
          } catch (err) {
            if (signal?.aborted) throw signal.reason
            const f = failure()
            if (f !== undefined) throw new AbortError(f instanceof Error ? f : String(f))
            throw Object.assign(err as object, {aipContext: {key: p.key, action: 'write'}})
          }
        },
        {path: p.sib.rfilename, key: p.key, action: 'write'},
      )
    } catch (err) {
      const f = failure()
      if (f !== undefined && !signal?.aborted) {
        // Real S3 stored nothing (the body was cut short); remove what a lenient store may have kept.
        try {
          const h = await send<{ContentLength?: number}>(new S3.HeadObjectCommand({Bucket: opts.bucket, Key: p.key}), {key: p.key, action: 'read'})
          if (h.ContentLength !== n) await send(new S3.DeleteObjectCommand({Bucket: opts.bucket, Key: p.key}), {key: p.key, action: 'write'})
        } catch (cleanupErr) {
          if (signal?.aborted) throw signal.reason
          if (!isNoSuchKey(cleanupErr)) throw s3err(cleanupErr, {key: p.key, action: 'write'})
        }
        throw f
      }
      throw err
    } finally {
      for (const r of readers) r.close()
    }
    doneBytes += n
    emit({event: 'file-done', path: p.sib.rfilename, size: n, sha256: expected, status: 'uploaded', resumedBytes: 0})
    return {path: p.sib.rfilename, key: p.key, size: n, sha256: expected, lfs: true, status: 'uploaded', resumedBytes: 0}
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
        await slots.acquire(signal)
        if (firstError !== undefined) {
          slots.release()
          break
        }
        const n = Math.min(partSize, p.sib.size - offset)
        let chunks: Buffer[]
        try {
          chunks = await reader.take(n, (c) => hash.update(c))
        } catch (err) {
          slots.release()
          throw err
        }
        const pn = ++partNumber
        offset += n
        const old = oldParts.get(pn)
        if (old && old.size === n && old.etag === md5(chunks)) {
          completed.push({PartNumber: pn, ETag: `"${old.etag}"`})
          slots.release()
          resumedBytes += n
          doneBytes += n
          emit({event: 'part', path: p.sib.rfilename, partNumber: pn, bytes: n, reused: true})
          continue
        }
        const task = withRetry(
          () =>
            send<{ETag?: string}>(
              freshBodyPerAttempt(
                unsignedPayload(new S3.UploadPartCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId, PartNumber: pn, Body: listBody(chunks), ContentLength: n})),
                () => listBody(chunks),
              ),
              {key: p.key, action: 'write'},
            ),
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
            slots.release()
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
            const r = p.sib.lfs && p.sib.size > 0 && p.sib.size <= singlePutMax ? await streamPut(p) : p.sib.size <= partSize && (p.sib.lfs || p.sib.size <= 64 * MiB) ? await bufferedPut(p) : await multipart(p)
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
