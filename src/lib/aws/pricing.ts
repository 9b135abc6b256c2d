/**
 * EC2 instance prices from AWS, for `aip cost`: on-demand list prices from the Price List Query API
 * (`pricing:GetProducts`) and spot prices from EC2 `DescribeSpotPriceHistory`. The SDKs are imported
 * lazily (only a run that actually asks AWS loads them). The cost side (lib/cost/price-source.ts)
 * decides when to ask, caches the answers and falls back; this module only asks and parses.
 *
 * On-demand: the Price List Query API is served from three endpoint regions only (us-east-1,
 * eu-central-1, ap-south-1; "Endpoints", https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/using-ppslong.html),
 * whatever region the instances run in: aip asks us-east-1. One GetProducts request per instance
 * type and region, ServiceCode `AmazonEC2`, TERM_MATCH filters on instanceType, regionCode,
 * operatingSystem Linux, tenancy Shared, preInstalledSw NA and capacitystatus Used (a running,
 * shared-tenancy Linux instance without pre-installed software: the attributes in
 * https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_pricing_GetProducts.html
 * and the offer file definitions). Each `PriceList` item is a JSON *string* holding one product:
 * `{product: {sku, productFamily, attributes}, serviceCode, terms: {OnDemand: {"<sku>.<term>":
 * {effectiveDate, priceDimensions: {"<sku>.<term>.<rate>": {unit: "Hrs", pricePerUnit: {USD:
 * "1.8610000000"}}}}}}, publicationDate}` ("Reading the service price list file",
 * https://docs.aws.amazon.com/awsaccountbilling/latest/aboutv2/reading-service-price-list-file-for-services.html).
 *
 * Spot: `DescribeSpotPriceHistory` in the instances' own region, ProductDescriptions `Linux/UNIX`,
 * StartTime = now: "when you specify a start and end time, the operation returns the prices ...
 * within that time range. It also returns the last price change before the start time, which is the
 * effective price as of the start time" (EC2 API reference), i.e. one current price per availability
 * zone. The zones are reduced to their MEAN (min and max are kept alongside): a Karpenter NodePool
 * spreads spot nodes over the zones of its subnets, and the report prices a region, not a zone.
 */
import type {EC2Client} from '@aws-sdk/client-ec2'
import type {PricingClient} from '@aws-sdk/client-pricing'

import {networkErrorCode} from '../errors.js'
import {httpTimeouts} from '../http/timeouts.js'

/** The region whose endpoint serves the Price List Query API (also eu-central-1, ap-south-1). */
export const PRICING_API_REGION = 'us-east-1'
export const SPOT_PRODUCT_DESCRIPTION = 'Linux/UNIX'

export interface AwsPriceClientOptions {
  profile?: string
  /** Non-AWS endpoints (the SDK also reads AWS_ENDPOINT_URL_PRICING / AWS_ENDPOINT_URL_EC2 itself). */
  pricingEndpoint?: string
  ec2Endpoint?: string
  /** SDK attempts per request (default 2: a report should not hang on retries). */
  maxAttempts?: number
}

const clientConfig = (region: string, endpoint: string | undefined, opts: AwsPriceClientOptions) => ({
  region,
  ...(opts.profile ? {profile: opts.profile} : {}),
  ...(endpoint ? {endpoint} : {}),
  maxAttempts: opts.maxAttempts ?? 2,
  requestHandler: {connectionTimeout: httpTimeouts().connectMs, socketTimeout: httpTimeouts().idleMs},
})

export async function createPricingClient(opts: AwsPriceClientOptions = {}): Promise<PricingClient> {
  const {PricingClient} = await import('@aws-sdk/client-pricing')
  return new PricingClient(clientConfig(PRICING_API_REGION, opts.pricingEndpoint, opts))
}

export async function createEc2Client(region: string, opts: AwsPriceClientOptions = {}): Promise<EC2Client> {
  const {EC2Client} = await import('@aws-sdk/client-ec2')
  return new EC2Client(clientConfig(region, opts.ec2Endpoint, opts))
}

export interface OnDemandPrice {
  /** USD per instance-hour. */
  usd: number
  /** The term's effectiveDate (when AWS set this price), YYYY-MM-DD. */
  effectiveDate?: string
  sku?: string
}

/** The filters of one GetProducts request: a running shared-tenancy Linux instance, no pre-installed software. */
export function onDemandFilters(region: string, instanceType: string): Array<{Type: 'TERM_MATCH'; Field: string; Value: string}> {
  const f = {instanceType, regionCode: region, operatingSystem: 'Linux', tenancy: 'Shared', preInstalledSw: 'NA', capacitystatus: 'Used'}
  return Object.entries(f).map(([Field, Value]) => ({Type: 'TERM_MATCH' as const, Field, Value}))
}

