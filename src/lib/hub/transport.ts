/**
 * The Hub client's transport: auth headers (the token only on the Hub's own origin), retries for
 * 429 (Retry-After), 5xx and connection resets, manual redirects, fetch for metadata and
 * node:http(s) with keep-alive agents for bulk bytes. Non-2xx answers become typed errors (errors.ts).
 */
import {AipError, networkErrorCode, UnreachableError} from '../errors.js'
import {fetchWithTimeouts, httpTimeouts, timeoutError} from '../http/timeouts.js'
import {sleep} from '../sleep.js'
import {hubErrorFor} from './errors.js'
import type {Ctx, ErrorSource, HubClientOptions} from './types.js'

/** Our own idle timeout fired (lib/http/timeouts.ts): the peer already had the whole bound, so no retry. */
function timedOut(err: unknown): boolean {
  return networkErrorCode(err) === 'ETIMEDOUT' && /timed out after/.test(String((err as Error)?.message))
}

function unreachable(origin: string, err: unknown): UnreachableError {
  const code = networkErrorCode(err)
  return new UnreachableError(timedOut(err) ? `${(err as Error).message} (no answer)` : `cannot reach the Hugging Face Hub at ${origin}${code ? ` (${code})` : ''}`, {
    fix: timedOut(err) ? 'the Hub or mirror accepts connections but does not answer: check HF_ENDPOINT and the network, or raise http-timeout (AIP_HTTP_TIMEOUT)' : 'offline? check the network, or set HF_ENDPOINT to a reachable Hub or mirror',
    cause: err,
  })
}

export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/')
}

function retryAfterMs(h: string | null): number | undefined {
  if (!h) return undefined
  const n = Number(h)
  if (Number.isFinite(n)) return Math.max(0, n * 1000)
  const d = Date.parse(h)
  return Number.isFinite(d) ? Math.max(0, d - Date.now()) : undefined
}

/** A 2xx answer over node:http(s), with a header getter. */
export interface NodeAnswer {
  res: import('node:http').IncomingMessage
  status: number
  /** The URL that answered (after redirects). */
  url: string
  get(name: string): string | null
}

export class HubTransport {
  readonly endpoint: string
  protected readonly token?: string
  protected readonly fetchImpl: typeof globalThis.fetch
  protected readonly userAgent: string
  protected readonly retries: number
  protected readonly maxRetryWaitMs: number
  protected readonly onRetry?: HubClientOptions['onRetry']
  protected readonly customFetch: boolean
  protected agents?: {http: import('node:http').Agent; https: import('node:https').Agent}

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

  /**
   * GET over node:http(s) with the client's keep-alive agents, following redirects (the token stays
   * on the Hub's origin) and retrying 429/5xx/resets; resolves at the head of a 2xx answer.
   */
  protected async nodeRequest(url: string, headers: Record<string, string>, ctx: Ctx, signal?: AbortSignal): Promise<NodeAnswer> {
    let attempt = 0
    let current = url
    let hops = 0
    for (;;) {
      attempt++
      let res: import('node:http').IncomingMessage
      try {
        res = await this.nodeGet(current, {...this.authHeaders(current), ...headers}, signal)
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err
        const code = networkErrorCode(err)
        const transient = code === 'ECONNRESET' || code === 'EPIPE' || (code === 'ETIMEDOUT' && !timedOut(err))
        if (transient && attempt < this.retries) {
          const waitMs = Math.min(this.maxRetryWaitMs, 200 * 2 ** (attempt - 1))
          this.onRetry?.({url: current, attempt, waitMs, reason: code ?? 'network error'})
          await sleep(waitMs, signal)
          continue
        }
        throw unreachable(new URL(current).origin, err)
      }
      const status = res.statusCode ?? 0
      const get = (name: string): string | null => {
        const v = res.headers[name]
        return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v
      }
      if (status >= 300 && status < 400 && get('location')) {
        res.resume()
        if (++hops > 5) throw new AipError('FAILED', `too many redirects from ${url}`, {fix: 'check HF_ENDPOINT'})
        current = new URL(get('location')!, current).toString()
        attempt = 0
        continue
      }
      if (status >= 200 && status < 300) return {res, status, get, url: current}
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
      throw await this.errorFor({status, headers: {get}, text}, this.fromStorage(current) ? {...ctx, storage: new URL(current).origin} : ctx)
    }
  }

