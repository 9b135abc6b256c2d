/**
 * The Kubernetes client aip uses: configuration and authentication come from
 * @kubernetes/client-node (kubeconfig files, KUBECONFIG, contexts, exec/token/cert auth, in-cluster
 * service accounts), imported lazily. Requests go over node:http(s) with the agent and headers
 * client-node prepares, so responses stay plain JSON: client-node's typed model classes drop fields
 * they do not know (CRDs, newer API fields) and turn timestamps into Date objects, which would break
 * server-side apply diffs.
 *
 * Every request is retried on 429, 5xx and connection resets with exponential backoff that honours
 * Retry-After (as client-go does for 429/5xx with Retry-After); 4xx is never retried.
 */
import type {KubeConfig} from '@kubernetes/client-node'
import type {Agent, IncomingMessage} from 'node:http'

import {AipError, ConflictError, InterruptedError, networkErrorCode, NotFoundError, UnauthorizedError, UnreachableError, UsageError} from '../errors.js'
import type {ApiResourceInfo, KindRef, KubeObject, KubeStatus, ObjectRef} from './types.js'
import {formatTimeout, httpTimeouts, timeoutError} from '../http/timeouts.js'
import {sleep} from '../sleep.js'

export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  retries?: number
  /** First backoff in ms (default 200); doubles per attempt with jitter. */
  minDelayMs?: number
  /** Cap of one backoff and of a Retry-After (default 10000). */
  maxDelayMs?: number
}

export interface KubeClientOptions {
  /** --kubeconfig; default: $KUBECONFIG (path list), then ~/.kube/config, then in-cluster. */
  kubeconfig?: string
  /** --context; default: the kubeconfig's current-context. */
  context?: string
  /** -n/--namespace; default: the context's namespace, else "default". */
  namespace?: string
  /** Environment to read KUBECONFIG/HOME/KUBERNETES_SERVICE_HOST from (default process.env). */
  env?: NodeJS.ProcessEnv
  retry?: RetryOptions
  /** Idle timeout of one request (default: the HTTP timeout policy, lib/http/timeouts.ts). */
  requestTimeoutMs?: number
  /** Called after every HTTP response or network failure (for counting and --verbose). */
  onRequest?: (info: RequestInfo) => void
  /** The fix given when there is no kubeconfig or context (default: run aip cluster bootstrap). */
  missingFix?: string
  /** Diagnostics for the user as they happen (the API server lost during a wait, and back). */
  onNotice?: (message: string) => void
}

/**
 * The state of the connection as waits see it, shared by every wait on one client: the first wait
 * to lose the API server says so once, the first to get an answer again says it is back.
 */
export interface OutageTracker {
  /** Records a failed attempt; returns how long the API server has been unreachable (ms). */
  lost(error: Error): number
  /** Records an answer from the API server. */
  back(): void
}

export interface RequestInfo {
  method: string
  path: string
  status?: number
  error?: string
  attempt: number
  ms: number
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>
  body?: unknown
  /** Content type of the body (default application/json). */
  contentType?: string
  signal?: AbortSignal
  /** Default true. */
  retry?: boolean
  /** Return the body as text instead of parsing JSON (pod logs). */
  text?: boolean
}

/** Error of a Kubernetes API call that is not mapped to an AipError class of its own. */
export class KubeApiError extends AipError {
  readonly status: number
  readonly reason?: string
  readonly body?: KubeStatus
  constructor(status: number, message: string, body?: KubeStatus, options: {fix?: string; cause?: unknown} = {}) {
    super('FAILED', message, {fix: options.fix, cause: options.cause, details: {status, reason: body?.reason}})
    this.name = 'KubeApiError'
    this.status = status
    this.reason = body?.reason
    this.body = body
  }
}

/** A stream of watch events; `close()` ends it. */
export interface WatchStream {
  /** Resolves when the server closes the stream (null) or it fails (the error). */
  done: Promise<Error | null>
  close(): void
}

