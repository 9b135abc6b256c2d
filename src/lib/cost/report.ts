/**
 * `aip cost`: GPU-hours, idle GPU-hours, tokens and dollars per model / tenant / node over a window,
 * from Prometheus (queries.ts says which metric each number comes from) and a price table
 * (prices.ts). Joins are done here, client-side, by (namespace, pod) and node.
 *
 * Missing data is never a zero: a source with no series in the window (no kube-state-metrics, no
 * dcgm-exporter, no vLLM counters) makes its numbers null and is named in `missing`; a GPU-hour on
 * an instance without a price is counted in `unpricedGpuHours` and named, not priced at 0.
 */
import type {PrometheusClient, PromSample} from '../metrics/prometheus.js'
import {type PricesInfo, type PriceNeed, type PriceProvider, tablePrices} from './price-source.js'
import type {CapacityType, LoadedTable} from './prices.js'
import {costQueries, SOURCE_METRICS} from './queries.js'

export type CostGroupBy = 'model' | 'tenant' | 'node'

export interface CostOptions {
  /** Window length in seconds. */
  windowSeconds: number
  /** The window's end, seconds since the epoch. */
  end: number
  /** Sampling step of the GPU and DCGM subqueries, seconds. */
  stepSeconds: number
  by: CostGroupBy
  /** GPU utilisation (percent) below which a sampled GPU counts as idle. */
  idleThresholdPercent: number
  /** Where prices come from (price-source.ts), or one loaded table. */
  prices: PriceProvider | LoadedTable
  signal?: AbortSignal
}

export interface CostRow {
  /** The model, tenant or node. */
  key: string
  /** For --by node: the node's instance type, region, capacity type. */
  instanceType?: string
  region?: string
  capacityType?: CapacityType
  pods: number
  gpuHours: number | null
  idleGpuHours: number | null
  /** idle / GPU-hours, of the GPU-hours DCGM covered. */
  idleShare: number | null
  promptTokens: number | null
  generationTokens: number | null
  tokens: number | null
  costUsd: number | null
  /** GPU-hours whose instance had no price (not included in costUsd). */
  unpricedGpuHours: number
  costPerMillionTokensUsd: number | null
}

export interface MissingSource {
  source: string
  detail: string
}

export interface CostReport {
  source: string
  window: {start: string; end: string; seconds: number; stepSeconds: number}
  by: CostGroupBy
  prices: PricesInfo & {currency: 'USD'}
  /** Where each number comes from. */
  sources: Record<'gpuHours' | 'idleGpuHours' | 'tokens' | 'costUsd', string>
  rows: CostRow[]
  total: CostRow
  missing: MissingSource[]
  warnings: string[]
}

interface PodUsage {
  namespace: string
  pod: string
  node?: string
  model?: string
  gpuHours: number
  idleHours?: number
  /** GPU-hours DCGM sampled for this pod. */
  dcgmHours?: number
  prompt?: number
  generation?: number
  costUsd: number
  unpriced: number
  instanceType?: string
  region?: string
  capacityType?: CapacityType
}

const podKey = (l: Record<string, string>) => `${l.namespace ?? ''}/${l.pod ?? ''}`
const finite = (s: PromSample) => Number.isFinite(s.value)

