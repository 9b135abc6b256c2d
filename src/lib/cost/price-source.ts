/**
 * Where each price of an `aip cost` report comes from (`--prices`):
 *
 * - `auto` (default): a cached AWS price younger than the TTL (7 days); else AWS itself (on-demand:
 *   Price List Query API, spot: EC2 DescribeSpotPriceHistory; lib/aws/pricing.ts) when AWS
 *   credentials are configured (lib/aws/credentials.ts: a cheap check, no SDK chain, no instance
 *   metadata probe); else, or when AWS fails, an older cached price; else the built-in table.
 * - `aws`: ask AWS now whatever the cache holds (a refresh; the SDK's full credential chain), with the
 *   same fallbacks when it cannot answer.
 * - `built-in`: the package's table only (reproducible: CI budgets that must not move with prices).
 * - a FILE: that table only.
 *
 * Only what the window uses is asked: the (region, instance type, capacity type) of the nodes that
 * held GPUs, and only instance types gpu-fit's GPU table knows (lib/gpufit/gpus.ts). Every fallback
 * is a warning naming why AWS was not used and the date of the figures used instead; the report's
 * `prices` block names the source and date of each instance type's figures.
 */
import type {AwsPriceFetcher, OnDemandPrice, SpotPrice} from '../aws/pricing.js'
import {describeAwsPriceError} from '../aws/pricing.js'
import type {CredentialHint} from '../aws/credentials.js'
import {InterruptedError} from '../errors.js'
import {cacheKey, type CachedOnDemand, type CachedSpot, isFresh, PRICE_CACHE_TTL_MS, readPriceCache, writePriceCache} from './price-cache.js'
import {type CapacityType, type GpuPrice, gpuHourPrice, gpusPerInstance, knownGpuInstance, type LoadedTable, loadPriceTable, perGpu, type TableEntry} from './prices.js'

export type PricesMode = 'auto' | 'aws' | 'built-in' | 'file'
export type FigureSource = 'aws-pricing-api' | 'aws-ec2-spot-price-history' | 'cache' | 'built-in' | 'file'
export type PricesSource = 'aws-pricing-api' | 'cache' | 'built-in' | 'file' | 'mixed'

export interface PriceNeed {
  region?: string
  instanceType?: string
  capacityType: CapacityType
}

export interface PricedFigure {
  /** USD per instance-hour. */
  usd: number
  source: FigureSource
  /** The figure's date: fetched (AWS, cache) or the table's date, YYYY-MM-DD. */
  date: string
  fetchedAt?: string
  /** For a cached figure: the API that answered, and whether it is past the TTL. */
  api?: 'aws-pricing-api' | 'aws-ec2-spot-price-history'
  stale?: boolean
  /** On-demand: the Price List's effectiveDate. */
  effectiveDate?: string
  /** Spot: the zones' current prices, reduced to their mean (usd); min and max alongside. */
  min?: number
  max?: number
  zones?: Array<{zone: string; usd: number; since: string}>
}

export interface InstancePriceInfo {
  region: string
  instanceType: string
  gpus?: number
  onDemand?: PricedFigure
  spot?: PricedFigure
}

export interface PricesInfo {
  /** Where the figures used came from: one source, or `mixed` (see `instances`). */
  source: PricesSource
  /** The --prices FILE, "built-in", or the cache file that holds the AWS figures. */
  file: string
  /** The oldest date among the figures used (the fallback table's date when none were needed). */
  date: string
  /** The fallback table's own description. */
  description: string
  mode: PricesMode
  /** Per instance type and region the window used: each figure with its source and date. */
  instances: InstancePriceInfo[]
}

export interface ResolvedPrices {
  info: PricesInfo
  warnings: string[]
  price(region: string | undefined, instanceType: string | undefined, capacityType: CapacityType): GpuPrice | {missing: string}
}

export interface PriceProvider {
  resolve(needs: readonly PriceNeed[], signal?: AbortSignal): Promise<ResolvedPrices>
}

export interface PriceSourceOptions {
  mode: PricesMode
  /** For mode `file`. */
  file?: string
  cacheFile: string
  ttlMs?: number
  now?: () => Date
  credentials: CredentialHint
  /** AWS access, made on first use (the SDK is loaded only then). */
  aws: () => AwsPriceFetcher | Promise<AwsPriceFetcher>
  concurrency?: number
}

