/**
 * Where a gpu-fit MODEL comes from: a catalog name (embedded config, offline), a config.json path
 * or a directory (with safetensors headers when present), or a Hub repo ORG/NAME (config.json and
 * the safetensors headers read with HTTP Range requests, never the weights).
 */
import {existsSync, statSync} from 'node:fs'
import {open, readdir, readFile} from 'node:fs/promises'
import {basename, join, resolve} from 'node:path'

import {findCompiledEntry} from '../catalog/store.js'
import {NotFoundError, UsageError} from '../errors.js'
import type {TensorHeader} from './index.js'

export interface ModelSource {
  kind: 'catalog' | 'file' | 'hub'
  name: string
  config: unknown
  tensors?: TensorHeader[]
  revision?: string
  /** Defaults a catalog entry carries (GPU, max-model-len...) for reference. */
  catalog?: {gpu: string; gpuCount: number; maxModelLen: number; maxNumSeqs: number; image: string; quantization?: string}
}

export interface HubLike {
  fetchJson<T>(repo: string, path: string, revision?: string): Promise<T>
  resolveRevision?(repo: string, rev?: string): Promise<string>
  listSafetensorsTensors(repo: string, revision: string): Promise<{tensors: Record<string, {dtype: string; shape: number[]}>}>
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text)
  } catch (error) {
    const msg = (error as Error).message.replace(/\s+/g, ' ')
    throw new UsageError(`${where} is not valid JSON: ${msg}`, {fix: `check ${where}; it should be the model's config.json`})
  }
}

/** Reads a safetensors file's header only: 8-byte little-endian length, then that many bytes of JSON. */
export async function readSafetensorsHeaderFile(path: string): Promise<TensorHeader[]> {
  const fh = await open(path, 'r')
  try {
    const len = Buffer.alloc(8)
    await fh.read(len, 0, 8, 0)
    const n = Number(len.readBigUInt64LE(0))
    const size = (await fh.stat()).size
    if (n <= 0 || n > 100 * 1024 * 1024 || n + 8 > size) throw new UsageError(`${path} is not a safetensors file (bad header length)`, {fix: 'remove it from the directory or re-download it'})
    const buf = Buffer.alloc(n)
    await fh.read(buf, 0, n, 8)
    let header: unknown
    try {
      header = JSON.parse(buf.toString('utf8'))
    } catch {
      throw new UsageError(`${path} is not a safetensors file (its header is not JSON)`, {fix: 'remove it from the directory or re-download it'})
    }
    return headerTensors(header, path)
  } finally {
    await fh.close()
  }
}

function headerTensors(h: unknown, where: string): TensorHeader[] {
  if (!h || typeof h !== 'object') throw new UsageError(`${where}: safetensors header is not an object`, {fix: 're-download the file'})
  const out: TensorHeader[] = []
  for (const [name, v] of Object.entries(h as Record<string, unknown>)) {
    if (name === '__metadata__') continue
    const t = v as {dtype?: unknown; shape?: unknown}
    if (typeof t?.dtype !== 'string' || !Array.isArray(t.shape)) throw new UsageError(`${where}: tensor "${name}" has no dtype/shape`, {fix: 're-download the file'})
    // a negative or fractional dimension would count negative parameters and "fit" anything
    if (!t.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) throw new UsageError(`${where}: tensor "${name}" has shape ${JSON.stringify(t.shape)}; dimensions are whole numbers of at least 0`, {fix: 're-download the file'})
    out.push({name, dtype: t.dtype, shape: t.shape as number[]})
  }
  return out
}

async function fromPath(p: string): Promise<ModelSource> {
  const abs = resolve(p)
  if (!existsSync(abs)) throw new NotFoundError(`no such file or directory: ${p}`, {fix: 'pass a config.json, a model directory, a catalog name (aip model list) or a Hub repo ORG/NAME'})
  const dir = statSync(abs).isDirectory() ? abs : undefined
  const configPath = dir ? join(dir, 'config.json') : abs
  if (!existsSync(configPath)) throw new NotFoundError(`${p} has no config.json`, {fix: 'pass the directory that holds the model\'s config.json'})
  const config = parseJson(await readFile(configPath, 'utf8'), basename(configPath) === 'config.json' && dir ? `${p}/config.json` : p)
  let tensors: TensorHeader[] | undefined
  if (dir) {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort()
    let wanted = files
    const indexPath = join(dir, 'model.safetensors.index.json')
    if (existsSync(indexPath)) {
      const index = parseJson(await readFile(indexPath, 'utf8'), indexPath) as {weight_map?: Record<string, string>}
      const shards = [...new Set(Object.values(index.weight_map ?? {}))]
      const missing = shards.filter((s) => !files.includes(s))
      if (missing.length === 0) wanted = shards.sort()
      else wanted = []
    }
    if (wanted.length > 0) {
      tensors = []
      for (const f of wanted) tensors.push(...(await readSafetensorsHeaderFile(join(dir, f))))
    }
  }
  return {kind: 'file', name: p, config, tensors}
}

