/**
 * `aip cluster status`: the cluster (EKS version and state, Kubernetes server version), nodes by
 * instance type with GPU capacity and allocatable, platform components and their health, and the
 * models deployed (Deployments labelled aip.dev/model).
 */
import type {EKSClient} from '@aws-sdk/client-eks'

import {describeCluster, listNodegroups, type NodegroupInfo} from '../aws/eks.js'
import type {KubeClient} from '../kube/client.js'
import {MANAGED_BY_LABEL, MANAGED_BY_VALUE, MODEL_LABEL} from '../kube/labels.js'
import type {KubeObject} from '../kube/types.js'
import {type AddonStatus, detectAddons} from './addons.js'
import {type NetworkPolicyStatus, networkPolicyStatus} from './netpol.js'
import {TENANT_LABEL} from './platform.js'

export interface NodeGroupSummary {
  instanceType: string
  nodes: number
  ready: number
  gpuCapacity: number
  gpuAllocatable: number
  /** GPUs requested by running pods on these nodes. */
  gpuRequested: number
  gpuProduct?: string
  capacityType?: string
}

export interface ModelSummary {
  name: string
  namespace: string
  desired: number
  ready: number
  state: 'ready' | 'scaled-to-zero' | 'progressing' | 'unavailable'
}

export interface ComponentStatus {
  name: string
  state: 'healthy' | 'degraded' | 'missing'
  message: string
}

export interface ClusterStatus {
  eks?: {name: string; region: string; status: string; version?: string; platformVersion?: string; endpoint?: string; nodegroups: NodegroupInfo[]}
  kubernetes: {context: string; server: string; version?: string}
  nodes: NodeGroupSummary[]
  totals: {nodes: number; ready: number; gpuCapacity: number; gpuAllocatable: number; gpuRequested: number}
  platform: ComponentStatus[]
  addons: AddonStatus[]
  /** Whether NetworkPolicies (the tenants' default-deny) are enforced. */
  networkPolicy?: NetworkPolicyStatus
  models: ModelSummary[]
}

export interface StatusOptions {
  client: KubeClient
  eks?: {client: EKSClient; name: string; region: string}
  modelNamespace: string
  monitoringNamespace: string
  signal?: AbortSignal
}

const num = (v: unknown): number => {
  if (v === undefined || v === null) return 0
  const n = Number(v)
  return Number.isFinite(n) ? n : 0
}

function isReady(node: KubeObject): boolean {
  const conds = ((node.status as {conditions?: Array<{type: string; status: string}>} | undefined)?.conditions ?? [])
  return conds.some((c) => c.type === 'Ready' && c.status === 'True')
}

export function summarizeNodes(nodes: KubeObject[], pods: KubeObject[]): NodeGroupSummary[] {
  const requested = new Map<string, number>()
  for (const p of pods) {
    const phase = (p.status as {phase?: string} | undefined)?.phase
    const nodeName = (p.spec as {nodeName?: string} | undefined)?.nodeName
    if (!nodeName || phase === 'Succeeded' || phase === 'Failed') continue
    const containers = ((p.spec as {containers?: Array<{resources?: {requests?: Record<string, string>; limits?: Record<string, string>}}>}).containers ?? [])
    const gpus = containers.reduce((n, c) => n + num(c.resources?.requests?.['nvidia.com/gpu'] ?? c.resources?.limits?.['nvidia.com/gpu']), 0)
    if (gpus) requested.set(nodeName, (requested.get(nodeName) ?? 0) + gpus)
  }
  const groups = new Map<string, NodeGroupSummary>()
  for (const n of nodes) {
    const l = n.metadata.labels ?? {}
    const type = l['node.kubernetes.io/instance-type'] ?? l['beta.kubernetes.io/instance-type'] ?? 'unknown'
    const st = (n.status ?? {}) as {capacity?: Record<string, string>; allocatable?: Record<string, string>}
    const g = groups.get(type) ?? {instanceType: type, nodes: 0, ready: 0, gpuCapacity: 0, gpuAllocatable: 0, gpuRequested: 0}
    g.nodes++
    if (isReady(n)) g.ready++
    g.gpuCapacity += num(st.capacity?.['nvidia.com/gpu'])
    g.gpuAllocatable += num(st.allocatable?.['nvidia.com/gpu'])
    g.gpuRequested += requested.get(n.metadata.name) ?? 0
    g.gpuProduct ??= l['nvidia.com/gpu.product']
    g.capacityType ??= l['karpenter.sh/capacity-type'] ?? l['eks.amazonaws.com/capacityType']
    groups.set(type, g)
  }
  return [...groups.values()].sort((a, b) => b.gpuCapacity - a.gpuCapacity || a.instanceType.localeCompare(b.instanceType))
}

