/**
 * Which models the gateway serves, kept equal to what is deployed. The cluster is the truth: every
 * aip model server (Deployment labelled managed-by=aip, component=server) is one LiteLLM
 * deployment with a model id derived from its namespace and name, `api_base` = its in-cluster
 * Service, and its served model name as the public name.
 *
 * LiteLLM keeps models in its database and each replica in an in-memory router it reloads from the
 * database on an interval; a change made through one replica reaches the others later, and a
 * replica that misses it keeps serving a deleted model (the field's top complaint). So every change
 * here is verified by asking each replica on its own (connect.ts) until all agree or time runs out.
 */
import {AipError, ConflictError, TimeoutError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {COMPONENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, MODEL_LABEL} from '../kube/labels.js'
import {HOLD_ANNOTATION, RETRY_AFTER_ANNOTATION, WAKE_HOST_ANNOTATION, WAKE_VIA_ANNOTATION} from '../render/wake.js'
import {sleep} from '../sleep.js'
import type {LitellmAdmin, LitellmModel} from './admin.js'
import type {GatewayConnection, Replica} from './connect.js'

const VLLM_PORT = 8000
export const ID_PREFIX = 'aip:'

/**
 * The deterministic LiteLLM model id of a deployed model: `aip:<namespace>:<name>`; a second
 * serving track of the same model (`aip model rollout`'s canary) is `aip:<namespace>:<name>@<track>`.
 */
export function modelId(namespace: string, name: string, track?: string): string {
  return `${ID_PREFIX}${namespace}:${name}${track ? `@${track}` : ''}`
}

/** Label on a track's server Deployment (render/common.ts TRACK_LABEL; no render import here). */
const TRACK_LABEL = 'aip.dev/track'
/**
 * The share of the model's traffic a track's Deployment gets from the gateway (0-100), written by
 * `aip model rollout` on the canary Deployment. LiteLLM's simple-shuffle router picks among the
 * deployments of one model_name by `litellm_params.weight` (litellm/router_strategy/simple_shuffle.py:
 * random.choices over weight/sum), but only when the FIRST deployment carries a weight; so while a
 * canary is registered both registrations carry one.
 */
export const GATEWAY_WEIGHT_ANNOTATION = 'aip.dev/gateway-weight'

export function isAipModel(m: Pick<LitellmModel, 'model_info'>): boolean {
  return m.model_info.id.startsWith(ID_PREFIX)
}

/** `aip:ns:name[@track]` -> {namespace, name, track}. */
export function parseModelId(id: string): {namespace: string; name: string; track?: string} | undefined {
  const m = /^aip:([^:]+):([^@]+)(?:@(.+))?$/.exec(id)
  return m ? {namespace: m[1]!, name: m[2]!, ...(m[3] ? {track: m[3]} : {})} : undefined
}

/** Two ids of the same model (its stable and its canary track). */
export function sameModel(a: string, b: string): boolean {
  const x = parseModelId(a)
  const y = parseModelId(b)
  return Boolean(x && y && x.namespace === y.namespace && x.name === y.name)
}

export interface DesiredModel {
  id: string
  namespace: string
  /** aip model name (aip.dev/model) */
  name: string
  /** the public name: vLLM's --served-model-name */
  servedName: string
  apiBase: string
  /**
   * Scale from zero (render/wake.ts): the model is reached through the KEDA HTTP add-on's
   * interceptor, which routes by this Host header; LiteLLM sends it with the deployment's
   * `litellm_params.extra_headers` (passed to the provider's HTTP client on every call).
   */
  wake?: {host: string; retryAfterSeconds?: number; holdSeconds?: number}
  /** The track's share while a rollout runs (litellm_params.weight); absent otherwise. */
  weight?: number
  track?: string
}

/** The LiteLLM deployment aip registers for a model. */
export function toLitellm(d: DesiredModel): LitellmModel {
  return {
    model_name: d.servedName,
    // vLLM's OpenAI-compatible server: LiteLLM's hosted_vllm provider (docs.litellm.ai/docs/providers/vllm)
    litellm_params: {model: `hosted_vllm/${d.servedName}`, api_base: d.apiBase, ...(d.weight === undefined ? {} : {weight: d.weight}), ...(d.wake ? {extra_headers: {Host: d.wake.host}} : {})},
    model_info: {
      id: d.id,
      mode: 'chat',
      aip_namespace: d.namespace,
      aip_model: d.name,
      managed_by: 'aip',
      // read by the gateway's wake hook (gateway/wake-hook.ts): a held request that ran out of time
      // becomes 503 with this Retry-After
      ...(d.wake ? {aip_wake: true, ...(d.wake.retryAfterSeconds !== undefined ? {aip_retry_after_seconds: d.wake.retryAfterSeconds} : {}), ...(d.wake.holdSeconds !== undefined ? {aip_hold_seconds: d.wake.holdSeconds} : {})} : {}),
    },
  }
}

/**
 * What aip compares to decide an update: public name, provider model and api_base, the weight when
 * `b` (the wanted one) sets one, and the scale-from-zero Host header and Retry-After.
 */
export function sameRegistration(a: LitellmModel, b: LitellmModel): boolean {
  const host = (m: LitellmModel) => ((m.litellm_params.extra_headers ?? {}) as Record<string, string>).Host ?? ''
  return (
    a.model_name === b.model_name &&
    a.litellm_params.model === b.litellm_params.model &&
    (a.litellm_params.api_base ?? '').replace(/\/+$/, '') === (b.litellm_params.api_base ?? '').replace(/\/+$/, '') &&
    (b.litellm_params.weight === undefined || Number(a.litellm_params.weight) === Number(b.litellm_params.weight)) &&
    host(a) === host(b) &&
    (a.model_info.aip_retry_after_seconds ?? null) === (b.model_info.aip_retry_after_seconds ?? null)
  )
}

/** The served model name of a model server Deployment (the env aip renders, else the vLLM arg). */
export function servedNameOf(dep: KubeObject): string {
  const c = ((dep.spec as {template?: {spec?: {containers?: Array<{name: string; env?: Array<{name: string; value?: string}>; args?: string[]}>}}} | undefined)?.template?.spec?.containers ?? [])[0]
  const env = c?.env?.find((e) => e.name === 'AIP_SERVED_MODEL')?.value
  if (env) return env
  const args = c?.args ?? []
  const i = args.indexOf('--served-model-name')
  return i >= 0 && args[i + 1] ? args[i + 1]! : (dep.metadata.labels?.[MODEL_LABEL] ?? dep.metadata.name)
}

export function desiredFromDeployment(dep: KubeObject): DesiredModel {
  const namespace = dep.metadata.namespace!
  const name = dep.metadata.labels?.[MODEL_LABEL] ?? dep.metadata.name
  const track = dep.metadata.labels?.[TRACK_LABEL]
  const a = dep.metadata.annotations ?? {}
  const base = {id: modelId(namespace, name, track), namespace, name, servedName: servedNameOf(dep), ...(track ? {track} : {})}
  // scale from zero: through the HTTP add-on's interceptor, routed by Host (render/wake.ts)
  if (a[WAKE_VIA_ANNOTATION] && a[WAKE_HOST_ANNOTATION]) {
    const num = (v: string | undefined) => (v !== undefined && Number.isFinite(Number(v)) ? Number(v) : undefined)
    return {...base, apiBase: `${a[WAKE_VIA_ANNOTATION]!.replace(/\/+$/, '')}/v1`, wake: {host: a[WAKE_HOST_ANNOTATION]!, retryAfterSeconds: num(a[RETRY_AFTER_ANNOTATION]), holdSeconds: num(a[HOLD_ANNOTATION])}}
  }
  // the Service carries the Deployment's name (render/server.ts renderService)
  return {...base, apiBase: `http://${dep.metadata.name}.${namespace}.svc:${VLLM_PORT}/v1`}
}

/** A canary's gateway share from its Deployment (0 when unset, scaled to zero or unparsable). */
export function trackWeight(dep: KubeObject): number {
  const w = Number(dep.metadata.annotations?.[GATEWAY_WEIGHT_ANNOTATION])
  const replicas = (dep.spec as {replicas?: number} | undefined)?.replicas
  return Number.isFinite(w) && w > 0 && w <= 100 && replicas !== 0 ? w : 0
}

/**
 * Every aip model server in the cluster (all namespaces), as the gateway should serve them. A
 * rollout's canary (aip.dev/track) is served while it has a share: it gets that weight and its
 * stable the rest, so a reconcile during a rollout keeps the split instead of resetting it.
 */
export async function desiredModels(client: KubeClient, signal?: AbortSignal): Promise<DesiredModel[]> {
  const {listByLabels} = await import('../kube/index.js')
  const deps = await listByLabels(client, [{apiVersion: 'apps/v1', kind: 'Deployment'}], `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${COMPONENT_LABEL}=server`, {allNamespaces: true, signal})
  const live = deps.filter((d) => !d.metadata.deletionTimestamp)
  const shares = new Map<string, number>()
  for (const d of live) if (d.metadata.labels?.[TRACK_LABEL]) shares.set(modelId(d.metadata.namespace!, d.metadata.labels?.[MODEL_LABEL] ?? d.metadata.name), trackWeight(d))
  const out: DesiredModel[] = []
  for (const d of live) {
    const m = desiredFromDeployment(d)
    if (m.track) {
      const w = trackWeight(d)
      if (w > 0) out.push({...m, weight: w})
    } else {
      const w = shares.get(m.id)
      out.push(w ? {...m, weight: 100 - w} : m)
    }
  }
  return out.sort((a, b) => a.id.localeCompare(b.id))
}

export interface VerifyOptions {
  /** How long replicas may take to agree (default 60 s; LiteLLM reloads from its DB on an interval). */
  timeoutMs?: number
  pollMs?: number
  signal?: AbortSignal
  /**
   * Called between polls while replicas still differ; throwing stops the wait with that error. The
   * rollout passes "has another command taken this rollout over?": a rollout CLI suspended mid-wait
   * (a laptop asleep) while `aip model promote` finished it would otherwise wait out the timeout for
   * a registration that was removed on purpose, and then report it as a gateway fault.
   */
  check?: () => Promise<void>
}

export interface ReplicaCheck {
  pods: string[]
  /** Replicas that did not agree in time. */
  lagging: string[]
}

/**
 * Polls every replica until `ok(models of that replica)` holds on all of them. A replica that
 * cannot be reached counts as lagging until it answers (a restarting pod reloads from the DB).
 */
export async function verifyOnReplicas(conn: Pick<GatewayConnection, 'replicas' | 'admin'>, what: string, ok: (models: LitellmModel[]) => boolean, opts: VerifyOptions = {}): Promise<ReplicaCheck> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000)
  let replicas: Replica[] = []
  let pending = new Set<string>()
  let lastError: unknown
  // no ready pod to ask on its own (all restarting): the admin endpoint is the one view there is
  const list = async (): Promise<Replica[]> => {
    const r = await conn.replicas(opts.signal)
    return r.length > 0 ? r : [{pod: conn.admin.describe, admin: conn.admin}]
  }
  for (let first = true; ; first = false) {
    if (first || pending.size > 0) {
      replicas = await list()
      if (first) pending = new Set(replicas.map((r) => r.pod))
      else pending = new Set(replicas.map((r) => r.pod).filter((p) => pending.has(p)))
    }
    await Promise.all(
      replicas
        .filter((r) => pending.has(r.pod))
        .map(async (r) => {
          try {
            if (ok(await r.admin.models(opts.signal))) pending.delete(r.pod)
          } catch (error) {
            if (error instanceof AipError && error.code === 'UNAUTHORIZED') throw error
            lastError = error
          }
        }),
    )
    if (pending.size === 0) return {pods: replicas.map((r) => r.pod), lagging: []}
    await opts.check?.()
    if (Date.now() >= deadline) break
    await sleep(Math.min(opts.pollMs ?? 500, Math.max(1, deadline - Date.now())), opts.signal)
  }
  const lagging = [...pending]
  throw new TimeoutError(`${what}: not on every gateway replica after ${Math.round((opts.timeoutMs ?? 60_000) / 1000)}s (still differing: ${lagging.join(', ')})${lastError ? `; last error: ${(lastError as Error).message}` : ''}`, {
    fix: 'rerun the command (it converges) or `aip gateway reconcile`; a replica that never catches up: kubectl -n aip-gateway rollout restart deploy/litellm',
    details: {lagging},
  })
}

