/**
 * `aip cost` as a user runs it (the built CLI, spawned) against a real Prometheus backfilled with
 * known series (test/lib/cost/fixture.ts derives every expected figure): `--since 1h --json`
 * matches the GPU-hours, idle hours, tokens and dollars to the cent; `--budget` exits 1 past the
 * budget; missing DCGM is named; the service-proxy path works like `metrics tail`'s.
 */
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createServer} from 'node:http'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startAwsPriceServer} from '../support/aws-price-server.mjs'
import {isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {prometheusMissingReason, type PrometheusServer, startPrometheus} from '../support/prometheus.js'
import {costFixture, type CostFixture, EXPECTED} from '../lib/cost/fixture.js'
import {loadPriceTable} from '../../src/lib/cost/prices.js'

const skip = prometheusMissingReason()
const cents = (x: number) => Math.round(x * 100) / 100

describe.skipIf(Boolean(skip))(`aip cost${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let prom: PrometheusServer
  let fx: CostFixture
  const env = isolatedEnv()
  const cost = (...args: string[]) => runCli(['cost', '--prometheus', prom.url, '--until', String(fx.end), ...args], {env})

  beforeAll(async () => {
    fx = costFixture()
    prom = await startPrometheus({targets: [], backfill: fx.text, retention: '30d'})
  })
  afterAll(async () => {
    await prom?.close()
  })

  it('--since 1h --json: the known GPU-hours, idle hours, tokens and dollars, each with its source and window', async () => {
    const r = await cost('--since', '1h', '--json')
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.status).toBe('ok')
    const res = j.result
    const row = (k: string) => res.rows.find((x: {key: string}) => x.key === k)
    expect(row('qwen3-8b')).toMatchObject({gpuHours: Math.round(EXPECTED.qwen.gpuHours * 1e6) / 1e6, idleGpuHours: 0.4, tokens: 54_000, costUsd: cents(EXPECTED.qwen.cost)})
    expect(row('llama-70b')).toMatchObject({gpuHours: 2, idleGpuHours: 1, tokens: 90_000, costUsd: cents(EXPECTED.llama.cost)})
    expect(res.total.costUsd).toBe(cents(EXPECTED.qwen.cost + EXPECTED.llama.cost))
    expect(res.window).toMatchObject({seconds: 3600, stepSeconds: 60, end: new Date(fx.end * 1000).toISOString()})
    expect(res.prices).toMatchObject({file: 'built-in', currency: 'USD'})
    expect(Object.keys(res.sources)).toEqual(['gpuHours', 'idleGpuHours', 'tokens', 'costUsd'])
    expect(j.warnings.join('\n')).toMatch(/not priced: no price for x1\.gpu/)
  })

  it('the table names the window, the price date and the sources; unknown numbers are "-"', async () => {
    const r = await cost('--since', '1h', '--by', 'tenant')
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/window:\s+\S+ \.\. \S+ \(60s steps\)/)
    expect(r.stdout).toMatch(/prices:\s+built-in, dated \d{4}-\d{2}-\d{2}/)
    expect(r.stdout).toMatch(new RegExp(`team-a\\s+2\\s+3\\.00\\s+1\\.00 \\(50%\\)\\s+90000\\s+\\$${cents(EXPECTED.llama.cost).toFixed(2)}`))
    expect(r.stdout).toMatch(/Sources:/)
    expect(r.stderr).toMatch(/Warning: .*not priced/)
  })

  it('--budget: exit 1 past it, 0 within it', async () => {
    const total = cents(EXPECTED.qwen.cost + EXPECTED.llama.cost)
    const over = await cost('--since', '1h', '--budget', String(total - 0.01))
    expect(over.code).toBe(1)
    expect(over.stderr).toMatch(new RegExp(`cost \\$${total.toFixed(2)} over 1h exceeds the budget`))
    const overJson = await cost('--since', '1h', '--budget', '1', '--json')
    expect(overJson.code).toBe(1)
    expect(JSON.parse(overJson.stdout)).toMatchObject({status: 'error', result: {budget: {usd: 1, exceeded: true}}})
    const within = await cost('--since', '1h', '--budget', String(total))
    expect(within.code, within.stderr).toBe(0)
    expect(within.stdout).toContain(`Budget: $${total.toFixed(2)} of $${total.toFixed(2)}`)
  })

  it('a window without DCGM names it (warning and JSON), idle shown as null, not 0', async () => {
    const r = await runCli(['cost', '--prometheus', prom.url, '--since', '1h', '--until', String(fx.base - 4 * 3600 + 30), '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.result.missing.map((m: {source: string}) => m.source)).toEqual(['dcgm-exporter', 'vllm'])
    expect(j.warnings.join('\n')).toMatch(/missing data: dcgm-exporter: no DCGM_FI_DEV_GPU_UTIL series in the window/)
    expect(j.result.total).toMatchObject({idleGpuHours: null, tokens: null})
    expect(j.result.total.gpuHours).toBeGreaterThan(0)
  })

  it('no AWS credentials: the built-in table, a warning naming why and its date, exit 0 (--prices aws too)', async () => {
    const date = loadPriceTable().table.date
    const r = await cost('--since', '1h', '--json')
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.result.prices).toMatchObject({source: 'built-in', file: 'built-in', date, mode: 'auto'})
    expect(j.result.prices.instances.find((i: {instanceType: string}) => i.instanceType === 'g6e.12xlarge')).toMatchObject({gpus: 4, spot: {source: 'built-in', date}})
    expect(j.warnings.join('\n')).toMatch(new RegExp(`AWS not asked: no AWS credentials configured .*: .*g5\\.xlarge on-demand in us-east-1.* priced from the built-in table dated ${date}`))
    // forced: the SDK's full chain finds nothing (instance metadata off, as in CI), and the report still comes
    const forced = await runCli(['cost', '--prometheus', prom.url, '--until', String(fx.end), '--since', '1h', '--prices', 'aws', '--json'], {env: {...env, AWS_EC2_METADATA_DISABLED: 'true'}})
    expect(forced.code, forced.stderr).toBe(0)
    const f = JSON.parse(forced.stdout)
    expect(f.result.prices).toMatchObject({source: 'built-in', mode: 'aws'})
    expect(f.result.total.costUsd).toBe(cents(EXPECTED.qwen.cost + EXPECTED.llama.cost))
    expect(f.warnings.join('\n')).toMatch(new RegExp(`no usable AWS credentials .*priced from the built-in table dated ${date}`))
    const builtIn = await cost('--since', '1h', '--prices', 'built-in', '--json')
    expect(JSON.parse(builtIn.stdout).warnings.join('\n')).not.toMatch(/AWS not asked|no usable AWS credentials/)
  })

  it('a configured source without credentials (~/.aws/config with a region only): auto never probes instance metadata, --prices aws does', async () => {
    const imds: string[] = []
    const metadata = createServer((req, res) => {
      imds.push(`${req.method} ${req.url}`)
      res.writeHead(404).end()
    })
    await new Promise<void>((resolve) => metadata.listen(0, '127.0.0.1', resolve))
    const home = isolatedEnv()
    mkdirSync(join(home.HOME!, '.aws'))
    writeFileSync(join(home.HOME!, '.aws', 'config'), '[default]\nregion = us-east-1\n')
    const e: NodeJS.ProcessEnv = {...home, AWS_EC2_METADATA_SERVICE_ENDPOINT: `http://127.0.0.1:${(metadata.address() as {port: number}).port}`}
    try {
      const auto = await runCli(['cost', '--prometheus', prom.url, '--until', String(fx.end), '--since', '1h', '--json'], {env: e})
      expect(auto.code, auto.stderr).toBe(0)
      const j = JSON.parse(auto.stdout)
      expect(j.result.prices.source).toBe('built-in')
      expect(j.warnings.join('\n')).toMatch(/no usable AWS credentials .*priced from the built-in table/)
      expect(imds).toEqual([])
      const forced = await runCli(['cost', '--prometheus', prom.url, '--until', String(fx.end), '--since', '1h', '--prices', 'aws', '--json'], {env: e})
      expect(forced.code, forced.stderr).toBe(0)
      expect(imds.length).toBeGreaterThan(0)
    } finally {
      await new Promise((resolve) => metadata.close(resolve))
    }
  })

  it('AWS prices (loopback Pricing + EC2 endpoints): fetched for what the window used, cached, reused, refreshed by --prices aws', async () => {
    const aws = await startAwsPriceServer({
      onDemand: {'us-east-1/g5.xlarge': 1.1, 'us-east-1/g6.xlarge': 0.96, 'us-east-1/g6e.12xlarge': 10.49, 'us-east-1/p5.48xlarge': 55.04},
      spot: [
        {region: 'us-east-1', zone: 'us-east-1a', instanceType: 'g6e.12xlarge', usd: 4.0, timestamp: new Date(Date.now() - 3_600_000).toISOString()},
        {region: 'us-east-1', zone: 'us-east-1b', instanceType: 'g6e.12xlarge', usd: 4.4, timestamp: new Date(Date.now() - 7_200_000).toISOString()},
      ],
    })
    const awsEnv: NodeJS.ProcessEnv = {...isolatedEnv(), AWS_ACCESS_KEY_ID: 'AKIDLOOPBACK', AWS_SECRET_ACCESS_KEY: 'loopback', AWS_ENDPOINT_URL_PRICING: aws.endpoint, AWS_ENDPOINT_URL_EC2: aws.endpoint}
    const run = (...args: string[]) => runCli(['cost', '--prometheus', prom.url, '--until', String(fx.end), '--since', '1h', '--json', ...args], {env: awsEnv})
    try {
      const today = () => new Date().toISOString().slice(0, 10)
      const dayBefore = today()
      const r = await run()
      const dayAfter = today() // the run may cross midnight UTC: its date is one of the two
      expect(r.code, r.stderr).toBe(0)
      const j = JSON.parse(r.stdout)
      const row = (k: string) => j.result.rows.find((x: {key: string}) => x.key === k)
      // qwen: 1 GPU-hour on g5.xlarge + 31/60 on g6.xlarge; llama: 2 GPU-hours of a 4-GPU g6e.12xlarge at the zones' mean spot price
      expect(row('qwen3-8b').costUsd).toBe(cents(1.1 + (31 / 60) * 0.96))
      expect(row('llama-70b').costUsd).toBe(cents((2 * (4.0 + 4.4)) / 2 / 4))
      expect(j.result.prices).toMatchObject({source: 'aws-pricing-api'})
      expect([dayBefore, dayAfter]).toContain(j.result.prices.date)
      expect(j.result.prices.instances.find((i: {instanceType: string}) => i.instanceType === 'g6e.12xlarge').spot).toMatchObject({source: 'aws-ec2-spot-price-history', min: 4, max: 4.4})
      // only the instance types the window used (x1.gpu is no GPU type aip knows; p5.48xlarge is unused)
      expect(aws.requests.filter((q) => q.api === 'pricing').map((q) => q.body.Filters.find((f: {Field: string}) => f.Field === 'instanceType').Value).sort()).toEqual(['g5.xlarge', 'g6.xlarge'])
      expect(aws.requests.filter((q) => q.api === 'ec2').map((q) => q.body['InstanceType.1'])).toEqual(['g6e.12xlarge'])
      expect(j.warnings.join('\n')).not.toMatch(/priced from the built-in table/)
      const cacheFile = join(awsEnv.HOME!, '.cache', 'aip', 'prices', 'aws-ec2.json')
      expect(existsSync(cacheFile)).toBe(true)
      expect(JSON.parse(readFileSync(cacheFile, 'utf8')).entries['us-east-1/g5.xlarge'].onDemand).toMatchObject({usd: 1.1, api: 'aws-pricing-api'})

      const sent = aws.requests.length
      const again = JSON.parse((await run()).stdout)
      expect(aws.requests.length).toBe(sent)
      expect(again.result.prices.source).toBe('cache')
      expect(again.result.total.costUsd).toBe(j.result.total.costUsd)

      aws.deny('pricing', 'AccessDeniedException')
      const refused = await run('--prices', 'aws')
      expect(refused.code, refused.stderr).toBe(0)
      const rj = JSON.parse(refused.stdout)
      expect(aws.requests.length).toBeGreaterThan(sent)
      // on-demand refused: the cached figures (fetched today, so not stale); spot asked again and answered
      expect(rj.warnings.join('\n')).toMatch(/AWS refused pricing:GetProducts \(AccessDeniedException.*\): g5\.xlarge on-demand in us-east-1, g6\.xlarge on-demand in us-east-1 priced from the cache \(fetched \d{4}-\d{2}-\d{2}\)$/m)
      expect(rj.result.prices.source).toBe('mixed')
      expect(rj.result.total.costUsd).toBe(j.result.total.costUsd)
    } finally {
      await aws.stop()
    }
  })

  it('bad input: usage errors exit 2; unreachable Prometheus exits 5', async () => {
    expect((await cost('--since', '7 days')).code).toBe(2)
    expect((await cost('--budget', 'lots')).code).toBe(2)
    expect((await cost('--by', 'pod')).code).toBe(2)
    const down = await runCli(['cost', '--prometheus', 'http://127.0.0.1:9', '--since', '1h'], {env})
    expect(down.code).toBe(5)
  })

  it('without --prometheus: through the API server\'s service proxy', async () => {
    const api = await startKubeApiServer({})
    try {
      api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'monitoring'}})
      api.store.put({apiVersion: 'v1', kind: 'Service', metadata: {name: 'prometheus-operated', namespace: 'monitoring'}, spec: {ports: [{name: 'web', port: 9090}]}})
      api.setServiceBackend('monitoring', 'prometheus-operated', 9090, prom.url)
      const r = await runCli(['cost', '--since', '1h', '--until', String(fx.end), '--json'], {env: {...env, KUBECONFIG: api.kubeconfigPath}})
      expect(r.code, r.stderr).toBe(0)
      const j = JSON.parse(r.stdout)
      expect(j.result.source).toMatch(/service monitoring\/prometheus-operated:9090 via https:/)
      expect(j.result.total.costUsd).toBe(cents(EXPECTED.qwen.cost + EXPECTED.llama.cost))
    } finally {
      await api.stop()
    }
  })
})
