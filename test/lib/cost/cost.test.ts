/**
 * `aip cost` against a REAL Prometheus whose TSDB was backfilled (promtool) with series of known
 * values (fixture.ts says which and derives each expected figure): GPU-hours, idle GPU-hours,
 * tokens and dollars must match to the cent.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {costReport, loadPriceTable, parseSince, parseUntil} from '../../../src/lib/cost/index.js'
import {UsageError} from '../../../src/lib/errors.js'
import {directEndpoint, PrometheusClient} from '../../../src/lib/metrics/index.js'
import {prometheusMissingReason, type PrometheusServer, startPrometheus} from '../../support/prometheus.js'
import {costFixture, EXPECTED, type CostFixture} from './fixture.js'

const skip = prometheusMissingReason()
const cents = (x: number) => Math.round(x * 100) / 100

describe('cost windows', () => {
  it('parses --since with days and weeks, --until as RFC 3339 or epoch seconds', () => {
    expect(parseSince('1h')).toBe(3600)
    expect(parseSince('7d')).toBe(604_800)
    expect(parseSince('1d12h')).toBe(129_600)
    expect(() => parseSince('7 days')).toThrow(UsageError)
    expect(() => parseSince('0h')).toThrow(UsageError)
    expect(parseUntil('1700000000')).toBe(1_700_000_000)
    expect(parseUntil('2024-01-01T00:00:00Z')).toBe(1_704_067_200)
    expect(() => parseUntil('yesterday')).toThrow(UsageError)
    expect(() => parseUntil('2999-01-01T00:00:00Z')).toThrow(/future/)
  })

  it('the built-in price table loads and carries its date', () => {
    const {table, info} = loadPriceTable()
    expect(info.date).toMatch(/^\d{4}-\d{2}-\d{2}$/)
    expect(table.regions['us-east-1']?.['g5.xlarge']).toMatchObject({onDemand: 1.006})
  })
})

describe.skipIf(Boolean(skip))(`cost against a backfilled Prometheus${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let prom: PrometheusServer
  let client: PrometheusClient
  let fx: CostFixture
  const prices = loadPriceTable()
  const opts = (over: Partial<Parameters<typeof costReport>[1]> = {}) => ({windowSeconds: 3600, end: fx.end, stepSeconds: 60, by: 'model' as const, idleThresholdPercent: 5, prices, ...over})

  beforeAll(async () => {
    fx = costFixture()
    prom = await startPrometheus({targets: [], backfill: fx.text, retention: '30d'})
    client = new PrometheusClient(directEndpoint(prom.url))
  })
  afterAll(async () => {
    await prom?.close()
  })

  it('per model: GPU-hours, idle GPU-hours, tokens, dollars and $/1M tokens', async () => {
    const r = await costReport(client, opts())
    expect(r.missing).toEqual([])
    expect(r.rows.map((x) => x.key)).toEqual(['(no aip.dev/model label)', 'llama-70b', 'qwen3-8b'])
    const qwen = r.rows.find((x) => x.key === 'qwen3-8b')!
    const llama = r.rows.find((x) => x.key === 'llama-70b')!
    const none = r.rows.find((x) => x.key === '(no aip.dev/model label)')!
    // the Pending pod not bound to a node and the Succeeded pod hold no GPU
    expect(qwen.pods).toBe(2)
    expect(qwen.gpuHours).toBeCloseTo(EXPECTED.qwen.gpuHours, 6)
    expect(qwen.idleGpuHours).toBeCloseTo(EXPECTED.qwen.idleGpuHours, 6)
    expect(qwen.tokens).toBe(EXPECTED.qwen.tokens)
    expect(qwen.promptTokens).toBe(36_000)
    expect(qwen.costUsd).toBe(cents(EXPECTED.qwen.cost))
    expect(qwen.costPerMillionTokensUsd).toBeCloseTo(EXPECTED.qwen.cost / 0.054, 3)
    expect(llama.gpuHours).toBe(2)
    expect(llama.idleGpuHours).toBe(1)
    expect(llama.idleShare).toBe(0.5)
    expect(llama.tokens).toBe(EXPECTED.llama.tokens)
    expect(llama.costUsd).toBe(cents(EXPECTED.llama.cost))
    // no price for x1.gpu, no DCGM, no vLLM: unknown, never 0
    expect(none).toMatchObject({gpuHours: 1, unpricedGpuHours: 1, costUsd: null, idleGpuHours: null, tokens: null, costPerMillionTokensUsd: null})
    expect(r.total.gpuHours).toBeCloseTo(EXPECTED.qwen.gpuHours + 2 + 1, 6)
    expect(r.total.costUsd).toBe(cents(EXPECTED.qwen.cost + EXPECTED.llama.cost))
    expect(r.total.unpricedGpuHours).toBe(1)
    expect(r.warnings.join('\n')).toMatch(/1 GPU-hours not priced: no price for x1\.gpu in us-east-1/)
    expect(r.warnings.join('\n')).toMatch(/no DCGM_FI_DEV_GPU_UTIL series for 2 GPU pod\(s\) \(aip-models\/qwen-c, team-a\/custom-f\)/)
    expect(r.warnings.join('\n')).toMatch(/spot GPU-hours are priced from the table dated/)
    expect(r.window).toMatchObject({seconds: 3600, stepSeconds: 60, end: new Date(fx.end * 1000).toISOString()})
    expect(r.sources.gpuHours).toMatch(/kube_pod_container_resource_requests/)
  })

  it('per tenant (namespace label aip.dev/tenant, else the namespace) and per node', async () => {
    const t = await costReport(client, opts({by: 'tenant'}))
    expect(t.rows.map((x) => [x.key, x.gpuHours, x.costUsd])).toEqual([
      ['aip-models', Math.round(EXPECTED.qwen.gpuHours * 1e6) / 1e6, cents(EXPECTED.qwen.cost)],
      ['team-a', 3, cents(EXPECTED.llama.cost)],
    ])
    const n = await costReport(client, opts({by: 'node'}))
    expect(n.rows.map((x) => [x.key, x.instanceType, x.capacityType, x.gpuHours])).toEqual([
      ['n1', 'g5.xlarge', 'on-demand', 1],
      ['n2', 'g6e.12xlarge', 'spot', 2],
      ['n3', 'g6.xlarge', 'on-demand', Math.round((31 / 60) * 1e6) / 1e6],
      ['n4', 'x1.gpu', 'on-demand', 1],
    ])
  })

  it('a window without DCGM and vLLM series names them and shows their numbers as null', async () => {
    const r = await costReport(client, opts({end: fx.base - 4 * 3600 + 30}))
    expect(r.missing.map((m) => m.source)).toEqual(['dcgm-exporter', 'vllm'])
    expect(r.missing[0]!.detail).toMatch(/no DCGM_FI_DEV_GPU_UTIL series in the window/)
    const llama = r.rows.find((x) => x.key === 'llama-70b')!
    expect(llama).toMatchObject({gpuHours: 2, idleGpuHours: null, idleShare: null, tokens: null, costPerMillionTokensUsd: null, costUsd: cents(EXPECTED.llama.cost)})
  })

  it('a window before kube-state-metrics: GPU-hours and cost are null, named missing', async () => {
    const r = await costReport(client, opts({end: fx.base - 7 * 3600}))
    expect(r.missing.map((m) => m.source)).toEqual(['kube-state-metrics', 'dcgm-exporter', 'vllm'])
    expect(r.rows).toEqual([])
    expect(r.total).toMatchObject({gpuHours: null, costUsd: null, idleGpuHours: null, tokens: null})
  })
})
