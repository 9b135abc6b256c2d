/**
 * PromQL for vLLM and DCGM metrics.
 *
 * Every expression returns ALL models at once (`sum by (model_name)`; with --pods
 * `by (model_name, namespace, pod)`), and a refresh sends them as ONE request: each expression is
 * tagged with `label_replace(EXPR, "aip_metric", "KEY", "", "")` and the tagged vectors are joined
 * with `or` (the tags make every label set distinct, so `or` keeps all of them). So the number of
 * queries per refresh is 1 whatever the number of models (bench/metrics.mjs measures it).
 *
 * Choices (documented in the README):
 * - Latency quantiles: `histogram_quantile(q, sum by (..., le) (rate(X_bucket[window])))`.
 * - Inter-token latency reads `vllm:inter_token_latency_seconds` and falls back (`or`) to the older
 *   `vllm:time_per_output_token_seconds`.
 * - KV-cache usage reads `vllm:kv_cache_usage_perc` and falls back to the deprecated
 *   `vllm:gpu_cache_usage_perc`; it is the MAX over replicas (the most pressed replica is what
 *   queues requests), a fraction in [0, 1].
 * - Success/error rates come from `vllm:request_success_total` by `finished_reason`: `stop` and
 *   `length` count as successes; every other reason (`abort`, which includes client disconnects and
 *   engine aborts, and `error` in newer vLLM) counts as an error.
 * - Replicas: the number of `vllm:num_requests_running` series per model (one per serving pod).
 * - GPU: DCGM series are aggregated per (namespace, pod), preferring `exported_pod` /
 *   `exported_namespace` when Prometheus renamed the workload labels (honorLabels off), and joined
 *   to models client-side through the pods that export vLLM metrics. Missing DCGM -> null.
 */
import {UsageError} from '../errors.js'
import {suggest} from '../suggest.js'

export const METRIC_KEYS = [
  'replicas',
  'ttft_p50',
  'ttft_p95',
  'itl_p50',
  'itl_p95',
  'e2e_p95',
  'gen_tps',
  'prompt_tps',
  'running',
  'waiting',
  'kv_usage',
  'finished',
  'pods',
  'gpu_util',
  'gpu_count',
  'gpu_mem_used',
  'gpu_mem_free',
] as const
export type MetricKey = (typeof METRIC_KEYS)[number]

export interface QueryOptions {
  /** PromQL range for rate(), e.g. "1m". */
  window: string
  /** Group by pod as well as model. */
  pods: boolean
  /** --promql NAME=EXPR replacements. */
  overrides?: Partial<Record<MetricKey, string>>
}

export const TAG = 'aip_metric'

/** A DCGM series with `pod`/`namespace` taken from `exported_pod`/`exported_namespace` when Prometheus renamed them (honorLabels off). */
export function dcgmByWorkload(metric: string): string {
  return `label_replace(label_replace(${metric}, "pod", "$1", "exported_pod", "(.+)"), "namespace", "$1", "exported_namespace", "(.+)")`
}

export function buildQueries(opts: QueryOptions): Record<MetricKey, string> {
  const w = opts.window
  const g = opts.pods ? 'model_name, namespace, pod' : 'model_name'
  const quantile = (q: number, metric: string) => `histogram_quantile(${q}, sum by (${g}, le) (rate(${metric}_bucket[${w}])))`
  const itl = (q: number) => `${quantile(q, 'vllm:inter_token_latency_seconds')} or ${quantile(q, 'vllm:time_per_output_token_seconds')}`
  const dcgm = dcgmByWorkload
  const base: Record<MetricKey, string> = {
    replicas: `count by (${g}) (vllm:num_requests_running)`,
    ttft_p50: quantile(0.5, 'vllm:time_to_first_token_seconds'),
    ttft_p95: quantile(0.95, 'vllm:time_to_first_token_seconds'),
    itl_p50: itl(0.5),
    itl_p95: itl(0.95),
    e2e_p95: quantile(0.95, 'vllm:e2e_request_latency_seconds'),
    gen_tps: `sum by (${g}) (rate(vllm:generation_tokens_total[${w}]))`,
    prompt_tps: `sum by (${g}) (rate(vllm:prompt_tokens_total[${w}]))`,
    running: `sum by (${g}) (vllm:num_requests_running)`,
    waiting: `sum by (${g}) (vllm:num_requests_waiting)`,
    kv_usage: `max by (${g}) (vllm:kv_cache_usage_perc) or max by (${g}) (vllm:gpu_cache_usage_perc)`,
    finished: `sum by (${g}, finished_reason) (rate(vllm:request_success_total[${w}]))`,
    pods: 'group by (model_name, namespace, pod) (vllm:num_requests_running)',
    gpu_util: `sum by (namespace, pod) (${dcgm('DCGM_FI_DEV_GPU_UTIL')})`,
    gpu_count: `count by (namespace, pod) (${dcgm('DCGM_FI_DEV_GPU_UTIL')})`,
    gpu_mem_used: `sum by (namespace, pod) (${dcgm('DCGM_FI_DEV_FB_USED')})`,
    gpu_mem_free: `sum by (namespace, pod) (${dcgm('DCGM_FI_DEV_FB_FREE')})`,
  }
  for (const [k, v] of Object.entries(opts.overrides ?? {})) if (v) base[k as MetricKey] = v
  return base
}

/** One PromQL expression that evaluates every metric: tagged and joined with `or`. */
export function combinedQuery(queries: Record<MetricKey, string>): string {
  return METRIC_KEYS.map((k) => `label_replace(${queries[k]}, "${TAG}", "${k}", "", "")`).join('\nor\n')
}

/** Parses `--promql NAME=EXPR` values. Unknown names are usage errors with a suggestion. */
export function parseOverrides(values: readonly string[] = []): Partial<Record<MetricKey, string>> {
  const out: Partial<Record<MetricKey, string>> = {}
  for (const raw of values) {
    const i = raw.indexOf('=')
    const name = i > 0 ? raw.slice(0, i).trim() : ''
    const expr = i > 0 ? raw.slice(i + 1).trim() : ''
    if (!name || !expr) {
      throw new UsageError(`invalid --promql "${raw}"`, {fix: `use NAME=EXPR with NAME one of: ${METRIC_KEYS.join(', ')}`})
    }
    if (!(METRIC_KEYS as readonly string[]).includes(name)) {
      const near = suggest(name, METRIC_KEYS)
      throw new UsageError(`unknown metric "${name}" in --promql`, {fix: near.length > 0 ? `did you mean ${near.join(' or ')}? (names: ${METRIC_KEYS.join(', ')})` : `use one of: ${METRIC_KEYS.join(', ')}`})
    }
    out[name as MetricKey] = expr
  }
  return out
}

/** A PromQL range such as 1m, 30s, 5m from a user duration; Prometheus wants integer units. */
export function promDuration(ms: number): string {
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${Math.round(ms)}ms`
}