export interface KubeClient {
  /** The context in use ("in-cluster" inside a pod). */
  readonly context: string
  /** API server URL. */
  readonly server: string
  /** Namespace for namespaced objects without one. */
  readonly namespace: string
  /** The kubeconfig file that was read, if any. */
  readonly kubeconfigPath?: string
  /** The loaded client-node KubeConfig (for code that needs client-node directly). */
  readonly kubeConfig: KubeConfig
  /** Raw JSON request with retries and error mapping. Throws typed AipErrors. */
  request<T = unknown>(method: string, path: string, opts?: RequestOptions): Promise<T>
  /** Discovery: the resource of a kind, or undefined when the API server does not serve it. */
  resourceFor(apiVersion: string, kind: string): Promise<ApiResourceInfo | undefined>
  /** URL path of a kind's collection (namespace applied for namespaced kinds) or of one object. */
  pathFor(ref: KindRef & {namespace?: string; name?: string}): Promise<string>
  /** Opens a watch on a collection path; events arrive on `onEvent`. */
  watch(path: string, query: Record<string, string | number | boolean | undefined>, onEvent: (type: string, object: KubeObject) => void, signal?: AbortSignal): Promise<WatchStream>
  /** Forgets cached discovery (after registering CRDs). */
  invalidateDiscovery(): void
  /** Number of HTTP requests sent (attempts included). */
  readonly requestCount: number
  /** Outage tracking for waits (absent on test doubles: waits then keep their own). */
  readonly outage?: OutageTracker
}

/** Builds a client from kubeconfig/KUBECONFIG/in-cluster, as kubectl resolves them. */
export async function createKubeClient(opts: KubeClientOptions = {}): Promise<KubeClient> {
  const {loadKubeconfig} = await import('./kubeconfig.js')
  const k = await loadKubeconfig(opts)
  return new HttpKubeClient(k.kubeConfig, k.context, k.server, k.namespace, k.kubeconfigPath, opts)
}

interface RawResponse {
  status: number
  headers: IncomingMessage['headers']
  text: string
}


/** An error that may be retried (429, 5xx, connection reset/refused) carrying the server's Retry-After. */
class RetryableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    readonly final: Error,
    /** At most this many attempts for this kind of failure (connection refused: the server is down). */
    readonly maxAttempts?: number,
  ) {
    super(message)
  }
}

/**
 * API groups every Kubernetes API server serves (the core group and the GA workload groups,
 * https://kubernetes.io/docs/reference/using-api/#api-groups): discovery answering 404 for one of
 * them is not a missing CRD but a server that is not an API server.
 */
const ALWAYS_SERVED = new Set(['v1', 'apps/v1', 'batch/v1'])

/** Conditions where nothing is listening: kubectl fails at once; we try twice more, quickly. */
const DOWN_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH'])

function parseRetryAfter(v: string | string[] | undefined): number | undefined {
  const s = Array.isArray(v) ? v[0] : v
  if (!s) return undefined
  const n = Number(s)
  if (Number.isFinite(n)) return Math.max(0, n * 1000)
  const d = Date.parse(s)
  return Number.isNaN(d) ? undefined : Math.max(0, d - Date.now())
}

function parseStatus(text: string): KubeStatus | undefined {
  try {
    const j = JSON.parse(text) as KubeStatus
    return j && j.kind === 'Status' ? j : undefined
  } catch {
    return undefined
  }
}

function describeTarget(method: string, path: string): {verb: string; resource: string; namespace?: string; name?: string} {
  // /api/v1/namespaces/ns/pods/name or /apis/g/v/namespaces/ns/res/name
  const parts = path.split('?')[0].split('/').filter(Boolean)
  let i = parts[0] === 'api' ? 2 : 3
  const group = parts[0] === 'apis' ? parts[1] : ''
  let namespace: string | undefined
  if (parts[i] === 'namespaces' && parts.length > i + 2) {
    namespace = parts[i + 1]
    i += 2
  }
  const resource = (parts[i] ?? '') + (group ? `.${group}` : '')
  const name = parts[i + 1]
  const verb = method === 'GET' ? (name ? 'get' : 'list') : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? (name ? 'delete' : 'deletecollection') : method.toLowerCase()
  return {verb, resource, namespace, name}
}

