/**
 * What the stable runs, as a catalog entry, so the candidate is "the stable with the rollout's flags
 * on top" (a rollout to another --revision keeps the stable's --max-model-len, GPU, image...).
 *
 * Sources, best first: an explicit --template; the revision history `model deploy` records (its
 * entry is exactly what was applied); else the catalog entry of the model's name with the settings
 * the live Deployment shows (Hub revision and GPU annotations, image, vLLM arguments).
 */
import {getCatalogEntry, loadTemplateFile, type CatalogEntry} from '../catalog/index.js'
import {applyOverrides, type EntryOverrides} from '../deploy/resolve.js'
import {AipError, NotFoundError} from '../errors.js'
import type {KubeObject} from '../kube/index.js'
import {MODEL_LABEL} from '../kube/labels.js'
import {GPU_TYPE_ANNOTATION} from '../render/server.js'
import {diffSummaries, summarizeEntry} from './summary.js'

interface ContainerShape {
  image?: string
  args?: string[]
  env?: Array<{name: string; value?: string}>
  resources?: {limits?: Record<string, string>}
}

function container(dep: KubeObject): ContainerShape | undefined {
  const spec = dep.spec as {template?: {spec?: {containers?: ContainerShape[]}}} | undefined
  return spec?.template?.spec?.containers?.find((c) => (c as {name?: string}).name === 'vllm') ?? spec?.template?.spec?.containers?.[0]
}

function arg(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag)
  return i >= 0 ? args[i + 1] : undefined
}

/** The deploy settings a live model server Deployment shows (what render/server.ts wrote). */
export function liveOverrides(dep: KubeObject): EntryOverrides {
  const c = container(dep)
  const args = c?.args ?? []
  const num = (flag: string): number | undefined => {
    const v = arg(args, flag)
    return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined
  }
  const gpus = Number(c?.resources?.limits?.['nvidia.com/gpu'])
  return {
    revision: dep.metadata.annotations?.['aip.dev/hf-revision'],
    image: c?.image,
    gpu: dep.metadata.annotations?.[GPU_TYPE_ANNOTATION],
    gpus: Number.isInteger(gpus) && gpus > 0 ? gpus : undefined,
    servedName: c?.env?.find((e) => e.name === 'AIP_SERVED_MODEL')?.value,
    maxModelLen: num('--max-model-len'),
    maxNumSeqs: num('--max-num-seqs'),
    dtype: arg(args, '--dtype'),
    quantization: arg(args, '--quantization'),
    kvCacheDtype: arg(args, '--kv-cache-dtype'),
    toolCallParser: arg(args, '--tool-call-parser'),
  }
}

export interface BaseSources {
  template?: string
  /** the entry of the latest recorded revision, when the history has one */
  recorded?: CatalogEntry
}

export function stableEntry(dep: KubeObject, src: BaseSources): {entry: CatalogEntry; source: 'template' | 'history' | 'catalog+live'} {
  if (src.template) return {entry: applyOverrides(loadTemplateFile(src.template), liveOverrides(dep), `${src.template} with the live Deployment's settings`), source: 'template'}
  if (src.recorded) return {entry: src.recorded, source: 'history'}
  const name = dep.metadata.labels?.[MODEL_LABEL] ?? dep.metadata.name
  let base: CatalogEntry
  try {
    base = getCatalogEntry(name)
  } catch (error) {
    if (!(error instanceof NotFoundError) && !(error instanceof AipError)) throw error
    throw new NotFoundError(`cannot tell what ${name} was deployed from: it is not a catalog entry and has no recorded revision`, {
      fix: `pass the template it was deployed from (--template FILE), or redeploy it once with aip model deploy (that records its spec)`,
      cause: error,
    })
  }
  return {entry: applyOverrides(base, liveOverrides(dep), `the live settings of ${name}`), source: 'catalog+live'}
}

/** What changes from the stable to the candidate, one "field: old -> new" each (the history's summary fields, summary.ts). */
export function entryChanges(a: CatalogEntry, b: CatalogEntry): string[] {
  return diffSummaries(summarizeEntry(a), summarizeEntry(b))
}
