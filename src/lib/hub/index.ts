/**
 * Hugging Face Hub access: model info (siblings with LFS sha256), revision resolution, JSON/text
 * files, byte streams with Range, and safetensors headers read with two Range requests.
 *
 * Light on purpose: `aip gpu-fit` loads this module, so it only uses the global fetch and Node
 * built-ins. Tokens are sent as `Authorization: Bearer`, never printed, and dropped when a redirect
 * leaves the Hub's origin (the CDN gets a signed URL instead).
 */
import {Readable} from 'node:stream'
import type {ReadableStream as NodeWebReadableStream} from 'node:stream/web'

import {AipError, NotFoundError, networkErrorCode, UnauthorizedError, UnreachableError, UsageError} from '../errors.js'
import {sleep} from '../sleep.js'

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co'
export const COMMIT_SHA_RE = /^[0-9a-f]{40}$/
const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/

export interface HubConfig {
  endpoint: string
  token?: string
}

/** Endpoint: HF_ENDPOINT, else the `hf-endpoint` config value, else huggingface.co. Token: HF_TOKEN, else HUGGING_FACE_HUB_TOKEN. */
export function hubConfigFromEnv(env: NodeJS.ProcessEnv = process.env, configValue?: string): HubConfig {
  const endpoint = (env.HF_ENDPOINT || configValue || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '')
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined
  return token ? {endpoint, token} : {endpoint}
}

export interface HubLfs {
  sha256: string
  size: number
  pointerSize?: number
}
export interface HubSibling {
  rfilename: string
  size?: number
  /** Git blob id (sha1 of the git object) when the Hub reports it. */
  blobId?: string
  lfs?: HubLfs
}
export interface HubModelInfo {
  id: string
  sha: string
  siblings: HubSibling[]
  gated?: false | 'auto' | 'manual' | boolean
  private?: boolean
}

export interface HubFile {
  /** The response body (web stream). Use `nodeStream()` for a Node Readable. */
  body: ReadableStream<Uint8Array>
  /** HTTP status of the final response (200, or 206 for a Range). */
  status: number
  /** Bytes this response carries. */
  length?: number
  /** Total size of the file (from Content-Range, or Content-Length on a 200). */
  totalSize?: number
  /** First byte offset served. */
  start: number
  etag?: string
  /** Commit the `resolve` answered for (x-repo-commit). */
  commit?: string
  nodeStream(): Readable
}

/** A file opened for streaming over node:http(s) (see HubClient.streamFile). */
export interface HubStream {
  /** The response body as a Node Readable of Buffers. */
  stream: Readable
  status: number
  length?: number
  totalSize?: number
  start: number
  etag?: string
  commit?: string
}

/** The parts of a response the error mapping reads (a fetch Response, or a node:http answer). */
interface ErrorSource {
  status: number
  headers: {get(name: string): string | null}
  text(): Promise<string>
}

export interface SafetensorsTensor {
  dtype: string
  shape: number[]
  data_offsets?: [number, number]
}
export interface SafetensorsHeader {
  tensors: Record<string, SafetensorsTensor>
  metadata?: Record<string, string>
  /** Length of the JSON header in bytes (data starts at 8 + headerSize). */
  headerSize: number
}
export interface SafetensorsIndex {
  /** Shard file names, sorted, unique. */
  files: string[]
  weightMap?: Record<string, string>
  metadata?: Record<string, unknown>
}
export interface SafetensorsListing {
  files: Array<{path: string; tensors: Record<string, SafetensorsTensor>; metadata?: Record<string, string>}>
  /** Every tensor of every shard, with the shard it lives in. */
  tensors: Record<string, SafetensorsTensor & {file: string}>
  metadata?: Record<string, unknown>
}

export interface HubClientOptions {
  endpoint: string
  token?: string
  fetch?: typeof globalThis.fetch
  userAgent?: string
  /** Attempts for 429/5xx/connection resets (default 5). */
  retries?: number
  /** Upper bound on one wait between retries, ms (default 30000). */
  maxRetryWaitMs?: number
  /** Called before each retry (for progress output). */
  onRetry?: (info: {url: string; status?: number; attempt: number; waitMs: number; reason: string}) => void
}

type Ctx = {repo: string; revision?: string; path?: string}

const MAX_HEADER = 100 * 1024 * 1024
const STREAM_IDLE_MS = 120_000

