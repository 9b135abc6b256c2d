/**
 * One refresh: run the combined query, fold the tagged series into one row per model (or per
 * model and pod), and evaluate thresholds. Pure data in, pure data out; the Prometheus client is a
 * parameter so tests and the benchmark hand in loopback ones.
 */
import {NotFoundError} from '../errors.js'
import {suggest} from '../suggest.js'
import type {PromSample, PrometheusClient} from './prometheus.js'
import {buildQueries, combinedQuery, METRIC_KEYS, type MetricKey, type QueryOptions, TAG} from './queries.js'

/**
 * One row of `aip metrics tail` (also the NDJSON line schema, with `time` added). Durations in
 * seconds, rates per second, fractions in [0, 1]; null when Prometheus has no value (metric not
 * exported, or not enough samples in the window yet).
 */
export interface MetricsRow {
  model: string
  namespace: string | null
  pod: string | null
  /** "ok", or "no-samples" when no rate-based value exists yet (fewer than 2 scrapes in the window, or no traffic). */
  state: 'ok' | 'no-samples'
  replicas: number | null
  ttftP50: number | null
  ttftP95: number | null
  itlP50: number | null
  itlP95: number | null
  e2eP95: number | null
  generationTokensPerSecond: number | null
  promptTokensPerSecond: number | null
  requestsRunning: number | null
  requestsWaiting: number | null
  kvCacheUsage: number | null
  successPerSecond: number | null
  errorsPerSecond: number | null
  /** errors / (successes + errors) over the window; null without finished requests. */
  errorRatio: number | null
  /** DCGM_FI_DEV_GPU_UTIL averaged over all GPUs of the model's pods, percent 0-100. */
  gpuUtilPercent: number | null
  /** DCGM_FI_DEV_FB_USED summed over the model's GPUs, bytes. */
  gpuMemoryUsedBytes: number | null
  /** FB_USED + FB_FREE, bytes. */
  gpuMemoryTotalBytes: number | null
}

export interface Thresholds {
  /** seconds */
  ttftP95?: number
  /** fraction */
  kvUsage?: number
}

export interface Breach {
  model: string
  pod: string | null
  metric: 'ttftP95' | 'kvCacheUsage'
  value: number
  limit: number
}

export interface Snapshot {
  time: string
  window: string
  rows: MetricsRow[]
  /** Every model Prometheus knows (before the MODEL filter). */
  models: string[]
  breaches: Breach[]
}

export interface SampleOptions extends QueryOptions {
  model?: string
  thresholds?: Thresholds
  signal?: AbortSignal
}

const SUCCESS_REASONS = new Set(['stop', 'length'])
const MIB = 1024 * 1024

function num(v: number | undefined): number | null {
  return v === undefined || !Number.isFinite(v) ? null : v
}

function emptyRow(model: string, namespace: string | null, pod: string | null): MetricsRow {
  return {
    model,
    namespace,
    pod,
    state: 'no-samples',
    replicas: null,
    ttftP50: null,
    ttftP95: null,
    itlP50: null,
    itlP95: null,
    e2eP95: null,
    generationTokensPerSecond: null,
    promptTokensPerSecond: null,
    requestsRunning: null,
    requestsWaiting: null,
    kvCacheUsage: null,
    successPerSecond: null,
    errorsPerSecond: null,
    errorRatio: null,
    gpuUtilPercent: null,
    gpuMemoryUsedBytes: null,
    gpuMemoryTotalBytes: null,
  }
}

const SIMPLE: Partial<Record<MetricKey, keyof MetricsRow>> = {
  replicas: 'replicas',
  ttft_p50: 'ttftP50',
  ttft_p95: 'ttftP95',
  itl_p50: 'itlP50',
  itl_p95: 'itlP95',
  e2e_p95: 'e2eP95',
  gen_tps: 'generationTokensPerSecond',
  prompt_tps: 'promptTokensPerSecond',
  running: 'requestsRunning',
  waiting: 'requestsWaiting',
  kv_usage: 'kvCacheUsage',
}
const RATE_FIELDS: Array<keyof MetricsRow> = ['ttftP50', 'ttftP95', 'itlP50', 'itlP95', 'e2eP95', 'generationTokensPerSecond', 'promptTokensPerSecond', 'successPerSecond', 'errorsPerSecond']

