/**
 * `aip metrics tail` as a user runs it (the built CLI, spawned), against a real Prometheus scraping
 * the loopback vLLM exporter. Values are checked against what the exporter served (see
 * test/lib/metrics/prometheus.test.ts for the tolerance reasoning).
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {ptyMissingReason, runInPty} from '../support/pty.js'
import {prometheusMissingReason, type PrometheusServer, startPrometheus} from '../support/prometheus.js'
import {promHistogramQuantile, startVllmExporter, TTFT_BUCKETS, type VllmExporter} from '../support/vllm-exporter.js'

const skip = prometheusMissingReason()
const noPty = ptyMissingReason()
const ttft = Array.from({length: TTFT_BUCKETS.length + 1}, (_, i) => (i === 10 ? 6 : i === 12 ? 4 : 0)) // (0.5,0.75] and (1,2.5]

describe.skipIf(Boolean(skip))(`aip metrics tail${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ex: VllmExporter
  let prom: PrometheusServer
  const env = isolatedEnv()
  const tail = (...args: string[]) => runCli(['metrics', 'tail', '--prometheus', prom.url, '--window', '5s', ...args], {env})

  beforeAll(async () => {
    ex = await startVllmExporter()
    prom = await startPrometheus({targets: [ex.target]})
    await prom.waitForTargetsUp()
  })
  afterAll(async () => {
    await prom?.close()
    await ex?.close()
  })

  it('no data yet: --once reports "no samples yet" and exits 0; NDJSON says so too', async () => {
    const once = await tail('--once')
    expect(once.code).toBe(0)
    expect(once.stdout).toContain('no samples yet')
    const nd = await tail('--samples', '1')
    expect(nd.code).toBe(0)
    expect(JSON.parse(nd.stdout.trim())).toMatchObject({model: null, state: 'no-samples'})
  })

  it('--once --json: the envelope with one row per model, values from the exporter', async () => {
    ex.vllmPod({model: 'qwen3-8b', pod: 'q-1', namespace: 'aip-models', ttftPerSecond: ttft, generationPerSecond: 150, kvUsage: 0.95})
    ex.vllmPod({model: 'llama-3-8b', pod: 'l-1', namespace: 'aip-models', legacy: true, kvUsage: 0.2})
    ex.set('vllm:num_requests_running', {model_name: 'idle-model', pod: 'i-1', namespace: 'aip-models'}, 0)
    await ex.waitForScrapes(8)
    const r = await tail('--once', '--json')
    expect(r.code).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.status).toBe('ok')
    expect(j.command).toBe('metrics:tail')
    expect(j.result.models).toEqual(['idle-model', 'llama-3-8b', 'qwen3-8b'])
    const q = j.result.rows.find((x: {model: string}) => x.model === 'qwen3-8b')
    expect(q.ttftP95).toBeCloseTo(promHistogramQuantile(0.95, TTFT_BUCKETS, ttft), 9)
    expect(q.ttftP50).toBeCloseTo(promHistogramQuantile(0.5, TTFT_BUCKETS, ttft), 9)
    expect(q.generationTokensPerSecond / 150).toBeGreaterThan(0.97)
    expect(q.generationTokensPerSecond / 150).toBeLessThan(1.03)
    expect(q.kvCacheUsage).toBe(0.95)
    expect(q.gpuUtilPercent).toBeNull() // no DCGM: missing, not 0
    const l = j.result.rows.find((x: {model: string}) => x.model === 'llama-3-8b')
    expect(l.kvCacheUsage).toBe(0.2) // deprecated gpu_cache_usage_perc read as fallback
    expect(l.itlP50).not.toBeNull() // time_per_output_token_seconds fallback
    const idle = j.result.rows.find((x: {model: string}) => x.model === 'idle-model')
    expect(idle).toMatchObject({state: 'no-samples', ttftP95: null, requestsRunning: 0})
  })

  it('--once with thresholds: exit 1 naming the breached thresholds; the table still printed', async () => {
    const r = await tail('qwen3-8b', '--once', '--ttft-p95', '1s', '--kv-usage', '0.9')
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/QWEN3-8B|qwen3-8b/)
    expect(r.stderr).toMatch(/threshold breached: qwen3-8b: TTFT p95 \S+ > 1\.0s; qwen3-8b: KV-cache usage 95% > 90%/)
    const ok = await tail('llama-3-8b', '--once', '--ttft-p95', '5s', '--kv-usage', '0.9')
    expect(ok.code).toBe(0)
    const j = await tail('qwen3-8b', '--once', '--kv-usage', '0.9', '--json')
    expect(j.code).toBe(1)
    const env = JSON.parse(j.stdout)
    expect(env.status).toBe('error')
    expect(env.result.breaches).toEqual([{model: 'qwen3-8b', pod: null, metric: 'kvCacheUsage', value: 0.95, limit: 0.9}])
  })

  it('streaming without a TTY: one NDJSON line per model per sample', async () => {
    const r = await tail('--samples', '2', '--interval', '200ms', '--pods')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l))
    expect(lines).toHaveLength(6)
    expect(lines.map((l) => l.pod).sort()).toEqual(['i-1', 'i-1', 'l-1', 'l-1', 'q-1', 'q-1'])
    for (const l of lines) expect(Object.keys(l).slice(0, 5)).toEqual(['time', 'window', 'model', 'namespace', 'pod'])
  })

  it.skipIf(Boolean(noPty))(`on a terminal: a live table redrawn in place, sparklines, breaches in colour, q quits cleanly${noPty ? ` (skipped: ${noPty})` : ''}`, async () => {
    const {CI: _ci, NO_COLOR: _nc, ...ttyEnv} = env
    const term = runInPty(['metrics', 'tail', '--prometheus', prom.url, '--window', '5s', '--interval', '300ms', '--kv-usage', '0.9'], {env: ttyEnv})
    try {
      // the alternate screen, then at least three frames, each drawn from the top-left corner
      await term.waitFor(/\x1b\[\?1049h/)
      await term.waitFor(/(\x1b\[H[\s\S]*q or Ctrl-C to quit[\s\S]*){3}/)
      // the last complete frame (the one after it may be arriving in pieces as the output is read)
      const frames = term.output().split('\x1b[H').slice(1).filter((f) => f.includes('q or Ctrl-C to quit'))
      const lastFrame = frames.at(-1)!
      expect(lastFrame).toMatch(/qwen3-8b/)
      expect(lastFrame).toMatch(/llama-3-8b/)
      expect(lastFrame).toMatch(/[\u2581-\u2588]{2,}/) // a sparkline of recent samples
      // qwen3-8b's KV-cache usage (95%) is past --kv-usage 0.9: red; llama-3-8b's (20%) is not
      const qwenLine = lastFrame.split('\n').find((l) => l.includes('qwen3-8b'))!
      expect(qwenLine).toMatch(/\x1b\[31m(\x1b\[1m)?[^\x1b]*95/)
      const llamaLine = lastFrame.split('\n').find((l) => l.includes('llama-3-8b'))!
      expect(llamaLine).not.toMatch(/\x1b\[31m/)
      term.type('q')
      expect(await term.exited).toBe(0)
      // the cursor shown again, the alternate screen left, and the last frame kept on the terminal
      const tail = term.output().slice(term.output().lastIndexOf('\x1b[?1049l'))
      expect(term.output()).toMatch(/\x1b\[\?25h\x1b\[\?1049l/)
      expect(tail).toMatch(/qwen3-8b/)
    } finally {
      term.kill()
    }
  })

  it('without --prometheus: through the cluster, the API server\'s service proxy to the configured Prometheus Service', async () => {
    const api = await startKubeApiServer({})
    try {
      api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'monitoring'}})
      api.store.put({apiVersion: 'v1', kind: 'Service', metadata: {name: 'prometheus-operated', namespace: 'monitoring'}, spec: {ports: [{name: 'web', port: 9090}]}})
      api.setServiceBackend('monitoring', 'prometheus-operated', 9090, prom.url)
      const kenv = {...env, KUBECONFIG: api.kubeconfigPath}
      const r = await runCli(['metrics', 'tail', 'qwen3-8b', '--window', '5s', '--once', '--json'], {env: kenv})
      expect(r.code, r.stderr).toBe(0)
      const j = JSON.parse(r.stdout)
      expect(j.result.source).toMatch(/service monitoring\/prometheus-operated:9090 via https:\/\/127\.0\.0\.1:\d+/)
      expect(j.result.rows[0]).toMatchObject({model: 'qwen3-8b', kvCacheUsage: 0.95})
      expect(api.requests.some((q) => q.path === '/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/query')).toBe(true)
      // a Service that is not there: not found (exit 4), naming it
      const none = await runCli(['metrics', 'tail', '--once'], {env: {...kenv, AIP_PROMETHEUS_SERVICE: 'monitoring/nope:9090'}})
      expect(none.code).toBe(4)
      expect(none.stderr).toMatch(/nope/)
    } finally {
      await api.stop()
    }
  })

  it('unknown model: exit 4 with the existing models suggested (and a JSON error with --json)', async () => {
    const r = await tail('qwen3-8', '--once')
    expect(r.code).toBe(4)
    expect(r.stderr).toContain('did you mean "qwen3-8b"')
    const j = await tail('nope', '--once', '--json')
    expect(j.code).toBe(4)
    expect(JSON.parse(j.stdout).error).toMatchObject({code: 'NOT_FOUND', exitCode: 4})
  })

  it('bad PromQL override: one-line usage error, exit 2', async () => {
    const r = await tail('--once', '--promql', 'ttft_p95=sum(rate(x[1m])')
    expect(r.code).toBe(2)
    expect(r.stderr.split('\n')[0]).toMatch(/^Error: bad PromQL in --promql ttft_p95: /)
    const unknown = await tail('--once', '--promql', 'ttft_p9=up')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('did you mean ttft_p95')
    const badKv = await tail('--once', '--kv-usage', '90')
    expect(badKv.code).toBe(2)
  })

  it('no Prometheus: unreachable URL exits 5; no URL and no kubeconfig exits 4 (not found) naming --prometheus', async () => {
    const r = await runCli(['metrics', 'tail', '--prometheus', 'http://127.0.0.1:9', '--once', '--json'], {env})
    expect(r.code).toBe(5)
    expect(JSON.parse(r.stdout).error.code).toBe('UNREACHABLE')
    const none = await runCli(['metrics', 'tail', '--once'], {env})
    expect(none.code).toBe(4)
    expect(none.stderr).toContain('--prometheus URL')
  })
})