type Kind = 'onDemand' | 'spot'
const KIND_WORD: Record<Kind, string> = {onDemand: 'on-demand', spot: 'spot'}
const day = (iso: string) => iso.slice(0, 10)

interface Wanted {
  region: string
  instanceType: string
  kinds: Set<Kind>
}

function wantedOf(needs: readonly PriceNeed[]): Map<string, Wanted> {
  const out = new Map<string, Wanted>()
  for (const n of needs) {
    if (!n.region || !n.instanceType) continue
    const k = cacheKey(n.region, n.instanceType)
    const w = out.get(k) ?? {region: n.region, instanceType: n.instanceType, kinds: new Set<Kind>()}
    w.kinds.add(n.capacityType === 'spot' ? 'spot' : 'onDemand')
    out.set(k, w)
  }
  return new Map([...out.entries()].sort(([a], [b]) => a.localeCompare(b)))
}

/** A table's figures for what the window used (modes built-in and file). */
function tableFigures(t: LoadedTable, source: 'built-in' | 'file', w: Wanted): Partial<Record<Kind, PricedFigure>> {
  const e = t.table.regions[w.region]?.[w.instanceType]
  const out: Partial<Record<Kind, PricedFigure>> = {}
  for (const kind of w.kinds) {
    const usd = e?.[kind]
    if (usd !== undefined) out[kind] = {usd, source, date: t.table.date}
  }
  return out
}

const fromCachedOnDemand = (c: CachedOnDemand, stale: boolean): PricedFigure => ({usd: c.usd, source: 'cache', api: c.api, date: day(c.fetchedAt), fetchedAt: c.fetchedAt, effectiveDate: c.effectiveDate, ...(stale ? {stale} : {})})
const fromCachedSpot = (c: CachedSpot, stale: boolean): PricedFigure => ({usd: c.usd, source: 'cache', api: c.api, date: day(c.fetchedAt), fetchedAt: c.fetchedAt, min: c.min, max: c.max, zones: c.zones, ...(stale ? {stale} : {})})

export function priceProvider(opts: PriceSourceOptions): PriceProvider {
  return {
    async resolve(needs, signal) {
      const wanted = wantedOf(needs)
      if (opts.mode === 'file' || opts.mode === 'built-in') return resolveFromTable(loadPriceTable(opts.mode === 'file' ? opts.file : undefined), opts.mode, wanted)
      return resolveFromAws(opts, wanted, signal)
    },
  }
}

/** A provider over one loaded table (tests, benchmarks, and the built-in / file modes). */
export function tablePrices(t: LoadedTable, source: 'built-in' | 'file' = t.info.file === 'built-in' ? 'built-in' : 'file'): PriceProvider {
  return {resolve: async (needs) => resolveFromTable(t, source, wantedOf(needs))}
}

function resolveFromTable(t: LoadedTable, source: 'built-in' | 'file', wanted: Map<string, Wanted>): ResolvedPrices {
  const instances: InstancePriceInfo[] = [...wanted.values()].map((w) => ({region: w.region, instanceType: w.instanceType, gpus: gpusPerInstance(w.instanceType, t.table.regions[w.region]?.[w.instanceType]), ...tableFigures(t, source, w)}))
  const warnings: string[] = []
  const spot = instances.filter((i) => i.spot).map((i) => `${i.instanceType} in ${i.region}`)
  if (spot.length > 0) warnings.push(`spot GPU-hours are priced from the table dated ${t.table.date} (${spot.join(', ')}); spot prices move: use --prices aws (AWS credentials) or --prices FILE with current ones`)
  return {
    info: {source, file: t.info.file, date: t.table.date, description: t.info.source, mode: source === 'file' ? 'file' : 'built-in', instances},
    warnings,
    price: (region, type, cap) => gpuHourPrice(t.table, region, type, cap),
  }
}