/** Every model any ready replica serves, by id (a replica's router may differ from the DB). */
export async function observedModels(conn: GatewayConnection, signal?: AbortSignal): Promise<{byId: Map<string, LitellmModel>; perReplica: Array<{pod: string; ids: string[]}>}> {
  const replicas = await conn.replicas(signal)
  const byId = new Map<string, LitellmModel>()
  const perReplica: Array<{pod: string; ids: string[]}> = []
  const lists = replicas.length > 0 ? await Promise.all(replicas.map(async (r) => ({pod: r.pod, models: await r.admin.models(signal)}))) : [{pod: '(admin endpoint)', models: await conn.admin.models(signal)}]
  for (const l of lists) {
    perReplica.push({pod: l.pod, ids: l.models.map((m) => m.model_info.id)})
    for (const m of l.models) if (!byId.has(m.model_info.id)) byId.set(m.model_info.id, m)
  }
  return {byId, perReplica}
}

/**
 * Another registration serving the same public name (from another namespace, or not aip's). The
 * same model's other track (stable and canary during a rollout) shares the name by design.
 */
export function conflictFor(d: DesiredModel, registered: Iterable<LitellmModel>): LitellmModel | undefined {
  for (const m of registered) if (m.model_name === d.servedName && m.model_info.id !== d.id && !sameModel(m.model_info.id, d.id)) return m
  return undefined
}

