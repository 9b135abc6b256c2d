/**
 * LiteLLM's admin API (docs.litellm.ai/docs/proxy/model_management, /virtual_keys,
 * /team_budgets), as the routes and bodies are in litellm/proxy/proxy_server.py and
 * management_endpoints/{key,team}_management_endpoints.py:
 *   GET  /model/info[?litellm_model_id=]  -> {data: [{model_name, litellm_params, model_info: {id,..}}]}
 *   POST /model/new     {model_name, litellm_params, model_info: {id}}
 *   POST /model/update  {model_name, litellm_params, model_info: {id}}
 *   POST /model/delete  {id}   (400 "Model with id=... not found in db" when it is gone)
 *   POST /key/generate  {team_id, models, max_budget, rpm_limit, duration, key_alias, metadata} -> {key, token, ...}
 *   GET  /key/list?return_full_object=true&page=&size= -> {keys, total_count, current_page, total_pages}
 *   POST /key/update {key, models}; POST /key/delete {keys: [...]}
 *   POST /team/new {team_id, team_alias}; GET /team/info?team_id=
 * Errors come as {"error": {"message", "type", "param", "code"}} (ProxyException).
 *
 * The key goes in `x-litellm-api-key` through the API server's pod proxy (kube-apiserver consumes
 * the Authorization header: apiserver/pkg/endpoints/filters/authentication.go), else as a Bearer
 * token. LiteLLM reads both (user_api_key_auth.py: custom_litellm_key_header, Bearer stripped).
 */
import {AipError, networkErrorCode, UnauthorizedError, UnreachableError} from '../errors.js'
import {errorMessageOf} from '../http/body.js'
import {httpTimeouts} from '../http/timeouts.js'
import type {FetchLike} from '../metrics/transport.js'

export interface LitellmModel {
  model_name: string
  litellm_params: {model: string; api_base?: string; [k: string]: unknown}
  model_info: {id: string; [k: string]: unknown}
}

export interface LitellmKey {
  token: string
  key_alias?: string | null
  key_name?: string | null
  team_id?: string | null
  models?: string[]
  max_budget?: number | null
  rpm_limit?: number | null
  spend?: number | null
  expires?: string | null
  metadata?: Record<string, unknown> | null
  created_at?: string | null
  blocked?: boolean | null
}

export interface AdminEndpoint {
  /** Base URL (without a trailing slash) the routes are appended to. */
  base: string
  fetch: FetchLike
  /** For messages: the URL, or "pod aip-gateway/litellm-x via https://api". */
  describe: string
  /** Send the key as x-litellm-api-key (the API server's proxies drop Authorization). */
  keyHeader?: 'authorization' | 'x-litellm-api-key'
  /** The fix for an unreachable endpoint. */
  unreachableFix?: string
}

export const MASTER_KEY_FIX = 'set AIP_GATEWAY_MASTER_KEY to the key in Secret aip-gateway/litellm-master-key (or unset it so aip reads the Secret through the API server)'

export class LitellmApiError extends AipError {
  readonly status: number
  readonly type?: string
  constructor(status: number, message: string, type: string | undefined, fix?: string) {
    super('FAILED', message, {fix, details: {status, type}})
    this.name = 'LitellmApiError'
    this.status = status
    this.type = type
  }
}

export class LitellmAdmin {
  constructor(
    readonly ep: AdminEndpoint,
    private readonly masterKey: string,
    /** per request; default the http-timeout policy (lib/http/timeouts.ts, 30 s) */
    private readonly timeoutMs?: number,
  ) {}

  get describe(): string {
    return this.ep.describe
  }

