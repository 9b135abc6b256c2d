/**
 * How aip reaches an HTTP service that may live inside the cluster (Prometheus, a model's
 * OpenAI-compatible endpoint): either directly by URL with Node's fetch, or through the Kubernetes
 * API server's service proxy (`/api/v1/namespaces/{ns}/services/{name}:{port}/proxy/...`) with the
 * kubeconfig's cluster URL and credentials.
 *
 * Both give a `base` URL plus a fetch-compatible function, so the Prometheus client and the load
 * tester never know which path they use. @kubernetes/client-node is imported lazily, only on the
 * in-cluster path.
 */
import type {RequestOptions} from 'node:https'

import {AipError, NotFoundError, UnauthorizedError, UsageError} from '../errors.js'
import {errorMessageOf} from '../http/body.js'
import {httpTimeouts, timeoutError} from '../http/timeouts.js'
import {refuseUrlCredentials, withoutCredentials} from '../http/url.js'
import {SERVICE_REF} from '../names.js'

/** The subset of `fetch` the callers use. Node's global fetch satisfies it. */
export type FetchLike = (url: string, init?: RequestInit) => Promise<Response>

export interface Endpoint {
  /** Base URL without a trailing slash; callers append `/api/v1/query`, `/v1/chat/completions`. */
  base: string
  fetch: FetchLike
  /** How the endpoint is reached, for messages: "http://prom:9090" or "service monitoring/prometheus-operated:9090 via https://api:6443". */
  describe: string
  /** The API server URL, for the service-proxy path. */
  server?: string
}

export interface ServiceRef {
  namespace: string
  name: string
  /** Port number or port name, optionally prefixed with the scheme ("https:name:443" is not supported; use name:port). */
  port: string
}

/** "monitoring/prometheus-operated:9090" -> {namespace, name, port}; the namespace defaults to `defaultNamespace`. */
export function parseServiceRef(text: string, defaultNamespace = 'default'): ServiceRef {
  const m = text.trim().match(SERVICE_REF)
  if (!m) {
    throw new UsageError(`invalid service reference "${text}"`, {fix: 'use NAMESPACE/NAME:PORT, e.g. monitoring/prometheus-operated:9090'})
  }
  return {namespace: m[1] ?? defaultNamespace, name: m[3]!, port: m[5] ?? '80'}
}

export function serviceProxyPath(ref: ServiceRef): string {
  return `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/services/${encodeURIComponent(ref.name)}:${encodeURIComponent(ref.port)}/proxy`
}

/** A direct endpoint: the URL as given, Node's fetch (undici, keep-alive by default). */
export function directEndpoint(url: string, what = 'the endpoint URL'): Endpoint {
  let u: URL
  try {
    u = new URL(url)
  } catch {
    throw new UsageError(`invalid URL "${withoutCredentials(url)}"`, {fix: 'pass a URL such as http://127.0.0.1:9090'})
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new UsageError(`unsupported URL scheme "${u.protocol}" in "${withoutCredentials(url)}"`, {fix: 'use an http:// or https:// URL'})
  }
  refuseUrlCredentials(u, what)
  const base = u.toString().replace(/\/+$/, '')
  return {base, fetch: (input, init) => fetch(input, init), describe: base}
}

export interface KubeAccess {
  kubeconfig?: string
  context?: string
  /** The fix to print when there is no kubeconfig (e.g. "pass --prometheus URL"). */
  fix?: string
}

/**
 * An endpoint for a Service reached through the API server's service proxy. The kubeconfig is
 * read lazily (here, not at import), the credentials are applied to each request (exec plugins
 * such as `aws eks get-token` refresh themselves inside client-node), and responses are streamed.
 */
