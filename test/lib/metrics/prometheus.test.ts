/**
 * The metrics library against a REAL Prometheus (Debian's binary) scraping our loopback exporter.
 * Expected values are computed from what the exporter served:
 * - quantiles with Prometheus's own histogram_quantile interpolation (promHistogramQuantile) over
 *   the configured per-second bucket counts. All buckets of a scrape are evaluated at the same
 *   instant, so rate() scales every bucket by the same factor and the quantile is exact (1e-9).
 * - rates (tokens/s, requests/s): the counters grow linearly, so rate() over a window filled with
 *   samples is the configured rate up to the skew between Prometheus's scrape timestamp and the
 *   moment the exporter computed the value (a few ms over a >= 4 s sample span) plus rate()'s
 *   extrapolation to the window edges, which is exact for linear data only when the samples are
 *   evenly spaced: 3 % covers both. Ratios of rates from the same scrape (error ratio) are exact.
 */
import {createServer, request as httpRequest, type Server} from 'node:http'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {NotFoundError, UnreachableError, UsageError} from '../../../src/lib/errors.js'
import {collectSnapshot, connectPrometheus, directEndpoint, PrometheusClient, tailMetrics, validateOverrides} from '../../../src/lib/metrics/index.js'
import {prometheusMissingReason, type PrometheusServer, startPrometheus} from '../../support/prometheus.js'
import {ITL_BUCKETS, promHistogramQuantile, startVllmExporter, TTFT_BUCKETS, type VllmExporter} from '../../support/vllm-exporter.js'

const skip = prometheusMissingReason()
const WINDOW = '5s'

const zeros = (n: number) => Array.from({length: n + 1}, () => 0)
const ttftA1 = zeros(TTFT_BUCKETS.length).map((_, i) => [0, 0, 0, 0, 0, 0, 0, 2, 5, 2, 1][i] ?? 0)
const ttftA2 = zeros(TTFT_BUCKETS.length).map((_, i) => (i === 11 ? 3 : i === 12 ? 1 : 0))
const ttftB = zeros(TTFT_BUCKETS.length).map((_, i) => (i === 9 ? 4 : i === TTFT_BUCKETS.length ? 1 : 0))
const itlA = zeros(ITL_BUCKETS.length).map((_, i) => (i === 0 ? 10 : i === 3 ? 30 : 0))
const itlB = zeros(ITL_BUCKETS.length).map((_, i) => (i === 5 ? 7 : 0))