  async request<T>(method: 'GET' | 'POST', path: string, opts: {query?: Record<string, string | number | boolean | undefined>; body?: unknown; signal?: AbortSignal} = {}): Promise<T> {
    const url = new URL(this.ep.base + path)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const headers: Record<string, string> = {accept: 'application/json'}
    if ((this.ep.keyHeader ?? 'authorization') === 'authorization') headers.authorization = `Bearer ${this.masterKey}`
    else headers['x-litellm-api-key'] = `Bearer ${this.masterKey}`
    if (opts.body !== undefined) headers['content-type'] = 'application/json'
    const timeout = AbortSignal.timeout(this.timeoutMs ?? httpTimeouts().idleMs)
    let res: Response
    try {
      res = await this.ep.fetch(url.toString(), {method, headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body), signal: opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout})
    } catch (error) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? error
      if (error instanceof AipError) throw error
      const code = networkErrorCode(error) ?? (timeout.aborted ? 'timed out' : (error as Error).message)
      throw new UnreachableError(`cannot reach the gateway at ${this.ep.describe} (${code})`, {
        fix: this.ep.unreachableFix ?? 'check the URL, or pass --gateway-url http://127.0.0.1:4000 with `kubectl port-forward -n aip-gateway svc/litellm 4000:4000`',
        cause: error,
        details: {url: this.ep.base},
      })
    }
    const text = await res.text()
    let body: unknown
    try {
      body = text ? JSON.parse(text) : undefined
    } catch {
      body = undefined
    }
    if (res.ok) return body as T
    const err = (body as {error?: {message?: string; type?: string}} | undefined)?.error
    const message = errorMessageOf(body ?? text) || `HTTP ${res.status}`
    // A Kubernetes Status: the API server answered for its pod proxy (RBAC, pod gone, no IP), not LiteLLM
    if ((body as {kind?: string} | undefined)?.kind === 'Status') {
      if (res.status === 401 || res.status === 403) {
        throw new UnauthorizedError(`the API server refused to proxy to ${this.ep.describe}: ${message}`, {fix: 'ask a cluster admin for "get" and "create" on pods/proxy in the gateway namespace (kubectl auth can-i create pods/proxy -n aip-gateway)', details: {status: res.status}})
      }
      throw new UnreachableError(`cannot reach ${this.ep.describe} (HTTP ${res.status}: ${message})`, {fix: this.ep.unreachableFix ?? 'check the gateway pods: aip gateway status', details: {url: this.ep.base}})
    }
    if (res.status === 401 || res.status === 403) {
      throw new UnauthorizedError(`the gateway at ${this.ep.describe} rejected the master key (${res.status} ${err?.type ?? ''})`.replace(/ \)$/, ')'), {fix: MASTER_KEY_FIX, details: {status: res.status, type: err?.type}})
    }
    // through the API server's proxy, a replica that is down answers 502/503 from the API server
    if ((res.status === 502 || res.status === 503) && !err) {
      throw new UnreachableError(`cannot reach the gateway at ${this.ep.describe} (HTTP ${res.status}: ${message})`, {fix: this.ep.unreachableFix ?? 'check the gateway pods: aip gateway status', details: {url: this.ep.base}})
    }
    throw new LitellmApiError(res.status, `${method} ${path} on the gateway at ${this.ep.describe} failed (${res.status}): ${message}`, err?.type)
  }

  async models(signal?: AbortSignal): Promise<LitellmModel[]> {
    const r = await this.request<{data?: LitellmModel[]}>('GET', '/model/info', {signal})
    return (r?.data ?? []).filter((m) => m?.model_info?.id)
  }

  async addModel(m: LitellmModel, signal?: AbortSignal): Promise<void> {
    await this.request('POST', '/model/new', {body: m, signal})
  }

  async updateModel(m: LitellmModel, signal?: AbortSignal): Promise<void> {
    await this.request('POST', '/model/update', {body: m, signal})
  }

  /** true when deleted, false when the database did not hold it (already gone). */
  async deleteModel(id: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.request('POST', '/model/delete', {body: {id}, signal})
      return true
    } catch (error) {
      if (error instanceof LitellmApiError && (error.status === 400 || error.status === 404) && /not found/i.test(error.message)) return false
      throw error
    }
  }

  async teamExists(teamId: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.request('GET', '/team/info', {query: {team_id: teamId}, signal})
      return true
    } catch (error) {
      if (error instanceof LitellmApiError && (error.status === 404 || (error.status === 400 && /not found/i.test(error.message)))) return false
      throw error
    }
  }

  /** Creates the team unless it exists; true when it was created. */
  async ensureTeam(teamId: string, signal?: AbortSignal): Promise<boolean> {
    if (await this.teamExists(teamId, signal)) return false
    try {
      await this.request('POST', '/team/new', {body: {team_id: teamId, team_alias: teamId, metadata: {managed_by: 'aip'}}, signal})
      return true
    } catch (error) {
      if (error instanceof LitellmApiError && /already exists/i.test(error.message)) return false
      throw error
    }
  }

  async generateKey(body: Record<string, unknown>, signal?: AbortSignal): Promise<LitellmKey & {key: string}> {
    return this.request('POST', '/key/generate', {body, signal})
  }

  async listKeys(opts: {teamId?: string; signal?: AbortSignal} = {}): Promise<LitellmKey[]> {
    const out: LitellmKey[] = []
    for (let page = 1; page <= 1000; page++) {
      const r = await this.request<{keys?: Array<LitellmKey | string>; total_pages?: number}>('GET', '/key/list', {query: {return_full_object: true, page, size: 100, team_id: opts.teamId}, signal: opts.signal})
      for (const k of r?.keys ?? []) out.push(typeof k === 'string' ? {token: k} : k)
      if (!r?.total_pages || page >= r.total_pages) break
    }
    return out
  }

  async updateKey(token: string, fields: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    await this.request('POST', '/key/update', {body: {key: token, ...fields}, signal})
  }

  async deleteKey(token: string, signal?: AbortSignal): Promise<void> {
    await this.request('POST', '/key/delete', {body: {keys: [token]}, signal})
  }
}
