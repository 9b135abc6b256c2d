/**
 * `aip gateway reconcile`: the gateway's models made equal to the cluster's. The plan lists
 *   orphan   registered by aip, no longer deployed          -> delete
 *   missing  deployed, not registered                       -> add
 *   stale    registered, but public name / api_base differ, or not on every replica -> update
 *   conflict deployed, but its public name is served by another registration -> not applied (exit 1)
 * and keys naming models that are no longer served (updated with --prune-keys).
 * Registrations aip did not make (ids without the aip: prefix) are never touched.
 */
import {AipError} from '../errors.js'
import type {KubeClient} from '../kube/index.js'
import type {LitellmKey} from './admin.js'
import type {GatewayConnection} from './connect.js'
import {conflictFor, desiredModels, type DesiredModel, deregisterModel, isAipModel, observedModels, parseModelId, registerModel, sameModel, sameRegistration, toLitellm, type VerifyOptions} from './registry.js'

export type ActionKind = 'delete-orphan' | 'add-missing' | 'update-stale'

export interface ReconcileAction {
  action: ActionKind
  id: string
  servedName: string
  /** namespace/name of the aip model */
  model: string
  detail: string
}

export interface KeyDrift {
  /** alias, or the first characters of the key's hash: never the key */
  key: string
  team?: string
  /** models the key names that the gateway no longer serves */
  removed: string[]
  /** what the key keeps */
  remaining: string[]
  /** --prune-keys: updated; or why not */
  result?: 'pruned' | 'not-pruned: it would be left with no models (an empty list allows every model); revoke it instead'
}

export interface ReconcilePlan {
  actions: ReconcileAction[]
  conflicts: Array<{model: string; servedName: string; existing: string}>
  keys: KeyDrift[]
  /** models registered outside aip: left alone */
  foreign: string[]
  inSync: boolean
}

export interface ReconcileResult extends ReconcilePlan {
  dryRun: boolean
  applied: Array<ReconcileAction & {result: string}>
}

export function keyLabel(k: LitellmKey): string {
  return k.key_alias || `${k.token.slice(0, 12)}…`
}

