/**
 * The GPU pool and tenant settings of `aip cluster bootstrap`, decided per rerun: a flag that is
 * given sets its field; an omitted one keeps what the cluster already holds; only where nothing is
 * there yet (the first run, a new tenant) does the default apply. Infrastructure CLIs read an
 * omitted flag on an update the same way (eksctl, `helm upgrade --reuse-values`; `kubectl apply`
 * manages only the fields it is given).
 *
 * The kept values are read back from the fields themselves (NodePool aip-gpu's requirements and
 * limits, EC2NodeClass aip-gpu's role, each tenant's ResourceQuota aip-quota), not from an
 * annotation recording what aip was told: the field is what the cluster acts on, so a hand edit
 * (`kubectl edit nodepool aip-gpu` raising the limit) or a change made by another tool is kept too,
 * and there is no second copy that can drift from it. The instance types are kept verbatim (not
 * re-derived from GPU names), so a newer gpu-fit table never widens a pool nobody asked to change.
 */
import {findGpu, GPUS} from '../gpufit/gpus.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {INSTANCE_TYPE_LABEL} from '../render/server.js'
import {decide, type SettingAction} from '../settings.js'
import type {Tenant} from './platform.js'

export type CapacityType = 'on-demand' | 'spot'

export const GPU_POOL_NAME = 'aip-gpu'
export const TENANT_QUOTA_NAME = 'aip-quota'
export const TENANT_GPU_RESOURCE = 'requests.nvidia.com/gpu'
export const CAPACITY_TYPE_LABEL = 'karpenter.sh/capacity-type'
/** First-run defaults (the templates' values; `--gpu` defaults to config gpu and the catalog's GPUs). */
export const DEFAULT_GPU_LIMIT = 8
export const DEFAULT_TENANT_GPUS = 1
export const DEFAULT_CAPACITY_TYPES: CapacityType[] = ['on-demand']
export const defaultKarpenterNodeRole = (cluster: string) => `KarpenterNodeRole-${cluster}`

/** A tenant as given: `gpus` absent when neither `=GPUS` nor --gpu-quota was given. */
export interface TenantInput {
  name: string
  gpus?: number
}

/** What the flags said; undefined (or absent) = the flag was omitted. */
export interface SettingInputs {
  gpuTypes?: string[]
  gpuLimit?: number
  capacityTypes?: CapacityType[]
  karpenterNodeRole?: string
  tenants: TenantInput[]
}

export interface SettingDefaults {
  gpuTypes: string[]
  gpuLimit: number
  capacityTypes: CapacityType[]
  karpenterNodeRole: string
  tenantGpus: number
}

/** What the cluster holds in the fields the flags control; absent = no such object or field. */
export interface LiveSettings {
  instanceTypes?: string[]
  gpuLimit?: number
  capacityTypes?: string[]
  karpenterNodeRole?: string
  /** tenant name -> its quota's requests.nvidia.com/gpu */
  tenantGpus: Record<string, number>
}

export type SettingName = 'gpu' | 'gpu-limit' | 'capacity-type' | 'karpenter-node-role' | 'tenant-gpus'
export type SettingValue = string | number | string[]

/**
 * One setting's decision. action: kept (flag omitted, the cluster's value stays), changed (flag
 * given, differs: previous -> value), unchanged (flag given, same value), default (flag omitted,
 * nothing there yet), set (flag given, nothing there yet).
 */
export interface SettingDecision {
  setting: SettingName
  /** tenant-gpus: the tenant */
  tenant?: string
  /** the object holding it, kind/name or kind/namespace/name */
  object: string
  value: SettingValue
  previous?: SettingValue
  action: SettingAction
}

export interface ResolvedSettings {
  gpuTypes: string[]
  /** The NodePool's instance types: kept verbatim, or those of gpuTypes (undefined: derive from gpuTypes). */
  instanceTypes?: string[]
  gpuLimit: number
  capacityTypes: string[]
  karpenterNodeRole: string
  tenants: Tenant[]
  decisions: SettingDecision[]
}

/** GPU names of instance types (gpu-fit's table); a type the table does not know is shown as is. */
export function gpusOfInstanceTypes(types: string[]): string[] {
  return [...new Set(types.map((t) => GPUS.find((g) => g.instances.some((i) => i.type === t))?.name ?? t))]
}

function instanceTypesOf(gpuTypes: string[]): string[] {
  return [...new Set(gpuTypes.flatMap((g) => findGpu(g).instances.map((i) => i.type)))]
}

const sameSet = (a: readonly string[], b: readonly string[]) => a.length === b.length && [...a].sort().join('\0') === [...b].sort().join('\0')

