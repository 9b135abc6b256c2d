// A loopback LiteLLM proxy (the subset aip uses), following LiteLLM's documented routes and
// answers (docs.litellm.ai/docs/proxy/model_management, /virtual_keys, /team_budgets;
// litellm/proxy/proxy_server.py, management_endpoints/*.py):
//   models:  POST /model/new, POST /model/update, POST /model/delete, GET /model/info and
//            GET /v1/model/info (?litellm_model_id=), each replica answering from ITS OWN in-memory
//            router, as LiteLLM's llm_router does
//   keys:    POST /key/generate, GET /key/info?key=, GET /key/list, POST /key/update, POST /key/delete
//   teams:   POST /team/new, GET /team/list, GET /team/info?team_id=
//   health:  GET /health/readiness, GET /health/liveliness
//   OpenAI:  GET /v1/models, POST /v1/chat/completions, POST /v1/completions, forwarded to the
//            model's litellm_params.api_base (resolved to a loopback URL by `resolveApiBase`)
// Auth: `Authorization: Bearer sk-...` or `x-litellm-api-key: [Bearer ]sk-...`; the master key may
// do everything, a virtual key only the OpenAI routes, for the models its key and team allow.
// Errors have LiteLLM's shape {"error": {"message", "type", "param", "code"}} (ProxyException).
//
// Several replicas share one "database" (keys, teams, models). A replica's router changes at once
// when IT handles /model/new|update|delete; the others pick the change up on their next sync
// (LiteLLM polls the DB on an interval: proxy_server.py add_deployment / _update_llm_router), so
// their model lists diverge until then. `pauseSync()` holds a replica's view still (a replica that
// never refreshes: the field's "deleted models stay callable until restart").
import {createHash, randomBytes} from 'node:crypto'
import {spawn} from 'node:child_process'
import {createServer, request as httpRequest} from 'node:http'
import {fileURLToPath} from 'node:url'

const json = (res, status, body) => {
  res.writeHead(status, {'content-type': 'application/json'})
  res.end(JSON.stringify(body))
}
const proxyError = (res, status, message, type, param = 'None') => json(res, status, {error: {message, type, param, code: String(status)}})
const hashToken = (key) => createHash('sha256').update(key).digest('hex')
const abbreviate = (key) => `sk-...${key.slice(-4)}`

async function readJson(req) {
  let raw = ''
  for await (const c of req) raw += c
  if (!raw) return {}
  return JSON.parse(raw)
}

function parseDuration(s) {
  const m = /^(\d+)([smhd])$/.exec(String(s ?? ''))
  if (!m) return undefined
  return Number(m[1]) * {s: 1, m: 60, h: 3600, d: 86400}[m[2]] * 1000
}

/**
 * An upstream error as LiteLLM's exception mapping for OpenAI-compatible providers (hosted_vllm)
 * turns it into the proxy's answer (litellm_core_utils/exception_mapping_utils.py
 * _map_openai_exception): 503 ServiceUnavailableError, 504 Timeout (status kept), 502
 * BadGatewayError, 500 InternalServerError, others APIError with their status; no status at all
 * (connection refused) is an APIConnectionError (500). The upstream's headers are not forwarded
 * as such (only `llm_provider-` prefixed on success responses: response_headers.py).
 */
function mapUpstreamError(out, model) {
  const tail = `Hosted_vllmException - ${String(out.text ?? '').trim()}. Received Model Group=${model}`
  switch (out.status) {
    case undefined:
      return {status: 500, message: `litellm.APIConnectionError: APIConnectionError: ${tail}`}
    case 503:
      return {status: 503, message: `litellm.ServiceUnavailableError: ServiceUnavailableError: ${tail}`}
    case 504:
      return {status: 504, message: `litellm.Timeout: Timeout Error: ${tail}`}
    case 502:
      return {status: 502, message: `litellm.BadGatewayError: BadGatewayError: ${tail}`}
    case 500:
      return {status: 500, message: `litellm.InternalServerError: InternalServerError: ${tail}`}
    default:
      return {status: out.status, message: `litellm.APIError: APIError: ${tail}`}
  }
}

