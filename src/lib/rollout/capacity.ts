/**
 * GPU headroom for a rollout's surge: the canary runs beside the stable, so its GPUs must be free
 * before it starts (otherwise its pods stay Pending and the rollout only times out).
 *
 * - Namespace quota: a ResourceQuota's `requests.nvidia.com/gpu` (extended resources are quota'd by
 *   their `requests.` name only: kubernetes.io/docs/concepts/policy/resource-quotas/#resource-quota-for-extended-resources),
 *   hard minus used from its status (the quota controller keeps `used` current).
 * - Nodes: free GPUs on the nodes the candidate may land on (its instance types, schedulable),
 *   allocatable `nvidia.com/gpu` minus the requests of the pods bound there, counted per replica
 *   (a replica's GPUs are on one node); plus, where Karpenter NodePools can launch those instance
 *   types, each pool's `spec.limits["nvidia.com/gpu"]` minus the GPU capacity of its nodes
 *   (Karpenter stops launching once a pool's nodes reach its limits:
 *   karpenter.sh/docs/concepts/nodepools/#speclimits). A matching pool without a GPU limit is
 *   unbounded: nodes are not the limit then.
 */
import {AipError, toAipError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {gpuNodeRequirements, INSTANCE_TYPE_LABEL} from '../render/server.js'

const GPU = 'nvidia.com/gpu'
const QUOTA_KEY = `requests.${GPU}`

export interface CapacityNeed {
  namespace: string
  replicas: number
  gpusPerReplica: number
  gpu: {type: string; count: number}
}

export interface CapacityReport {
  needGpus: number
  replicas: number
  gpusPerReplica: number
  quota: Array<{name: string; hard: number; used: number; free: number}>
  nodes: {checked: boolean; matching: number; freeReplicaSlots: number; note?: string}
  pools: Array<{name: string; limit: number | null; used: number; headroom: number | null}>
  fits: boolean
  /** why not, with the numbers */
  reason?: string
}

/** A Kubernetes quantity of whole devices ("2", "2k" never appears for GPUs). */
function count(q: unknown): number {
  const n = Number(q ?? 0)
  return Number.isFinite(n) ? n : 0
}

function podGpus(p: KubeObject): number {
  const spec = p.spec as {containers?: Array<{resources?: {requests?: Record<string, string>; limits?: Record<string, string>}}>} | undefined
  // extended resources: requests default to limits and must equal them when both are set
  return (spec?.containers ?? []).reduce((n, c) => n + count(c.resources?.requests?.[GPU] ?? c.resources?.limits?.[GPU]), 0)
}

function requirementValues(reqs: unknown, key: string): string[] | undefined {
  const r = (reqs as Array<{key: string; operator: string; values?: string[]}> | undefined)?.find((x) => x.key === key && x.operator === 'In')
  return r?.values
}

export async function checkCapacity(client: KubeClient, need: CapacityNeed, signal?: AbortSignal): Promise<CapacityReport> {
  const needGpus = need.replicas * need.gpusPerReplica
  const report: CapacityReport = {needGpus, replicas: need.replicas, gpusPerReplica: need.gpusPerReplica, quota: [], nodes: {checked: false, matching: 0, freeReplicaSlots: 0}, pools: [], fits: true}
  const reasons: string[] = []

  // 1. quota
  const quotas = await client.request<{items?: KubeObject[]}>('GET', `/api/v1/namespaces/${encodeURIComponent(need.namespace)}/resourcequotas`, {signal}).catch((error: unknown) => {
    if (toAipError(error).code === 'UNAUTHORIZED') return {items: []}
    throw error
  })
  for (const q of quotas.items ?? []) {
    const st = q.status as {hard?: Record<string, string>; used?: Record<string, string>} | undefined
    const hardText = st?.hard?.[QUOTA_KEY] ?? (q.spec as {hard?: Record<string, string>} | undefined)?.hard?.[QUOTA_KEY]
    if (hardText === undefined) continue
    const hard = count(hardText)
    const used = count(st?.used?.[QUOTA_KEY])
    const free = Math.max(0, hard - used)
    report.quota.push({name: q.metadata.name, hard, used, free})
    if (free < needGpus) reasons.push(`ResourceQuota ${need.namespace}/${q.metadata.name} allows ${hard} GPUs and ${used} are in use: ${free} free, the candidate needs ${needGpus} (${need.replicas} x ${need.gpusPerReplica})`)
  }

  // 2. nodes and node pools (cluster-scoped reads; a tenant without them gets the quota check only)
  const types = new Set(requirementValues(gpuNodeRequirements(need.gpu), INSTANCE_TYPE_LABEL) ?? [])
  try {
    const [nodes, pods] = await Promise.all([client.request<{items?: KubeObject[]}>('GET', '/api/v1/nodes', {signal}), client.request<{items?: KubeObject[]}>('GET', '/api/v1/pods', {signal})])
    const requested = new Map<string, number>()
    for (const p of pods.items ?? []) {
      const node = (p.spec as {nodeName?: string} | undefined)?.nodeName
      const phase = (p.status as {phase?: string} | undefined)?.phase
      if (!node || phase === 'Succeeded' || phase === 'Failed') continue
      requested.set(node, (requested.get(node) ?? 0) + podGpus(p))
    }
    let slots = 0
    let matching = 0
    const poolCapacity = new Map<string, number>()
    for (const n of nodes.items ?? []) {
      const cap = count((n.status as {capacity?: Record<string, string>} | undefined)?.capacity?.[GPU])
      const pool = n.metadata.labels?.['karpenter.sh/nodepool']
      if (pool) poolCapacity.set(pool, (poolCapacity.get(pool) ?? 0) + cap)
      if (!types.has(n.metadata.labels?.[INSTANCE_TYPE_LABEL] ?? '') || (n.spec as {unschedulable?: boolean} | undefined)?.unschedulable) continue
      matching++
      const alloc = count((n.status as {allocatable?: Record<string, string>} | undefined)?.allocatable?.[GPU])
      slots += Math.floor(Math.max(0, alloc - (requested.get(n.metadata.name) ?? 0)) / need.gpusPerReplica)
    }
    report.nodes = {checked: true, matching, freeReplicaSlots: slots}
    let unbounded = false
    let poolSlots = 0
    const {hasApiResource} = await import('../kube/index.js')
    if (await hasApiResource(client, 'karpenter.sh/v1', 'NodePool')) {
      const list = await client.request<{items?: KubeObject[]}>('GET', '/apis/karpenter.sh/v1/nodepools', {signal})
      for (const p of list.items ?? []) {
        const reqs = (p.spec as {template?: {spec?: {requirements?: unknown}}} | undefined)?.template?.spec?.requirements
        const allowed = requirementValues(reqs, INSTANCE_TYPE_LABEL)
        if (allowed && !allowed.some((t) => types.has(t))) continue
        const limitText = (p.spec as {limits?: Record<string, string>} | undefined)?.limits?.[GPU]
        const used = poolCapacity.get(p.metadata.name) ?? 0
        if (limitText === undefined) {
          unbounded = true
          report.pools.push({name: p.metadata.name, limit: null, used, headroom: null})
          continue
        }
        const headroom = Math.max(0, count(limitText) - used)
        report.pools.push({name: p.metadata.name, limit: count(limitText), used, headroom})
        poolSlots += Math.floor(headroom / need.gpusPerReplica)
      }
    }
    if (!unbounded && slots + poolSlots < need.replicas) {
      const pools = report.pools.map((p) => `NodePool ${p.name}: limit ${p.limit} GPUs, ${p.used} used`).join(', ')
      reasons.push(`the nodes have room for ${slots} more replica(s) of ${need.gpusPerReplica} GPU(s) (${matching} node(s) of ${[...types].join('/')})${pools ? ` and ${pools} leaves room for ${poolSlots}` : ''}: the candidate needs ${need.replicas}`)
    }
  } catch (error) {
    const e = toAipError(error)
    if (e.code !== 'UNAUTHORIZED') throw error
    report.nodes = {checked: false, matching: 0, freeReplicaSlots: 0, note: 'not allowed to list nodes/pods: node capacity not checked'}
  }
  if (reasons.length > 0) {
    report.fits = false
    report.reason = reasons.join('; ')
  }
  return report
}

export function surgeError(model: string, r: CapacityReport): AipError {
  return new AipError('FAILED', `the candidate of ${model} does not fit beside the stable: ${r.reason}`, {
    fix: `free or add GPUs (raise the quota or the NodePool limit), or replace in place with --surge 0 (a rolling update of the stable, no second copy)`,
    details: {capacity: r},
  })
}