async function fromHub(repo: string, revision: string | undefined, hub: HubLike, warn: (s: string) => void): Promise<ModelSource> {
  const rev = revision ?? 'main'
  const config = await hub.fetchJson<unknown>(repo, 'config.json', rev)
  let tensors: TensorHeader[] | undefined
  try {
    const listed = await hub.listSafetensorsTensors(repo, rev)
    tensors = Object.entries(listed.tensors).map(([name, t]) => ({name, dtype: t.dtype, shape: t.shape}))
  } catch (error) {
    if (error instanceof NotFoundError) warn(`${repo} has no safetensors weights: parameters estimated from config.json`)
    else throw error
  }
  return {kind: 'hub', name: repo, config, tensors, revision: rev}
}

const REPO_RE = /^[A-Za-z0-9][\w.-]*\/[\w.-]+$/

/** Decides what MODEL names and loads it. */
export async function loadModelSource(model: string, opts: {revision?: string; hub?: () => Promise<HubLike>; warn?: (s: string) => void} = {}): Promise<ModelSource> {
  const warn = opts.warn ?? (() => {})
  const m = model.trim()
  if (m === '') throw new UsageError('MODEL is empty', {fix: 'pass a catalog name (e.g. qwen3-8b), a config.json path or a Hub repo ORG/NAME'})
  if (m.startsWith('hf:')) return fromHub(m.slice(3), opts.revision, await hubOf(opts), warn)
  const looksLikePath = m.startsWith('.') || m.startsWith('/') || m.startsWith('~') || m.endsWith('.json') || existsSync(m)
  if (looksLikePath) return fromPath(m.startsWith('~') ? join(process.env.HOME ?? '', m.slice(1)) : m)
  // the compiled catalog (no YAML parser or schema library to load) when current, else the full parse
  const getCatalogEntry = async (name: string) => findCompiledEntry(name) ?? (await import('../catalog/index.js')).getCatalogEntry(name, 'pass a config.json path, a model directory or a Hub repo ORG/NAME')
  // ORG/NAME/extra, "org/my model": a Hub repo id that cannot be one (exit 2), not a catalog miss
  if (m.includes('/') && !REPO_RE.test(m)) throw new UsageError(`"${m}" is not a Hugging Face repo id, a catalog name or a path`, {fix: 'use ORG/NAME for a Hub repo (e.g. Qwen/Qwen3-8B), ./DIR or FILE.json for a local model'})
  if (REPO_RE.test(m)) {
    // A catalog entry may be named by its Hub repo id; otherwise go to the Hub.
    try {
      const e = await getCatalogEntry(m)
      return catalogSource(e)
    } catch {
      return fromHub(m, opts.revision, await hubOf(opts), warn)
    }
  }
  const e = await getCatalogEntry(m)
  // a catalog entry carries its own config.json, pinned to its revision: --revision cannot change it
  if (opts.revision !== undefined && opts.revision !== e.hf.revision) warn(`--revision ${opts.revision} is ignored for catalog model ${e.name} (pinned to ${e.hf.revision}); pass the Hub repo ORG/NAME to size another revision`)
  return catalogSource(e)
}

function catalogSource(e: {name: string; config: unknown; image: string; hf: {revision: string}; gpu: {type: string; count: number}; vllm: {maxModelLen: number; maxNumSeqs: number; quantization?: string}}): ModelSource {
  return {
    kind: 'catalog',
    name: e.name,
    config: e.config,
    revision: e.hf.revision,
    catalog: {gpu: e.gpu.type, gpuCount: e.gpu.count, maxModelLen: e.vllm.maxModelLen, maxNumSeqs: e.vllm.maxNumSeqs, image: e.image, quantization: e.vllm.quantization},
  }
}

async function hubOf(opts: {hub?: () => Promise<HubLike>}): Promise<HubLike> {
  if (opts.hub) return opts.hub()
  const {HubClient, hubConfigFromEnv} = await import('../hub/index.js')
  return new HubClient(hubConfigFromEnv(process.env)) as unknown as HubLike
}