interface PriceListProduct {
  product?: {sku?: string; attributes?: Record<string, string>}
  terms?: {OnDemand?: Record<string, {effectiveDate?: string; priceDimensions?: Record<string, {unit?: string; pricePerUnit?: Record<string, string>}>}>}
}

/**
 * The hourly on-demand price in a GetProducts answer (its PriceList JSON strings). Only products
 * whose attributes still match (an answer may carry more than the filters narrowed: a different
 * license model or operation) and whose OnDemand terms price `Hrs` in USD count; several different
 * prices left is an ambiguity, reported rather than guessed.
 */
export function parseOnDemandPriceList(items: readonly string[], region: string, instanceType: string): OnDemandPrice | {missing: string} {
  const found: OnDemandPrice[] = []
  for (const raw of items) {
    let p: PriceListProduct
    try {
      p = JSON.parse(raw) as PriceListProduct
    } catch {
      continue
    }
    const a = p.product?.attributes ?? {}
    if (a.instanceType !== undefined && a.instanceType !== instanceType) continue
    if (a.regionCode !== undefined && a.regionCode !== region) continue
    // Linux without a license charge: operation RunInstances (RunInstances:0002 is Windows, :0010 RHEL...)
    if (a.operation !== undefined && a.operation !== 'RunInstances') continue
    if (a.licenseModel !== undefined && a.licenseModel !== 'No License required') continue
    if (a.marketoption !== undefined && a.marketoption !== 'OnDemand') continue
    for (const term of Object.values(p.terms?.OnDemand ?? {})) {
      for (const dim of Object.values(term.priceDimensions ?? {})) {
        const usd = Number(dim.pricePerUnit?.USD)
        if (dim.unit !== 'Hrs' || !Number.isFinite(usd) || usd <= 0) continue
        found.push({usd, effectiveDate: term.effectiveDate?.slice(0, 10), sku: p.product?.sku})
      }
    }
  }
  if (found.length === 0) return {missing: `the AWS Pricing API has no on-demand Linux price for ${instanceType} in ${region}`}
  const distinct = [...new Set(found.map((f) => f.usd))]
  if (distinct.length > 1) return {missing: `the AWS Pricing API returned ${distinct.length} different on-demand prices for ${instanceType} in ${region} (${distinct.join(', ')} USD/h)`}
  return found.sort((x, y) => (y.effectiveDate ?? '').localeCompare(x.effectiveDate ?? ''))[0]!
}

export async function fetchOnDemandPrice(client: PricingClient, region: string, instanceType: string, signal?: AbortSignal): Promise<OnDemandPrice | {missing: string}> {
  const {GetProductsCommand} = await import('@aws-sdk/client-pricing')
  const items: string[] = []
  let NextToken: string | undefined
  do {
    const out = await client.send(new GetProductsCommand({ServiceCode: 'AmazonEC2', Filters: onDemandFilters(region, instanceType), MaxResults: 100, NextToken}), {abortSignal: signal as never})
    // each item is a JSON document as a string; the SDK hands it over boxed (a LazyJsonString, whose
    // toString() is the document and toJSON() the string again: JSON.stringify would quote it)
    for (const i of out.PriceList ?? []) items.push(typeof i === 'string' || typeof (i as {deserializeJSON?: unknown}).deserializeJSON === 'function' ? String(i) : JSON.stringify(i))
    NextToken = out.NextToken
  } while (NextToken)
  return parseOnDemandPriceList(items, region, instanceType)
}

export interface SpotPrice {
  /** USD per instance-hour: the mean of the zones' current prices. */
  usd: number
  min: number
  max: number
  /** Current price per availability zone, and when it took effect. */
  zones: Array<{zone: string; usd: number; since: string}>
}

export interface SpotHistoryEntry {
  AvailabilityZone?: string
  InstanceType?: string
  ProductDescription?: string
  SpotPrice?: string
  Timestamp?: Date
}