  /**
   * Whether `url` is the file storage a `resolve` redirected to (a CDN: another origin, or a signed
   * URL), not the Hub itself: its refusals are about the link or the network path, not HF_TOKEN.
   */
  private fromStorage(url: string): boolean {
    const u = new URL(url)
    if (u.origin !== new URL(this.endpoint).origin) return true
    return ['X-Amz-Signature', 'Signature', 'Key-Pair-Id'].some((k) => u.searchParams.has(k))
  }

  /** One GET over node:http(s) with the client's keep-alive agents; resolves at the response head. */
  protected async nodeGet(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<import('node:http').IncomingMessage> {
    if (!this.agents) {
      const [http, https] = await Promise.all([import('node:http'), import('node:https')])
      // the preload's --connections budget (at most 128) decides how many are open; the agent never queues below it
      this.agents = {http: new http.Agent({keepAlive: true, maxSockets: 128}), https: new https.Agent({keepAlive: true, maxSockets: 128})}
    }
    const u = new URL(url)
    const mod = u.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const agent = u.protocol === 'https:' ? this.agents.https : this.agents.http
    return new Promise((resolve, reject) => {
      const req = mod.request(u, {method: 'GET', headers, agent, ...(signal ? {signal} : {})}, resolve)
      // the timeout policy (lib/http/timeouts.ts): node:http waits forever on a silent peer unless
      // told; the socket idle timeout covers connect, the response head and every body chunk
      const {idleMs} = httpTimeouts()
      req.setTimeout(idleMs, () => req.destroy(timeoutError(`the Hugging Face Hub at ${u.origin}`, idleMs)))
      req.on('error', reject)
      req.end()
    })
  }

  protected authHeaders(url: string): Record<string, string> {
    const h: Record<string, string> = {'user-agent': this.userAgent}
    if (this.token && new URL(url).origin === new URL(this.endpoint).origin) h.authorization = `Bearer ${this.token}`
    return h
  }

  /**
   * One request with retries (429 honouring Retry-After, 5xx, connection resets) and, with
   * `follow`, manual redirects (so the token never leaves the Hub's origin). Non-2xx answers become
   * typed errors.
   */
  protected async request(url: string, init: RequestInit & {headers?: Record<string, string>}, ctx: Ctx, follow = false): Promise<Response> {
    let attempt = 0
    let current = url
    let hops = 0
    for (;;) {
      attempt++
      let res: Response
      try {
        // the timeout policy: undici alone waits 300 s for response headers
        res = await fetchWithTimeouts(this.fetchImpl, current, {...init, headers: {...this.authHeaders(current), ...(init.headers ?? {})}, redirect: 'manual'}, `the Hugging Face Hub at ${new URL(current).origin}`)
      } catch (err) {
        if (init.signal?.aborted) throw init.signal.reason ?? err
        const code = networkErrorCode(err)
        const transient = code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || (code === 'ETIMEDOUT' && !timedOut(err))
        if (transient && attempt < this.retries) {
          const waitMs = Math.min(this.maxRetryWaitMs, 200 * 2 ** (attempt - 1))
          this.onRetry?.({url: current, attempt, waitMs, reason: code ?? 'network error'})
          await sleep(waitMs, init.signal ?? undefined)
          continue
        }
        throw unreachable(new URL(current).origin, err)
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

  protected errorFor(res: ErrorSource, ctx: Ctx): Promise<AipError> {
    return hubErrorFor(res, ctx, {endpoint: this.endpoint, token: this.token, retries: this.retries})
  }
}
