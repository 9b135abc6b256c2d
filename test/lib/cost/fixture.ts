/**
 * Backfilled series for `aip cost` tests, with every expected number derived here by hand.
 *
 * Times: samples every 60 s at whole minutes. `end` = `base + 30`, so a 1h window [end-3600, end]
 * holds the 60 whole minutes base-59m .. base: the GPU/DCGM subquery (60 s steps) sees 60 steps, and
 * increase() sees samples 30 s inside each edge (under 1.1 x the interval, so Prometheus
 * extrapolates to both edges): increase = slope per minute x 60, exactly.
 *
 * Nodes (kube_node_labels): n1 g5.xlarge on-demand (karpenter label), n2 g6e.12xlarge spot
 * (karpenter), n3 g6.xlarge ON_DEMAND (EKS managed node group label), n4 "x1.gpu" (no price).
 * Pods:
 *   a  aip-models/qwen-a       n1  1 GPU  whole window; util 2% up to base-36m then 60%; 600 prompt + 300 generated tokens/min
 *   b  team-a/llama-b          n2  2 GPUs whole window; gpu0 0%, gpu1 90%; 1000 + 500 tokens/min
 *   c  aip-models/qwen-c       n3  1 GPU  from base-30m (31 steps); no DCGM, no vLLM counters (still loading)
 *   d  aip-models/qwen-pending ""  1 GPU  Pending, not bound to a node: holds no GPU
 *   e  aip-models/preload-e    n1  1 GPU  Succeeded: holds no GPU
 *   f  team-a/custom-f         n4  1 GPU  whole window, no aip.dev/model label, no DCGM, no vLLM
 * Namespace team-a carries aip.dev/tenant=team-a; aip-models has no tenant label.
 * KSM series start at base-6h; DCGM and vLLM at base-3h: a window ending at base-4h has
 * kube-state-metrics only (missing DCGM and vLLM).
 */
export interface CostFixture {
  text: string
  base: number
  end: number
}

export function costFixture(nowSeconds = Math.floor(Date.now() / 1000)): CostFixture {
  const base = Math.floor(nowSeconds / 60) * 60 - 120
  const end = base + 30
  const from = base - 6 * 3600
  const to = base + 5 * 60
  const families = new Map<string, string[]>()
  const add = (name: string, labels: Record<string, string>, start: number, value: (t: number) => number) => {
    const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')
    const lines = families.get(name) ?? []
    for (let t = start; t <= to; t += 60) lines.push(`${name}{${l}} ${value(t)} ${t}`)
    families.set(name, lines)
  }
  const ksm = from
  const node = (n: string, type: string, extra: Record<string, string>) =>
    add('kube_node_labels', {node: n, label_node_kubernetes_io_instance_type: type, label_topology_kubernetes_io_region: 'us-east-1', ...extra}, ksm, () => 1)
  node('n1', 'g5.xlarge', {label_karpenter_sh_capacity_type: 'on-demand'})
  node('n2', 'g6e.12xlarge', {label_karpenter_sh_capacity_type: 'spot'})
  node('n3', 'g6.xlarge', {label_eks_amazonaws_com_capacity_type: 'ON_DEMAND'})
  node('n4', 'x1.gpu', {label_karpenter_sh_capacity_type: 'on-demand'})
  add('kube_namespace_labels', {namespace: 'team-a', label_aip_dev_tenant: 'team-a'}, ksm, () => 1)
  add('kube_namespace_labels', {namespace: 'aip-models'}, ksm, () => 1)
  const pod = (ns: string, name: string, n: string, gpus: number, phase: string, start: number, model?: string) => {
    add('kube_pod_container_resource_requests', {namespace: ns, pod: name, uid: `uid-${name}`, container: 'main', node: n, resource: 'nvidia_com_gpu', unit: 'integer'}, start, () => gpus)
    for (const ph of ['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']) add('kube_pod_status_phase', {namespace: ns, pod: name, uid: `uid-${name}`, phase: ph}, start, () => (ph === phase ? 1 : 0))
    add('kube_pod_labels', {namespace: ns, pod: name, uid: `uid-${name}`, ...(model ? {label_aip_dev_model: model} : {})}, start, () => 1)
  }
  pod('aip-models', 'qwen-a', 'n1', 1, 'Running', ksm, 'qwen3-8b')
  pod('team-a', 'llama-b', 'n2', 2, 'Running', ksm, 'llama-70b')
  pod('aip-models', 'qwen-c', 'n3', 1, 'Running', base - 30 * 60, 'qwen3-8b')
  pod('aip-models', 'qwen-pending', '', 1, 'Pending', ksm, 'qwen3-8b')
  pod('aip-models', 'preload-e', 'n1', 1, 'Succeeded', ksm, 'qwen3-8b')
  pod('team-a', 'custom-f', 'n4', 1, 'Running', ksm)

  const late = base - 3 * 3600
  const gpu = (ns: string, p: string, i: number, host: string, util: (t: number) => number) =>
    add('DCGM_FI_DEV_GPU_UTIL', {gpu: String(i), UUID: `GPU-${p}-${i}`, device: `nvidia${i}`, modelName: 'NVIDIA A10G', Hostname: host, container: 'vllm', namespace: ns, pod: p}, late, util)
  gpu('aip-models', 'qwen-a', 0, 'n1', (t) => (t < base - 35 * 60 ? 2 : 60))
  gpu('team-a', 'llama-b', 0, 'n2', () => 0)
  gpu('team-a', 'llama-b', 1, 'n2', () => 90)
  const counter = (ns: string, p: string, model: string, promptPerMin: number, genPerMin: number) => {
    const l = {namespace: ns, pod: p, model_name: model}
    add('vllm:prompt_tokens_total', l, late, (t) => ((t - late) / 60) * promptPerMin)
    add('vllm:generation_tokens_total', l, late, (t) => ((t - late) / 60) * genPerMin)
  }
  counter('aip-models', 'qwen-a', 'Qwen/Qwen3-8B', 600, 300)
  counter('team-a', 'llama-b', 'meta-llama/Llama-3.3-70B-Instruct', 1000, 500)

  const out: string[] = []
  for (const [name, lines] of families) out.push(`# TYPE ${name} gauge`, ...lines)
  out.push('# EOF', '')
  return {text: out.join('\n'), base, end}
}

/** Expected figures for the 1h window ending at `end` (prices from the built-in table). */
export const PRICE = {g5xlarge: 1.006, g6e12xlargeSpotPerGpu: 4.72 / 4, g6xlarge: 0.8048}
export const EXPECTED = {
  qwen: {gpuHours: 1 + 31 / 60, idleGpuHours: 24 / 60, tokens: 54_000, cost: 1 * PRICE.g5xlarge + (31 / 60) * PRICE.g6xlarge},
  llama: {gpuHours: 2, idleGpuHours: 1, tokens: 90_000, cost: 2 * PRICE.g6e12xlargeSpotPerGpu},
  unlabelled: {gpuHours: 1},
}
