/** safetensors headers read with two Range requests, the shard index, and every shard's tensors merged. */
import {AipError, NotFoundError} from '../errors.js'
import type {HubDownloads} from './download.js'
import type {HubSibling, SafetensorsHeader, SafetensorsIndex, SafetensorsListing, SafetensorsTensor} from './types.js'

const MAX_HEADER = 100 * 1024 * 1024

/** The safetensors header of one file: 8-byte little-endian length, then only the JSON header. */
export async function readSafetensorsHeader(hub: HubDownloads, repo: string, path: string, revision = 'main', signal?: AbortSignal): Promise<SafetensorsHeader> {
  const lenBuf = await hub.readRange(repo, path, revision, 0, 7, signal)
  if (lenBuf.length < 8) throw new AipError('FAILED', `${repo}/${path} is too short to be a safetensors file`, {fix: 'check the file on the Hub'})
  const n = Number(lenBuf.readBigUInt64LE(0))
  if (n <= 1 || n > MAX_HEADER) throw new AipError('FAILED', `${repo}/${path} has an implausible safetensors header length (${n})`, {fix: 'check the file is a safetensors file'})
  const headerBuf = await hub.readRange(repo, path, revision, 8, 8 + n - 1, signal)
  return parseSafetensorsHeader(headerBuf.subarray(0, n), `${repo}/${path}`)
}

/** model.safetensors.index.json when present, else the single model.safetensors (or the top-level *.safetensors of `siblings`). */
export async function readSafetensorsIndex(hub: HubDownloads, repo: string, revision = 'main', siblings?: HubSibling[], signal?: AbortSignal): Promise<SafetensorsIndex> {
  try {
    const idx = await hub.fetchJson<{weight_map?: Record<string, string>; metadata?: Record<string, unknown>}>(repo, 'model.safetensors.index.json', revision, signal)
    const weightMap = idx.weight_map ?? {}
    const files = [...new Set(Object.values(weightMap))].sort()
    return {files, weightMap, ...(idx.metadata ? {metadata: idx.metadata} : {})}
  } catch (err) {
    if (!(err instanceof NotFoundError) || (err.details?.kind !== 'entry')) throw err
  }
  if (siblings) {
    const files = siblings.map((s) => s.rfilename).filter((p) => !p.includes('/') && p.endsWith('.safetensors')).sort()
    if (files.length > 0) return {files}
  }
  return {files: ['model.safetensors']}
}

/** Headers of every shard (fetched in parallel, `concurrency` at a time), merged. */
export async function listSafetensorsTensors(hub: HubDownloads, repo: string, revision = 'main', opts: {concurrency?: number; siblings?: HubSibling[]; signal?: AbortSignal} = {}): Promise<SafetensorsListing> {
  const index = await readSafetensorsIndex(hub, repo, revision, opts.siblings, opts.signal)
  const limit = Math.max(1, opts.concurrency ?? 4)
  const results: SafetensorsListing['files'] = new Array(index.files.length)
  let next = 0
  const worker = async () => {
    while (next < index.files.length) {
      const i = next++
      const path = index.files[i]!
      const h = await readSafetensorsHeader(hub, repo, path, revision, opts.signal)
      results[i] = {path, tensors: h.tensors, ...(h.metadata ? {metadata: h.metadata} : {})}
    }
  }
  await Promise.all(Array.from({length: Math.min(limit, index.files.length)}, worker))
  const tensors: SafetensorsListing['tensors'] = {}
  for (const f of results) for (const [name, t] of Object.entries(f.tensors)) tensors[name] = {...t, file: f.path}
  return {files: results, tensors, ...(index.metadata ? {metadata: index.metadata} : {})}
}

/** Parses a safetensors JSON header (without the 8-byte length prefix). */
export function parseSafetensorsHeader(buf: Buffer, where = 'safetensors file'): SafetensorsHeader {
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(buf.toString('utf8').replace(/\s+$/, '')) as Record<string, unknown>
  } catch (err) {
    throw new AipError('FAILED', `${where} has a malformed safetensors header`, {cause: err, fix: 'check the file is a safetensors file'})
  }
  const tensors: Record<string, SafetensorsTensor> = {}
  let metadata: Record<string, string> | undefined
  for (const [name, v] of Object.entries(raw)) {
    if (name === '__metadata__') {
      metadata = v as Record<string, string>
      continue
    }
    const t = v as {dtype?: unknown; shape?: unknown; data_offsets?: unknown}
    if (typeof t?.dtype !== 'string' || !Array.isArray(t.shape)) throw new AipError('FAILED', `${where}: tensor ${name} lacks dtype/shape`, {fix: 'check the file is a safetensors file'})
    if (!t.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw new AipError('FAILED', `${where}: tensor ${name} has shape ${JSON.stringify(t.shape)} (dimensions are whole numbers of at least 0)`, {fix: 'check the file is a safetensors file'})
    tensors[name] = {dtype: t.dtype, shape: t.shape.map(Number), ...(Array.isArray(t.data_offsets) ? {data_offsets: [Number(t.data_offsets[0]), Number(t.data_offsets[1])] as [number, number]} : {})}
  }
  return {tensors, headerSize: buf.length, ...(metadata ? {metadata} : {})}
}