export async function costReport(client: PrometheusClient, opts: CostOptions): Promise<CostReport> {
  const q = costQueries({seconds: opts.windowSeconds, step: opts.stepSeconds}, opts.idleThresholdPercent)
  const at = {time: opts.end, signal: opts.signal}
  const keys = Object.keys(q) as Array<keyof typeof q>
  const answers = await Promise.all(keys.map((k) => client.query(q[k], {...at, what: `cost ${k}`})))
  const r = Object.fromEntries(keys.map((k, i) => [k, answers[i]!.filter(finite)])) as Record<keyof typeof q, PromSample[]>
  const stepHours = opts.stepSeconds / 3600

  const present = new Set(r.present.filter((s) => s.value > 0).map((s) => s.labels.aip_source!))
  const missing: MissingSource[] = []
  const warnings: string[] = []
  for (const [source, metrics] of Object.entries(SOURCE_METRICS)) {
    const absent = metrics.filter((m) => !present.has(m))
    if (absent.length > 0) missing.push({source, detail: `no ${absent.join(', ')} series in the window`})
  }
  const hasKsm = present.has('kube_pod_container_resource_requests') && present.has('kube_pod_status_phase')
  const hasDcgm = present.has('DCGM_FI_DEV_GPU_UTIL')
  const hasVllm = present.has('vllm:prompt_tokens_total') || present.has('vllm:generation_tokens_total')

  const podModel = new Map<string, string>()
  for (const s of r.podLabels) if (s.labels.label_aip_dev_model) podModel.set(podKey(s.labels), s.labels.label_aip_dev_model)
  const nsTenant = new Map<string, string>()
  for (const s of r.nsLabels) if (s.labels.namespace && s.labels.label_aip_dev_tenant) nsTenant.set(s.labels.namespace, s.labels.label_aip_dev_tenant)
  const nodes = new Map<string, Record<string, string>>()
  for (const s of r.nodeLabels) if (s.labels.node) nodes.set(s.labels.node, {...nodes.get(s.labels.node), ...s.labels})

  const pods = new Map<string, PodUsage>()
  const pod = (l: Record<string, string>): PodUsage => {
    const k = podKey(l)
    let p = pods.get(k)
    if (!p) pods.set(k, (p = {namespace: l.namespace ?? '', pod: l.pod ?? '', gpuHours: 0, costUsd: 0, unpriced: 0}))
    return p
  }
  const unpricedWhy = new Map<string, number>()
  let assumedOnDemand = 0
  const nodeOf = (node: string | undefined) => {
    const n = nodes.get(node ?? '') ?? {}
    const cap = (n.label_karpenter_sh_capacity_type ?? n.label_eks_amazonaws_com_capacity_type ?? '').toLowerCase().replace('_', '-')
    return {
      instanceType: n.label_node_kubernetes_io_instance_type ?? n.label_beta_kubernetes_io_instance_type,
      region: n.label_topology_kubernetes_io_region ?? n.label_failure_domain_beta_kubernetes_io_region,
      labelled: cap === 'spot' || cap === 'on-demand',
      capacityType: (cap === 'spot' ? 'spot' : 'on-demand') as CapacityType,
    }
  }
  // prices for what the window used only: the nodes that held GPUs
  const needs: PriceNeed[] = r.gpu.filter((s) => s.value > 0).map((s) => nodeOf(s.labels.node))
  const provider = 'resolve' in opts.prices ? opts.prices : tablePrices(opts.prices)
  const prices = await provider.resolve(needs, opts.signal)
  warnings.push(...prices.warnings)
  for (const s of r.gpu) {
    const p = pod(s.labels)
    const hours = s.value * stepHours
    p.gpuHours += hours
    p.node = s.labels.node
    const n = nodeOf(s.labels.node)
    p.instanceType = n.instanceType
    p.region = n.region
    if (!n.labelled) assumedOnDemand += hours
    p.capacityType = n.capacityType
    const price = prices.price(p.region, p.instanceType, p.capacityType)
    if ('missing' in price) {
      p.unpriced += hours
      const why = nodes.has(s.labels.node ?? '') ? price.missing : `node ${s.labels.node} has no kube_node_labels series`
      unpricedWhy.set(why, (unpricedWhy.get(why) ?? 0) + hours)
    } else p.costUsd += hours * price.perGpuHour
  }
  for (const s of r.idle) pod(s.labels).idleHours = s.value * stepHours
  for (const s of r.dcgmSteps) pod(s.labels).dcgmHours = s.value * stepHours
  for (const s of r.promptTokens) {
    const p = pod(s.labels)
    p.prompt = (p.prompt ?? 0) + s.value
    p.model ??= s.labels.model_name
  }
  for (const s of r.generationTokens) {
    const p = pod(s.labels)
    p.generation = (p.generation ?? 0) + s.value
    p.model ??= s.labels.model_name
  }
  for (const [k, p] of pods) {
    const m = podModel.get(k)
    if (m) p.model = m
  }
  // GPU pods without DCGM coverage: named (their idle time is unknown, not zero)
  const uncovered = [...pods.values()].filter((p) => p.gpuHours > 0 && !(p.dcgmHours && p.dcgmHours > 0)).sort((x, y) => `${x.namespace}/${x.pod}`.localeCompare(`${y.namespace}/${y.pod}`))
  if (hasDcgm && uncovered.length > 0) warnings.push(`no DCGM_FI_DEV_GPU_UTIL series for ${uncovered.length} GPU pod(s) (${uncovered.slice(0, 5).map((p) => `${p.namespace}/${p.pod}`).join(', ')}${uncovered.length > 5 ? ', ...' : ''}): their idle GPU-hours are unknown`)
  for (const [why, hours] of unpricedWhy) warnings.push(`${round(hours, 4)} GPU-hours not priced: ${why}`)
  if (assumedOnDemand > 0) warnings.push(`${round(assumedOnDemand, 4)} GPU-hours on nodes without a capacity-type label (karpenter.sh/capacity-type or eks.amazonaws.com/capacityType) were priced on-demand`)

  const keyOf = (p: PodUsage): string => {
    if (opts.by === 'tenant') return nsTenant.get(p.namespace) ?? p.namespace
    if (opts.by === 'node') return p.node ?? '(no node)'
    return p.model ?? '(no aip.dev/model label)'
  }
  const groups = new Map<string, PodUsage[]>()
  for (const p of pods.values()) {
    if (!(p.gpuHours > 0) && p.prompt === undefined && p.generation === undefined) continue
    const k = keyOf(p)
    groups.set(k, [...(groups.get(k) ?? []), p])
  }
  const flags = {hasKsm, hasDcgm, hasVllm}
  const rows = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([k, ps]) => {
    const row = aggregate(k, ps, flags)
    if (opts.by === 'node') Object.assign(row, {instanceType: ps[0]!.instanceType, region: ps[0]!.region, capacityType: ps[0]!.capacityType})
    return row
  })
  const total = aggregate('total', [...groups.values()].flat(), flags)
  const seconds = opts.windowSeconds
  const dcgmNote = `${opts.stepSeconds}s samples of dcgm-exporter DCGM_FI_DEV_GPU_UTIL < ${opts.idleThresholdPercent}%`
  return {
    source: client.describe,
    window: {start: new Date((opts.end - seconds) * 1000).toISOString(), end: new Date(opts.end * 1000).toISOString(), seconds, stepSeconds: opts.stepSeconds},
    by: opts.by,
    prices: {...prices.info, currency: 'USD'},
    sources: {
      gpuHours: `kube-state-metrics kube_pod_container_resource_requests{resource="nvidia_com_gpu"} of pods bound to a node and Pending/Running, sampled every ${opts.stepSeconds}s`,
      idleGpuHours: dcgmNote,
      tokens: 'increase() of vllm:prompt_tokens_total + vllm:generation_tokens_total',
      costUsd: `GPU-hours x (instance price / GPUs per instance) by kube_node_labels instance type, region, capacity type; prices: ${prices.info.source}${prices.info.source === 'file' ? ` ${prices.info.file}` : ''} dated ${prices.info.date}`,
    },
    rows,
    total,
    missing,
    warnings,
  }
}