export function summarizeModels(deployments: KubeObject[]): ModelSummary[] {
  return deployments
    .map((d) => {
      const desired = (d.spec as {replicas?: number} | undefined)?.replicas ?? 1
      const st = (d.status ?? {}) as {readyReplicas?: number; availableReplicas?: number}
      const ready = st.readyReplicas ?? 0
      const state: ModelSummary['state'] = desired === 0 ? 'scaled-to-zero' : ready >= desired ? 'ready' : ready > 0 ? 'progressing' : 'unavailable'
      return {name: d.metadata.labels?.[MODEL_LABEL] ?? d.metadata.name, namespace: d.metadata.namespace ?? '', desired, ready, state}
    })
    .sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name))
}

export async function clusterStatus(opts: StatusOptions): Promise<ClusterStatus> {
  const {client, signal} = opts
  let eks: ClusterStatus['eks']
  if (opts.eks) {
    const c = await describeCluster(opts.eks.client, opts.eks.name, opts.eks.region, {signal})
    const nodegroups = await listNodegroups(opts.eks.client, opts.eks.name, opts.eks.region, {signal})
    eks = {name: c.name, region: c.region, status: c.status, version: c.version, platformVersion: c.platformVersion, endpoint: c.endpoint, nodegroups}
  }
  const version = await client.request<{gitVersion?: string}>('GET', '/version', {signal}).then(
    (v) => v?.gitVersion,
    () => undefined,
  )
  const [nodes, pods, deployments, namespaces] = await Promise.all([
    client.request<{items?: KubeObject[]}>('GET', '/api/v1/nodes', {signal}),
    client.request<{items?: KubeObject[]}>('GET', '/api/v1/pods', {signal, query: {fieldSelector: 'status.phase=Running'}}).catch(() => ({items: []})),
    client.request<{items?: KubeObject[]}>('GET', '/apis/apps/v1/deployments', {signal, query: {labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${MODEL_LABEL}`}}),
    client.request<{items?: KubeObject[]}>('GET', '/api/v1/namespaces', {signal, query: {labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`}}),
  ])
  const nodeGroups = summarizeNodes(nodes.items ?? [], pods.items ?? [])
  const totals = nodeGroups.reduce(
    (t, g) => ({nodes: t.nodes + g.nodes, ready: t.ready + g.ready, gpuCapacity: t.gpuCapacity + g.gpuCapacity, gpuAllocatable: t.gpuAllocatable + g.gpuAllocatable, gpuRequested: t.gpuRequested + g.gpuRequested}),
    {nodes: 0, ready: 0, gpuCapacity: 0, gpuAllocatable: 0, gpuRequested: 0},
  )

  const platform: ComponentStatus[] = []
  const nsItems = namespaces.items ?? []
  const modelNs = nsItems.find((n) => n.metadata.name === opts.modelNamespace)
  if (!modelNs) platform.push({name: `namespace ${opts.modelNamespace}`, state: 'missing', message: 'run `aip cluster bootstrap`'})
  else {
    const enforce = modelNs.metadata.labels?.['pod-security.kubernetes.io/enforce']
    const terminating = Boolean(modelNs.metadata.deletionTimestamp)
    platform.push({
      name: `namespace ${opts.modelNamespace}`,
      state: terminating || enforce !== 'restricted' ? 'degraded' : 'healthy',
      message: terminating ? 'terminating' : `Pod Security enforce=${enforce ?? 'none'}`,
    })
  }
  for (const t of nsItems.filter((n) => n.metadata.labels?.[TENANT_LABEL])) {
    const quota = await client
      .request<KubeObject>('GET', `/api/v1/namespaces/${encodeURIComponent(t.metadata.name)}/resourcequotas/aip-quota`, {signal})
      .catch(() => undefined)
    const hard = (quota?.status as {hard?: Record<string, string>; used?: Record<string, string>} | undefined) ?? (quota?.spec as {hard?: Record<string, string>} | undefined)
    const gpuHard = (quota?.spec as {hard?: Record<string, string>} | undefined)?.hard?.['requests.nvidia.com/gpu']
    const gpuUsed = (hard as {used?: Record<string, string>} | undefined)?.used?.['requests.nvidia.com/gpu']
    platform.push({
      name: `tenant ${t.metadata.name}`,
      state: quota ? 'healthy' : 'degraded',
      message: quota ? `GPU quota ${gpuUsed ?? 0}/${gpuHard ?? '?'}` : 'ResourceQuota aip-quota missing: rerun `aip cluster bootstrap`',
    })
  }
  const addons = await detectAddons(client, opts.monitoringNamespace)
  const networkPolicy = await networkPolicyStatus(client, {signal}).catch(() => undefined)
  if (networkPolicy) platform.push({name: 'network policies', state: networkPolicy.state === 'enforced' ? 'healthy' : 'degraded', message: networkPolicy.warning ? `${networkPolicy.message}; ${networkPolicy.warning.fix}` : networkPolicy.message})
  return {
    eks,
    kubernetes: {context: client.context, server: client.server, version},
    nodes: nodeGroups,
    totals,
    platform,
    addons,
    networkPolicy,
    models: summarizeModels(deployments.items ?? []),
  }
}