async function resolveFromAws(opts: PriceSourceOptions, wanted: Map<string, Wanted>, signal?: AbortSignal): Promise<ResolvedPrices> {
  const now = opts.now?.() ?? new Date()
  const ttl = opts.ttlMs ?? PRICE_CACHE_TTL_MS
  const builtIn = loadPriceTable()
  const warnings: string[] = []
  const {cache, problem} = readPriceCache(opts.cacheFile)
  if (problem) warnings.push(problem)

  const figures = new Map<string, Partial<Record<Kind, PricedFigure>>>()
  const set = (key: string, kind: Kind, f: PricedFigure) => figures.set(key, {...figures.get(key), [kind]: f})
  // 1. fresh cache entries (not for --prices aws: that is the refresh)
  const todo: Array<{key: string; w: Wanted; kind: Kind}> = []
  for (const [key, w] of wanted) {
    for (const kind of w.kinds) {
      const c = cache.entries[key]?.[kind]
      if (opts.mode === 'auto' && c && isFresh(c.fetchedAt, now, ttl)) set(key, kind, kind === 'spot' ? fromCachedSpot(c as CachedSpot, false) : fromCachedOnDemand(c as CachedOnDemand, false))
      // only GPU instance types aip knows are asked (the rest: the tables below, or unpriced)
      else if (knownGpuInstance(w.instanceType)) todo.push({key, w, kind})
    }
  }

  // 2. AWS, for the rest; every item not answered keeps the reason
  const why = new Map<string, string>()
  const askable = todo.filter((t) => {
    if (!t.w.region.startsWith('cn-')) return true
    why.set(`${t.key}#${t.kind}`, 'the AWS Price List Query API (us-east-1) does not price the China regions')
    return false
  })
  if (askable.length > 0 && opts.mode === 'auto' && !opts.credentials.configured) {
    for (const t of askable) why.set(`${t.key}#${t.kind}`, `AWS not asked: no AWS credentials configured (${opts.credentials.via}; --prices aws tries the SDK's full chain)`)
  } else if (askable.length > 0) {
    const [aws, {default: pLimit}] = await Promise.all([opts.aws(), import('p-limit')])
    const limit = pLimit(opts.concurrency ?? 4)
    let fetched = false
    const stop: Partial<Record<Kind, string>> = {}
    const failed = (kind: Kind, api: string, err: unknown, items: Array<{key: string; kind: Kind}>) => {
      if (signal?.aborted) throw new InterruptedError('interrupted while fetching AWS prices')
      const d = describeAwsPriceError(err, api)
      // the same answer for every other request of this API: do not ask again
      if (d.kind !== 'failed') stop[kind] = d.reason
      for (const t of items) why.set(`${t.key}#${t.kind}`, d.reason)
    }
    const onDemand = askable.filter((t) => t.kind === 'onDemand')
    const spotByRegion = new Map<string, typeof askable>()
    for (const t of askable.filter((x) => x.kind === 'spot')) spotByRegion.set(t.w.region, [...(spotByRegion.get(t.w.region) ?? []), t])
    await Promise.all([
      ...onDemand.map((t) =>
        limit(async () => {
          if (stop.onDemand) return void why.set(`${t.key}#onDemand`, stop.onDemand)
          let r: OnDemandPrice | {missing: string}
          try {
            r = await aws.onDemand(t.w.region, t.w.instanceType, signal)
          } catch (error) {
            return failed('onDemand', 'pricing:GetProducts', error, [t])
          }
          if ('missing' in r) return void why.set(`${t.key}#onDemand`, r.missing)
          const fetchedAt = now.toISOString()
          const entry: CachedOnDemand = {usd: r.usd, fetchedAt, api: 'aws-pricing-api', ...(r.effectiveDate ? {effectiveDate: r.effectiveDate} : {})}
          cache.entries[t.key] = {...cache.entries[t.key], onDemand: entry}
          set(t.key, 'onDemand', {usd: r.usd, source: 'aws-pricing-api', date: day(fetchedAt), fetchedAt, ...(r.effectiveDate ? {effectiveDate: r.effectiveDate} : {})})
          fetched = true
        }),
      ),
      ...[...spotByRegion.entries()].map(([region, items]) =>
        limit(async () => {
          if (stop.spot) return void items.forEach((t) => why.set(`${t.key}#spot`, stop.spot!))
          let r: Map<string, SpotPrice>
          try {
            r = await aws.spot(region, [...new Set(items.map((t) => t.w.instanceType))], signal)
          } catch (error) {
            return failed('spot', 'ec2:DescribeSpotPriceHistory', error, items)
          }
          const fetchedAt = now.toISOString()
          for (const t of items) {
            const s = r.get(t.w.instanceType)
            if (!s) {
              why.set(`${t.key}#spot`, `EC2 has no Linux/UNIX spot price for ${t.w.instanceType} in ${region}`)
              continue
            }
            const entry: CachedSpot = {usd: s.usd, min: s.min, max: s.max, zones: s.zones, fetchedAt, api: 'aws-ec2-spot-price-history'}
            cache.entries[t.key] = {...cache.entries[t.key], spot: entry}
            set(t.key, 'spot', {usd: s.usd, source: 'aws-ec2-spot-price-history', date: day(fetchedAt), fetchedAt, min: s.min, max: s.max, zones: s.zones})
            fetched = true
          }
        }),
      ),
    ])
    if (signal?.aborted) throw new InterruptedError('interrupted while fetching AWS prices')
    if (fetched) {
      try {
        writePriceCache(opts.cacheFile, cache)
      } catch (error) {
        warnings.push(`cannot write the price cache ${opts.cacheFile}: ${(error as Error).message} (the prices fetched are used, not kept)`)
      }
    }
  }

  // 3. fallbacks: an older cached figure, then the built-in table; each named with why and its date
  const fallbacks = new Map<string, string[]>()
  const note = (reason: string, fallback: string, item: string) => {
    const k = `${reason}\u0000${fallback}`
    fallbacks.set(k, [...(fallbacks.get(k) ?? []), item])
  }
  const builtInSpot: string[] = []
  for (const [key, w] of wanted) {
    for (const kind of w.kinds) {
      if (figures.get(key)?.[kind]) continue
      const reason = why.get(`${key}#${kind}`)
      const c = cache.entries[key]?.[kind]
      const item = `${w.instanceType} ${KIND_WORD[kind]} in ${w.region}`
      if (c) {
        const stale = !isFresh(c.fetchedAt, now, ttl)
        const f = kind === 'spot' ? fromCachedSpot(c as CachedSpot, stale) : fromCachedOnDemand(c as CachedOnDemand, stale)
        set(key, kind, f)
        note(reason ?? 'not asked of AWS', `the cache (fetched ${f.date}${stale ? `, older than the ${Math.round(ttl / 86_400_000)}-day TTL` : ''})`, item)
        continue
      }
      const b = tableFigures(builtIn, 'built-in', {...w, kinds: new Set([kind])})[kind]
      if (b) {
        set(key, kind, b)
        // an instance type gpu-fit does not know is never asked of AWS: the table is its source, not a fallback
        if (reason) note(reason, `the built-in table dated ${builtIn.table.date}`, item)
        if (kind === 'spot') builtInSpot.push(`${w.instanceType} in ${w.region}`)
      } else if (reason) note(reason, 'nothing: unpriced', item)
    }
  }
  for (const [k, items] of fallbacks) {
    const [reason, fallback] = k.split('\u0000') as [string, string]
    warnings.push(`${reason}: ${items.join(', ')} priced from ${fallback}`)
  }
  if (builtInSpot.length > 0) warnings.push(`spot GPU-hours are priced from the table dated ${builtIn.table.date} (${builtInSpot.join(', ')}), an indicative snapshot; spot prices move: use --prices aws with AWS credentials`)

  const instances: InstancePriceInfo[] = [...wanted.entries()].map(([key, w]) => ({region: w.region, instanceType: w.instanceType, gpus: gpusPerInstance(w.instanceType, builtIn.table.regions[w.region]?.[w.instanceType]), ...figures.get(key)}))
  const used = instances.flatMap((i) => [i.onDemand, i.spot].filter((f): f is PricedFigure => f !== undefined))
  const top = new Set(used.map((f) => (f.source === 'aws-ec2-spot-price-history' ? 'aws-pricing-api' : f.source) as PricesSource))
  const source: PricesSource = top.size === 0 ? 'built-in' : top.size === 1 ? [...top][0]! : 'mixed'
  const date = used.length === 0 ? builtIn.table.date : used.map((f) => f.date).sort()[0]!
  const onlyTable = source === 'built-in'
  return {
    info: {source, file: onlyTable ? 'built-in' : opts.cacheFile, date, description: onlyTable ? builtIn.info.source : `AWS: Price List Query API (on-demand, Linux, shared tenancy), EC2 DescribeSpotPriceHistory (Linux/UNIX, mean of the zones); fallback ${builtIn.info.source}`, mode: opts.mode, instances},
    warnings,
    price(region, type, cap) {
      if (!type) return {missing: 'the node has no instance-type label'}
      if (!region) return {missing: `the node (${type}) has no region label`}
      const f = figures.get(cacheKey(region, type))?.[cap === 'spot' ? 'spot' : 'onDemand']
      if (!f) return gpuHourPrice(builtIn.table, region, type, cap)
      const entry: TableEntry | undefined = builtIn.table.regions[region]?.[type]
      return perGpu(f.usd, type, cap, entry)
    },
  }
}