export async function serviceProxyEndpoint(ref: ServiceRef, access: KubeAccess = {}): Promise<Endpoint> {
  const {existsSync} = await import('node:fs')
  const {homedir} = await import('node:os')
  const {join} = await import('node:path')
  const path = access.kubeconfig ?? process.env.KUBECONFIG?.split(':').find(Boolean) ?? join(homedir(), '.kube', 'config')
  const inCluster = Boolean(process.env.KUBERNETES_SERVICE_HOST)
  if (!existsSync(path) && !inCluster) {
    throw new NotFoundError(`no URL given and no kubeconfig (${path}) to reach ${ref.namespace}/${ref.name} through the cluster`, {
      fix: access.fix ?? 'pass the URL explicitly, or --kubeconfig PATH',
    })
  }
  const {KubeConfig} = await import('@kubernetes/client-node')
  const kc = new KubeConfig()
  try {
    if (existsSync(path)) kc.loadFromFile(path)
    else kc.loadFromCluster()
  } catch (error) {
    throw new UsageError(`cannot read the kubeconfig: ${(error as Error).message}`, {fix: 'pass --kubeconfig PATH, or --prometheus URL to skip the cluster', cause: error})
  }
  if (access.context) {
    if (!kc.getContexts().some((c) => c.name === access.context)) {
      throw new NotFoundError(`kubeconfig context "${access.context}" not found`, {fix: `use one of: ${kc.getContexts().map((c) => c.name).join(', ') || '(none)'}`})
    }
    kc.setCurrentContext(access.context)
  }
  const cluster = kc.getCurrentCluster()
  if (!cluster?.server) {
    throw new NotFoundError('no cluster in the kubeconfig', {fix: 'run `aip cluster bootstrap` or pass --prometheus URL'})
  }
  const server = cluster.server.replace(/\/+$/, '')
  const base = server + serviceProxyPath(ref)
  const doFetch = await kubeConfigFetch(kc)
  return {base, fetch: doFetch, describe: `service ${ref.namespace}/${ref.name}:${ref.port} via ${server}`, server}
}

/**
 * A fetch that sends each request with a loaded KubeConfig's credentials (token, exec plugin,
 * client certificate, CA) to the API server: for its service and pod proxies. Responses stream.
 */
export async function kubeConfigFetch(kc: import('@kubernetes/client-node').KubeConfig): Promise<FetchLike> {
  const http = await import('node:http')
  const https = await import('node:https')
  const {Readable} = await import('node:stream')
  const server = kc.getCurrentCluster()?.server?.replace(/\/+$/, '') ?? '(no server)'

  return async (url, init = {}) => {
    const u = new URL(url)
    const headers: Record<string, string> = {}
    new Headers(init.headers).forEach((v, k) => {
      headers[k] = v
    })
    const opts: RequestOptions = {method: init.method ?? 'GET', headers}
    try {
      await kc.applyToHTTPSOptions(opts)
    } catch (error) {
      throw new UnauthorizedError(`cannot apply kubeconfig credentials: ${(error as Error).message}`, {fix: 'check the kubeconfig user (e.g. `aws eks update-kubeconfig`)', cause: error})
    }
    const mod = u.protocol === 'https:' ? https : http
    return new Promise<Response>((resolve, reject) => {
      const req = mod.request(u, opts, (res) => {
        const h = new Headers()
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!)
        const status = res.statusCode ?? 502
        const nullBody = status === 204 || status === 304 || (init.method ?? 'GET') === 'HEAD'
        const body = nullBody ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>)
        if (nullBody) res.resume()
        resolve(new Response(body, {status: status < 200 ? 502 : status, headers: h}))
      })
      req.on('error', reject)
      // the timeout policy (lib/http/timeouts.ts) until the answer starts; the caller bounds the body
      const {idleMs} = httpTimeouts()
      req.setTimeout(idleMs, () => req.destroy(timeoutError(`the Kubernetes API at ${server}`, idleMs)))
      req.once('response', () => req.setTimeout(0))
      const signal = init.signal
      if (signal) {
        if (signal.aborted) req.destroy(signal.reason as Error)
        else {
          // one listener per request on a signal that outlives it (the command's): removed when
          // the exchange is over, or a long bench piles them up
          const onAbort = () => req.destroy(signal.reason as Error)
          signal.addEventListener('abort', onAbort, {once: true})
          req.once('close', () => signal.removeEventListener('abort', onAbort))
        }
      }
      if (init.body !== undefined && init.body !== null) req.write(init.body as string | Uint8Array)
      req.end()
    })
  }
}

/** Maps a non-2xx status from a proxied or direct endpoint to the error table. */
export function httpStatusError(status: number, what: string, body: unknown, fix: string): AipError {
  const detail = errorMessageOf(body)
  if (status === 401 || status === 403) return new UnauthorizedError(`${what}: HTTP ${status} ${detail}`.trim(), {fix})
  if (status === 404) return new NotFoundError(`${what}: HTTP 404 ${detail}`.trim(), {fix})
  if (status === 502 || status === 503) return new AipError('UNREACHABLE', `${what}: HTTP ${status} ${detail}`.trim(), {fix})
  return new AipError('FAILED', `${what}: HTTP ${status} ${detail}`.trim(), {fix})
}
