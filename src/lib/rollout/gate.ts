/**
 * Reads one serving track (the stable or the canary Deployment of a model) from Prometheus over
 * the interval: error rate, TTFT p95 and ITL p95, with the same definitions as `aip metrics tail`
 * (src/lib/metrics/queries.ts): `stop` and `length` finish reasons of vllm:request_success_total
 * are successes, every other reason an error; quantiles by histogram_quantile over rate().
 *
 * vLLM labels its series with `model_name` only, and both tracks serve the same name; the tracks are
 * told apart by the `pod` label the scrape adds (Prometheus Operator's ServiceMonitor relabelling
 * sets namespace/pod/service from the target's metadata). A Deployment's pods are named
 * `<deployment>-<pod-template-hash>-<5 chars>` (the ReplicaSet is `<deployment>-<hash>` and its pods
 * use generateName `<replicaset>-`: kubernetes pkg/controller/deployment/sync.go, controller_utils
 * GetPodFromTemplate), so `pod=~"<deployment>-[a-z0-9]+-[a-z0-9]+"` is exactly one Deployment's pods:
 * PromQL regexes are fully anchored, and `qwen3-8b-canary-<hash>-<id>` has one segment too many to
 * match the stable's `qwen3-8b-[a-z0-9]+-[a-z0-9]+`.
 */
import type {PrometheusClient} from '../metrics/prometheus.js'
import {promDuration} from '../metrics/queries.js'
import type {TrackMetrics} from './plan.js'

const SUCCESS_REASONS = new Set(['stop', 'length'])

export interface TrackRef {
  namespace: string
  servedName: string
  /** the track's Deployment name */
  deployment: string
}

function quote(v: string): string {
  return JSON.stringify(v)
}

export function trackSelector(t: TrackRef): string {
  return `namespace=${quote(t.namespace)},model_name=${quote(t.servedName)},pod=~${quote(`${t.deployment}-[a-z0-9]+-[a-z0-9]+`)}`
}

export function trackQueries(t: TrackRef, windowMs: number): {finished: string; ttftP95: string; itlP95: string} {
  const sel = trackSelector(t)
  const w = promDuration(windowMs)
  const q = (metric: string) => `histogram_quantile(0.95, sum by (le) (rate(${metric}_bucket{${sel}}[${w}])))`
  return {
    finished: `sum by (finished_reason) (rate(vllm:request_success_total{${sel}}[${w}]))`,
    ttftP95: q('vllm:time_to_first_token_seconds'),
    // the newer name, else the deprecated one older vLLM releases export
    itlP95: `${q('vllm:inter_token_latency_seconds')} or ${q('vllm:time_per_output_token_seconds')}`,
  }
}

function finite(v: number | undefined): number | null {
  return v === undefined || !Number.isFinite(v) ? null : v
}

export async function measureTrack(prom: PrometheusClient, t: TrackRef, windowMs: number, signal?: AbortSignal): Promise<TrackMetrics> {
  const q = trackQueries(t, windowMs)
  const [finished, ttft, itl] = await Promise.all([
    prom.query(q.finished, {signal, what: 'the finished requests of ' + t.deployment}),
    prom.query(q.ttftP95, {signal, what: 'the TTFT p95 of ' + t.deployment}),
    prom.query(q.itlP95, {signal, what: 'the ITL p95 of ' + t.deployment}),
  ])
  let ok = 0
  let errors = 0
  for (const s of finished) {
    if (!Number.isFinite(s.value)) continue
    if (SUCCESS_REASONS.has(s.labels.finished_reason ?? '')) ok += s.value
    else errors += s.value
  }
  const total = ok + errors
  if (!(total > 0)) return {requestsPerSecond: null, errorRate: null, ttftP95: null, itlP95: null, state: 'no-data'}
  return {requestsPerSecond: total, errorRate: errors / total, ttftP95: finite(ttft[0]?.value), itlP95: finite(itl[0]?.value), state: 'ok'}
}
