/**
 * Files larger than one part: a multipart upload of partSize parts, each part read from the Hub as
 * its own byte range, several at once over separate connections (the connection budget is global),
 * and uploaded as soon as its bytes are in. The whole file's sha256 is computed in file order as
 * the parts come in (a part that arrives early waits in memory, holding its slot, until the ones
 * before it are hashed) and verified before CompleteMultipartUpload; a mismatch aborts the upload.
 *
 * Resume: a rerun continues the newest unfinished upload of the key (ListParts), aborting stale
 * duplicates and an upload whose parts were cut with another part size; its parts are read again
 * from the Hub for the sha256, and those whose size and MD5 ETag match are not uploaded again.
 */
import {createHash} from 'node:crypto'

import {isNoSuchKey, isNotImplemented} from '../aws/s3.js'
import type {RunContext} from './context.js'
import {readRange} from './ranges.js'
import {freshBodyPerAttempt, listBody, md5, unsignedPayload} from './s3-body.js'
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
  const {opts, S3, send, withRetry, emit, slots, signal, sse, storage, metadataFor, verify, checkAbort, partSize} = ctx
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
  const hash = createHash('sha256')
  const completed: Array<{PartNumber: number; ETag: string}> = []
  const tasks = new Set<Promise<void>>()
  /** Parts read but not hashed yet (waiting for the parts before them). */
  const ready = new Map<number, Buffer[]>()
  /** Per part holding a memory slot: what it still waits for (hashing, uploading); at 0 the slot is free. */
  const holds = new Map<number, number>()
  const unhold = (pn: number) => {
    const left = (holds.get(pn) ?? 0) - 1
    if (left > 0) holds.set(pn, left)
    else if (holds.delete(pn)) slots.release()
  }
  let hashNext = 1
  let hashed = 0
  let firstError: unknown
  let resumedBytes = 0
  const fail = (err: unknown) => {
    firstError ??= err
    stop.abort(err)
  }
  /** Hashes every part that is next in file order. */
  const advance = () => {
    for (let chunks = ready.get(hashNext); chunks; chunks = ready.get(hashNext)) {
      ready.delete(hashNext)
      for (const c of chunks) {
        hash.update(c)
        hashed += c.length
      }
      unhold(hashNext++)
    }
  }
  const part = async (pn: number) => {
    const start = (pn - 1) * partSize
    const n = Math.min(partSize, size - start)
    const chunks = await readRange(ctx, p, start, start + n, readSignal)
    if (firstError !== undefined) return
    ready.set(pn, chunks)
    advance()
    const old = oldParts.get(pn)
    if (old && old.size === n && old.etag === md5(chunks)) {
      completed.push({PartNumber: pn, ETag: `"${old.etag}"`})
      resumedBytes += n
      ctx.counters.doneBytes += n
      emit({event: 'part', path: p.sib.rfilename, partNumber: pn, bytes: n, reused: true})
      return
    }
    const r = await withRetry(
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
    completed.push({PartNumber: pn, ETag: r.ETag!})
    ctx.counters.doneBytes += n
    emit({event: 'part', path: p.sib.rfilename, partNumber: pn, bytes: n, reused: false})
    await opts.afterPart?.({path: p.sib.rfilename, partNumber: pn})
  }
  try {
    // Parts start in file order, each once a memory slot is free (then it waits for a connection):
    // the part next to be hashed always holds a slot, so parts that came in early cannot starve it.
    for (let pn = 1; pn <= nParts && firstError === undefined; pn++) {
      await slots.acquire(signal)
      if (firstError !== undefined) {
        slots.release()
        break
      }
      holds.set(pn, 2) // hashed, uploaded
      const task: Promise<void> = part(pn)
        .catch(fail)
        .finally(() => {
          unhold(pn)
          tasks.delete(task)
        })
      tasks.add(task)
    }
    await Promise.all([...tasks])
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
    await withRetry(
      () => send(new S3.CompleteMultipartUploadCommand({Bucket: opts.bucket, Key: p.key, UploadId: uploadId, MultipartUpload: {Parts: completed}}), {key: p.key, action: 'write'}),
      {path: p.sib.rfilename, key: p.key, action: 'write'},
    )
    const status = resumedBytes > 0 ? 'resumed' : 'uploaded'
    emit({event: 'file-done', path: p.sib.rfilename, size, sha256, status, resumedBytes})
    return {path: p.sib.rfilename, key: p.key, size, sha256, lfs: Boolean(p.sib.lfs), status, resumedBytes}
  } catch (err) {
    stop.abort(err)
    await Promise.allSettled([...tasks])
    // Interrupted or failed: the unfinished upload stays for the next run to resume (checksum
    // mismatches were aborted above). A bucket lifecycle rule can expire forgotten ones.
    throw err
  } finally {
    // Parts that never got hashed (a failure before them) give their slots back.
    for (const _ of holds.keys()) slots.release()
    holds.clear()
    ready.clear()
  }
}