describe.skipIf(Boolean(skip))(`metrics against a real Prometheus${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ex: VllmExporter
  let prom: PrometheusServer
  let client: PrometheusClient

  beforeAll(async () => {
    ex = await startVllmExporter()
    prom = await startPrometheus({targets: [ex.target]})
    client = new PrometheusClient(directEndpoint(prom.url))
    await prom.waitForTargetsUp()
  })
  afterAll(async () => {
    await prom?.close()
    await ex?.close()
  })

  it('no data yet: no rows, and a named model is shown as waiting for samples', async () => {
    const s = await collectSnapshot(client, {window: WINDOW, pods: false})
    expect(s.rows).toEqual([])
    expect(s.models).toEqual([])
    const named = await collectSnapshot(client, {window: WINDOW, pods: false, model: 'qwen3-8b'})
    expect(named.rows).toHaveLength(1)
    expect(named.rows[0]).toMatchObject({model: 'qwen3-8b', state: 'no-samples', ttftP95: null, generationTokensPerSecond: null, kvCacheUsage: null})
  })

  it('per model: quantiles, rates, queue, KV usage (new and deprecated names), errors, GPU, replicas', async () => {
    ex.vllmPod({model: 'model-a', pod: 'a-1', namespace: 'aip-models', ttftPerSecond: ttftA1, itlPerSecond: itlA, generationPerSecond: 120, promptPerSecond: 500, running: 3, waiting: 1, kvUsage: 0.42, finishedPerSecond: {stop: 3, length: 1, abort: 1}})
    ex.vllmPod({model: 'model-a', pod: 'a-2', namespace: 'aip-models', ttftPerSecond: ttftA2, itlPerSecond: itlA, generationPerSecond: 80, promptPerSecond: 300, running: 5, waiting: 2, kvUsage: 0.91, finishedPerSecond: {stop: 2, error: 1}})
    ex.vllmPod({model: 'model-b', pod: 'b-1', namespace: 'aip-models', ttftPerSecond: ttftB, itlPerSecond: itlB, generationPerSecond: 50, legacy: true, kvUsage: 0.3, finishedPerSecond: {stop: 2}})
    // model-c: only the queue gauge so far (a pod that has not served anything).
    ex.set('vllm:num_requests_running', {model_name: 'model-c', pod: 'c-1', namespace: 'aip-models'}, 0)
    ex.dcgmGpu({pod: 'a-1', namespace: 'aip-models', gpu: 0, util: 90, fbUsedMiB: 20_000, fbFreeMiB: 2_000})
    ex.dcgmGpu({pod: 'a-1', namespace: 'aip-models', gpu: 1, util: 70, fbUsedMiB: 21_000, fbFreeMiB: 1_000})
    ex.dcgmGpu({pod: 'a-2', namespace: 'aip-models', gpu: 0, util: 50, fbUsedMiB: 18_000, fbFreeMiB: 4_000})
    // a GPU of a pod that serves no model must not be attributed to any model
    ex.dcgmGpu({pod: 'other', namespace: 'default', gpu: 0, util: 1, fbUsedMiB: 1, fbFreeMiB: 1})
    // fill the 5 s window with 1 s scrapes (+2 so rate() sees a full window)
    await ex.waitForScrapes(8)

    const s = await collectSnapshot(client, {window: WINDOW, pods: false})
    expect(s.models).toEqual(['model-a', 'model-b', 'model-c'])
    const a = s.rows.find((r) => r.model === 'model-a')!
    const b = s.rows.find((r) => r.model === 'model-b')!
    const c = s.rows.find((r) => r.model === 'model-c')!

    const sumA = ttftA1.map((v, i) => v + ttftA2[i]!)
    expect(a.ttftP50).toBeCloseTo(promHistogramQuantile(0.5, TTFT_BUCKETS, sumA), 9)
    expect(a.ttftP95).toBeCloseTo(promHistogramQuantile(0.95, TTFT_BUCKETS, sumA), 9)
    const itlSumA = itlA.map((v) => 2 * v)
    expect(a.itlP50).toBeCloseTo(promHistogramQuantile(0.5, ITL_BUCKETS, itlSumA), 9)
    expect(a.itlP95).toBeCloseTo(promHistogramQuantile(0.95, ITL_BUCKETS, itlSumA), 9)
    // model-b only has the deprecated names: the fallbacks are used
    expect(b.ttftP95).toBe(TTFT_BUCKETS[TTFT_BUCKETS.length - 1]) // rank in +Inf -> highest finite bound
    expect(b.itlP50).toBeCloseTo(promHistogramQuantile(0.5, ITL_BUCKETS, itlB), 9)
    expect(b.kvCacheUsage).toBe(0.3)

    expect(a.generationTokensPerSecond! / 200).toBeGreaterThan(0.97)
    expect(a.generationTokensPerSecond! / 200).toBeLessThan(1.03)
    expect(a.promptTokensPerSecond! / 800).toBeGreaterThan(0.97)
    expect(a.promptTokensPerSecond! / 800).toBeLessThan(1.03)
    expect(b.generationTokensPerSecond! / 50).toBeGreaterThan(0.97)
    expect(b.generationTokensPerSecond! / 50).toBeLessThan(1.03)
    expect(a.requestsRunning).toBe(8)
    expect(a.requestsWaiting).toBe(3)
    expect(a.kvCacheUsage).toBe(0.91) // max over replicas
    expect(a.replicas).toBe(2)
    // successes: stop+length = 3+1+2 = 6/s; errors: abort+error = 2/s
    expect(a.successPerSecond! / 6).toBeGreaterThan(0.97)
    expect(a.successPerSecond! / 6).toBeLessThan(1.03)
    expect(a.errorRatio).toBeCloseTo(2 / 8, 6)
    expect(b.errorRatio).toBe(0)
    expect(a.gpuUtilPercent).toBeCloseTo((90 + 70 + 50) / 3, 9)
    expect(a.gpuMemoryUsedBytes).toBe((20_000 + 21_000 + 18_000) * 1024 * 1024)
    expect(a.gpuMemoryTotalBytes).toBe((22_000 + 22_000 + 22_000) * 1024 * 1024)
    // missing metrics are null, never 0
    expect(b.gpuUtilPercent).toBeNull()
    expect(b.gpuMemoryUsedBytes).toBeNull()
    expect(c).toMatchObject({state: 'no-samples', replicas: 1, requestsRunning: 0, ttftP95: null, itlP95: null, generationTokensPerSecond: null, kvCacheUsage: null, errorRatio: null})
    expect(a.state).toBe('ok')
    expect(s.breaches).toEqual([])
  })

  it('one HTTP request per refresh whatever the number of models', async () => {
    const before = client.requests
    await collectSnapshot(client, {window: WINDOW, pods: false})
    await collectSnapshot(client, {window: WINDOW, pods: true})
    expect(client.requests - before).toBe(2)
  })

  it('--pods: one row per pod with its own values', async () => {
    const s = await collectSnapshot(client, {window: WINDOW, pods: true, model: 'model-a'})
    expect(s.rows.map((r) => r.pod)).toEqual(['a-1', 'a-2'])
    const [a1, a2] = s.rows as [(typeof s.rows)[0], (typeof s.rows)[0]]
    expect(a1.ttftP95).toBeCloseTo(promHistogramQuantile(0.95, TTFT_BUCKETS, ttftA1), 9)
    expect(a2.ttftP95).toBeCloseTo(promHistogramQuantile(0.95, TTFT_BUCKETS, ttftA2), 9)
    expect(a1.kvCacheUsage).toBe(0.42)
    expect(a1.gpuUtilPercent).toBe(80)
    expect(a2.gpuMemoryUsedBytes).toBe(18_000 * 1024 * 1024)
    expect(a1.replicas).toBe(1)
    expect(a1.namespace).toBe('aip-models')
  })

  it('thresholds: breaches name the model, metric, value and limit', async () => {
    const s = await collectSnapshot(client, {window: WINDOW, pods: false, thresholds: {ttftP95: 0.5, kvUsage: 0.9}})
    const a = s.rows.find((r) => r.model === 'model-a')!
    expect(a.ttftP95!).toBeGreaterThan(0.5)
    expect(s.breaches).toEqual(
      expect.arrayContaining([
        {model: 'model-a', pod: null, metric: 'ttftP95', value: a.ttftP95, limit: 0.5},
        {model: 'model-a', pod: null, metric: 'kvCacheUsage', value: 0.91, limit: 0.9},
        expect.objectContaining({model: 'model-b', metric: 'ttftP95'}),
      ]),
    )
    expect(s.breaches.some((x) => x.model === 'model-b' && x.metric === 'kvCacheUsage')).toBe(false)
  })

  it('an unknown model is NotFound with the existing models suggested', async () => {
    const err = await collectSnapshot(client, {window: WINDOW, pods: false, model: 'model-x'}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect((err as NotFoundError).fix).toContain('model-a')
    expect((err as NotFoundError).exitCode).toBe(4)
  })

  it('--promql overrides replace a query; bad PromQL is a usage error naming the override', async () => {
    const s = await collectSnapshot(client, {window: WINDOW, pods: false, overrides: {kv_usage: 'min by (model_name) (vllm:kv_cache_usage_perc)'}})
    expect(s.rows.find((r) => r.model === 'model-a')!.kvCacheUsage).toBe(0.42)
    const err = await validateOverrides(client, {ttft_p95: 'histogram_quantile(0.95, sum by (le) (rate(x[5m])'}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UsageError)
    expect((err as UsageError).message).toMatch(/^bad PromQL in --promql ttft_p95: /)
  })

  it('the tail loop delivers N snapshots at the interval', async () => {
    const got: number[] = []
    const n = await tailMetrics(client, {window: WINDOW, pods: false, intervalMs: 50, samples: 3}, {onSnapshot: (s) => void got.push(s.rows.length)})
    expect(n).toBe(3)
    expect(got).toEqual([3, 3, 3])
  })

  it('through the API server service proxy, with the kubeconfig credentials', async () => {
    const seen: Array<{path: string; auth?: string}> = []
    const prefix = '/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy'
    const target = new URL(prom.url)
    const api: Server = createServer((req, res) => {
      seen.push({path: req.url ?? '', auth: req.headers.authorization})
      if (req.headers.authorization !== 'Bearer test-token') return void res.writeHead(401).end('Unauthorized')
      if (!req.url?.startsWith(prefix + '/')) return void res.writeHead(404, {'content-type': 'application/json'}).end('{"kind":"Status","code":404}')
      const up = httpRequest({host: target.hostname, port: target.port, method: req.method, path: req.url.slice(prefix.length), headers: {...req.headers, host: target.host}}, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      })
      req.pipe(up)
    })
    await new Promise<void>((r) => api.listen(0, '127.0.0.1', r))
    const port = (api.address() as {port: number}).port
    const dir = mkdtempSync(join(tmpdir(), 'aip-kc-'))
    const kubeconfig = join(dir, 'config')
    writeFileSync(
      kubeconfig,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: test-token\ncontexts:\n- name: t\n  context: {cluster: t, user: u}\ncurrent-context: t\n`,
    )
    try {
      const viaProxy = await connectPrometheus({service: 'monitoring/prometheus-operated:9090', kubeconfig})
      // A scrape that overruns its 1 s timeout on a loaded machine marks the exporter's series stale
      // until the next one succeeds (Prometheus staleness handling), so the instant value may be
      // briefly absent: ask again for a few seconds. What this test checks is the proxy path.
      let s = await collectSnapshot(viaProxy, {window: WINDOW, pods: false, model: 'model-a'})
      for (let i = 0; i < 20 && s.rows[0]?.replicas == null; i++) {
        await new Promise((r) => setTimeout(r, 500))
        s = await collectSnapshot(viaProxy, {window: WINDOW, pods: false, model: 'model-a'})
      }
      expect(s.rows[0]!.replicas).toBe(2)
      expect(seen.at(-1)).toEqual({path: `${prefix}/api/v1/query`, auth: 'Bearer test-token'})
      const wrong = await connectPrometheus({service: 'monitoring/nope:9090', kubeconfig})
      const err = await collectSnapshot(wrong, {window: WINDOW, pods: false}).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(NotFoundError)
    } finally {
      await new Promise((r) => api.close(r))
    }
  })

  it('an unreachable Prometheus is exit 5 with a fix naming --prometheus', async () => {
    const dead = new PrometheusClient(directEndpoint('http://127.0.0.1:9'))
    const err = await collectSnapshot(dead, {window: WINDOW, pods: false}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnreachableError)
    expect((err as UnreachableError).fix).toContain('--prometheus')
  })
})