export function validateRepoId(repo: string): void {
  if (!REPO_RE.test(repo)) throw new UsageError(`"${repo}" is not a Hugging Face repo id`, {fix: 'use ORG/NAME, e.g. Qwen/Qwen2.5-0.5B-Instruct'})
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}


function retryAfterMs(h: string | null): number | undefined {
  if (!h) return undefined
  const n = Number(h)
  if (Number.isFinite(n)) return Math.max(0, n * 1000)
  const d = Date.parse(h)
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : undefined
}

export class HubClient {
  readonly endpoint: string
  private readonly token?: string
  private readonly fetchImpl: typeof globalThis.fetch
  private readonly userAgent: string
  private readonly retries: number
  private readonly maxRetryWaitMs: number
  private readonly onRetry?: HubClientOptions['onRetry']
  private readonly customFetch: boolean
  private agents?: {http: import('node:http').Agent; https: import('node:https').Agent}

  constructor(opts: HubClientOptions) {
    this.customFetch = Boolean(opts.fetch)
    this.endpoint = opts.endpoint.replace(/\/+$/, '')
    this.token = opts.token || undefined
    this.fetchImpl = opts.fetch ?? globalThis.fetch
    this.userAgent = opts.userAgent ?? 'aip'
    this.retries = opts.retries ?? 5
    this.maxRetryWaitMs = opts.maxRetryWaitMs ?? 30_000
    this.onRetry = opts.onRetry
  }

  get hasToken(): boolean {
    return Boolean(this.token)
  }

  /** The `resolve` URL of a file at a revision. */
  resolveUrl(repo: string, path: string, revision = 'main'): string {
    return `${this.endpoint}/${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`
  }

  /** GET /api/models/{repo}[/revision/{rev}]?blobs=true: id, commit sha, siblings with sizes and LFS sha256. */
  async modelInfo(repo: string, revision?: string, signal?: AbortSignal): Promise<HubModelInfo> {
    validateRepoId(repo)
    const url = `${this.endpoint}/api/models/${repo}${revision ? `/revision/${encodeURIComponent(revision)}` : ''}?blobs=true`
    const res = await this.request(url, {method: 'GET', signal}, {repo, revision})
    const raw = (await res.json()) as Record<string, unknown>
    const siblings = Array.isArray(raw.siblings) ? (raw.siblings as Array<Record<string, unknown>>) : []
    const info: HubModelInfo = {
      id: String(raw.id ?? raw.modelId ?? repo),
      sha: String(raw.sha ?? ''),
      siblings: siblings.map((s) => {
        const lfs = s.lfs as Record<string, unknown> | undefined
        const out: HubSibling = {rfilename: String(s.rfilename)}
        if (typeof s.size === 'number') out.size = s.size
        if (typeof s.blobId === 'string') out.blobId = s.blobId
        if (lfs && typeof lfs.sha256 === 'string') {
          out.lfs = {sha256: lfs.sha256, size: Number(lfs.size ?? s.size)}
          if (typeof lfs.pointerSize === 'number') out.lfs.pointerSize = lfs.pointerSize
          if (out.size === undefined) out.size = out.lfs.size
        }
        return out
      }),
    }
    if (raw.gated !== undefined) info.gated = raw.gated as HubModelInfo['gated']
    if (raw.private !== undefined) info.private = Boolean(raw.private)
    if (!COMMIT_SHA_RE.test(info.sha)) {
      throw new AipError('FAILED', `the Hub at ${this.endpoint} answered for ${repo} without a commit sha`, {fix: 'check HF_ENDPOINT points at a Hugging Face Hub'})
    }
    return info
  }

  /** A branch, tag or commit -> the 40-hex commit sha (NotFoundError naming repo and revision). */
  async resolveRevision(repo: string, revision = 'main', signal?: AbortSignal): Promise<string> {
    return (await this.modelInfo(repo, revision, signal)).sha
  }

  async fetchText(repo: string, path: string, revision = 'main', signal?: AbortSignal): Promise<string> {
    const f = await this.openFile(repo, path, revision, {signal})
    return await new Response(f.body).text()
  }

  async fetchJson<T = unknown>(repo: string, path: string, revision = 'main', signal?: AbortSignal): Promise<T> {
    const text = await this.fetchText(repo, path, revision, signal)
    try {
      return JSON.parse(text) as T
    } catch (err) {
      throw new AipError('FAILED', `${repo}/${path}@${revision} is not valid JSON`, {cause: err, fix: 'check the file on the Hub'})
    }
  }