/** The decide-what-to-apply step: pure, from the flags, the cluster's values and the defaults. */
export function decideSettings(inputs: SettingInputs, live: LiveSettings, defaults: SettingDefaults): ResolvedSettings {
  const decisions: SettingDecision[] = []
  const pool = `NodePool/${GPU_POOL_NAME}`

  // --gpu: compared and kept as the NodePool's instance types, reported as GPU names
  const givenGpus = inputs.gpuTypes?.length ? inputs.gpuTypes : undefined
  const liveTypes = live.instanceTypes?.length ? live.instanceTypes : undefined
  let gpuTypes: string[]
  let instanceTypes: string[] | undefined
  if (!givenGpus && liveTypes) {
    gpuTypes = gpusOfInstanceTypes(liveTypes)
    instanceTypes = liveTypes
    decisions.push({setting: 'gpu', object: pool, value: gpuTypes, previous: gpuTypes, action: 'kept'})
  } else {
    gpuTypes = givenGpus ?? defaults.gpuTypes
    const action = !givenGpus ? 'default' : !liveTypes ? 'set' : sameSet(instanceTypesOf(givenGpus), liveTypes) ? 'unchanged' : 'changed'
    decisions.push({setting: 'gpu', object: pool, value: gpuTypes, ...(liveTypes ? {previous: gpusOfInstanceTypes(liveTypes)} : {}), action})
  }

  const limit = decide(inputs.gpuLimit, live.gpuLimit, defaults.gpuLimit, (a, b) => a === b)
  decisions.push({setting: 'gpu-limit', object: pool, ...limit})

  const capacity = decide<string[]>(inputs.capacityTypes?.length ? [...new Set(inputs.capacityTypes)] : undefined, live.capacityTypes?.length ? live.capacityTypes : undefined, defaults.capacityTypes, sameSet)
  decisions.push({setting: 'capacity-type', object: pool, ...capacity})

  const role = decide(inputs.karpenterNodeRole, live.karpenterNodeRole || undefined, defaults.karpenterNodeRole, (a, b) => a === b)
  decisions.push({setting: 'karpenter-node-role', object: `EC2NodeClass/${GPU_POOL_NAME}`, ...role})

  const tenants: Tenant[] = []
  for (const t of inputs.tenants) {
    const q = decide(t.gpus, live.tenantGpus[t.name], defaults.tenantGpus, (a, b) => a === b)
    decisions.push({setting: 'tenant-gpus', tenant: t.name, object: `ResourceQuota/${t.name}/${TENANT_QUOTA_NAME}`, ...q})
    tenants.push({name: t.name, gpus: q.value})
  }
  return {gpuTypes, instanceTypes, gpuLimit: limit.value, capacityTypes: capacity.value, karpenterNodeRole: role.value, tenants, decisions}
}

/** A quantity of whole GPUs ("16"); anything else (a fraction, "1k") counts as absent. */
function wholeNumber(v: unknown): number | undefined {
  const s = typeof v === 'number' ? String(v) : typeof v === 'string' ? v.trim() : ''
  return /^\d+$/.test(s) ? Number(s) : undefined
}

/** The pool settings a NodePool aip-gpu holds. */
export function poolSettings(pool: KubeObject | undefined): Omit<LiveSettings, 'tenantGpus' | 'karpenterNodeRole'> {
  if (!pool) return {}
  const spec = pool.spec as {limits?: Record<string, unknown>; template?: {spec?: {requirements?: Array<{key: string; operator?: string; values?: string[]}>}}} | undefined
  const reqs = spec?.template?.spec?.requirements ?? []
  const values = (key: string) => reqs.find((r) => r.key === key && (r.operator ?? 'In') === 'In')?.values
  return {instanceTypes: values(INSTANCE_TYPE_LABEL), gpuLimit: wholeNumber(spec?.limits?.['nvidia.com/gpu']), capacityTypes: values(CAPACITY_TYPE_LABEL)}
}

/** Reads the settings back from the objects bootstrap owns (those that exist; nothing is written). */
export async function readLiveSettings(client: KubeClient, tenants: string[]): Promise<LiveSettings> {
  const {getObject, hasApiResource} = await import('../kube/index.js')
  const live: LiveSettings = {tenantGpus: {}}
  if (await hasApiResource(client, 'karpenter.sh/v1', 'NodePool')) {
    Object.assign(live, poolSettings(await getObject(client, {apiVersion: 'karpenter.sh/v1', kind: 'NodePool', name: GPU_POOL_NAME})))
  }
  if (await hasApiResource(client, 'karpenter.k8s.aws/v1', 'EC2NodeClass')) {
    const nc = await getObject(client, {apiVersion: 'karpenter.k8s.aws/v1', kind: 'EC2NodeClass', name: GPU_POOL_NAME})
    const role = (nc?.spec as {role?: unknown} | undefined)?.role
    if (typeof role === 'string' && role) live.karpenterNodeRole = role
  }
  for (const t of tenants) {
    const q = await getObject(client, {apiVersion: 'v1', kind: 'ResourceQuota', namespace: t, name: TENANT_QUOTA_NAME})
    const gpus = wholeNumber((q?.spec as {hard?: Record<string, unknown>} | undefined)?.hard?.[TENANT_GPU_RESOURCE])
    if (gpus !== undefined) live.tenantGpus[t] = gpus
  }
  return live
}

const show = (v: SettingValue | undefined) => (Array.isArray(v) ? v.join(',') : String(v))

/** One line per kind of action, e.g. "kept gpu l40s, gpu-limit 16 (flags omitted); changed capacity-type spot -> on-demand". */
export function describeDecisions(ds: SettingDecision[]): string {
  const name = (d: SettingDecision) => (d.tenant ? `tenant ${d.tenant} gpus` : d.setting)
  const parts: string[] = []
  const kept = ds.filter((d) => d.action === 'kept')
  if (kept.length) parts.push(`kept ${kept.map((d) => `${name(d)} ${show(d.value)}`).join(', ')} (flags omitted)`)
  const changed = ds.filter((d) => d.action === 'changed')
  if (changed.length) parts.push(`changed ${changed.map((d) => `${name(d)} ${show(d.previous)} -> ${show(d.value)}`).join(', ')}`)
  const fresh = ds.filter((d) => d.action === 'default' || d.action === 'set')
  if (fresh.length) parts.push(`new ${fresh.map((d) => `${name(d)} ${show(d.value)}${d.action === 'default' ? ' (default)' : ''}`).join(', ')}`)
  return parts.join('; ') || 'as given, nothing changed'
}
