// Benchmarks for `aip metrics tail` and `aip model bench` (run after `npm run build`):
// 1. queries per refresh and client-side CPU time of one tail refresh (query + fold + render) per
//    model, with 1, 10 and 50 models served by the loopback exporter through a real Prometheus;
// 2. `model bench` measurement overhead: measured TTFT / inter-token latency minus the delays the
//    loopback OpenAI server was configured with, and measured vs. ideal tokens/s. The server runs in
//    a child process of its own (its timers would otherwise compete with the client for one event
//    loop); its own lateness (first content write minus request arrival minus the configured TTFT,
//    on its clock) is printed beside the client's overhead so the two are not confused.
import {performance} from 'node:perf_hooks'

import {collectSnapshot, directEndpoint, PrometheusClient, renderRows} from '../dist/lib/metrics/index.js'
import {runBench} from '../dist/lib/loadtest/index.js'
import {spawnOpenAIServer} from '../test/support/openai-server.mjs'
import {prometheusMissingReason, startPrometheus} from '../test/support/prometheus.mjs'
import {startVllmExporter} from '../test/support/vllm-exporter.mjs'

const {Chalk} = await import('chalk')
const c = new Chalk({level: 1})
const REFRESHES = 30

async function tailBench() {
  const missing = prometheusMissingReason()
  if (missing) {
    console.log(`metrics tail: skipped (${missing})`)
    return
  }
  const ex = await startVllmExporter()
  const prom = await startPrometheus({targets: [ex.target]})
  try {
    await prom.waitForTargetsUp()
    const client = new PrometheusClient(directEndpoint(prom.url))
    console.log('metrics tail: one refresh = query + fold + render, client CPU (user+system) measured with process.cpuUsage')
    for (const n of [1, 10, 50]) {
      ex.clear()
      for (let i = 0; i < n; i++) {
        ex.vllmPod({model: `model-${i}`, pod: `model-${i}-0`, namespace: 'aip-models'})
        ex.dcgmGpu({pod: `model-${i}-0`, namespace: 'aip-models', util: 50, fbUsedMiB: 1000, fbFreeMiB: 1000})
      }
      await ex.waitForScrapes(3)
      // warm-up, and make sure every model is visible
      let s = await collectSnapshot(client, {window: '5s', pods: false})
      for (let t = 0; t < 20 && s.rows.length < n; t++) {
        await ex.waitForScrapes(1)
        s = await collectSnapshot(client, {window: '5s', pods: false})
      }
      const req0 = client.requests
      const cpu0 = process.cpuUsage()
      const wall0 = performance.now()
      let rows = 0
      for (let r = 0; r < REFRESHES; r++) {
        s = await collectSnapshot(client, {window: '5s', pods: false, thresholds: {ttftP95: 2, kvUsage: 0.9}})
        renderRows(s.rows, {c, thresholds: {ttftP95: 2, kvUsage: 0.9}})
        rows += s.rows.length
      }
      const cpu = process.cpuUsage(cpu0)
      const wall = performance.now() - wall0
      const cpuMs = (cpu.user + cpu.system) / 1000
      console.log(
        `  ${String(n).padStart(2)} models: ${((client.requests - req0) / REFRESHES).toFixed(2)} queries/refresh, ` +
          `${(cpuMs / REFRESHES).toFixed(2)} ms CPU/refresh, ${((cpuMs / REFRESHES / n) * 1000).toFixed(0)} µs CPU per model per refresh, ` +
          `${(wall / REFRESHES).toFixed(1)} ms wall/refresh (incl. Prometheus), ${(rows / REFRESHES).toFixed(0)} rows`,
      )
    }
  } finally {
    await prom.close()
    await ex.close()
  }
}

const pct = (a, p) => {
  const s = [...a].sort((x, y) => x - y)
  return s[Math.min(s.length - 1, Math.round((s.length - 1) * p))]
}

async function benchOverhead() {
  const cases = [
    {ttftMs: 50, itlMs: 5, tokens: 32, stream: true, concurrency: 8, requests: 80},
    {ttftMs: 200, itlMs: 20, tokens: 16, stream: true, concurrency: 32, requests: 96},
  ]
  console.log('model bench: measured minus configured (loopback server in a child process)')
  for (const k of cases) {
    const server = await spawnOpenAIServer({ttftMs: k.ttftMs, itlMs: k.itlMs, tokens: k.tokens})
    try {
      const r = await runBench(directEndpoint(server.url), {api: 'chat', concurrency: k.concurrency, requests: k.requests, promptTokens: 128, maxTokens: k.tokens, stream: true, timeoutMs: 30_000})
      const late = (await server.requests()).filter((q) => q.firstWrite !== undefined).map((q) => q.firstWrite - q.recv - k.ttftMs)
      const ideal = k.tokens / ((k.ttftMs + (k.tokens - 1) * k.itlMs) / 1000)
      console.log(
        `  ttft ${k.ttftMs}ms itl ${k.itlMs}ms x${k.tokens} tokens, concurrency ${k.concurrency}: ` +
          `TTFT overhead p50 ${(r.ttft.p50 * 1000 - k.ttftMs).toFixed(2)} ms / p99 ${(r.ttft.p99 * 1000 - k.ttftMs).toFixed(2)} ms, ` +
          `ITL overhead p50 ${(r.interTokenLatency.p50 * 1000 - k.itlMs).toFixed(2)} ms, ` +
          `per-request tokens/s ${r.perRequestTokensPerSecond.p50.toFixed(1)} vs ideal ${ideal.toFixed(1)} (ratio ${(r.perRequestTokensPerSecond.p50 / ideal).toFixed(3)}), ` +
          `errors ${r.failed}; server's own TTFT lateness p50 ${pct(late, 0.5).toFixed(2)} ms / p99 ${pct(late, 0.99).toFixed(2)} ms`,
      )
    } finally {
      await server.close()
    }
  }
}

await tailBench()
await benchOverhead()
process.exit(0)
