// A loopback Prometheus exporter that serves vLLM's and dcgm-exporter's REAL metric names and
// types, in the text exposition format (0.0.4), with values the test controls.
//
// Plain JS (typed by vllm-exporter.d.mts) so bench/metrics.mjs can use it without a TS loader.
//
// Values are either fixed numbers or "rates": a counter (or every bucket of a histogram) that grows
// linearly with time, value = perSecond * (elapsed + OFFSET). All series of one scrape are computed
// at the same instant, so Prometheus's rate() of a bucket is perSecond_i * f with the same factor f
// for every bucket and series: histogram_quantile over rates is exactly the quantile of the
// configured per-second bucket counts. OFFSET keeps counters far from zero so rate()'s
// "extrapolate no further than zero" rule never applies.
import {createServer} from 'node:http'
import {performance} from 'node:perf_hooks'

const OFFSET = 1000

/** vLLM's TTFT buckets (vllm/engine/metrics.py). */
export const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
/** vLLM's inter-token latency buckets. */
export const ITL_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0]
/** vLLM's request latency buckets. */
export const E2E_BUCKETS = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]

const HELP = {
  'vllm:time_to_first_token_seconds': ['histogram', 'Histogram of time to first token in seconds.'],
  'vllm:inter_token_latency_seconds': ['histogram', 'Histogram of inter-token latency in seconds.'],
  'vllm:time_per_output_token_seconds': ['histogram', 'Histogram of time per output token in seconds. DEPRECATED: Use vllm:inter_token_latency_seconds instead.'],
  'vllm:e2e_request_latency_seconds': ['histogram', 'Histogram of e2e request latency in seconds.'],
  'vllm:generation_tokens_total': ['counter', 'Number of generation tokens processed.'],
  'vllm:prompt_tokens_total': ['counter', 'Number of prefill tokens processed.'],
  'vllm:request_success_total': ['counter', 'Count of successfully processed requests.'],
  'vllm:num_requests_running': ['gauge', 'Number of requests in model execution batches.'],
  'vllm:num_requests_waiting': ['gauge', 'Number of requests waiting to be processed.'],
  'vllm:gpu_cache_usage_perc': ['gauge', 'GPU KV-cache usage. 1 means 100 percent usage. DEPRECATED: Use vllm:kv_cache_usage_perc instead.'],
  'vllm:kv_cache_usage_perc': ['gauge', 'KV-cache usage. 1 means 100 percent usage.'],
  DCGM_FI_DEV_GPU_UTIL: ['gauge', 'GPU utilization (in %).'],
  DCGM_FI_DEV_FB_USED: ['gauge', 'Framebuffer memory used (in MiB).'],
  DCGM_FI_DEV_FB_FREE: ['gauge', 'Framebuffer memory free (in MiB).'],
}

function labelKey(labels) {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(',')
}