  /** HEAD on `resolve`: size, etag, commit and (LFS) sha256 of a file without downloading it. */
  async headFile(repo: string, path: string, revision = 'main', signal?: AbortSignal): Promise<{size?: number; etag?: string; commit?: string}> {
    validateRepoId(repo)
    const res = await this.request(this.resolveUrl(repo, path, revision), {method: 'HEAD', signal, redirect: 'manual'}, {repo, revision, path}, true)
    const h = res.headers
    const size = Number(h.get('x-linked-size') ?? h.get('content-length') ?? Number.NaN)
    const etag = (h.get('x-linked-etag') ?? h.get('etag') ?? undefined)?.replace(/^W\//, '').replace(/"/g, '')
    return {
      ...(Number.isFinite(size) ? {size} : {}),
      ...(etag ? {etag} : {}),
      ...(h.get('x-repo-commit') ? {commit: h.get('x-repo-commit')!} : {}),
    }
  }

  /**
   * Opens a file for streaming: GET `resolve` (following its redirect to the content URL, dropping
   * the token when the origin changes), with `Range: bytes=start-end` when asked (end inclusive).
   */
  async openFile(repo: string, path: string, revision = 'main', opts: {start?: number; end?: number; signal?: AbortSignal} = {}): Promise<HubFile> {
    validateRepoId(repo)
    const start = opts.start ?? 0
    const headers: Record<string, string> = {}
    if (start > 0 || opts.end !== undefined) headers.range = `bytes=${start}-${opts.end ?? ''}`
    const res = await this.request(this.resolveUrl(repo, path, revision), {method: 'GET', headers, signal: opts.signal, redirect: 'manual'}, {repo, revision, path}, true)
    if (!res.body) throw new AipError('FAILED', `the Hub sent no body for ${repo}/${path}`)
    if (start > 0 && res.status !== 206) {
      await res.body.cancel().catch(() => undefined)
      throw new AipError('FAILED', `the Hub ignored a Range request for ${repo}/${path}`, {fix: 'use a Hub endpoint that supports HTTP Range requests'})
    }
    const len = Number(res.headers.get('content-length') ?? Number.NaN)
    const cr = res.headers.get('content-range')
    const total = cr ? Number(cr.split('/')[1]) : res.status === 200 ? len : Number.NaN
    const body = res.body
    const file: HubFile = {
      body,
      status: res.status,
      start,
      nodeStream: () => Readable.fromWeb(body as NodeWebReadableStream<Uint8Array>),
    }
    if (Number.isFinite(len)) file.length = len
    if (Number.isFinite(total)) file.totalSize = total
    const etag = res.headers.get('etag')
    if (etag) file.etag = etag.replace(/^W\//, '').replace(/"/g, '')
    const commit = res.headers.get('x-repo-commit')
    if (commit) file.commit = commit
    return file
  }

  /**
   * Like openFile, for bulk downloads: node:http(s) with a keep-alive agent instead of fetch, so the
   * body arrives as the socket's Buffers, without undici's web streams (about a fifth of the
   * preload's client CPU in bench/preload). Same redirects (the token stays on the Hub's origin),
   * retries, Range handling and typed errors as openFile. A client built with a custom `fetch` uses
   * it here too.
   */
  async streamFile(repo: string, path: string, revision = 'main', opts: {start?: number; end?: number; signal?: AbortSignal} = {}): Promise<HubStream> {
    if (this.customFetch) {
      const f = await this.openFile(repo, path, revision, opts)
      const {body: _body, nodeStream, ...rest} = f
      return {...rest, stream: nodeStream()}
    }
    validateRepoId(repo)
    const start = opts.start ?? 0
    const headers: Record<string, string> = {}
    if (start > 0 || opts.end !== undefined) headers.range = `bytes=${start}-${opts.end ?? ''}`
    const ctx: Ctx = {repo, revision, path}
    const signal = opts.signal
    let attempt = 0
    let current = this.resolveUrl(repo, path, revision)
    let hops = 0
    for (;;) {
      attempt++
      let res: import('node:http').IncomingMessage
      try {
        res = await this.nodeGet(current, {...this.authHeaders(current), ...headers}, signal)
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err
        const code = networkErrorCode(err)
        const transient = code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT'
        if (transient && attempt < this.retries) {
          const waitMs = Math.min(this.maxRetryWaitMs, 200 * 2 ** (attempt - 1))
          this.onRetry?.({url: current, attempt, waitMs, reason: code ?? 'network error'})
          await sleep(waitMs, signal)
          continue
        }
        throw new UnreachableError(`cannot reach the Hugging Face Hub at ${new URL(current).origin}${code ? ` (${code})` : ''}`, {
          fix: 'offline? check the network, or set HF_ENDPOINT to a reachable Hub or mirror',
          cause: err,
        })
      }
      const status = res.statusCode ?? 0
      const get = (name: string): string | null => {
        const v = res.headers[name]
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v
      }
      if (status >= 300 && status < 400 && get('location')) {
        res.resume()
        if (++hops > 5) throw new AipError('FAILED', `too many redirects from ${this.resolveUrl(repo, path, revision)}`, {fix: 'check HF_ENDPOINT'})
        current = new URL(get('location')!, current).toString()
        attempt = 0
        continue
      }
      if (status >= 200 && status < 300) {
        if (start > 0 && status !== 206) {
          res.destroy()
          throw new AipError('FAILED', `the Hub ignored a Range request for ${repo}/${path}`, {fix: 'use a Hub endpoint that supports HTTP Range requests'})
        }
        const len = Number(get('content-length') ?? Number.NaN)
        const cr = get('content-range')
        const total = cr ? Number(cr.split('/')[1]) : status === 200 ? len : Number.NaN
        const out: HubStream = {stream: res, status, start}
        if (Number.isFinite(len)) out.length = len
        if (Number.isFinite(total)) out.totalSize = total
        const etag = get('etag')
        if (etag) out.etag = etag.replace(/^W\//, '').replace(/"/g, '')
        const commit = get('x-repo-commit')
        if (commit) out.commit = commit
        return out
      }
      if ((status === 429 || status >= 500) && attempt < this.retries) {
        res.resume()
        const waitMs = Math.min(this.maxRetryWaitMs, retryAfterMs(get('retry-after')) ?? 500 * 2 ** (attempt - 1))
        this.onRetry?.({url: current, status, attempt, waitMs, reason: `HTTP ${status}`})
        await sleep(waitMs, signal)
        continue
      }
      const text = async () => {
        const parts: Buffer[] = []
        for await (const c of res) parts.push(c as Buffer)
        return Buffer.concat(parts).toString('utf8')
      }
      throw await this.errorFor({status, headers: {get}, text}, ctx)
    }
  }

  /** One GET over node:http(s) with the client's keep-alive agents; resolves at the response head. */
  private async nodeGet(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<import('node:http').IncomingMessage> {
    if (!this.agents) {
      const [http, https] = await Promise.all([import('node:http'), import('node:https')])
      this.agents = {http: new http.Agent({keepAlive: true, maxSockets: 64}), https: new https.Agent({keepAlive: true, maxSockets: 64})}
    }
    const u = new URL(url)
    const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const agent = u.protocol === 'https:' ? this.agents.https : this.agents.http
    return new Promise((resolve, reject) => {
      const req = mod.request(u, {method: 'GET', headers, agent, ...(signal ? {signal} : {})}, resolve)
      // fetch (undici) gives up on a silent connection after 300 s; node:http waits forever unless told.
      req.setTimeout(STREAM_IDLE_MS, () => req.destroy(Object.assign(new Error(`no data from ${u.origin} for ${STREAM_IDLE_MS / 1000} s`), {code: 'ETIMEDOUT'})))
      req.on('error', reject)
      req.end()
    })
  }

  /** Reads exactly the bytes [start, end] (inclusive) of a file. */
  async readRange(repo: string, path: string, revision: string, start: number, end: number, signal?: AbortSignal): Promise<Buffer> {
    const f = await this.openFile(repo, path, revision, {start, end, signal})
    if (start === 0 && f.status === 200 && f.totalSize !== undefined && f.totalSize > end + 1 + 1024 * 1024) {
      // A server that ignores Range on the first bytes: read what we need and stop.
      const out = Buffer.alloc(end + 1)
      let n = 0
      const reader = f.body.getReader()
      while (n < out.length) {
        const {done, value} = await reader.read()
        if (done) break
        const take = Math.min(value.length, out.length - n)
        out.set(value.subarray(0, take), n)
        n += take
      }
      await reader.cancel().catch(() => undefined)
      return out.subarray(0, n)
    }
    return Buffer.from(await new Response(f.body).arrayBuffer())
  }

  /** The safetensors header of one file: 8-byte little-endian length, then only the JSON header. */
  async readSafetensorsHeader(repo: string, path: string, revision = 'main', signal?: AbortSignal): Promise<SafetensorsHeader> {
    const lenBuf = await this.readRange(repo, path, revision, 0, 7, signal)
    if (lenBuf.length < 8) throw new AipError('FAILED', `${repo}/${path} is too short to be a safetensors file`, {fix: 'check the file on the Hub'})
    const n = Number(lenBuf.readBigUInt64LE(0))
    if (n <= 1 || n > MAX_HEADER) throw new AipError('FAILED', `${repo}/${path} has an implausible safetensors header length (${n})`, {fix: 'check the file is a safetensors file'})
    const headerBuf = await this.readRange(repo, path, revision, 8, 8 + n - 1, signal)
    return parseSafetensorsHeader(headerBuf.subarray(0, n), `${repo}/${path}`)
  }

  /** model.safetensors.index.json when present, else the single model.safetensors (or the top-level *.safetensors of `siblings`). */
  async readSafetensorsIndex(repo: string, revision = 'main', siblings?: HubSibling[], signal?: AbortSignal): Promise<SafetensorsIndex> {
    try {
      const idx = await this.fetchJson<{weight_map?: Record<string, string>; metadata?: Record<string, unknown>}>(repo, 'model.safetensors.index.json', revision, signal)
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
  async listSafetensorsTensors(repo: string, revision = 'main', opts: {concurrency?: number; siblings?: HubSibling[]; signal?: AbortSignal} = {}): Promise<SafetensorsListing> {
    const index = await this.readSafetensorsIndex(repo, revision, opts.siblings, opts.signal)
    const limit = Math.max(1, opts.concurrency ?? 4)
    const results: SafetensorsListing['files'] = new Array(index.files.length)
    let next = 0
    const worker = async () => {
      while (next < index.files.length) {
        const i = next++
        const path = index.files[i]!
        const h = await this.readSafetensorsHeader(repo, path, revision, opts.signal)
        results[i] = {path, tensors: h.tensors, ...(h.metadata ? {metadata: h.metadata} : {})}
      }
    }
    await Promise.all(Array.from({length: Math.min(limit, index.files.length)}, worker))
    const tensors: SafetensorsListing['tensors'] = {}
    for (const f of results) for (const [name, t] of Object.entries(f.tensors)) tensors[name] = {...t, file: f.path}
    return {files: results, tensors, ...(index.metadata ? {metadata: index.metadata} : {})}
  }

  // --- transport -------------------------------------------------------------------------------

  private authHeaders(url: string): Record<string, string> {
    const h: Record<string, string> = {'user-agent': this.userAgent}
    if (this.token && new URL(url).origin === new URL(this.endpoint).origin) h.authorization = `Bearer ${this.token}`
    return h
  }

  /**
   * One request with retries (429 honouring Retry-After, 5xx, connection resets) and, with
   * `follow`, manual redirects (so the token never leaves the Hub's origin). Non-2xx answers become
   * typed errors.
   */
  private async request(url: string, init: RequestInit & {headers?: Record<string, string>}, ctx: Ctx, follow = false): Promise<Response> {
    let attempt = 0
    let current = url
    let hops = 0
    for (;;) {
      attempt++
      let res: Response
      try {
        res = await this.fetchImpl(current, {...init, headers: {...this.authHeaders(current), ...(init.headers ?? {})}, redirect: 'manual'})
      } catch (err) {
        if (init.signal?.aborted) throw init.signal.reason ?? err
        const code = networkErrorCode(err)
        const transient = code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'ETIMEDOUT'
        if (transient && attempt < this.retries) {
          const waitMs = Math.min(this.maxRetryWaitMs, 200 * 2 ** (attempt - 1))
          this.onRetry?.({url: current, attempt, waitMs, reason: code ?? 'network error'})
          await sleep(waitMs, init.signal ?? undefined)
          continue
        }
        const origin = new URL(current).origin
        throw new UnreachableError(`cannot reach the Hugging Face Hub at ${origin}${code ? ` (${code})` : ''}`, {
          fix: 'offline? check the network, or set HF_ENDPOINT to a reachable Hub or mirror',
          cause: err,
        })
      }
      if (res.status >= 300 && res.status < 400 && res.headers.get('location')) {
        await res.body?.cancel().catch(() => undefined)
        if (!follow || ++hops > 5) throw new AipError('FAILED', `too many redirects from ${url}`, {fix: 'check HF_ENDPOINT'})
        current = new URL(res.headers.get('location')!, current).toString()
        attempt = 0
        continue
      }
      if (res.ok) return res
      if ((res.status === 429 || res.status >= 500) && attempt < this.retries) {
        await res.body?.cancel().catch(() => undefined)
        const waitMs = Math.min(this.maxRetryWaitMs, retryAfterMs(res.headers.get('retry-after')) ?? 500 * 2 ** (attempt - 1))
        this.onRetry?.({url: current, status: res.status, attempt, waitMs, reason: `HTTP ${res.status}`})
        await sleep(waitMs, init.signal ?? undefined)
        continue
      }
      throw await this.errorFor(res, ctx)
    }
  }

  private async errorFor(res: ErrorSource, ctx: Ctx): Promise<AipError> {
    let message = ''
    try {
      const text = await res.text()
      try {
        message = String((JSON.parse(text) as {error?: unknown}).error ?? '')
      } catch {
        message = text.slice(0, 200)
      }
    } catch {
      // ignore
    }
    const code = res.headers.get('x-error-code') ?? ''
    const rev = ctx.revision ?? 'main'
    const where = `${ctx.repo}${ctx.path ? `/${ctx.path}` : ''}@${rev}`
    const repoUrl = `${this.endpoint}/${ctx.repo}`
    const details = {status: res.status, hubErrorCode: code || undefined, repo: ctx.repo, revision: rev, ...(ctx.path ? {path: ctx.path} : {})}
    if (code === 'RevisionNotFound') {
      return new NotFoundError(`revision "${rev}" not found in ${ctx.repo}`, {fix: `check the branch, tag or commit sha at ${repoUrl}/tree/main`, details: {...details, kind: 'revision'}})
    }
    if (code === 'EntryNotFound') {
      return new NotFoundError(`${ctx.path ?? 'file'} not found in ${ctx.repo} at revision ${rev}`, {fix: `list the files at ${repoUrl}/tree/${rev}`, details: {...details, kind: 'entry'}})
    }
    if (code === 'RepoNotFound' || (res.status === 404 && !ctx.path)) {
      return new NotFoundError(`repository ${ctx.repo} not found on ${this.endpoint}`, {
        fix: this.token ? `check the repo id (ORG/NAME)` : `check the repo id (ORG/NAME); if it is private, set HF_TOKEN to a token with access to ${ctx.repo}`,
        details: {...details, kind: 'repo'},
      })
    }
    if (res.status === 404) {
      return new NotFoundError(`${where} not found`, {fix: `check the path and revision at ${repoUrl}`, details: {...details, kind: ctx.path ? 'entry' : 'repo'}})
    }
    if (res.status === 401) {
      return new UnauthorizedError(
        this.token ? `the Hub rejected HF_TOKEN for ${ctx.repo} (401${code ? ` ${code}` : ''})` : `${ctx.repo} is gated or private: the Hub answered 401${code ? ` ${code}` : ''}`,
        {fix: `set HF_TOKEN to a token with access to ${ctx.repo}${code === 'GatedRepo' ? ` (request access at ${repoUrl})` : ''}`, details},
      )
    }
    if (res.status === 403) {
      return new UnauthorizedError(`HF_TOKEN has no access to ${ctx.repo} (403${code ? ` ${code}` : ''})`, {
        fix: `request access at ${repoUrl}, then set HF_TOKEN to a token with access to ${ctx.repo}`,
        details,
      })
    }
    if (res.status === 429) {
      return new AipError('FAILED', `the Hub kept rate-limiting requests for ${where} (429 after ${this.retries} attempts)`, {fix: 'wait a few minutes and retry; set HF_TOKEN for higher rate limits', details})
    }
    if (res.status === 416) {
      return new AipError('FAILED', `the Hub refused the byte range for ${where} (416)`, {fix: 'the file changed or is shorter than listed; retry', details})
    }
    return new AipError('FAILED', `the Hub answered ${res.status} for ${where}${message ? `: ${message}` : ''}`, {fix: 'retry later; check HF_ENDPOINT', details})
  }
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
    tensors[name] = {dtype: t.dtype, shape: t.shape.map(Number), ...(Array.isArray(t.data_offsets) ? {data_offsets: [Number(t.data_offsets[0]), Number(t.data_offsets[1])] as [number, number]} : {})}
  }
  return {tensors, headerSize: buf.length, ...(metadata ? {metadata} : {})}
}
