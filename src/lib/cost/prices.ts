/**
 * Price tables for `aip cost`: the built-in one (templates/prices/aws-gpu.json, the offline fallback,
 * its date shown in every report) or a file of the same shape passed with --prices FILE. Prices
 * fetched from AWS (lib/aws/pricing.ts) and their cache are resolved in price-source.ts; this
 * module owns the table shape and the per-GPU arithmetic.
 *
 * GPUs per instance come from gpu-fit's GPU table (lib/gpufit/gpus.ts, the one owner of the instance
 * list); a table entry may carry `gpus` only for instance types gpu-fit does not know.
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {z} from 'zod'

import {NotFoundError, UsageError} from '../errors.js'
import {GPUS} from '../gpufit/gpus.js'
import {packageRoot} from '../paths.js'

const InstancePrice = z
  .object({
    gpus: z.number().int().positive().optional(),
    onDemand: z.number().positive().optional(),
    spot: z.number().positive().optional(),
    /** Where this entry's figures come from (a URL or a note), or why they are unverified. */
    ref: z.string().optional(),
  })
  .strict()
const PriceTableSchema = z.object({
  $comment: z.string().optional(),
  date: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a date YYYY-MM-DD'),
  currency: z.literal('USD'),
  source: z.string(),
  regions: z.record(z.string(), z.record(z.string(), InstancePrice)),
})
export type PriceTable = z.infer<typeof PriceTableSchema>
export type TableEntry = z.infer<typeof InstancePrice>
export type CapacityType = 'on-demand' | 'spot'

export interface PriceTableInfo {
  /** The file read ("built-in" for the package's table). */
  file: string
  date: string
  /** The table's own `source` text. */
  source: string
}

export interface LoadedTable {
  table: PriceTable
  info: PriceTableInfo
}

export function defaultPricesFile(): string {
  return join(packageRoot(), 'templates', 'prices', 'aws-gpu.json')
}

export function loadPriceTable(file?: string): LoadedTable {
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

const GPUS_PER_INSTANCE = new Map(GPUS.flatMap((g) => g.instances.map((i) => [i.type, i.gpus] as const)))

/** GPUs of an instance type: gpu-fit's GPU table, else what a price table says. */
export function gpusPerInstance(instanceType: string, entry?: TableEntry): number | undefined {
  return GPUS_PER_INSTANCE.get(instanceType) ?? entry?.gpus
}

/** Whether gpu-fit knows this instance type (only those are asked of AWS). */
export function knownGpuInstance(instanceType: string): boolean {
  return GPUS_PER_INSTANCE.has(instanceType)
}

export interface GpuPrice {
  /** USD per GPU-hour: the instance's hourly price divided by its GPUs. */
  perGpuHour: number
  capacityType: CapacityType
}

/** The price of one GPU-hour on an instance type in a region from a table, or a reason it is unknown. */
export function gpuHourPrice(table: PriceTable, region: string | undefined, instanceType: string | undefined, capacityType: CapacityType): GpuPrice | {missing: string} {
  if (!instanceType) return {missing: 'the node has no instance-type label'}
  if (!region) return {missing: `the node (${instanceType}) has no region label`}
  const p = table.regions[region]?.[instanceType]
  if (!p) return {missing: `no price for ${instanceType} in ${region}`}
  const usd = capacityType === 'spot' ? p.spot : p.onDemand
  if (usd === undefined) return {missing: `no ${capacityType} price for ${instanceType} in ${region}`}
  return perGpu(usd, instanceType, capacityType, p)
}

export function perGpu(instanceUsd: number, instanceType: string, capacityType: CapacityType, entry?: TableEntry): GpuPrice | {missing: string} {
  const gpus = gpusPerInstance(instanceType, entry)
  if (!gpus) return {missing: `GPUs per instance unknown for ${instanceType} (not in gpu-fit's GPU table; add "gpus" to its --prices entry)`}
  return {perGpuHour: instanceUsd / gpus, capacityType}
}
