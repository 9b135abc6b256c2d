/**
 * What every step of one preload run shares: the S3 module and client, the abort signal, events,
 * S3 calls with their error context, retries, object metadata, verification and Hub readers.
 */
import type {S3Client} from '@aws-sdk/client-s3'

import {isNoSuchKey, s3Status, toS3Error} from '../aws/s3.js'
import {AipError, InterruptedError} from '../errors.js'
import type {HubClient} from '../hub/index.js'
import {HubFileReader} from './hub-reader.js'
import type {Budget} from './budget.js'
import {verifyFile} from './verify.js'
import {type Planned, type PreloadEvent, type PreloadOptions} from './types.js'

export type S3Module = typeof import('@aws-sdk/client-s3')
type PRetry = typeof import('p-retry')
export type S3Ctx = {key?: string; action: string}
export type RetryCtx = {path: string; partNumber?: number; key: string; action: string}

/** S3 access and events, before the commit is known (planning). */
export interface S3Io {
  opts: PreloadOptions
  S3: S3Module
  s3: S3Client
  hub: HubClient
  signal?: AbortSignal
  emit(e: PreloadEvent): void
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  send<T>(cmd: any, ctx: S3Ctx): Promise<T>
  s3err(err: unknown, ctx: S3Ctx): AipError
  checkAbort(): void
  /** Deletes a key; a missing key is fine. */
  deleteIfPresent(key: string): Promise<void>
}

/** Everything a file transfer needs. */
export interface RunContext extends S3Io {
  commit: string
  partSize: number
  /** Bytes of a Hub read (one connection); parts are cut into ranges of at most this. */
  rangeSize: number
  /** Bytes held in memory at once (parts and ranges being read, waiting to be hashed or sent). */
  memory: Budget
  /** Hub connections open at once (taken after memory, never the other way round). */
  connections: Budget
  sse: Record<string, string>
  storage: {StorageClass?: never}
  /** Bytes done (for progress events). */
  counters: {doneBytes: number}
  AbortError: PRetry['AbortError']
  withRetry<T>(fn: () => Promise<T>, ctx: RetryCtx): Promise<T>
  metadataFor(p: Planned, sha256?: string, blob?: string): Record<string, string>
  verify(p: Planned, sha256: string, size: number, blob?: string): void
  /** A reader of the file, or of its bytes [range.start, range.end). */
  newReader(p: Planned, range?: {start: number; end: number}): HubFileReader
}

export function s3Io(opts: PreloadOptions, deps: {hub: HubClient; s3: S3Client}, S3: S3Module): S3Io {
  const {s3, hub} = deps
  const signal = opts.signal
  const emit = (e: PreloadEvent) => opts.onEvent?.(e)
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
  const deleteIfPresent = async (key: string) => {
    try {
      await send(new S3.DeleteObjectCommand({Bucket: opts.bucket, Key: key}), {key, action: 'write'})
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (!isNoSuchKey(err)) throw s3err(err, {key, action: 'write'})
    }
  }
  return {opts, S3, s3, hub, ...(signal ? {signal} : {}), emit, send, s3err, checkAbort, deleteIfPresent}
}

export function runContext(io: S3Io, pRetryModule: PRetry, run: {commit: string; partSize: number; rangeSize: number; memory: Budget; connections: Budget; sse: Record<string, string>; storage: {StorageClass?: never}; doneBytes: number}): RunContext {
  const {opts, signal, emit, s3err, checkAbort, hub} = io
  const {default: pRetry, AbortError} = pRetryModule
  const {commit} = run
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

  const verify = (p: Planned, sha256: string, size: number, blob?: string) => verifyFile(p, {sha256, size, ...(blob ? {blob} : {})}, `${opts.repo}/${p.sib.rfilename}@${commit}`)

  const newReader = (p: Planned, range?: {start: number; end: number}) =>
    new HubFileReader(
      hub,
      opts.repo,
      p.sib.rfilename,
      commit,
      p.sib.size,
      opts.streamRetries ?? 5,
      signal,
      (attempt, offset, reason) => emit({event: 'retry', path: p.sib.rfilename, what: 'hub-stream', attempt, offset, reason}),
      range,
    )
  return {...io, commit, partSize: run.partSize, rangeSize: run.rangeSize, memory: run.memory, connections: run.connections, sse: run.sse, storage: run.storage, counters: {doneBytes: run.doneBytes}, AbortError, withRetry, metadataFor, verify, newReader}
}