class HttpKubeClient implements KubeClient {
  private discovery = new Map<string, Promise<Map<string, ApiResourceInfo> | undefined>>()
  private count = 0
  private readonly retry: Required<RetryOptions>
  private authCache?: {agent?: Agent; headers: Record<string, string>; at: number}
  private downSince?: number
  readonly outage: OutageTracker = {
    lost: (error) => {
      const now = Date.now()
      if (this.downSince === undefined) {
        this.downSince = now
        this.opts.onNotice?.(`lost the API server at ${this.server} (${networkErrorCode(error) ?? error.message}); retrying for up to ${formatTimeout(httpTimeouts().idleMs)}`)
      }
      return now - this.downSince
    },
    back: () => {
      if (this.downSince === undefined) return
      this.opts.onNotice?.(`the API server at ${this.server} answers again (after ${formatTimeout(Date.now() - this.downSince)})`)
      this.downSince = undefined
    },
  }

  constructor(
    readonly kubeConfig: KubeConfig,
    readonly context: string,
    readonly server: string,
    readonly namespace: string,
    readonly kubeconfigPath: string | undefined,
    private readonly opts: KubeClientOptions,
  ) {
    this.retry = {retries: opts.retry?.retries ?? 5, minDelayMs: opts.retry?.minDelayMs ?? 200, maxDelayMs: opts.retry?.maxDelayMs ?? 10_000}
  }

  get requestCount(): number {
    return this.count
  }

  invalidateDiscovery(): void {
    this.discovery.clear()
  }