export function conflictError(d: DesiredModel, other: LitellmModel): ConflictError {
  const owner = parseModelId(other.model_info.id)
  const where = owner ? `model ${owner.name} in namespace ${owner.namespace}` : `a registration aip does not manage (id ${other.model_info.id})`
  return new ConflictError(`the gateway already serves the model name "${d.servedName}" from ${where}; not overwriting it with ${d.namespace}/${d.name}`, {
    fix: owner ? `give this deploy another public name (--served-name), or remove the other one first (aip model delete ${owner.name} -n ${owner.namespace})` : 'give this deploy another public name (--served-name), or delete that registration in LiteLLM',
    details: {servedName: d.servedName, existing: other.model_info.id, wanted: d.id},
  })
}

export interface RegisterResult {
  id: string
  servedName: string
  action: 'created' | 'updated' | 'unchanged'
  replicas: string[]
}

/** Registers (or updates) one model and waits until every replica serves it. Idempotent. */
export async function registerModel(conn: GatewayConnection, d: DesiredModel, opts: VerifyOptions = {}): Promise<RegisterResult> {
  const want = toLitellm(d)
  const {byId, perReplica} = await observedModels(conn, opts.signal)
  const other = conflictFor(d, byId.values())
  if (other) throw conflictError(d, other)
  const have = byId.get(d.id)
  const everywhere = perReplica.every((r) => r.ids.includes(d.id))
  let action: RegisterResult['action'] = 'unchanged'
  // A replica's router is a cache of the database: one that still lists the model proves nothing
  // about the database (it may hold a model deleted elsewhere), so a partial or different view is
  // written again: update, or add when the database lacks it (and the other way round).
  if (!have) action = await addOrUpdate(conn.admin, want, 'add', opts.signal)
  else if (!sameRegistration(have, want) || !everywhere) action = await addOrUpdate(conn.admin, want, 'update', opts.signal)
  const check = await verifyOnReplicas(conn, `model ${d.servedName} (${d.id})`, (ms) => ms.some((m) => m.model_info.id === d.id && sameRegistration(m, want)), opts)
  return {id: d.id, servedName: d.servedName, action, replicas: check.pods}
}