/** Reduces DescribeSpotPriceHistory entries to one price per instance type: the latest per zone, then the mean over zones. */
export function reduceSpotHistory(entries: readonly SpotHistoryEntry[]): Map<string, SpotPrice> {
  const latest = new Map<string, Map<string, {usd: number; at: Date}>>()
  for (const e of entries) {
    const usd = Number(e.SpotPrice)
    if (!e.InstanceType || !e.AvailabilityZone || !e.Timestamp || !Number.isFinite(usd) || usd <= 0) continue
    if (e.ProductDescription !== undefined && e.ProductDescription !== SPOT_PRODUCT_DESCRIPTION) continue
    const zones = latest.get(e.InstanceType) ?? new Map<string, {usd: number; at: Date}>()
    const cur = zones.get(e.AvailabilityZone)
    if (!cur || e.Timestamp > cur.at) zones.set(e.AvailabilityZone, {usd, at: e.Timestamp})
    latest.set(e.InstanceType, zones)
  }
  const out = new Map<string, SpotPrice>()
  for (const [type, zones] of latest) {
    const list = [...zones.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([zone, z]) => ({zone, usd: z.usd, since: z.at.toISOString()}))
    const prices = list.map((z) => z.usd)
    out.set(type, {usd: prices.reduce((s, x) => s + x, 0) / prices.length, min: Math.min(...prices), max: Math.max(...prices), zones: list})
  }
  return out
}

/** Current spot prices (Linux/UNIX) of these instance types in the client's region. */
export async function fetchSpotPrices(client: EC2Client, instanceTypes: readonly string[], now: Date, signal?: AbortSignal): Promise<Map<string, SpotPrice>> {
  const {DescribeSpotPriceHistoryCommand} = await import('@aws-sdk/client-ec2')
  const entries: SpotHistoryEntry[] = []
  let NextToken: string | undefined
  do {
    const out = await client.send(
      new DescribeSpotPriceHistoryCommand({InstanceTypes: [...instanceTypes] as never, ProductDescriptions: [SPOT_PRODUCT_DESCRIPTION], StartTime: now, MaxResults: 1000, NextToken}),
      {abortSignal: signal as never},
    )
    entries.push(...(out.SpotPriceHistory ?? []))
    NextToken = out.NextToken || undefined
  } while (NextToken)
  return reduceSpotHistory(entries)
}

export type AwsPriceFailure = 'no-credentials' | 'access-denied' | 'unreachable' | 'throttled' | 'failed'

/** Why an AWS price request failed, in words a warning can carry (never the credentials themselves). */
export function describeAwsPriceError(err: unknown, api: string): {kind: AwsPriceFailure; reason: string} {
  const e = (err ?? {}) as {name?: string; Code?: string; message?: string; $metadata?: {httpStatusCode?: number}}
  const n = e.name ?? e.Code ?? ''
  const msg = String(e.message ?? err).split('\n')[0]!
  if (n === 'CredentialsProviderError' || n === 'TokenProviderError' || /Could not load credentials|credentials? (?:is|are) missing|Token is expired|SSO session/i.test(msg)) {
    return {kind: 'no-credentials', reason: `no usable AWS credentials (${msg})`}
  }
  if (/AccessDenied|UnauthorizedOperation|AuthFailure|UnrecognizedClient|InvalidClientTokenId|ExpiredToken|SignatureDoesNotMatch|NotAuthorized|OptInRequired/.test(n) || e.$metadata?.httpStatusCode === 403) {
    return {kind: 'access-denied', reason: `AWS refused ${api} (${n || 'HTTP 403'}: ${msg})`}
  }
  const net = networkErrorCode(err)
  if (net || n === 'TimeoutError' || n === 'AbortError') return {kind: 'unreachable', reason: `AWS unreachable for ${api} (${net ?? n})`}
  if (/Throttl|TooManyRequests|RequestLimitExceeded/.test(n) || e.$metadata?.httpStatusCode === 429) return {kind: 'throttled', reason: `AWS throttled ${api} (${n})`}
  return {kind: 'failed', reason: `${api} failed (${n || 'error'}: ${msg})`}
}

/** What `aip cost` asks AWS: one on-demand price, and a region's spot prices. */
export interface AwsPriceFetcher {
  onDemand(region: string, instanceType: string, signal?: AbortSignal): Promise<OnDemandPrice | {missing: string}>
  spot(region: string, instanceTypes: readonly string[], signal?: AbortSignal): Promise<Map<string, SpotPrice>>
}

/** The real fetcher: one Pricing client (us-east-1) and one EC2 client per region, made on first use. */
export function awsPriceFetcher(opts: AwsPriceClientOptions = {}, now: () => Date = () => new Date()): AwsPriceFetcher {
  let pricing: Promise<PricingClient> | undefined
  const ec2 = new Map<string, Promise<EC2Client>>()
  return {
    async onDemand(region, instanceType, signal) {
      pricing ??= createPricingClient(opts)
      return fetchOnDemandPrice(await pricing, region, instanceType, signal)
    },
    async spot(region, instanceTypes, signal) {
      if (!ec2.has(region)) ec2.set(region, createEc2Client(region, opts))
      return fetchSpotPrices(await ec2.get(region)!, instanceTypes, now(), signal)
    },
  }
}