  /** Agent and headers from client-node (exec plugins and tokens refresh: recomputed every minute). */
  private async auth(): Promise<{agent?: Agent; headers: Record<string, string>}> {
    if (this.authCache && Date.now() - this.authCache.at < 60_000) return this.authCache
    const o: {headers?: Record<string, string>; agent?: Agent; auth?: string} = {headers: {}}
    try {
      await this.kubeConfig.applyToHTTPSOptions(o as never)
    } catch (error) {
      throw new UnauthorizedError(`cannot get credentials for context "${this.context}": ${(error as Error).message.split('\n')[0]}`, {
        fix: 'check the kubeconfig user (for EKS: aws sso login / aws eks update-kubeconfig)',
        cause: error,
      })
    }
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(o.headers ?? {})) headers[k] = String(v)
    if (o.auth) headers.Authorization = 'Basic ' + Buffer.from(o.auth).toString('base64')
    this.authCache = {agent: o.agent, headers, at: Date.now()}
    return this.authCache
  }

  private async send(method: string, path: string, opts: RequestOptions & {stream?: boolean}): Promise<RawResponse | IncomingMessage> {
    const {agent, headers} = await this.auth()
    const url = new URL(this.server + path)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const mod = url.protocol === 'https:' ? await import('node:https') : await import('node:http')
    const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
    const h: Record<string, string> = {...headers, Accept: opts.text ? '*/*' : 'application/json', 'User-Agent': 'aip'}
    if (body !== undefined) {
      h['Content-Type'] = opts.contentType ?? 'application/json'
      h['Content-Length'] = String(Buffer.byteLength(body))
    }
    this.count++
    return new Promise((resolve, reject) => {
      const req = mod.request(url, {method, headers: h, agent: agent as never, signal: opts.signal}, (res) => {
        if (opts.stream && res.statusCode === 200) return resolve(res)
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8')}))
        res.on('error', reject)
      })
      // the timeout policy (lib/http/timeouts.ts): socket inactivity, connect included; a watch only
      // until its response starts (then it is quiet by design between events and bookmarks)
      const idleMs = this.opts.requestTimeoutMs ?? httpTimeouts().idleMs
      req.setTimeout(idleMs, () => req.destroy(timeoutError(`the Kubernetes API at ${this.server}`, idleMs)))
      if (opts.stream) req.once('response', () => req.setTimeout(0))
      req.on('error', reject)
      req.end(body)
    })
  }

  /** Maps a non-2xx response to a typed error (retryable ones to RetryableError). */
  private toError(method: string, path: string, res: RawResponse): Error {
    const status = parseStatus(res.text)
    const msg = status?.message ?? (res.text.slice(0, 200) || `HTTP ${res.status}`)
    const t = describeTarget(method, path)
    const webhook = /failed calling webhook "([^"]+)"/.exec(msg)
    if (webhook) {
      // An admission webhook that cannot be reached fails every matching request the same way:
      // retrying does not help (the API server already tried for timeoutSeconds).
      const svc = /Post "https:\/\/([^./:]+)\.([^./:]+)\.svc/.exec(msg)
      return new KubeApiError(res.status, `the admission webhook "${webhook[1]}" rejected ${t.verb} ${t.resource}${t.name ? ` "${t.name}"` : ''}: ${msg}`, status, {
        fix: svc
          ? `check the webhook's service ${svc[2]}/${svc[1]} (kubectl get pods -n ${svc[2]}), or delete the stale webhook configuration if its controller was removed`
          : 'check the pods behind the webhook, or delete the stale webhook configuration if its controller was removed',
      })
    }
    if (res.status === 429 || res.status >= 500) {
      const final = new KubeApiError(res.status, `the API server answered ${res.status}${status?.reason ? ` ${status.reason}` : ''}: ${msg}`, status, {
        fix: res.status === 429 ? 'the API server is throttling requests; retry later' : 'check the cluster health (aip cluster status) and retry',
      })
      const retryAfter = parseRetryAfter(res.headers['retry-after']) ?? (status?.details?.retryAfterSeconds ? status.details.retryAfterSeconds * 1000 : undefined)
      return new RetryableError(final.message, retryAfter, final)
    }
    if (res.status === 401) {
      return new UnauthorizedError(`the API server rejected the credentials of context "${this.context}" (401 Unauthorized)`, {
        fix: 'refresh the credentials (for EKS: aws sso login, then aws eks update-kubeconfig) or pass --context',
        details: {status: 401},
      })
    }
    if (res.status === 403) {
      const where = t.namespace ? ` in namespace "${t.namespace}"` : ''
      return new UnauthorizedError(`not allowed to ${t.verb} ${t.resource}${t.name ? ` "${t.name}"` : ''}${where}: ${msg}`, {
        fix: `ask a cluster admin to grant "${t.verb}" on "${t.resource}"${where} to your identity (kubectl auth can-i ${t.verb} ${t.resource}${t.namespace ? ` -n ${t.namespace}` : ''})`,
        details: {status: 403, verb: t.verb, resource: t.resource, namespace: t.namespace, reason: status?.reason},
      })
    }
    if (res.status === 404) {
      return new NotFoundError(msg, {fix: 'check the name and namespace (-n)', details: {status: 404, reason: status?.reason, resource: t.resource, name: t.name, namespace: t.namespace}})
    }
    if (res.status === 409) {
      return new ConflictError(msg, {fix: 'retry; another client changed the object', details: {status: 409, reason: status?.reason, causes: status?.details?.causes}})
    }
    return new KubeApiError(res.status, msg, status, {fix: res.status === 422 || res.status === 400 ? 'fix the object named in the message' : 'see the message from the API server'})
  }

  private async attempt<T>(fn: (attempt: number) => Promise<T>, signal: AbortSignal | undefined, enabled: boolean): Promise<T> {
    const {default: pRetry, AbortError} = await import('p-retry')
    return pRetry(
      async (attempt) => {
        try {
          return await fn(attempt)
        } catch (error) {
          if (error instanceof RetryableError) throw error
          if (error instanceof AipError) throw new AbortError(error)
          if ((error as Error).name === 'AbortError' || signal?.aborted) throw new AbortError(new InterruptedError())
          const code = networkErrorCode(error)
          if (code) {
            // our own idle timeout already waited the whole bound: not retried
            const timedOut = code === 'ETIMEDOUT' && /timed out after/.test((error as Error).message)
            throw new RetryableError(
              String(code),
              undefined,
              new UnreachableError(timedOut ? `${(error as Error).message} (no answer)` : `cannot reach the Kubernetes API at ${this.server} (${code})`, {
                fix: 'check the cluster is running and the context is right (aip cluster status, --context)',
                cause: error,
              }),
              timedOut ? 1 : DOWN_CODES.has(String(code)) ? 3 : undefined,
            )
          }
          throw new AbortError(error as Error)
        }
      },
      {
        retries: enabled ? this.retry.retries : 0,
        minTimeout: 0,
        maxTimeout: 0,
        randomize: false,
        signal,
        shouldRetry: (error) => {
          const e = error as unknown as RetryableError & {attemptNumber: number}
          return e.maxAttempts === undefined || e.attemptNumber < e.maxAttempts
        },
        onFailedAttempt: async (error) => {
          const e = error as unknown as RetryableError & {retriesLeft: number; attemptNumber: number}
          if (e.retriesLeft <= 0 || (e.maxAttempts !== undefined && e.attemptNumber >= e.maxAttempts)) return
          const backoff = Math.min(this.retry.maxDelayMs, this.retry.minDelayMs * 2 ** (e.attemptNumber - 1)) * (0.8 + Math.random() * 0.4)
          const wait = e.retryAfterMs !== undefined ? Math.min(this.retry.maxDelayMs, e.retryAfterMs) : backoff
          await sleep(wait, signal)
        },
      },
    ).catch((error: unknown) => {
      if (error instanceof RetryableError) throw error.final
      throw error
    })
  }

  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    return this.attempt(
      async (attempt) => {
        const t0 = Date.now()
        let res: RawResponse
        try {
          res = (await this.send(method, path, opts)) as RawResponse
        } catch (error) {
          this.opts.onRequest?.({method, path, error: networkErrorCode(error) ?? (error as Error).message, attempt, ms: Date.now() - t0})
          throw error
        }
        this.opts.onRequest?.({method, path, status: res.status, attempt, ms: Date.now() - t0})
        if (res.status < 200 || res.status > 299) throw this.toError(method, path, res)
        if (opts.text) return res.text as T
        if (!res.text) return undefined as T
        try {
          return JSON.parse(res.text) as T
        } catch (error) {
          throw new KubeApiError(res.status, `the API server sent a response that is not JSON (${method} ${path})`, undefined, {cause: error})
        }
      },
      opts.signal,
      opts.retry ?? true,
    )
  }

  async resourceFor(apiVersion: string, kind: string): Promise<ApiResourceInfo | undefined> {
    let p = this.discovery.get(apiVersion)
    if (!p) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`
      p = this.request<{resources: Array<{name: string; kind: string; namespaced: boolean; verbs: string[]}>}>('GET', path)
        .then((list) => {
          const m = new Map<string, ApiResourceInfo>()
          for (const r of list.resources ?? []) {
            if (r.name.includes('/')) continue // subresources (pods/log, deployments/status)
            m.set(r.kind, {apiVersion, kind: r.kind, name: r.name, namespaced: r.namespaced, verbs: r.verbs ?? []})
          }
          return m
        })
        .catch((error: unknown) => {
          if (error instanceof NotFoundError && ALWAYS_SERVED.has(apiVersion)) {
            // every kube-apiserver serves these groups; a 404 for them means the kubeconfig's server
            // URL points at something else (a web server, a proxy path, the wrong port), which would
            // otherwise read as "nothing deployed"
            throw new UnreachableError(`the server at ${this.server} answered 404 for ${path}, which every Kubernetes API server serves: it is not a Kubernetes API server`, {
              fix: `check the server URL of context "${this.context}" (kubectl config view --minify); for EKS: aws eks update-kubeconfig`,
              details: {status: 404, path},
            })
          }
          if (error instanceof NotFoundError) return undefined
          this.discovery.delete(apiVersion)
          throw error
        })
      this.discovery.set(apiVersion, p)
    }
    return (await p)?.get(kind)
  }

  async pathFor(ref: KindRef & {namespace?: string; name?: string}): Promise<string> {
    const r = await this.resourceFor(ref.apiVersion, ref.kind)
    if (!r) {
      throw new NotFoundError(`the API server does not serve ${ref.kind} (${ref.apiVersion})`, {
        fix: `install the CRD or controller that provides ${ref.kind} (kubectl api-resources | grep ${ref.kind})`,
        details: {apiVersion: ref.apiVersion, kind: ref.kind},
      })
    }
    const base = ref.apiVersion.includes('/') ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`
    const ns = r.namespaced ? `/namespaces/${encodeURIComponent(ref.namespace ?? this.namespace)}` : ''
    return `${base}${ns}/${r.name}${ref.name ? `/${encodeURIComponent(ref.name)}` : ''}`
  }

  async watch(
    path: string,
    query: Record<string, string | number | boolean | undefined>,
    onEvent: (type: string, object: KubeObject) => void,
    signal?: AbortSignal,
  ): Promise<WatchStream> {
    const ac = new AbortController()
    const onAbort = (): void => ac.abort()
    signal?.addEventListener('abort', onAbort, {once: true})
    const res = await this.attempt(
      async () => {
        const r = await this.send('GET', path, {query: {...query, watch: 'true'}, signal: ac.signal, stream: true})
        if ('text' in r) {
          this.opts.onRequest?.({method: 'GET', path, status: r.status, attempt: 1, ms: 0})
          throw this.toError('GET', path, r)
        }
        this.opts.onRequest?.({method: 'GET', path, status: 200, attempt: 1, ms: 0})
        return r
      },
      signal,
      true,
    )
    let buf = ''
    const done = new Promise<Error | null>((resolve) => {
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        let nl: number
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim()
          buf = buf.slice(nl + 1)
          if (!line) continue
          try {
            const ev = JSON.parse(line) as {type: string; object: KubeObject}
            onEvent(ev.type, ev.object)
          } catch {
            // a torn line: the stream broke; the caller resumes from the last resourceVersion
          }
        }
      })
      res.on('end', () => resolve(null))
      res.on('error', (e) => resolve(e))
      res.on('close', () => resolve(res.complete ? null : new Error('watch connection closed')))
    }).finally(() => signal?.removeEventListener('abort', onAbort))
    return {done, close: () => ac.abort()}
  }
}

