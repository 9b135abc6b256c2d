/**
 * The cache of prices fetched from AWS: `<cache dir>/prices/aws-ec2.json` (cacheDir(): $XDG_CACHE_HOME/aip
 * or ~/.cache/aip). One entry per region and instance type, each kind (on-demand, spot) with the
 * date it was fetched and the API that answered. Entries younger than the TTL are used without asking
 * AWS again; older ones are the first fallback when AWS cannot be asked. Written whole, through a
 * temporary file and a rename, so a reader never sees half a file; an unreadable cache is ignored
 * (with a warning), never fatal: it only holds what can be fetched again.
 */
import {mkdirSync, readFileSync, renameSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {z} from 'zod'

import {cacheDir} from '../paths.js'

export const PRICE_CACHE_TTL_MS = 7 * 24 * 3600 * 1000

const OnDemandEntry = z.object({
  usd: z.number().positive(),
  fetchedAt: z.string(),
  /** The price's effectiveDate in the Price List. */
  effectiveDate: z.string().optional(),
  api: z.literal('aws-pricing-api'),
})
const SpotEntry = z.object({
  usd: z.number().positive(),
  min: z.number().positive(),
  max: z.number().positive(),
  zones: z.array(z.object({zone: z.string(), usd: z.number(), since: z.string()})),
  fetchedAt: z.string(),
  api: z.literal('aws-ec2-spot-price-history'),
})
const CacheSchema = z.object({
  $comment: z.string().optional(),
  version: z.literal(1),
  entries: z.record(z.string(), z.object({onDemand: OnDemandEntry.optional(), spot: SpotEntry.optional()})),
})
export type PriceCache = z.infer<typeof CacheSchema>
export type CachedOnDemand = z.infer<typeof OnDemandEntry>
export type CachedSpot = z.infer<typeof SpotEntry>

export const cacheKey = (region: string, instanceType: string) => `${region}/${instanceType}`

export function defaultPriceCacheFile(env: NodeJS.ProcessEnv = process.env): string {
  return join(cacheDir(env), 'prices', 'aws-ec2.json')
}

export function emptyPriceCache(): PriceCache {
  return {version: 1, entries: {}}
}

/** The cache, or an empty one (and why, when a file was there but unusable). */
export function readPriceCache(file: string): {cache: PriceCache; problem?: string} {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {cache: emptyPriceCache()}
    return {cache: emptyPriceCache(), problem: `cannot read the price cache ${file}: ${(error as Error).message}`}
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    return {cache: emptyPriceCache(), problem: `the price cache ${file} is not JSON (ignored; the next fetch rewrites it)`}
  }
  const r = CacheSchema.safeParse(raw)
  if (!r.success) return {cache: emptyPriceCache(), problem: `the price cache ${file} has an unknown shape (ignored; the next fetch rewrites it)`}
  return {cache: r.data}
}

export function writePriceCache(file: string, cache: PriceCache): void {
  mkdirSync(dirname(file), {recursive: true})
  const tmp = `${file}.${process.pid}.tmp`
  const body: PriceCache = {$comment: 'EC2 prices fetched from AWS by `aip cost` (USD per instance-hour, Linux); safe to delete', version: 1, entries: cache.entries}
  writeFileSync(tmp, JSON.stringify(body, null, 1) + '\n')
  renameSync(tmp, file)
}

export function isFresh(fetchedAt: string, now: Date, ttlMs = PRICE_CACHE_TTL_MS): boolean {
  const t = Date.parse(fetchedAt)
  return Number.isFinite(t) && now.getTime() - t < ttlMs && t <= now.getTime() + 60_000
}