export async function planReconcile(client: KubeClient, conn: GatewayConnection, opts: {signal?: AbortSignal; withKeys?: boolean} = {}): Promise<ReconcilePlan> {
  const desired = await desiredModels(client, opts.signal)
  const {byId, perReplica} = await observedModels(conn, opts.signal)
  const actions: ReconcileAction[] = []
  const conflicts: ReconcilePlan['conflicts'] = []
  const wantIds = new Set(desired.map((d) => d.id))
  const aipRegistered = [...byId.values()].filter(isAipModel)
  for (const m of aipRegistered) {
    if (wantIds.has(m.model_info.id)) continue
    const o = parseModelId(m.model_info.id)
    actions.push({action: 'delete-orphan', id: m.model_info.id, servedName: m.model_name, model: o ? `${o.namespace}/${o.name}` : m.model_info.id, detail: `registered, but no model ${o?.name ?? ''} is deployed in ${o?.namespace ?? '?'}`})
  }
  // registrations that remain after orphans go: conflicts are judged against them
  const staying = [...byId.values()].filter((m) => !isAipModel(m) || wantIds.has(m.model_info.id))
  const claimed = new Map<string, DesiredModel>()
  for (const d of desired) {
    const model = `${d.namespace}/${d.name}`
    const other = conflictFor(d, staying) ?? (claimed.has(d.servedName) && claimed.get(d.servedName)!.id !== d.id && !sameModel(claimed.get(d.servedName)!.id, d.id) ? toLitellm(claimed.get(d.servedName)!) : undefined)
    if (other) {
      conflicts.push({model, servedName: d.servedName, existing: other.model_info.id})
      continue
    }
    claimed.set(d.servedName, d)
    const have = byId.get(d.id)
    const want = toLitellm(d)
    const without = perReplica.filter((r) => !r.ids.includes(d.id)).map((r) => r.pod)
    if (have && sameRegistration(have, want) && without.length > 0) {
      // the database may hold it (those replicas lag) or not (the others are stale): write it again
      actions.push({action: 'update-stale', id: d.id, servedName: d.servedName, model, detail: `not served by ${without.join(', ')}`})
    } else if (!have) actions.push({action: 'add-missing', id: d.id, servedName: d.servedName, model, detail: `deployed, not registered: ${want.litellm_params.model} at ${d.apiBase}`})
    else if (!sameRegistration(have, want)) {
      const diffs: string[] = []
      if (have.model_name !== want.model_name) diffs.push(`name ${have.model_name} -> ${want.model_name}`)
      if (have.litellm_params.model !== want.litellm_params.model) diffs.push(`model ${have.litellm_params.model} -> ${want.litellm_params.model}`)
      if ((have.litellm_params.api_base ?? '') !== want.litellm_params.api_base) diffs.push(`api_base ${have.litellm_params.api_base ?? '(none)'} -> ${want.litellm_params.api_base}`)
      // scale from zero (render/wake.ts): the interceptor's Host header and the 503's Retry-After
      const host = (m: typeof have) => ((m.litellm_params.extra_headers ?? {}) as Record<string, string>).Host ?? '(none)'
      if (host(have) !== host(want)) diffs.push(`Host header ${host(have)} -> ${host(want)}`)
      if ((have.model_info.aip_retry_after_seconds ?? null) !== (want.model_info.aip_retry_after_seconds ?? null)) diffs.push(`Retry-After ${have.model_info.aip_retry_after_seconds ?? '(none)'} -> ${want.model_info.aip_retry_after_seconds ?? '(none)'}`)
      if (want.litellm_params.weight !== undefined && Number(have.litellm_params.weight) !== Number(want.litellm_params.weight)) diffs.push(`weight ${have.litellm_params.weight ?? '(none)'} -> ${want.litellm_params.weight} (a rollout's split)`)
      actions.push({action: 'update-stale', id: d.id, servedName: d.servedName, model, detail: diffs.join('; ')})
    }
  }
  const keys: KeyDrift[] = []
  if (opts.withKeys !== false) {
    // public names the gateway will serve after this reconcile
    const served = new Set<string>([...staying.map((m) => m.model_name), ...[...claimed.values()].map((d) => d.servedName)])
    for (const k of await conn.admin.listKeys({signal: opts.signal})) {
      const models = k.models ?? []
      if (models.length === 0 || models.includes('all-proxy-models')) continue
      const removed = models.filter((m) => !served.has(m))
      if (removed.length) keys.push({key: keyLabel(k), ...(k.team_id ? {team: k.team_id} : {}), removed, remaining: models.filter((m) => served.has(m))})
    }
  }
  const foreign = [...byId.values()].filter((m) => !isAipModel(m)).map((m) => `${m.model_name} (${m.model_info.id})`)
  const order: Record<ActionKind, number> = {'delete-orphan': 0, 'update-stale': 1, 'add-missing': 2}
  actions.sort((a, b) => order[a.action] - order[b.action] || a.id.localeCompare(b.id))
  return {actions, conflicts, keys, foreign, inSync: actions.length === 0 && conflicts.length === 0 && keys.length === 0}
}

export interface ReconcileOptions extends VerifyOptions {
  dryRun?: boolean
  pruneKeys?: boolean
  onAction?: (a: ReconcileAction, result: string) => void
}

export async function reconcileGateway(client: KubeClient, conn: GatewayConnection, opts: ReconcileOptions = {}): Promise<ReconcileResult> {
  const plan = await planReconcile(client, conn, {signal: opts.signal})
  if (opts.dryRun) return {...plan, dryRun: true, applied: []}
  const applied: ReconcileResult['applied'] = []
  const desired = new Map((await desiredModels(client, opts.signal)).map((d) => [d.id, d]))
  const verify: VerifyOptions = {timeoutMs: opts.timeoutMs, pollMs: opts.pollMs, signal: opts.signal}
  for (const a of plan.actions) {
    let result: string
    if (a.action === 'delete-orphan') {
      const r = await deregisterModel(conn, a.id, verify)
      result = r.action === 'deleted' ? `deleted; gone from ${r.replicas.length} replica(s)` : `already gone from the DB; gone from ${r.replicas.length} replica(s)`
    } else {
      const d = desired.get(a.id)
      if (!d) throw new AipError('FAILED', `model ${a.model} disappeared while reconciling`, {fix: 'rerun aip gateway reconcile'})
      const r = await registerModel(conn, d, verify)
      result = `${r.action}; served by ${r.replicas.length} replica(s)`
    }
    applied.push({...a, result})
    opts.onAction?.(a, result)
  }
  if (opts.pruneKeys) {
    const keys = await conn.admin.listKeys({signal: opts.signal})
    for (const drift of plan.keys) {
      const k = keys.find((x) => keyLabel(x) === drift.key)
      if (!k) continue
      if (drift.remaining.length === 0) {
        drift.result = 'not-pruned: it would be left with no models (an empty list allows every model); revoke it instead'
        continue
      }
      await conn.admin.updateKey(k.token, {models: drift.remaining}, opts.signal)
      drift.result = 'pruned'
    }
  }
  return {...plan, dryRun: false, applied}
}