/** Folds the tagged series of one combined query into rows. Exported for unit tests. */
export function foldSamples(samples: readonly PromSample[], byPod: boolean): MetricsRow[] {
  const rows = new Map<string, MetricsRow>()
  const keyOf = (l: Record<string, string>) => (byPod ? `${l.model_name}\u0000${l.namespace ?? ''}\u0000${l.pod ?? ''}` : String(l.model_name))
  const row = (l: Record<string, string>): MetricsRow => {
    const k = keyOf(l)
    let r = rows.get(k)
    if (!r) {
      r = emptyRow(l.model_name!, byPod ? l.namespace || null : null, byPod ? l.pod || null : null)
      rows.set(k, r)
    }
    return r
  }
  const gpu = new Map<string, {util?: number; count?: number; used?: number; free?: number}>()
  const podModels: Array<{model: string; pk: string}> = []
  const finished = new Map<string, {ok: number; err: number; any: boolean}>()

  for (const s of samples) {
    const tag = s.labels[TAG] as MetricKey | undefined
    if (!tag || !(METRIC_KEYS as readonly string[]).includes(tag)) continue
    const l = s.labels
    if (tag === 'gpu_util' || tag === 'gpu_count' || tag === 'gpu_mem_used' || tag === 'gpu_mem_free') {
      if (!l.pod) continue
      const pk = `${l.namespace ?? ''}/${l.pod}`
      const g = gpu.get(pk) ?? {}
      if (tag === 'gpu_util') g.util = s.value
      else if (tag === 'gpu_count') g.count = s.value
      else if (tag === 'gpu_mem_used') g.used = s.value
      else g.free = s.value
      gpu.set(pk, g)
      continue
    }
    if (!l.model_name) continue
    if (tag === 'pods') {
      if (l.pod) podModels.push({model: l.model_name, pk: `${l.namespace ?? ''}/${l.pod}`})
      continue
    }
    const r = row(l)
    if (tag === 'finished') {
      const k = keyOf(l)
      const f = finished.get(k) ?? {ok: 0, err: 0, any: false}
      if (Number.isFinite(s.value)) {
        f.any = true
        if (SUCCESS_REASONS.has(l.finished_reason ?? '')) f.ok += s.value
        else f.err += s.value
      }
      finished.set(k, f)
      continue
    }
    const field = SIMPLE[tag]
    if (field) (r as unknown as Record<string, number | null>)[field] = num(s.value)
  }

  for (const [k, f] of finished) {
    const r = rows.get(k)!
    if (!f.any) continue
    r.successPerSecond = f.ok
    r.errorsPerSecond = f.err
    r.errorRatio = f.ok + f.err > 0 ? f.err / (f.ok + f.err) : null
  }

  // GPU: join DCGM (per pod) to rows through the pods that serve each model.
  const acc = new Map<string, {util: number; gpus: number; used: number; total: number; hasUsed: boolean; hasTotal: boolean}>()
  for (const {model, pk} of podModels) {
    const g = gpu.get(pk)
    if (!g) continue
    const [ns, pod] = pk.split('/') as [string, string]
    const k = byPod ? `${model}\u0000${ns}\u0000${pod}` : model
    if (!rows.has(k)) continue
    const a = acc.get(k) ?? {util: 0, gpus: 0, used: 0, total: 0, hasUsed: false, hasTotal: false}
    if (g.util !== undefined && Number.isFinite(g.util) && g.count) {
      a.util += g.util
      a.gpus += g.count
    }
    if (g.used !== undefined && Number.isFinite(g.used)) {
      a.used += g.used * MIB
      a.hasUsed = true
      if (g.free !== undefined && Number.isFinite(g.free)) {
        a.total += (g.used + g.free) * MIB
        a.hasTotal = true
      }
    }
    acc.set(k, a)
  }
  for (const [k, a] of acc) {
    const r = rows.get(k)!
    r.gpuUtilPercent = a.gpus > 0 ? a.util / a.gpus : null
    r.gpuMemoryUsedBytes = a.hasUsed ? a.used : null
    r.gpuMemoryTotalBytes = a.hasTotal ? a.total : null
  }

  for (const r of rows.values()) r.state = RATE_FIELDS.some((f) => r[f] !== null) ? 'ok' : 'no-samples'
  return [...rows.values()].sort((a, b) => a.model.localeCompare(b.model) || (a.namespace ?? '').localeCompare(b.namespace ?? '') || (a.pod ?? '').localeCompare(b.pod ?? ''))
}

export function evaluateThresholds(rows: readonly MetricsRow[], t: Thresholds = {}): Breach[] {
  const out: Breach[] = []
  for (const r of rows) {
    if (t.ttftP95 !== undefined && r.ttftP95 !== null && r.ttftP95 > t.ttftP95) out.push({model: r.model, pod: r.pod, metric: 'ttftP95', value: r.ttftP95, limit: t.ttftP95})
    if (t.kvUsage !== undefined && r.kvCacheUsage !== null && r.kvCacheUsage > t.kvUsage) out.push({model: r.model, pod: r.pod, metric: 'kvCacheUsage', value: r.kvCacheUsage, limit: t.kvUsage})
  }
  return out
}

/** Checks --promql overrides one by one, so a bad expression is reported under its own name. */
export async function validateOverrides(client: PrometheusClient, overrides: Partial<Record<MetricKey, string>>, signal?: AbortSignal): Promise<void> {
  for (const [k, expr] of Object.entries(overrides)) {
    if (expr) await client.query(expr, {signal, what: `--promql ${k}`})
  }
}

/** One refresh: one HTTP request to Prometheus, rows for every model (filtered by `model`). */
export async function collectSnapshot(client: PrometheusClient, opts: SampleOptions): Promise<Snapshot> {
  const expr = combinedQuery(buildQueries(opts))
  const samples = await client.query(expr, {signal: opts.signal, what: 'the metrics query'})
  const all = foldSamples(samples, opts.pods)
  const models = [...new Set(all.map((r) => r.model))].sort()
  let rows = all
  if (opts.model) {
    rows = all.filter((r) => r.model === opts.model)
    if (rows.length === 0) {
      if (models.length > 0) {
        const near = suggest(opts.model, models)
        throw new NotFoundError(`model "${opts.model}" has no metrics in Prometheus`, {
          fix: `${near.length > 0 ? `did you mean ${near.map((m) => `"${m}"`).join(' or ')}? ` : ''}models with metrics: ${models.join(', ')}`,
          details: {models},
        })
      }
      // Nothing scraped yet at all: show the model as waiting for samples, not as unknown.
      rows = [emptyRow(opts.model, null, null)]
    }
  }
  return {time: new Date().toISOString(), window: opts.window, rows, models, breaches: evaluateThresholds(rows, opts.thresholds)}
}