function aggregate(key: string, ps: PodUsage[], f: {hasKsm: boolean; hasDcgm: boolean; hasVllm: boolean}): CostRow {
  const sum = (g: (p: PodUsage) => number | undefined) => ps.reduce((a, p) => a + (g(p) ?? 0), 0)
  const gpuHours = f.hasKsm ? sum((p) => p.gpuHours) : null
  const gpuPods = ps.filter((p) => p.gpuHours > 0)
  const covered = gpuPods.filter((p) => p.dcgmHours !== undefined && p.dcgmHours > 0)
  const idle = f.hasDcgm && covered.length > 0 ? covered.reduce((a, p) => a + (p.idleHours ?? 0), 0) : null
  const coveredHours = covered.reduce((a, p) => a + (p.dcgmHours ?? 0), 0)
  // no vLLM counter for any pod of the row (a pod that is not vLLM, or still loading): unknown, not 0
  const served = f.hasVllm && ps.some((p) => p.prompt !== undefined || p.generation !== undefined)
  const prompt = served ? sum((p) => p.prompt) : null
  const generation = served ? sum((p) => p.generation) : null
  const tokens = prompt === null || generation === null ? null : prompt + generation
  const unpriced = sum((p) => p.unpriced)
  // every GPU-hour of the row unpriced: the cost is unknown, not $0 (a partly priced row keeps the
  // priced part, and unpricedGpuHours says what is left out)
  const cost = f.hasKsm && !(unpriced > 0 && unpriced >= sum((p) => p.gpuHours)) ? sum((p) => p.costUsd) : null
  return {
    key,
    pods: new Set(ps.map((p) => `${p.namespace}/${p.pod}`)).size,
    gpuHours: gpuHours === null ? null : round(gpuHours, 6),
    idleGpuHours: idle === null ? null : round(idle, 6),
    idleShare: idle === null || coveredHours === 0 ? null : round(idle / coveredHours, 4),
    promptTokens: prompt === null ? null : Math.round(prompt),
    generationTokens: generation === null ? null : Math.round(generation),
    tokens: tokens === null ? null : Math.round(tokens),
    costUsd: cost === null ? null : round(cost, 2),
    unpricedGpuHours: round(unpriced, 6),
    costPerMillionTokensUsd: cost === null || tokens === null || tokens <= 0 || unpriced > 0 ? null : round(cost / (tokens / 1e6), 4),
  }
}

export function round(x: number, digits: number): number {
  const f = 10 ** digits
  return Math.round(x * f) / f
}
