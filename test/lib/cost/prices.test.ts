/**
 * Where `aip cost` takes each price (price-source.ts): AWS for what the window used, the cache with
 * its TTL, `--prices aws` as a refresh, the fallbacks (an older cached price, then the built-in
 * table) with warnings naming why and the date of the figures used, and the built-in / FILE modes.
 * AWS itself is a fake fetcher here (test/lib/aws/pricing.test.ts covers the SDK side).
 */
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import type {AwsPriceFetcher} from '../../../src/lib/aws/pricing.js'
import {GPUS} from '../../../src/lib/gpufit/gpus.js'
import {loadPriceTable, type PriceNeed, priceProvider, type PriceSourceOptions, readPriceCache, writePriceCache} from '../../../src/lib/cost/index.js'

const NOW = new Date('2026-11-30T12:00:00Z')
const builtIn = loadPriceTable()

describe('the built-in table', () => {
  it('prices every GPU instance type gpu-fit knows, on-demand, in its regions; GPU counts stay gpu-fit\'s', () => {
    // p5e.48xlarge is sold through Capacity Blocks only: no on-demand list price
    const types = GPUS.flatMap((g) => g.instances.map((i) => i.type)).filter((t) => t !== 'p5e.48xlarge')
    for (const region of ['us-east-1', 'us-west-2']) {
      const missing = types.filter((t) => !(builtIn.table.regions[region]?.[t]?.onDemand! > 0))
      expect(missing, region).toEqual([])
      for (const [t, e] of Object.entries(builtIn.table.regions[region]!)) expect(e.gpus, `${t}: gpus belongs to gpu-fit`).toBeUndefined()
    }
    expect(builtIn.table.$comment).toMatch(/spot: UNVERIFIED/)
  })
})

