/**
 * Files larger than one part: a multipart upload of partSize parts, resumable part by part.
 * A rerun continues the newest unfinished upload of the key (ListMultipartUploads + ListParts),
 * aborting stale duplicates; the whole file's sha256 is verified before CompleteMultipartUpload.
 */
import {createHash} from 'node:crypto'

import {isNoSuchKey, isNotImplemented} from '../aws/s3.js'
import type {RunContext} from './context.js'
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
export async function findUpload(ctx: RunContext, p: Planned): Promise<{uploadId: string; parts: Map<number, {etag: string; size: number}>} | undefined> {
  const {opts, S3, send, s3err, signal} = ctx
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
    for (const u of uploads) await abortUpload(ctx, p, u.UploadId!, '--force')
    return undefined
  }
  const [keep, ...stale] = uploads
  for (const u of stale) await abortUpload(ctx, p, u.UploadId!, 'superseded by a newer unfinished upload')
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
      await abortUpload(ctx, p, keep.UploadId!, 'parts cannot be listed')
      return undefined
    }
    throw s3err(err, {key: p.key, action: 'list parts of'})
  }
  return {uploadId: keep.UploadId!, parts}
}

export async function multipart(ctx: RunContext, p: Planned): Promise<PreloadFileResult> {
  const {opts, S3, send, withRetry, emit, slots, signal, sse, storage, metadataFor, verify, newReader, checkAbort, partSize} = ctx
  const existing = await findUpload(ctx, p)
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
        ctx.counters.doneBytes += n
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
          ctx.counters.doneBytes += n
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
      await abortUpload(ctx, p, uploadId, 'checksum mismatch')
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