function escape(v) {
  return String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function fmtLabels(labels, extra) {
  const all = {...labels, ...extra}
  const keys = Object.keys(all)
  if (keys.length === 0) return ''
  return `{${keys.map((k) => `${k}="${escape(all[k])}"`).join(',')}}`
}

function fmtNum(v) {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

/**
 * Reference implementation of Prometheus's histogram_quantile (promql/quantile.go, bucketQuantile,
 * v2.42): linear interpolation inside the bucket holding rank q*total, lower bound 0 for the first
 * bucket, the highest finite bound when the rank falls into +Inf.
 * @param {number} q
 * @param {number[]} bounds finite upper bounds, ascending
 * @param {number[]} counts NON-cumulative counts, bounds.length + 1 entries (last = +Inf bucket)
 */
export function promHistogramQuantile(q, bounds, counts) {
  const cum = []
  let acc = 0
  for (const c of counts) cum.push((acc += c))
  const total = cum[cum.length - 1]
  if (total === 0) return Number.NaN
  let rank = q * total
  let b = cum.findIndex((c, i) => i < cum.length - 1 && c >= rank)
  if (b === -1) b = cum.length - 1
  if (b === cum.length - 1) return bounds[bounds.length - 1]
  if (b === 0 && bounds[0] <= 0) return bounds[0]
  let start = 0
  let count = cum[b]
  if (b > 0) {
    start = bounds[b - 1]
    count -= cum[b - 1]
    rank -= cum[b - 1]
  }
  return start + (bounds[b] - start) * (rank / count)
}

/** Starts the exporter on 127.0.0.1, port 0. */
export async function startVllmExporter() {
  const t0 = performance.now()
  const elapsed = () => (performance.now() - t0) / 1000 + OFFSET
  /** name -> Map<labelKey, series> */
  const families = new Map()
  let scrapes = 0
  const scrapeWaiters = []

  const family = (name) => {
    let f = families.get(name)
    if (!f) {
      f = new Map()
      families.set(name, f)
    }
    return f
  }
  const valueOf = (v, e) => (typeof v === 'function' ? v() : typeof v === 'object' && v !== null ? v.perSecond * e : v)

  function render() {
    const e = elapsed()
    const out = []
    for (const [name, series] of families) {
      if (series.size === 0) continue
      const [type, help] = HELP[name] ?? ['gauge', name]
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const s of series.values()) {
        if (type !== 'histogram') {
          out.push(`${name}${fmtLabels(s.labels)} ${fmtNum(valueOf(s.value, e))}`)
          continue
        }
        const scale = s.rate ? e : 1
        let acc = 0
        s.bounds.forEach((le, i) => {
          acc += s.counts[i] * scale
          out.push(`${name}_bucket${fmtLabels(s.labels, {le: String(le)})} ${fmtNum(acc)}`)
        })
        acc += s.counts[s.bounds.length] * scale
        out.push(`${name}_bucket${fmtLabels(s.labels, {le: '+Inf'})} ${fmtNum(acc)}`)
        out.push(`${name}_sum${fmtLabels(s.labels)} ${fmtNum(s.sum * scale)}`)
        out.push(`${name}_count${fmtLabels(s.labels)} ${fmtNum(acc)}`)
      }
    }
    return out.join('\n') + '\n'
  }

  const server = createServer((req, res) => {
    if (req.url?.startsWith('/metrics')) {
      const body = render()
      scrapes++
      for (const w of scrapeWaiters.splice(0)) w()
      res.writeHead(200, {'content-type': 'text/plain; version=0.0.4; charset=utf-8'})
      res.end(body)
      return
    }
    res.writeHead(404).end()
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address()

  const api = {
    port,
    target: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}/metrics`,
    get scrapes() {
      return scrapes
    },
    /** Resolves after `n` more scrapes have been served. */
    async waitForScrapes(n = 1) {
      const goal = scrapes + n
      while (scrapes < goal) await new Promise((r) => scrapeWaiters.push(r))
    },
    render,
    /** A gauge, or a counter with a fixed value. `value` may be a number or a function. */
    set(name, labels, value) {
      family(name).set(labelKey(labels), {labels, value})
    },
    /** A counter growing by `perSecond` (value = perSecond * (elapsed + 1000)). */
    counterRate(name, labels, perSecond) {
      family(name).set(labelKey(labels), {labels, value: {perSecond}})
    },
    /** A histogram with fixed NON-cumulative counts (bounds.length + 1 entries, last = +Inf). */
    histogram(name, labels, bounds, counts, sum = 0) {
      family(name).set(labelKey(labels), {labels, bounds, counts, sum, rate: false})
    },
    /** A histogram whose buckets grow by the given NON-cumulative per-second counts. */
    histogramRate(name, labels, bounds, perSecond, sumPerSecond = 0) {
      family(name).set(labelKey(labels), {labels, bounds, counts: perSecond, sum: sumPerSecond, rate: true})
    },
    /** Removes one series (labels given) or the whole family. */
    remove(name, labels) {
      if (labels) families.get(name)?.delete(labelKey(labels))
      else families.delete(name)
    },
    clear() {
      families.clear()
    },
    /**
     * Registers the full vLLM metric set of one serving pod of `model`. Every value has a default;
     * pass `legacy: true` to export only the deprecated names (gpu_cache_usage_perc,
     * time_per_output_token_seconds) as older vLLM releases do.
     */
    vllmPod(o) {
      const labels = {model_name: o.model, ...(o.pod ? {pod: o.pod} : {}), ...(o.namespace ? {namespace: o.namespace} : {})}
      const ttft = o.ttftPerSecond ?? TTFT_BUCKETS.map(() => 0).concat([0]).map((_, i) => (i === 8 ? 3 : i === 9 ? 1 : 0))
      const itl = o.itlPerSecond ?? ITL_BUCKETS.map(() => 0).concat([0]).map((_, i) => (i === 1 ? 40 : i === 2 ? 10 : 0))
      const e2e = o.e2ePerSecond ?? E2E_BUCKETS.map(() => 0).concat([0]).map((_, i) => (i === 4 ? 4 : 0))
      api.histogramRate('vllm:time_to_first_token_seconds', labels, TTFT_BUCKETS, ttft)
      api.histogramRate(o.legacy ? 'vllm:time_per_output_token_seconds' : 'vllm:inter_token_latency_seconds', labels, ITL_BUCKETS, itl)
      api.histogramRate('vllm:e2e_request_latency_seconds', labels, E2E_BUCKETS, e2e)
      api.counterRate('vllm:generation_tokens_total', labels, o.generationPerSecond ?? 100)
      api.counterRate('vllm:prompt_tokens_total', labels, o.promptPerSecond ?? 400)
      api.set('vllm:num_requests_running', labels, o.running ?? 4)
      api.set('vllm:num_requests_waiting', labels, o.waiting ?? 0)
      api.set(o.legacy ? 'vllm:gpu_cache_usage_perc' : 'vllm:kv_cache_usage_perc', labels, o.kvUsage ?? 0.5)
      for (const [reason, perSecond] of Object.entries(o.finishedPerSecond ?? {stop: 3, length: 1})) {
        api.counterRate('vllm:request_success_total', {...labels, finished_reason: reason}, perSecond)
      }
      return labels
    },
    /** One GPU as dcgm-exporter (kubernetes mode) reports it for the pod that holds it. */
    dcgmGpu(o) {
      const labels = {gpu: String(o.gpu ?? 0), UUID: `GPU-${o.pod}-${o.gpu ?? 0}`, device: `nvidia${o.gpu ?? 0}`, modelName: 'NVIDIA L4', Hostname: 'node-1', container: 'vllm', namespace: o.namespace, pod: o.pod}
      api.set('DCGM_FI_DEV_GPU_UTIL', labels, o.util)
      api.set('DCGM_FI_DEV_FB_USED', labels, o.fbUsedMiB)
      api.set('DCGM_FI_DEV_FB_FREE', labels, o.fbFreeMiB)
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.()
        server.close(() => resolve())
      }),
  }
  return api
}
