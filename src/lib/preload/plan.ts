/**
 * Planning a preload: the Hub's commit and file list (with sizes), the bucket checked, the part
 * size, and which objects already stand complete (size and x-amz-meta-sha256 match), so a rerun
 * skips them. Emits the `plan` and `file-skip` events and removes a marker that would no longer be true.
 */
import {isNoSuchKey, isNotImplemented} from '../aws/s3.js'
import {AipError, UsageError} from '../errors.js'
import type {HubSibling} from '../hub/index.js'
import type {S3Io} from './context.js'
import {type WeightsLocation, weightsLocation, withCommit} from './layout.js'
import {selectFiles} from './select.js'
import {DEFAULT_CONCURRENCY, DEFAULT_CONNECTIONS, DEFAULT_PART_SIZE, DEFAULT_RANGE_SIZE, MAX_PARTS, MiB, MIN_PART_SIZE, type Planned, SINGLE_PUT_MAX} from './types.js'

export interface Plan {
  revision: string
  commit: string
  sel: ReturnType<typeof selectFiles>
  loc: WeightsLocation
  refLoc: WeightsLocation
  partSize: number
  rangeSize: number
  /** The memory budget in bytes. */
  memoryBytes: number
  connections: number
  singlePutMax: number
  planned: Planned[]
  skip: Planned[]
  totalBytes: number
  skipBytes: number
}

export async function planPreload(io: S3Io): Promise<Plan> {
  const {opts, S3, hub, signal, emit, send, s3err} = io
  const revision = opts.revision ?? 'main'
  const {default: pLimit} = await import('p-limit')

  // 2 (asked at once with 1: one round trip less before the first byte). The bucket: exists and is
  // ours to use. Its answer is looked at after the Hub's, so a wrong repo is still reported first.
  const bucketChecked = send(new S3.HeadBucketCommand({Bucket: opts.bucket}), {action: 'access'}).then(
    () => undefined,
    (err: unknown) => ({err}),
  )

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

  const bucketFailed = await bucketChecked
  if (bucketFailed) {
    if (signal?.aborted) throw signal.reason
    throw s3err(bucketFailed.err, {action: 'access'})
  }

  const maxSize = Math.max(...sel.files.map((f) => f.size!))
  let partSize = Math.max(MIN_PART_SIZE, opts.partSize ?? DEFAULT_PART_SIZE)
  if (Math.ceil(maxSize / partSize) > MAX_PARTS) partSize = Math.ceil(maxSize / MAX_PARTS / MiB) * MiB
  const connections = Math.max(1, opts.connections ?? DEFAULT_CONNECTIONS)
  // Ranges at most a part; at least 64 KiB (one socket read) so a request is worth its round trip.
  const rangeSize = Math.min(partSize, Math.max(64 * 1024, opts.rangeSize ?? DEFAULT_RANGE_SIZE))
  // The memory cap: ranges beyond it wait, whatever --connections says (connections beyond
  // memoryBytes / rangeSize would stay idle).
  const memoryBytes = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY) * partSize
  // LFS files up to this size go up as one streaming PutObject (no completion rewrite, one request).
  const singlePutMax = opts.singlePutMax ?? (partSize >= DEFAULT_PART_SIZE ? SINGLE_PUT_MAX : partSize)

  // 3. Plan: which objects are already complete.
  const planned: Planned[] = sel.files.map((sib) => ({sib: sib as HubSibling & {size: number}, key: `${loc.keyPrefix}${sib.rfilename}`}))
  // Unfinished multipart uploads under the prefix, listed once (at the same time as the HEADs):
  // multipart files resume the newest; files that now go up as one object (another --part-size) abort them.
  const listed = listUnfinished(io, loc.keyPrefix!)
  listed.catch(() => undefined) // awaited below; a HEAD failing first must not leave it unhandled
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
  const unfinished = await listed
  if (unfinished) for (const p of planned) p.uploads = unfinished.get(p.key) ?? []
  const totalBytes = planned.reduce((a, p) => a + p.sib.size, 0)
  const skip = planned.filter((p) => p.status === 'skip')
  const skipBytes = skip.reduce((a, p) => a + p.sib.size, 0)
  emit({event: 'plan', repo: opts.repo, revision, commit, uri: loc.uri!, files: planned.length, bytes: totalBytes, skipFiles: skip.length, skipBytes, partSize})
  for (const p of skip) emit({event: 'file-skip', path: p.sib.rfilename, size: p.sib.size, reason: 'complete'})

  // A marker must never stand for a set that is being rewritten.
  if (skip.length < planned.length || opts.force) await io.deleteIfPresent(loc.markerKey!)
  return {revision, commit, sel, loc, refLoc, partSize, rangeSize, memoryBytes, connections, singlePutMax, planned, skip, totalBytes, skipBytes}
}

/** Unfinished multipart uploads under `prefix` by key, newest first; undefined when the store cannot list them. */
async function listUnfinished(io: S3Io, prefix: string): Promise<Map<string, Array<{uploadId: string; initiated?: Date}>> | undefined> {
  const {opts, S3, send, s3err, signal} = io
  const byKey = new Map<string, Array<{uploadId: string; initiated?: Date}>>()
  try {
    let keyMarker: string | undefined
    let idMarker: string | undefined
    for (;;) {
      const page = await send<{Uploads?: Array<{Key?: string; UploadId?: string; Initiated?: Date}>; IsTruncated?: boolean; NextKeyMarker?: string; NextUploadIdMarker?: string}>(
        new S3.ListMultipartUploadsCommand({Bucket: opts.bucket, Prefix: prefix, KeyMarker: keyMarker, UploadIdMarker: idMarker}),
        {key: prefix, action: 'list uploads of'},
      )
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId) continue
        const list = byKey.get(u.Key) ?? []
        list.push({uploadId: u.UploadId, ...(u.Initiated ? {initiated: u.Initiated} : {})})
        byKey.set(u.Key, list)
      }
      if (!page.IsTruncated) break
      keyMarker = page.NextKeyMarker
      idMarker = page.NextUploadIdMarker
    }
  } catch (err) {
    if (signal?.aborted) throw signal.reason
    if (isNotImplemented(err)) return undefined // the store cannot list them: every upload starts afresh
    throw s3err(err, {key: prefix, action: 'list uploads of'})
  }
  for (const list of byKey.values()) list.sort((a, b) => (b.initiated?.getTime() ?? 0) - (a.initiated?.getTime() ?? 0))
  return byKey
}
