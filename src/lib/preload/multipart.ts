/**
 * Files larger than one part: a multipart upload of partSize parts, each part read from the Hub as
 * rangeSize byte ranges (smaller than parts), several at once over separate connections (the
 * connection budget is global), streamed into its UploadPart body as they arrive. The whole file's
 * sha256 is computed in file order as the bytes come in (a part read early waits in memory, within
 * the memory budget, until the ones before it are hashed) and verified before
 * CompleteMultipartUpload; a mismatch aborts the upload.
 *
 * Resume: a rerun continues the newest unfinished upload of the key (ListParts), aborting stale
 * duplicates and an upload whose parts were cut with another part size; its parts are read again
 * from the Hub for the sha256, and those whose size and MD5 ETag match are not uploaded again.
 */
import {createHash} from 'node:crypto'
import {setMaxListeners} from 'node:events'

import {isNoSuchKey, isNotImplemented} from '../aws/s3.js'
import type {RunContext} from './context.js'
import {cutRanges, fillRange, type RangeBuf, rangesBody, walk} from './ranges.js'
import {freshBodyPerAttempt, md5, unsignedPayload} from './s3-body.js'
import type {Planned, PreloadFileResult} from './types.js'

export async function abortUpload(ctx: RunContext, p: Planned, uploadId: string, reason: string): Promise<void> {
  const {opts, S3, send, s3err, emit} = ctx
  try {
    await send(new S3.AbortMultipartUploadCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId}), {key: p.key, action: 'write'})
    emit({event: 'abort-upload', path: p.sib.rfilename, uploadId, reason})
  } catch (err) {
    if (!isNotImplemented(err) && !isNoSuchKey(err)) throw s3err(err, {key: p.key, action: 'write'})
  }
}

