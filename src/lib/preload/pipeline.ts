/**
 * Hub -> S3 streaming preload: no temporary files, bounded memory, verified, resumable.
 *
 * Transport: the Hub is read over node:http(s) (HubClient.streamFile, keep-alive), so file bytes
 * arrive as the socket's own Buffers; they are hashed as they arrive and handed to S3 as they are
 * (a part body streams its ranges' chunks), never copied into part buffers. LFS files are read as
 * byte ranges of `rangeSize` (default 2 MiB, within 8 MiB parts), many at once over separate
 * connections (ranges.ts), from a global budget of `connections` (default 32): a CDN edge paces
 * each connection, so one per file would bound the copy (issue 18). The signed CDN URL a file's
 * `resolve` redirects to is reused for all of its ranges until it expires (hub/cdn-cache.ts).
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
 * Memory: a budget of `concurrency` x `partSize` bytes (default 8 x 8 MiB) across all files
 * (budget.ts): a part takes its bytes before its ranges take connections, and gives them back once
 * it is both hashed in file order and uploaded; the next part waits, so backpressure from S3 and
 * from the in-order sha256 reaches the Hub sockets. The budgets serve the files in flight
 * (`--file-concurrency`) first come, first served, so their parts interleave. Flat in the model's size.
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
 * aborts stale duplicates and uploads cut with another part size. A dropped Hub connection resumes
 * at its byte offset with Range, inside its range.
 *
 * Retries: S3 requests with stream bodies get a fresh body per SDK attempt (freshBodyPerAttempt),
 * so the SDK's own retries apply to them too; a streaming PutObject retried starts its file over.
 *
 * By concern: plan.ts (commit, files, what is already complete), put.ts (single-object uploads),
 * multipart.ts (multipart upload and resume), verify.ts (size, sha256, git blob), ranges.ts
 * (parallel ranged reads), hub-reader.ts (one resumable Hub read), budget.ts (memory and connection
 * budgets), s3-body.ts (request bodies), context.ts (what the steps share); this file runs the steps in order and writes the marker.
 */
import {setMaxListeners} from 'node:events'

import {AipError, InterruptedError} from '../errors.js'
import {runContext, s3Io} from './context.js'
import {type PreloadMarker, type PreloadMarkerFile, MARKER_SCHEMA} from './layout.js'
import {Budget} from './budget.js'
import {abortUnfinished, multipart} from './multipart.js'
import {planPreload} from './plan.js'
import {bufferedPut, streamPut} from './put.js'
import {MiB, type PreloadDeps, type PreloadFileResult, type PreloadOptions, type PreloadResult} from './types.js'

export {DEFAULT_PART_SIZE, MIN_PART_SIZE, SINGLE_PUT_MAX} from './types.js'
export {ChecksumMismatchError} from './verify.js'
export type {PreloadDeps, PreloadEvent, PreloadFileResult, PreloadOptions, PreloadResult} from './types.js'

export async function runPreload(opts: PreloadOptions, deps: PreloadDeps): Promise<PreloadResult> {
  const state = {files: 0, filesDone: 0}
  try {
    return await run(opts, deps, state)
  } catch (err) {
    const signal = opts.signal
    if (signal?.aborted && (signal.reason instanceof InterruptedError || err instanceof InterruptedError)) {
      // What an interrupted run leaves is meant to be picked up again: say so.
      const done = state.files ? ` after ${state.filesDone} of ${state.files} files` : ''
      throw new InterruptedError(`preload of ${opts.repo} interrupted${done}; no marker was written, the unfinished uploads are kept`, {
        fix: 'rerun the same command to resume: complete files are skipped and the parts already uploaded are reused',
      })
    }
    throw err
  }
}

async function run(opts: PreloadOptions, deps: PreloadDeps, state: {files: number; filesDone: number}): Promise<PreloadResult> {
  const started = Date.now()
  // every open Hub and S3 request listens on the run's signal (hundreds with many connections)
  if (opts.signal) setMaxListeners(0, opts.signal)
  const S3 = await import('@aws-sdk/client-s3')
  const {default: pLimit} = await import('p-limit')
  const io = s3Io(opts, deps, S3)
  const {signal, emit, send, s3err, checkAbort} = io

  // 1-3. The Hub's commit and files, the bucket, what is already complete.
  const {revision, commit, sel, loc, refLoc, partSize, rangeSize, memoryBytes, connections, singlePutMax, planned, skip, totalBytes, skipBytes} = await planPreload(io)
  const sse = {
    ...(opts.sse ? {ServerSideEncryption: opts.sse} : {}),
    ...(opts.sseKmsKeyId ? {SSEKMSKeyId: opts.sseKmsKeyId, ServerSideEncryption: 'aws:kms' as const} : {}),
  }
  const storage = opts.storageClass ? {StorageClass: opts.storageClass as never} : {}
  const ctx = runContext(io, await import('p-retry'), {commit, partSize, rangeSize, memory: new Budget(memoryBytes), connections: new Budget(connections), sse, storage, doneBytes: skipBytes})
  const {withRetry} = ctx

  state.files = planned.length
  state.filesDone = skip.length
  const progress = () => emit({event: 'progress', bytes: ctx.counters.doneBytes, totalBytes, filesDone: state.filesDone, files: planned.length})
  const results: PreloadFileResult[] = skip.map((p) => ({path: p.sib.rfilename, key: p.key, size: p.sib.size, sha256: p.sha256!, lfs: Boolean(p.sib.lfs), status: 'skipped', resumedBytes: 0}))

  // 4. Transfer: biggest files first so small ones fill the gaps.
  const todo = planned.filter((p) => p.status !== 'skip').sort((a, b) => b.sib.size - a.sib.size)
  // The budgets serve the files in flight first come, first served (all priority 0): their parts
  // interleave. Serving the biggest file strictly first (files finishing one after another) was
  // 0.90-0.93x as fast unthrottled against s3rver and no faster throttled (bench/preload-ab.mjs):
  // completions that overlap each other keep the sink busier than completions one by one.
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
            const single = p.sib.lfs && p.sib.size > 0 && p.sib.size <= singlePutMax ? 'stream' : p.sib.size <= partSize && (p.sib.lfs || p.sib.size <= 64 * MiB) ? 'buffered' : undefined
            if (single) await abortUnfinished(ctx, p)
            const r = single === 'stream' ? await streamPut(ctx, p) : single === 'buffered' ? await bufferedPut(ctx, p) : await multipart(ctx, p)
            results.push(r)
            state.filesDone++
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