describe('price sources: AWS, the cache, the built-in table', () => {
  let dir: string
  let cacheFile: string
  let calls: Array<{api: 'onDemand' | 'spot'; region: string; types: string[]}>
  let fail: {onDemand?: unknown; spot?: unknown}
  const fake: AwsPriceFetcher = {
    async onDemand(region, type) {
      calls.push({api: 'onDemand', region, types: [type]})
      if (fail.onDemand) throw fail.onDemand
      const usd = {'g6e.xlarge': 1.861, 'p5.48xlarge': 55.04, 'g5.xlarge': 1.006}[type]
      return usd ? {usd, effectiveDate: '2025-06-01'} : {missing: `the AWS Pricing API has no on-demand Linux price for ${type} in ${region}`}
    },
    async spot(region, types) {
      calls.push({api: 'spot', region, types: [...types]})
      if (fail.spot) throw fail.spot
      return new Map(types.filter((t) => t === 'p5.48xlarge').map((t) => [t, {usd: 30, min: 28, max: 32, zones: [{zone: `${region}a`, usd: 28, since: NOW.toISOString()}, {zone: `${region}b`, usd: 32, since: NOW.toISOString()}]}]))
    },
  }
  const provider = (over: Partial<PriceSourceOptions> = {}) =>
    priceProvider({mode: 'auto', cacheFile, credentials: {configured: true, via: 'test'}, aws: () => fake, now: () => NOW, ...over})
  const needs: PriceNeed[] = [
    {region: 'us-east-1', instanceType: 'g6e.xlarge', capacityType: 'on-demand'},
    {region: 'us-east-1', instanceType: 'p5.48xlarge', capacityType: 'spot'},
    {region: 'us-east-1', instanceType: 'p5.48xlarge', capacityType: 'on-demand'},
    {region: 'us-east-1', instanceType: 'x1.gpu', capacityType: 'on-demand'},
    {capacityType: 'on-demand'},
  ]

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'aip-prices-'))
    cacheFile = join(dir, 'prices', 'aws-ec2.json')
    calls = []
    fail = {}
  })
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('asks AWS for what the window used (gpu-fit instance types only), prices per GPU, and caches with the fetch date', async () => {
    const r = await provider().resolve(needs)
    // one GetProducts per (region, type) that needs on-demand, one spot request per region; x1.gpu is not a GPU type aip knows
    expect(calls).toEqual([
      {api: 'onDemand', region: 'us-east-1', types: ['g6e.xlarge']},
      {api: 'onDemand', region: 'us-east-1', types: ['p5.48xlarge']},
      {api: 'spot', region: 'us-east-1', types: ['p5.48xlarge']},
    ])
    expect(r.price('us-east-1', 'p5.48xlarge', 'on-demand')).toEqual({perGpuHour: 55.04 / 8, capacityType: 'on-demand'})
    expect(r.price('us-east-1', 'p5.48xlarge', 'spot')).toEqual({perGpuHour: 30 / 8, capacityType: 'spot'})
    expect(r.price('us-east-1', 'x1.gpu', 'on-demand')).toEqual({missing: 'no price for x1.gpu in us-east-1'})
    expect(r.info).toMatchObject({source: 'aws-pricing-api', date: '2026-11-30', mode: 'auto', file: cacheFile})
    const p5 = r.info.instances.find((i) => i.instanceType === 'p5.48xlarge')!
    expect(p5).toMatchObject({gpus: 8, onDemand: {usd: 55.04, source: 'aws-pricing-api', effectiveDate: '2025-06-01'}, spot: {usd: 30, source: 'aws-ec2-spot-price-history', min: 28, max: 32}})
    expect(r.warnings).toEqual([])
    const cached = readPriceCache(cacheFile).cache.entries['us-east-1/p5.48xlarge']!
    expect(cached).toMatchObject({onDemand: {usd: 55.04, fetchedAt: NOW.toISOString(), api: 'aws-pricing-api'}, spot: {usd: 30, api: 'aws-ec2-spot-price-history'}})
  })

  it('within the TTL the cache answers without AWS; past it AWS is asked again; --prices aws always asks', async () => {
    await provider().resolve(needs)
    calls = []
    const again = await provider({now: () => new Date(NOW.getTime() + 6 * 86_400_000)}).resolve(needs)
    expect(calls).toEqual([])
    expect(again.info).toMatchObject({source: 'cache', date: '2026-11-30'})
    expect(again.info.instances.find((i) => i.instanceType === 'g6e.xlarge')!.onDemand).toMatchObject({source: 'cache', api: 'aws-pricing-api', fetchedAt: NOW.toISOString()})
    expect(again.price('us-east-1', 'g6e.xlarge', 'on-demand')).toMatchObject({perGpuHour: 1.861})

    const later = new Date(NOW.getTime() + 8 * 86_400_000)
    const expired = await provider({now: () => later}).resolve(needs)
    expect(calls.length).toBe(3)
    expect(expired.info).toMatchObject({source: 'aws-pricing-api', date: '2026-12-08'})

    calls = []
    await provider({mode: 'aws', now: () => later}).resolve(needs)
    expect(calls.length).toBe(3)
  })

  it('AccessDenied: an older cached price, else the built-in table, each named with why and the date; one refusal is not repeated', async () => {
    // the cache holds g6e.xlarge from 10 days ago
    writePriceCache(cacheFile, {version: 1, entries: {'us-east-1/g6e.xlarge': {onDemand: {usd: 1.9, fetchedAt: '2026-11-20T09:00:00.000Z', api: 'aws-pricing-api'}}}})
    fail.onDemand = Object.assign(new Error('User is not authorized to perform: pricing:GetProducts'), {name: 'AccessDeniedException', $metadata: {httpStatusCode: 400}})
    const r = await provider({concurrency: 1}).resolve(needs)
    // the second on-demand request is not sent after the first was refused
    expect(calls.filter((c) => c.api === 'onDemand').length).toBe(1)
    const g6e = r.info.instances.find((i) => i.instanceType === 'g6e.xlarge')!
    expect(g6e.onDemand).toMatchObject({usd: 1.9, source: 'cache', stale: true, date: '2026-11-20'})
    const p5 = r.info.instances.find((i) => i.instanceType === 'p5.48xlarge')!
    expect(p5.onDemand).toMatchObject({usd: builtIn.table.regions['us-east-1']!['p5.48xlarge']!.onDemand, source: 'built-in', date: builtIn.table.date})
    // spot is another API (ec2:DescribeSpotPriceHistory) and still answered
    expect(p5.spot).toMatchObject({source: 'aws-ec2-spot-price-history'})
    expect(r.info.source).toBe('mixed')
    expect(r.info.date).toBe(builtIn.table.date)
    const w = r.warnings.join('\n')
    expect(w).toMatch(/AWS refused pricing:GetProducts \(AccessDeniedException: .*\): g6e\.xlarge on-demand in us-east-1 priced from the cache \(fetched 2026-11-20, older than the 7-day TTL\)/)
    expect(w).toMatch(new RegExp(`AWS refused pricing:GetProducts .*: p5\\.48xlarge on-demand in us-east-1 priced from the built-in table dated ${builtIn.table.date}`))
  })

  it('no credentials configured (auto): AWS is not asked; the built-in table, with a warning naming why and its date', async () => {
    let made = false
    const r = await provider({credentials: {configured: false, via: 'no AWS_ACCESS_KEY_ID, AWS_PROFILE'}, aws: () => ((made = true), fake)}).resolve(needs)
    expect(made).toBe(false)
    expect(r.info).toMatchObject({source: 'built-in', file: 'built-in', date: builtIn.table.date})
    const w = r.warnings.join('\n')
    expect(w).toMatch(new RegExp(`AWS not asked: no AWS credentials configured \\(no AWS_ACCESS_KEY_ID, AWS_PROFILE; --prices aws tries the SDK's full chain\\): g6e\\.xlarge on-demand in us-east-1, p5\\.48xlarge spot in us-east-1, p5\\.48xlarge on-demand in us-east-1 priced from the built-in table dated ${builtIn.table.date}`))
    expect(w).toMatch(/spot GPU-hours are priced from the table dated .* \(p5\.48xlarge in us-east-1\)/)
  })

  it('--prices aws without usable credentials, or AWS unreachable: the fallback, with the reason', async () => {
    fail.onDemand = Object.assign(new Error('Could not load credentials from any providers'), {name: 'CredentialsProviderError'})
    fail.spot = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), {code: 'ECONNREFUSED'})
    const r = await provider({mode: 'aws', credentials: {configured: false, via: 'none'}}).resolve(needs)
    expect(r.info.source).toBe('built-in')
    expect(r.warnings.join('\n')).toMatch(/no usable AWS credentials \(Could not load credentials from any providers\): g6e\.xlarge on-demand/)
    expect(r.warnings.join('\n')).toMatch(/AWS unreachable for ec2:DescribeSpotPriceHistory \(ECONNREFUSED\): p5\.48xlarge spot in us-east-1 priced from the built-in table/)
  })

  it('a corrupt cache is named and rewritten; the built-in and file modes never touch AWS or the cache', async () => {
    writeFileSync(join(dir, 'junk.json'), '{')
    const r = await provider({cacheFile: join(dir, 'junk.json')}).resolve(needs.slice(0, 1))
    expect(r.warnings[0]).toMatch(/price cache .*junk\.json is not JSON/)
    expect(JSON.parse(readFileSync(join(dir, 'junk.json'), 'utf8')).entries['us-east-1/g6e.xlarge'].onDemand.usd).toBe(1.861)

    calls = []
    const b = await provider({mode: 'built-in'}).resolve(needs)
    expect(calls).toEqual([])
    expect(b.info).toMatchObject({source: 'built-in', date: builtIn.table.date})
    const file = join(dir, 'mine.json')
    writeFileSync(file, JSON.stringify({date: '2026-01-02', currency: 'USD', source: 'our contract', regions: {'us-east-1': {'x1.gpu': {gpus: 2, onDemand: 3}}}}))
    const f = await provider({mode: 'file', file}).resolve(needs)
    expect(f.info).toMatchObject({source: 'file', file, date: '2026-01-02', description: 'our contract'})
    // a type gpu-fit does not know takes its GPU count from the file
    expect(f.price('us-east-1', 'x1.gpu', 'on-demand')).toEqual({perGpuHour: 1.5, capacityType: 'on-demand'})
  })
})