const ALREADY = /already exists|unique constraint/i
const MISSING = /not found/i

async function addOrUpdate(admin: LitellmAdmin, m: LitellmModel, first: 'add' | 'update', signal?: AbortSignal): Promise<'created' | 'updated'> {
  try {
    if (first === 'add') await admin.addModel(m, signal)
    else await admin.updateModel(m, signal)
    return first === 'add' ? 'created' : 'updated'
  } catch (error) {
    const msg = (error as Error).message
    if (first === 'add' && ALREADY.test(msg)) {
      await admin.updateModel(m, signal)
      return 'updated'
    }
    if (first === 'update' && MISSING.test(msg)) {
      await admin.addModel(m, signal)
      return 'created'
    }
    throw error
  }
}

export interface DeregisterResult {
  id: string
  action: 'deleted' | 'absent'
  replicas: string[]
}

/** Removes one model and waits until no replica serves it. Idempotent. */
export async function deregisterModel(conn: GatewayConnection, id: string, opts: VerifyOptions = {}): Promise<DeregisterResult> {
  const deleted = await conn.admin.deleteModel(id, opts.signal)
  const check = await verifyOnReplicas(conn, `removal of model ${id}`, (ms) => !ms.some((m) => m.model_info.id === id), opts)
  return {id, action: deleted ? 'deleted' : 'absent', replicas: check.pods}
}

export type {LitellmAdmin}