/** An unfinished upload of this key to continue (the newest), after aborting the others. */
export async function findUpload(ctx: RunContext, p: Planned, layout: {partSize: number; parts: number}): Promise<{uploadId: string; parts: Map<number, {etag: string; size: number}>} | undefined> {
  const {opts, S3, send, s3err, signal} = ctx
  const uploads = p.uploads ?? []
  if (opts.force) {
    for (const u of uploads) await abortUpload(ctx, p, u.uploadId, '--force')
    return undefined
  }
  const [keep, ...stale] = uploads
  for (const u of stale) await abortUpload(ctx, p, u.uploadId, 'superseded by a newer unfinished upload')
  if (!keep) return undefined
  const parts = new Map<number, {etag: string; size: number}>()
  try {
    let marker: string | undefined
    for (;;) {
      const page = await send<{Parts?: Array<{PartNumber?: number; ETag?: string; Size?: number}>; IsTruncated?: boolean; NextPartNumberMarker?: string}>(
        new S3.ListPartsCommand({Bucket: opts.bucket, Key: p.key, UploadId: keep.uploadId, PartNumberMarker: marker}),
        {key: p.key, action: 'list parts of'},
      )
      for (const part of page.Parts ?? []) if (part.PartNumber && part.ETag) parts.set(part.PartNumber, {etag: part.ETag.replace(/"/g, ''), size: part.Size ?? -1})
      if (!page.IsTruncated) break
      marker = page.NextPartNumberMarker
    }
  } catch (err) {
    if (signal?.aborted) throw signal.reason
    if (isNotImplemented(err)) {
      await abortUpload(ctx, p, keep.uploadId, 'parts cannot be listed')
      return undefined
    }
    throw s3err(err, {key: p.key, action: 'list parts of'})
  }
  // Parts cut with another part size (a rerun with another --part-size) cannot be reused, and parts
  // past the new last one would stay billed until the upload ends: start a new upload instead.
  const expected = (pn: number) => (pn < layout.parts ? layout.partSize : pn === layout.parts ? p.sib.size - (layout.parts - 1) * layout.partSize : -2)
  if ([...parts].some(([pn, part]) => part.size !== -1 && part.size !== expected(pn))) {
    await abortUpload(ctx, p, keep.uploadId, `its parts were cut with another part size than ${layout.partSize} bytes`)
    return undefined
  }
  return {uploadId: keep.uploadId, parts}
}

/** Aborts every unfinished multipart upload of a file that now goes up as one object. */
export async function abortUnfinished(ctx: RunContext, p: Planned): Promise<void> {
  for (const u of p.uploads ?? []) await abortUpload(ctx, p, u.uploadId, ctx.opts.force ? '--force' : 'the file now goes up as one object (another part size)')
}

export async function multipart(ctx: RunContext, p: Planned): Promise<PreloadFileResult> {
  const {opts, S3, send, withRetry, emit, memory, signal, sse, storage, metadataFor, verify, checkAbort, partSize, rangeSize, AbortError} = ctx
  const size = p.sib.size
  const nParts = Math.ceil(size / partSize)
  const existing = await findUpload(ctx, p, {partSize, parts: nParts})
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
  emit({event: 'file-start', path: p.sib.rfilename, size, key: p.key, multipart: true, resumeParts: oldParts.size})

  // The first failure stops this file's other range reads at once (their bytes would be wasted).
  const stop = new AbortController()
  const readSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal
  setMaxListeners(0, readSignal) // one per open Hub request of this file
  const priority = p.priority ?? 0
  const parts: PartState[] = Array.from({length: nParts}, (_, i) => {
    const start = i * partSize
    const n = Math.min(partSize, size - start)
    return {pn: i + 1, n, ranges: cutRanges(start, start + n, rangeSize), held: 0, uploaded: false, hashed: false}
  })
  /** A part's memory goes back once it is both hashed (in file order) and uploaded (or reused). */
  const settle = (ps: PartState) => {
    if (!ps.held || !ps.uploaded || !ps.hashed) return
    memory.release(ps.held)
    ps.held = 0
    for (const r of ps.ranges) r.drop()
  }
  const hash = createHash('sha256')
  const completed: Array<{PartNumber: number; ETag: string}> = []
  const tasks = new Set<Promise<void>>()
  const fills: Array<Promise<void>> = []
  let hashed = 0
  let firstError: unknown
  let resumedBytes = 0
  const fail = (err: unknown) => {
    if (firstError !== undefined) return
    firstError = err
    stop.abort(err)
    // whoever waits on a range that will not come (the hasher, a part body) gets the reason
    for (const ps of parts) for (const r of ps.ranges) r.fail(err)
  }
  // The whole file's sha256, in file order, as the bytes of the part in front arrive.
  const hashing = (async () => {
    for (const ps of parts) {
      for await (const c of walk(ps.ranges)) {
        hash.update(c)
        hashed += c.length
      }
      ps.hashed = true
      settle(ps)
    }
  })().catch(fail)
  const rangeError = (ps: PartState) => ps.ranges.find((r) => r.error !== undefined)?.error
  const part = async (ps: PartState) => {
    const {pn, n} = ps
    const old = oldParts.get(pn)
    if (old && old.size === n) {
      // a part of the unfinished upload: reused when its bytes are the same (MD5 ETag)
      const chunks: Buffer[] = []
      for await (const c of walk(ps.ranges)) chunks.push(c)
      if (old.etag === md5(chunks)) {
        completed.push({PartNumber: pn, ETag: `"${old.etag}"`})
        resumedBytes += n
        ctx.counters.doneBytes += n
        ps.uploaded = true
        settle(ps)
        emit({event: 'part', path: p.sib.rfilename, partNumber: pn, bytes: n, reused: true})
        return
      }
    }
    // The part's ranges stream into its UploadPart body as they arrive; a retried attempt walks
    // them again from the first byte (they stay in memory until the part is uploaded and hashed).
    const r = await withRetry(
      async () => {
        if (firstError !== undefined) throw new AbortError(firstError instanceof Error ? firstError : String(firstError))
        try {
          // aborted with the file's reads: a body whose range failed must not leave the request waiting
          return (await ctx.s3.send(
            freshBodyPerAttempt(
              unsignedPayload(new S3.UploadPartCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId, PartNumber: pn, Body: rangesBody(ps.ranges, fail), ContentLength: n})),
              () => rangesBody(ps.ranges, fail),
            ),
            {abortSignal: readSignal},
          )) as {ETag?: string}
        } catch (err) {
          if (signal?.aborted) throw signal.reason
          // the Hub side failed (the body could not be read): not an S3 error to retry
          const hubErr = rangeError(ps) ?? firstError
          if (hubErr !== undefined) throw new AbortError(hubErr instanceof Error ? hubErr : String(hubErr))
          throw Object.assign(err as object, {aipContext: {key: p.key, action: 'write'}})
        }
      },
      {path: p.sib.rfilename, partNumber: pn, key: p.key, action: 'write'},
    )
    completed.push({PartNumber: pn, ETag: r.ETag!})
    ctx.counters.doneBytes += n
    ps.uploaded = true
    settle(ps)
    emit({event: 'part', path: p.sib.rfilename, partNumber: pn, bytes: n, reused: false})
    await opts.afterPart?.({path: p.sib.rfilename, partNumber: pn})
  }
  try {
    // Parts start in file order, each once the memory budget grants its bytes (all of a part's
    // ranges at once: a part never waits half-read), then its ranges wait for connections.
    for (const ps of parts) {
      if (firstError !== undefined) break
      try {
        ps.held = await memory.acquire(ps.n, priority, readSignal)
      } catch (err) {
        fail(err)
        break
      }
      for (const r of ps.ranges) fills.push(fillRange(ctx, p, r, readSignal))
      const task: Promise<void> = part(ps)
        .catch(fail)
        .finally(() => tasks.delete(task))
      tasks.add(task)
    }
    await Promise.all([...tasks])
    await hashing
    if (firstError !== undefined) throw firstError
    checkAbort()
    const sha256 = hash.digest('hex')
    try {
      verify(p, sha256, hashed)
    } catch (err) {
      await abortUpload(ctx, p, uploadId, 'checksum mismatch')
      throw err
    }
    completed.sort((a, b) => a.PartNumber - b.PartNumber)
    await complete(ctx, p, uploadId, completed, sha256)
    const status = resumedBytes > 0 ? 'resumed' : 'uploaded'
    emit({event: 'file-done', path: p.sib.rfilename, size, sha256, status, resumedBytes})
    return {path: p.sib.rfilename, key: p.key, size, sha256, lfs: Boolean(p.sib.lfs), status, resumedBytes}
  } catch (err) {
    fail(err)
    await Promise.allSettled([...tasks, hashing])
    // Interrupted or failed: the unfinished upload stays for the next run to resume (checksum
    // mismatches were aborted above). A bucket lifecycle rule can expire forgotten ones.
    throw err
  } finally {
    // Parts still holding memory (a failure before they were hashed or sent) give it back once
    // their reads have stopped.
    const held = parts.filter((ps) => ps.held > 0)
    void Promise.allSettled(fills).then(() => {
      for (const ps of held) {
        memory.release(ps.held)
        ps.held = 0
        for (const r of ps.ranges) r.drop()
      }
    })
  }
}

/**
 * CompleteMultipartUpload, retried. A completion can succeed while its answer is lost (S3 takes a
 * while for large objects; a store that sends nothing meanwhile can outlast the client's idle
 * timeout), and its retry then fails (NoSuchUpload on S3, an internal error on s3rver, whose
 * completion already removed the upload): when the object now stands with this file's size and
 * sha256, the file is complete.
 */
async function complete(ctx: RunContext, p: Planned, uploadId: string, parts: Array<{PartNumber: number; ETag: string}>, sha256: string): Promise<void> {
  const {opts, S3, send, withRetry, signal} = ctx
  try {
    await withRetry(
      () => send(new S3.CompleteMultipartUploadCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId, MultipartUpload: {Parts: parts}}), {key: p.key, action: 'write'}),
      {path: p.sib.rfilename, key: p.key, action: 'write'},
    )
  } catch (err) {
    if (signal?.aborted) throw err
    const head = await send<{ContentLength?: number; Metadata?: Record<string, string>}>(new S3.HeadObjectCommand({Bucket: opts.bucket, Key: p.key}), {key: p.key, action: 'read'}).catch(() => undefined)
    if (head?.ContentLength === p.sib.size && head.Metadata?.sha256 === sha256) return
    throw err
  }
}

/** One S3 part of a multipart file: its ranges, the memory it holds, and what it still waits for. */
interface PartState {
  pn: number
  n: number
  ranges: RangeBuf[]
  /** Bytes of the memory budget held (0 once given back). */
  held: number
  uploaded: boolean
  hashed: boolean
}
