/**
 * What a revision runs, in words: the summary of a deploy's catalog entry (model, Hub revision,
 * image, max-model-len, quantization, tensor parallel, GPU, and the settings that differ from the
 * catalog entry of the same name), the inputs stored with it, and the change between two summaries.
 */
import type {CatalogEntry} from '../catalog/schema.js'
import {listCatalog} from '../catalog/index.js'
import type {RenderOptions} from '../render/index.js'
import type {RevisionSummary} from './history.js'

/** Entry fields the summary names on its own, or that do not change what runs. */
const SUMMARIZED = new Set(['name', 'description', 'hf.repo', 'hf.revision', 'image', 'vllm.maxModelLen', 'vllm.quantization', 'gpu.count', 'gpu.type', 'config'])

function flatten(v: unknown, prefix = '', out: Record<string, string> = {}): Record<string, string> {
  if (SUMMARIZED.has(prefix)) return out
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flatten(x, prefix ? `${prefix}.${k}` : k, out)
  } else if (v !== undefined) {
    out[prefix] = Array.isArray(v) ? v.join(' ') : String(v)
  }
  return out
}

/** The summary of an entry; `catalog` is the catalog entry of the same name (default: looked up). */
export function summarizeEntry(entry: CatalogEntry, catalog: CatalogEntry | undefined | null = lookup(entry.name)): RevisionSummary {
  const overrides: Record<string, string> = {}
  if (catalog) {
    const a = flatten(catalog)
    const b = flatten(entry)
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) overrides[k] = b[k] ?? '(unset)'
  }
  return {
    model: entry.name,
    hfRepo: entry.hf.repo,
    hfRevision: entry.hf.revision,
    image: entry.image,
    maxModelLen: entry.vllm.maxModelLen,
    ...(entry.vllm.quantization ? {quantization: entry.vllm.quantization} : {}),
    tensorParallel: entry.gpu.count,
    gpu: entry.gpu.type,
    ...(Object.keys(overrides).length ? {overrides} : {}),
  }
}

function lookup(name: string): CatalogEntry | undefined {
  try {
    return listCatalog().find((e) => e.name === name)
  } catch {
    return undefined
  }
}

/** The deploy inputs a revision keeps: the entry (for the gpu-fit gate on rollback) and the render options. */
export function deployInputs(entry: CatalogEntry, render: Omit<RenderOptions, 'capabilities'> | RenderOptions): Record<string, unknown> {
  return {entry, render}
}

/** The entry stored with a revision (undefined for revisions recorded without one). */
export function revisionEntry(options: Record<string, unknown>): CatalogEntry | undefined {
  const e = options.entry as CatalogEntry | undefined
  return e && typeof e === 'object' && typeof e.name === 'string' && e.gpu && e.vllm ? e : undefined
}

function summaryFields(s: RevisionSummary): Record<string, string> {
  const out: Record<string, string> = {
    'hf revision': s.hfRevision,
    image: s.image,
    'max-model-len': String(s.maxModelLen),
    quantization: s.quantization ?? '(none)',
    gpu: `${s.tensorParallel}x ${s.gpu}`,
    repo: s.hfRepo,
  }
  for (const [k, v] of Object.entries(s.overrides ?? {})) out[k] = v
  return out
}

/** What changed from `prev` to `cur`, one "field: old -> new" per change (short shas). */
export function diffSummaries(prev: RevisionSummary | undefined, cur: RevisionSummary): string[] {
  const short = (v: string | undefined): string => (v === undefined ? '(catalog)' : /^[0-9a-f]{40}$/.test(v) ? v.slice(0, 12) : v)
  const b = summaryFields(cur)
  if (!prev) return [`${cur.hfRepo}@${short(cur.hfRevision)}, ${cur.image}, max-model-len ${cur.maxModelLen}, ${cur.tensorParallel}x ${cur.gpu}${cur.quantization ? `, ${cur.quantization}` : ''}`]
  const a = summaryFields(prev)
  const out: string[] = []
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) out.push(`${k}: ${short(a[k])} -> ${short(b[k])}`)
  return out
}

/**
 * What changed from one revision to the next: the summary, then the render options (bucket,
 * prefix, endpoints: settings from the configuration rather than the entry).
 */
export function diffRevisions(prev: {summary: RevisionSummary; options: Record<string, unknown>} | undefined, cur: {summary: RevisionSummary; options: Record<string, unknown>}): string[] {
  const out = diffSummaries(prev?.summary, cur.summary)
  if (!prev) return out
  const flat = (o: unknown): Record<string, string> => {
    const r: Record<string, string> = {}
    const walk = (v: unknown, p: string): void => {
      if (v && typeof v === 'object' && !Array.isArray(v)) for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, p ? `${p}.${k}` : k)
      else if (v !== undefined) r[p] = Array.isArray(v) ? v.join(' ') : String(v)
    }
    walk(o, '')
    return r
  }
  const a = flat(prev.options.render)
  const b = flat(cur.options.render)
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) if (a[k] !== b[k]) out.push(`${k}: ${a[k] ?? '(unset)'} -> ${b[k] ?? '(unset)'}`)
  return out
}
