/**
 * Files that go up as one PutObject: small non-LFS files read whole and verified first
 * (bufferedPut), and LFS files up to singlePutMax streamed with their last chunk held back until
 * the sha256 matches (streamPut).
 */
import {createHash} from 'node:crypto'
import {Readable} from 'node:stream'

import {isNoSuchKey} from '../aws/s3.js'
import type {RunContext} from './context.js'
import {RangedReader} from './ranges.js'
import {freshBodyPerAttempt, listBody, md5, unsignedPayload} from './s3-body.js'
import type {Planned, PreloadFileResult} from './types.js'

/** Small files whose sha256 is not known up front (non-LFS): read whole, verified, then one PutObject. */
export async function bufferedPut(ctx: RunContext, p: Planned): Promise<PreloadFileResult> {
  const {opts, S3, send, withRetry, emit, memory, connections, signal, sse, storage, metadataFor, verify, newReader} = ctx
  emit({event: 'file-start', path: p.sib.rfilename, size: p.sib.size, key: p.key, multipart: false, resumeParts: 0})
  const held = await memory.acquire(p.sib.size, p.priority ?? 0, signal)
  const reader = newReader(p)
  try {
    const n = p.sib.size
    const hash = createHash('sha256')
    const blobHash = p.sib.lfs ? undefined : createHash('sha1').update(`blob ${n}\0`)
    await connections.acquire(1, p.priority ?? 0, signal)
    let chunks: Buffer[]
    try {
      chunks = await reader.take(n, (c) => {
        hash.update(c)
        blobHash?.update(c)
      })
    } finally {
      reader.close()
      connections.release()
    }
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
    ctx.counters.doneBytes += n
    emit({event: 'file-done', path: p.sib.rfilename, size: n, sha256, status: 'uploaded', resumedBytes: 0})
    return {path: p.sib.rfilename, key: p.key, size: n, sha256, lfs: Boolean(p.sib.lfs), status: 'uploaded', resumedBytes: 0}
  } finally {
    reader.close()
    memory.release(held)
  }
}

/**
 * LFS files up to singlePutMax: the Hub stream piped into one PutObject (its sha256, the LFS oid,
 * goes into the metadata up front). The file is read ahead as rangeSize ranges over several Hub
 * connections at once (RangedReader) and handed on in order. The body is hashed as it flows and its final chunk is held
 * back until the sha256 matches: on a mismatch (or a Hub stream that keeps failing) the request is
 * destroyed before S3 has Content-Length bytes, so S3 stores nothing. A key some store kept
 * anyway (s3rver may write a cut-off body) is deleted when its size is wrong. Retries start the
 * file over (SDK attempts get a fresh Hub stream each): these files are small enough for that.
 */
export async function streamPut(ctx: RunContext, p: Planned): Promise<PreloadFileResult> {
  const {opts, S3, s3, send, s3err, withRetry, emit, signal, sse, storage, metadataFor, verify, AbortError} = ctx
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
  const readers: RangedReader[] = []
  const makeBody = (): Readable => {
    // read ahead as part-size ranges over several connections, handed on in order
    const reader = new RangedReader(ctx, p, ctx.rangeSize)
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
  ctx.counters.doneBytes += n
  emit({event: 'file-done', path: p.sib.rfilename, size: n, sha256: expected, status: 'uploaded', resumedBytes: 0})
  return {path: p.sib.rfilename, key: p.key, size: n, sha256: expected, lfs: true, status: 'uploaded', resumedBytes: 0}
}