/** Runs a proxy callback's failure hook (a Python module, as LiteLLM loads it) through litellm-failure-hook.py. */
function runFailureHook(hook, input) {
  return new Promise((resolve, reject) => {
    const p = spawn(hook.python ?? 'python3', [fileURLToPath(new URL('./litellm-failure-hook.py', import.meta.url)), hook.dir, hook.callback], {stdio: ['pipe', 'pipe', 'pipe']})
    let out = ''
    let err = ''
    p.stdout.on('data', (c) => (out += c))
    p.stderr.on('data', (c) => (err += c))
    p.on('error', reject)
    p.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`failure hook exited ${code}: ${err}`))))
    p.stdin.end(JSON.stringify(input))
  })
}

/**
 * @param {import('./litellm-server.d.mts').LiteLLMOptions} opts
 */
export async function startLiteLLM(opts = {}) {
  const masterKey = opts.masterKey ?? `sk-${randomBytes(16).toString('hex')}`
  const syncIntervalMs = opts.syncIntervalMs ?? 200
  const db = {models: new Map(), keys: new Map(), teams: new Map()}
  const replicas = []
  const log = []

  const resolveApiBase = opts.resolveApiBase ?? ((b) => b)
  const numRetries = opts.numRetries ?? 0
  const failureHook = opts.failureHook
  /** requests routed per deployment id (all replicas) */
  const picks = new Map()

  /**
   * LiteLLM's default routing among the deployments of one model_name (simple-shuffle,
   * litellm/router_strategy/simple_shuffle.py): when the FIRST deployment's litellm_params carry a
   * `weight`, a weighted random pick with weight/sum (a deployment without one counts 0; all zero
   * makes Python's random.choices raise, a 500); otherwise a uniform random pick.
   */
  function pickDeployment(deps) {
    if (deps.length === 0) return undefined
    if (deps[0].litellm_params.weight !== undefined && deps[0].litellm_params.weight !== null) {
      const weights = deps.map((d) => Number(d.litellm_params.weight ?? 0))
      const total = weights.reduce((a, b) => a + b, 0)
      if (!(total > 0)) throw new Error('Total of weights must be greater than zero')
      let x = Math.random() * total
      for (let i = 0; i < deps.length; i++) {
        x -= weights[i]
        if (x < 0 && weights[i] > 0) return deps[i]
      }
      return deps[weights.findLastIndex((w) => w > 0)]
    }
    return deps[Math.floor(Math.random() * deps.length)]
  }

  function authOf(req) {
    const h = req.headers['x-litellm-api-key'] ?? req.headers.authorization ?? ''
    return String(h).replace(/^Bearer\s+/i, '').trim()
  }

  function makeReplica(index) {
    const r = {index, router: [], syncPaused: false, timer: undefined, server: undefined, url: '', port: 0, sockets: new Set(), requests: []}
    r.sync = () => {
      if (r.syncPaused) return
      r.router = [...db.models.values()].map((m) => structuredClone(m))
    }
    const handler = async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      const path = url.pathname
      r.requests.push({method: req.method, path})
      log.push({replica: index, method: req.method, path})
      try {
        if (path === '/health/liveliness' || path === '/health/liveness') return json(res, 200, "I'm alive!")
        if (path === '/health/readiness') return json(res, 200, {status: 'healthy', db: 'connected', cache: null, litellm_version: '1.108.5', success_callbacks: []})
        const key = authOf(req)
        if (!key) return proxyError(res, 401, 'Authentication Error, No api key passed in.', 'auth_error')
        const isMaster = key === masterKey
        let vkey
        if (!isMaster) {
          vkey = db.keys.get(hashToken(key)) ?? db.keys.get(key)
          if (!vkey) return proxyError(res, 401, `Authentication Error, Invalid proxy server token passed. Received API Key = ${abbreviate(key)}, Key Hash (Token) =${hashToken(key)}. Unable to find token in cache or \`LiteLLM_VerificationTokenTable\``, 'auth_error')
          if (vkey.expires && Date.parse(vkey.expires) < Date.now()) return proxyError(res, 401, `Authentication Error - Expired Key. Key Expiry time ${vkey.expires} and current time ${new Date().toISOString()}`, 'expired_key')
        }
        const openaiRoute = path === '/v1/models' || path === '/models' || path === '/v1/chat/completions' || path === '/chat/completions' || path === '/v1/completions' || path === '/completions'
        if (!isMaster && !openaiRoute) {
          return proxyError(res, 401, `Authentication Error, Only proxy admin can be used to generate, delete, update info for new keys/users/teams. Route=${path}. Your role=internal_user_viewer. Your user_id=None`, 'auth_error')
        }
        if (openaiRoute) return await openai(req, res, path, vkey)
        return await admin(req, res, url, path)
      } catch (error) {
        if (error instanceof SyntaxError) return proxyError(res, 400, `Invalid JSON body: ${error.message}`, 'bad_request_error')
        return proxyError(res, 500, String(error?.message ?? error), 'internal_server_error')
      }
    }

    function allowed(vkey) {
      if (!vkey) return undefined
      const team = vkey.team_id ? db.teams.get(vkey.team_id) : undefined
      return {key: vkey.models ?? [], team: team?.models ?? []}
    }

    async function openai(req, res, path, vkey) {
      const a = allowed(vkey)
      const names = [...new Set(r.router.map((m) => m.model_name))]
      const ok = (name, list) => list.length === 0 || list.includes(name) || list.includes('all-proxy-models')
      if (path.endsWith('/models')) {
        const visible = names.filter((n) => !a || (ok(n, a.key) && ok(n, a.team)))
        return json(res, 200, {object: 'list', data: visible.map((id) => ({id, object: 'model', created: 1677610602, owned_by: 'openai'}))})
      }
      const body = await readJson(req)
      const model = body.model
      if (a && !ok(model, a.key)) {
        return proxyError(res, 401, `key not allowed to access model. This key can only access models=${JSON.stringify(a.key).replace(/"/g, "'")}. Tried to access ${model}`, 'key_model_access_denied', 'model')
      }
      if (a && !ok(model, a.team)) {
        return proxyError(res, 401, `team not allowed to access model. This team can only access models=${JSON.stringify(a.team).replace(/"/g, "'")}. Tried to access ${model}`, 'team_model_access_denied', 'model')
      }
      const dep = pickDeployment(r.router.filter((m) => m.model_name === model))
      if (dep) picks.set(dep.model_info.id, (picks.get(dep.model_info.id) ?? 0) + 1)
      if (!dep) {
        return proxyError(res, 400, `litellm.BadRequestError: Invalid model name passed in model=${model}. Call \`/v1/models\` to view available models for your key.`, 'None', 'None')
      }
      const upstreamModel = String(dep.litellm_params.model).replace(/^(hosted_vllm|openai)\//, '')
      const base = new URL(resolveApiBase(dep.litellm_params.api_base))
      const suffix = path.replace(/^\/v1/, '')
      const payload = JSON.stringify({...body, model: upstreamModel})
      if (vkey) vkey.spend = (vkey.spend ?? 0) + 0
      // litellm_params.extra_headers go with every call to the provider (the OpenAI client's
      // default_headers); a Host among them replaces the URL's host (httpx sends it as given)
      const extra = Object.fromEntries(Object.entries(dep.litellm_params.extra_headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]))
      const attempt = () =>
        new Promise((resolve) => {
          const up = httpRequest(
            {host: base.hostname, port: base.port, method: 'POST', path: base.pathname.replace(/\/$/, '') + suffix, headers: {...extra, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload)}},
            (ur) => {
              const status = ur.statusCode ?? 502
              if (status < 400) {
                res.writeHead(status, {'content-type': ur.headers['content-type'] ?? 'application/json'})
                ur.pipe(res)
                ur.on('end', () => resolve({done: true}))
                return
              }
              let text = ''
              ur.setEncoding('utf8')
              ur.on('data', (c) => (text += c))
              ur.on('end', () => resolve({status, text, headers: ur.headers}))
            },
          )
          up.on('error', (e) => resolve({status: undefined, text: e.code ?? e.message}))
          up.end(payload)
        })
      // LiteLLM's router retries a failed call num_retries times (router_settings.num_retries):
      // 5xx, timeouts and connection errors; 4xx other than 408/429 go back at once
      let out
      for (let i = 0; i <= numRetries; i++) {
        out = await attempt()
        if (out.done) return
        if (out.status !== undefined && out.status < 500 && out.status !== 408 && out.status !== 429) break
      }
      const mapped = mapUpstreamError(out, model)
      // proxy callbacks' async_post_call_failure_hook may replace the error sent to the client
      // (LiteLLM: ProxyLogging.post_call_failure_hook; a returned HTTPException's status, detail and
      // headers become the response)
      if (failureHook && mapped.status !== undefined) {
        const request_data = {model, metadata: {model_info: dep.model_info, api_base: dep.litellm_params.api_base, deployment: dep.litellm_params.model, model_group: model}}
        const t = await runFailureHook(failureHook, {request_data, status_code: mapped.status, message: mapped.message})
        if (t) {
          res.writeHead(t.status_code, {'content-type': 'application/json', ...(t.headers ?? {})})
          res.end(JSON.stringify({error: {message: typeof t.detail === 'string' ? t.detail : JSON.stringify(t.detail), type: 'None', param: 'None', code: String(t.status_code)}}))
          return
        }
      }
      if (mapped.status === undefined) return proxyError(res, 500, mapped.message, 'None')
      return proxyError(res, mapped.status, mapped.message, 'None')
    }

    async function admin(req, res, url, path) {
      const q = url.searchParams
      const m = req.method
      if (m === 'GET' && (path === '/model/info' || path === '/v1/model/info')) {
        const id = q.get('litellm_model_id')
        const data = r.router.filter((d) => !id || d.model_info.id === id).map((d) => ({model_name: d.model_name, litellm_params: d.litellm_params, model_info: {...d.model_info, db_model: true}}))
        return json(res, 200, {data})
      }
      if (m === 'POST' && path === '/model/new') {
        const b = await readJson(req)
        if (!b.model_name || !b.litellm_params?.model) return proxyError(res, 422, 'model_name and litellm_params.model are required', 'bad_request_error')
        const id = b.model_info?.id ?? randomBytes(16).toString('hex')
        if (db.models.has(id)) return proxyError(res, 400, `Model with id=${id} already exists in db`, 'bad_request_error')
        const dep = {model_name: b.model_name, litellm_params: {...b.litellm_params}, model_info: {...(b.model_info ?? {}), id}}
        db.models.set(id, dep)
        r.router = r.router.filter((d) => d.model_info.id !== id).concat([structuredClone(dep)])
        return json(res, 200, {model_id: id, model_name: dep.model_name, litellm_params: dep.litellm_params, model_info: dep.model_info, created_by: 'default_user_id', updated_by: 'default_user_id'})
      }
      if (m === 'POST' && path === '/model/update') {
        const b = await readJson(req)
        const id = b.model_info?.id
        const cur = id ? db.models.get(id) : undefined
        if (!cur) return proxyError(res, 400, `Model with id=${id} not found in db`, 'bad_request_error')
        const next = {model_name: b.model_name ?? cur.model_name, litellm_params: {...cur.litellm_params, ...(b.litellm_params ?? {})}, model_info: {...cur.model_info, ...(b.model_info ?? {}), id}}
        db.models.set(id, next)
        r.router = r.router.filter((d) => d.model_info.id !== id).concat([structuredClone(next)])
        return json(res, 200, {model_id: id, model_name: next.model_name, litellm_params: next.litellm_params, model_info: next.model_info})
      }
      if (m === 'POST' && path === '/model/delete') {
        const b = await readJson(req)
        if (!b.id || !db.models.has(b.id)) return proxyError(res, 400, `Model with id=${b.id} not found in db`, 'bad_request_error')
        db.models.delete(b.id)
        r.router = r.router.filter((d) => d.model_info.id !== b.id)
        return json(res, 200, {message: `Model: ${b.id} deleted successfully`})
      }
      if (m === 'POST' && path === '/team/new') {
        const b = await readJson(req)
        const id = b.team_id ?? randomBytes(8).toString('hex')
        if (db.teams.has(id)) return proxyError(res, 400, `Team id = ${id} already exists. Please use a different team id.`, 'bad_request_error', 'team_id')
        const team = {team_id: id, team_alias: b.team_alias ?? null, models: b.models ?? [], max_budget: b.max_budget ?? null, rpm_limit: b.rpm_limit ?? null, metadata: b.metadata ?? {}, members_with_roles: [], spend: 0, blocked: false}
        db.teams.set(id, team)
        return json(res, 200, team)
      }
      if (m === 'GET' && path === '/team/list') return json(res, 200, [...db.teams.values()])
      if (m === 'GET' && path === '/team/info') {
        const t = db.teams.get(q.get('team_id') ?? '')
        if (!t) return proxyError(res, 404, `Team not found, passed team id: ${q.get('team_id')}.`, 'not_found_error', 'team_id')
        return json(res, 200, {team_id: t.team_id, team_info: t, keys: [...db.keys.values()].filter((k) => k.team_id === t.team_id).map(publicKey)})
      }
      if (m === 'POST' && path === '/key/generate') {
        const b = await readJson(req)
        if (b.team_id && !db.teams.has(b.team_id)) return proxyError(res, 400, `Team not found in db - team_id=${b.team_id}. Create team via \`/team/new\` call.`, 'bad_request_error', 'team_id')
        if (b.key_alias && [...db.keys.values()].some((k) => k.key_alias === b.key_alias)) return proxyError(res, 400, `Unique key aliases across all keys are required. Key alias=${b.key_alias} already exists.`, 'bad_request_error', 'key_alias')
        const key = `sk-${randomBytes(16).toString('base64url')}`
        const ms = b.duration ? parseDuration(b.duration) : undefined
        if (b.duration && ms === undefined) return proxyError(res, 400, `Invalid duration format: ${b.duration}`, 'bad_request_error', 'duration')
        const token = hashToken(key)
        const rec = {
          token,
          key_name: abbreviate(key),
          key_alias: b.key_alias ?? null,
          team_id: b.team_id ?? null,
          models: b.models ?? [],
          max_budget: b.max_budget ?? null,
          rpm_limit: b.rpm_limit ?? null,
          tpm_limit: b.tpm_limit ?? null,
          expires: ms ? new Date(Date.now() + ms).toISOString() : null,
          metadata: b.metadata ?? {},
          spend: 0,
          created_at: new Date().toISOString(),
          blocked: null,
        }
        db.keys.set(token, rec)
        return json(res, 200, {...rec, key, token_id: token})
      }
      if (m === 'GET' && path === '/key/info') {
        const k = q.get('key') ?? ''
        const rec = db.keys.get(hashToken(k)) ?? db.keys.get(k)
        if (!rec) return proxyError(res, 404, `Key not found in database: ${k.startsWith('sk-') ? abbreviate(k) : k}`, 'not_found_error', 'key')
        return json(res, 200, {key: rec.token, info: publicKey(rec)})
      }
      if (m === 'GET' && path === '/key/list') {
        const team = q.get('team_id')
        const full = q.get('return_full_object') === 'true'
        const size = Number(q.get('size') ?? 10)
        const page = Number(q.get('page') ?? 1)
        const all = [...db.keys.values()].filter((k) => !team || k.team_id === team)
        const slice = all.slice((page - 1) * size, page * size)
        return json(res, 200, {keys: full ? slice.map(publicKey) : slice.map((k) => k.token), total_count: all.length, current_page: page, total_pages: Math.max(1, Math.ceil(all.length / size))})
      }
      if (m === 'POST' && path === '/key/update') {
        const b = await readJson(req)
        const rec = db.keys.get(hashToken(String(b.key ?? ''))) ?? db.keys.get(String(b.key ?? ''))
        if (!rec) return proxyError(res, 404, `Key not found in database`, 'not_found_error', 'key')
        for (const f of ['models', 'max_budget', 'rpm_limit', 'key_alias', 'metadata']) if (b[f] !== undefined) rec[f] = b[f]
        return json(res, 200, publicKey(rec))
      }
      if (m === 'POST' && path === '/key/delete') {
        const b = await readJson(req)
        const targets = [...(b.keys ?? []).map((k) => db.keys.get(hashToken(k)) ?? db.keys.get(k)), ...(b.key_aliases ?? []).map((a) => [...db.keys.values()].find((k) => k.key_alias === a))]
        if (targets.length === 0 || targets.some((t) => !t)) {
          return proxyError(res, 404, `Failed to delete all keys. Keys passed in=${(b.keys ?? b.key_aliases ?? []).length}, Deleted keys =${targets.filter(Boolean).length}`, 'not_found_error', 'keys')
        }
        for (const t of targets) db.keys.delete(t.token)
        return json(res, 200, {deleted_keys: b.keys ?? b.key_aliases})
      }
      return json(res, 404, {detail: 'Not Found'})
    }

    r.handler = handler
    return r
  }

  function publicKey(rec) {
    return {...rec}
  }

  async function listen(r, port = 0) {
    r.server = createServer((req, res) => void r.handler(req, res))
    r.server.on('connection', (s) => {
      r.sockets.add(s)
      s.on('close', () => r.sockets.delete(s))
    })
    await new Promise((resolve) => r.server.listen(port, '127.0.0.1', resolve))
    r.port = r.server.address().port
    r.url = `http://127.0.0.1:${r.port}`
    r.timer = setInterval(() => r.sync(), syncIntervalMs)
    r.timer.unref?.()
  }

  async function unlisten(r) {
    clearInterval(r.timer)
    for (const s of r.sockets) s.destroy()
    await new Promise((resolve) => r.server.close(() => resolve()))
  }

  for (let i = 0; i < (opts.replicas ?? 2); i++) {
    const r = makeReplica(i)
    await listen(r)
    replicas.push(r)
  }

  return {
    masterKey,
    db,
    log,
    replicas: replicas.map((r) => ({
      get url() {
        return r.url
      },
      get port() {
        return r.port
      },
      get requests() {
        return r.requests
      },
      /** model names in this replica's router (what its /model/info answers) */
      modelNames: () => r.router.map((d) => d.model_name),
      modelIds: () => r.router.map((d) => d.model_info.id),
      syncNow: () => r.sync(),
      pauseSync: (on = true) => {
        r.syncPaused = on
      },
      goDown: () => unlisten(r),
      comeBack: () => listen(r, r.port),
    })),
    /** register a model straight in the DB (a model someone added by hand, an orphan) */
    seedModel(dep) {
      const id = dep.model_info?.id ?? randomBytes(16).toString('hex')
      db.models.set(id, {model_name: dep.model_name, litellm_params: {...dep.litellm_params}, model_info: {...(dep.model_info ?? {}), id}})
      return id
    },
    syncAll: () => replicas.forEach((r) => r.sync()),
    /** requests the OpenAI routes sent to each deployment id, over all replicas */
    deploymentCounts: () => Object.fromEntries(picks),
    resetCounts: () => picks.clear(),
    close: async () => {
      for (const r of replicas) await unlisten(r).catch(() => undefined)
    },
  }
}
