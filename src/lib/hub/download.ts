/**
 * Reading files from the Hub: text/JSON, HEAD (size, etag, commit), web streams over fetch and
 * Node streams over node:http(s) for bulk bytes, with `Range` (end inclusive), and exact ranges.
 */
import {Readable} from 'node:stream'
import type {ReadableStream as NodeWebReadableStream} from 'node:stream/web'

import {AipError} from '../errors.js'
import {CdnUrlCache} from './cdn-cache.js'
import {HubTransport, type NodeAnswer} from './transport.js'
import {type HubFile, type HubStream, validateRepoId} from './types.js'

export class HubDownloads extends HubTransport {
  /** Where each file's `resolve` redirected to (signed CDN URLs), reused by every range read until it expires. */
  protected readonly cdnUrls = new CdnUrlCache()
  /** Files whose `resolve` is under way (the others wait for its URL). */
  private readonly resolving = new Map<string, Promise<void>>()

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
    const {res, status, get} = await this.contentRequest(repo, path, revision, headers, opts.signal)
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

  /**
   * GET of a file's content: straight to the CDN URL that `resolve` last redirected to while it is
   * valid (cdn-cache.ts), else through `resolve` (remembering where it redirects; concurrent range
   * reads of one file wait for that one resolve instead of each paying their own). A cached URL
   * that is refused (400/401/403/404/410: expired or revoked signature) is dropped and the file
   * resolved again.
   */
  private async contentRequest(repo: string, path: string, revision: string, headers: Record<string, string>, signal?: AbortSignal): Promise<NodeAnswer> {
    const ctx = {repo, revision, path}
    const key = CdnUrlCache.key(repo, revision, path)
    for (let attempt = 0; attempt < 2; attempt++) {
      let url = this.cdnUrls.get(key)
      const pending = this.resolving.get(key)
      if (!url && pending) {
        await pending
        url = this.cdnUrls.get(key)
      }
      if (!url) break
      try {
        return await this.nodeRequest(url, headers, ctx, signal)
      } catch (err) {
        const st = err instanceof AipError ? err.details?.status : undefined
        if (typeof st !== 'number' || ![400, 401, 403, 404, 410].includes(st)) throw err
        this.cdnUrls.delete(key, url)
      }
    }
    const resolve = this.resolveUrl(repo, path, revision)
    let done: (() => void) | undefined
    if (!this.resolving.has(key)) this.resolving.set(key, new Promise<void>((r) => (done = r)))
    try {
      const a = await this.nodeRequest(resolve, headers, ctx, signal)
      if (a.url !== resolve) this.cdnUrls.set(key, a.url)
      return a
    } finally {
      if (done) {
        done()
        this.resolving.delete(key)
      }
    }
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
}
