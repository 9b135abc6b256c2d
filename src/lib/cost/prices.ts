/**
 * Instance prices for `aip cost`: one cached table (templates/prices/aws-gpu.json, its date shown in
 * every report), or a file of the same shape passed with --prices.
 *
 * Why a cached table and not the AWS Pricing API online: the Pricing API (GetProducts) answers only
 * on-demand list prices, from us-east-1/ap-south-1 endpoints, as large filtered JSON documents; spot
 * prices come from a different API (EC2 DescribeSpotPriceHistory, per availability zone, changing
 * hourly). A table with its date, overridable by --prices, keeps `aip cost` offline and
 * reproducible (CI budgets), and says plainly how old its prices are.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {z} from 'zod'

import {NotFoundError, UsageError} from '../errors.js'
import {packageRoot} from '../paths.js'

const InstancePrice = z.object({gpus: z.number().int().positive(), onDemand: z.number().nonnegative(), spot: z.number().nonnegative().optional()}).strict()
const PriceTableSchema = z.object({
  $comment: z.string().optional(),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD'),
  currency: z.literal('USD'),
  source: z.string(),
  regions: z.record(z.string(), z.record(z.string(), InstancePrice)),
})
export type PriceTable = z.infer<typeof PriceTableSchema>
export type CapacityType = 'on-demand' | 'spot'

export interface PriceTableInfo {
  /** The file read ("built-in" for the package's table). */
  file: string
  date: string
  source: string
}

export function defaultPricesFile(): string {
  return join(packageRoot(), 'templates', 'prices', 'aws-gpu.json')
}

export function loadPriceTable(file?: string): {table: PriceTable; info: PriceTableInfo} {
  const path = file ?? defaultPricesFile()
  if (!existsSync(path)) throw new NotFoundError(`price table ${path} not found`, {fix: 'pass --prices FILE (same shape as templates/prices/aws-gpu.json)'})
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (error) {
    throw new UsageError(`price table ${path} is not JSON: ${(error as Error).message}`, {fix: 'fix the file (same shape as templates/prices/aws-gpu.json)'})
  }
  const r = PriceTableSchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]!
    throw new UsageError(`price table ${path}: ${i.path.join('.') || '(root)'}: ${i.message}`, {fix: 'fix the file (same shape as templates/prices/aws-gpu.json)'})
  }
  return {table: r.data, info: {file: file ?? 'built-in', date: r.data.date, source: r.data.source}}
}

export interface GpuPrice {
  /** USD per GPU-hour: the instance's hourly price divided by its GPUs. */
  perGpuHour: number
  capacityType: CapacityType
}

/** The price of one GPU-hour on an instance type in a region, or a reason it is unknown. */
export function gpuHourPrice(table: PriceTable, region: string | undefined, instanceType: string | undefined, capacityType: CapacityType): GpuPrice | {missing: string} {
  if (!instanceType) return {missing: 'the node has no instance-type label'}
  if (!region) return {missing: `the node (${instanceType}) has no region label`}
  const p = table.regions[region]?.[instanceType]
  if (!p) return {missing: `no price for ${instanceType} in ${region}`}
  if (capacityType === 'spot') {
    if (p.spot === undefined) return {missing: `no spot price for ${instanceType} in ${region}`}
    return {perGpuHour: p.spot / p.gpus, capacityType}
  }
  return {perGpuHour: p.onDemand / p.gpus, capacityType}
}