/** Reads one object; undefined when it does not exist. */
export async function getObject<T extends KubeObject = KubeObject>(client: KubeClient, ref: ObjectRef): Promise<T | undefined> {
  try {
    return await client.request<T>('GET', await client.pathFor(ref))
  } catch (error) {
    if (error instanceof NotFoundError && (error.details as {status?: number} | undefined)?.status === 404) return undefined
    throw error
  }
}

/** True when the API server serves `kind` in `apiVersion` (discovery). */
export async function hasApiResource(client: KubeClient, apiVersion: string, kind: string): Promise<boolean> {
  return (await client.resourceFor(apiVersion, kind)) !== undefined
}

/**
 * True when a CRD for `kind` in `group` is installed (a CustomResourceDefinition object exists and
 * is Established). Falls back to discovery when CRDs cannot be listed (RBAC).
 */
export async function crdExists(client: KubeClient, group: string, kind: string): Promise<boolean> {
  try {
    const list = await client.request<{items: KubeObject[]}>('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions')
    return list.items.some((c) => {
      const spec = c.spec as {group?: string; names?: {kind?: string}} | undefined
      const conds = ((c.status as {conditions?: Array<{type: string; status: string}>} | undefined)?.conditions ?? [])
      const established = conds.length === 0 || conds.some((x) => x.type === 'Established' && x.status === 'True')
      return spec?.group === group && spec?.names?.kind === kind && established
    })
  } catch (error) {
    if (!(error instanceof UnauthorizedError) && !(error instanceof NotFoundError)) throw error
    const groups = await client.request<{groups: Array<{name: string; versions: Array<{groupVersion: string}>}>}>('GET', '/apis')
    const g = groups.groups.find((x) => x.name === group)
    if (!g) return false
    for (const v of g.versions) if (await hasApiResource(client, v.groupVersion, kind)) return true
    return false
  }
}
