/**
 * PromQL for `aip cost`, all instant queries evaluated at the window's end over a range of the
 * window's length. Sources (names as kube-state-metrics v2, dcgm-exporter and vLLM export them):
 *
 * - GPU-hours: kube-state-metrics `kube_pod_container_resource_requests{resource="nvidia_com_gpu"}`
 *   (labels namespace, pod, container, node, resource, unit), sampled every `step` by a subquery and
 *   summed: GPU-hours = sum_over_time(requests[W:step]) * step / 3600. Only pods bound to a node
 *   (`node!=""`) in phase Pending or Running (`kube_pod_status_phase`) hold a GPU: a Pending pod
 *   that is not scheduled yet holds none, a Succeeded/Failed pod no longer does.
 * - The node's instance type, region and capacity type: `kube_node_labels` (label_ + the Kubernetes
 *   label with [./-] turned into _; kube-state-metrics exports only allow-listed labels:
 *   `--metric-labels-allowlist=nodes=[node.kubernetes.io/instance-type,topology.kubernetes.io/region,karpenter.sh/capacity-type,eks.amazonaws.com/capacityType]`).
 * - The model: `kube_pod_labels` label_aip_dev_model (allow-list `pods=[aip.dev/model]`); the tenant:
 *   `kube_namespace_labels` label_aip_dev_tenant (allow-list `namespaces=[aip.dev/tenant]`), else the
 *   namespace itself.
 * - Idle GPU-hours: dcgm-exporter `DCGM_FI_DEV_GPU_UTIL` (one series per GPU, with the pod that holds
 *   it as pod/namespace, or exported_pod/exported_namespace) below the idle threshold, sampled on the
 *   same steps: idle = sum_over_time((util < bool 5)[W:step]) * step / 3600.
 * - Tokens: increase() of vLLM's `vllm:prompt_tokens_total` and `vllm:generation_tokens_total`.
 */
import {dcgmByWorkload} from '../metrics/queries.js'

export interface CostWindow {
  /** Window length in seconds. */
  seconds: number
  /** Subquery resolution in seconds. */
  step: number
}

const range = (w: CostWindow) => `[${w.seconds}s:${w.step}s]`

export const SOURCE_METRICS = {
  'kube-state-metrics': ['kube_pod_container_resource_requests', 'kube_pod_status_phase', 'kube_pod_labels', 'kube_node_labels'],
  'dcgm-exporter': ['DCGM_FI_DEV_GPU_UTIL'],
  vllm: ['vllm:prompt_tokens_total', 'vllm:generation_tokens_total'],
} as const

export function costQueries(w: CostWindow, idleThresholdPercent: number): Record<'gpu' | 'podLabels' | 'nodeLabels' | 'nsLabels' | 'idle' | 'dcgmSteps' | 'promptTokens' | 'generationTokens' | 'present', string> {
  const W = `[${w.seconds}s]`
  const held = 'kube_pod_container_resource_requests{resource="nvidia_com_gpu",node!=""} * on (namespace, pod) group_left () (max by (namespace, pod) (kube_pod_status_phase{phase=~"Pending|Running"}) == 1)'
  const dcgm = dcgmByWorkload('DCGM_FI_DEV_GPU_UTIL')
  const all = Object.values(SOURCE_METRICS).flat()
  return {
    gpu: `sum by (namespace, pod, node) (sum_over_time((${held})${range(w)}))`,
    podLabels: `max by (namespace, pod, label_aip_dev_model) (last_over_time(kube_pod_labels${W}))`,
    nodeLabels: `last_over_time(kube_node_labels${W})`,
    nsLabels: `last_over_time(kube_namespace_labels${W})`,
    idle: `sum by (namespace, pod) (sum_over_time((${dcgm} < bool ${idleThresholdPercent})${range(w)}))`,
    dcgmSteps: `sum by (namespace, pod) (count_over_time((${dcgm})${range(w)}))`,
    promptTokens: `sum by (namespace, pod, model_name) (increase(vllm:prompt_tokens_total${W}))`,
    generationTokens: `sum by (namespace, pod, model_name) (increase(vllm:generation_tokens_total${W}))`,
    // which source metrics have any series in the window: one tagged count per metric
    present: all.map((m) => `label_replace(count(last_over_time({__name__="${m}"}${W})), "aip_source", "${m}", "", "")`).join(' or '),
  }
}
