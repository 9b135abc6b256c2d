/**
 * Which model to deploy: a catalog name, a `--template` file, or `hf:ORG/REPO` built from the Hub's
 * config.json and flags. Overrides from flags apply to all three, and the result is validated by the
 * catalog schema again, so a flag can never produce an entry a template could not.
 */
import {type CatalogEntry, CatalogEntrySchema, type CatalogEntryInput, formatIssues, getCatalogEntry, GPU_TYPES, type GpuType, loadTemplateFile} from '../catalog/index.js'
import {UsageError} from '../errors.js'
import type {HubClient} from '../hub/index.js'
import {DEFAULT_VLLM_IMAGE} from '../gpufit/vllm.js'
import {closest} from '../suggest.js'

// The image aip deploys has one owner: gpufit models the vLLM it runs (src/lib/gpufit/vllm.ts).
export {DEFAULT_VLLM_IMAGE} from '../gpufit/vllm.js'

export type DeploySource = {kind: 'catalog'; name: string} | {kind: 'template'; path: string} | {kind: 'hf'; repo: string}

export interface EntryOverrides {
  name?: string
  gpu?: string
  gpus?: number
  maxModelLen?: number
  maxNumSeqs?: number
  servedName?: string
  revision?: string
  image?: string
  dtype?: string
  quantization?: string
  kvCacheDtype?: string
  toolCallParser?: string
  minReplicas?: number
  maxReplicas?: number
  extraArgs?: string[]
}

/** `NAME`, `hf:ORG/REPO`, or a template path. */
export function parseSource(arg: string | undefined, template: string | undefined): DeploySource {
  if (template && arg) throw new UsageError(`pass either a model name (${arg}) or --template, not both`, {fix: 'drop the model name when deploying from --template FILE'})
  if (template) return {kind: 'template', path: template}
  if (!arg) throw new UsageError('no model given', {fix: 'aip model deploy NAME (see `aip model list`), --template FILE or hf:ORG/REPO'})
  if (arg.startsWith('hf:')) {
    const repo = arg.slice(3)
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(repo)) throw new UsageError(`"${arg}" is not hf:ORG/REPO`, {fix: 'e.g. aip model deploy hf:Qwen/Qwen2.5-0.5B-Instruct --gpu l4'})
    return {kind: 'hf', repo}
  }
  if (/\.ya?ml$/i.test(arg) || arg.includes('/')) return {kind: 'template', path: arg}
  return {kind: 'catalog', name: arg}
}

function gpuType(value: string): GpuType {
  const v = value.toLowerCase()
  if ((GPU_TYPES as readonly string[]).includes(v)) return v as GpuType
  const near = closest(v, GPU_TYPES)
  throw new UsageError(`unknown GPU type "${value}"`, {fix: near ? `did you mean "${near}"? (known: ${GPU_TYPES.join(', ')})` : `known GPU types: ${GPU_TYPES.join(', ')}`})
}

/** Container resources that fit the smallest AWS instance of each GPU (per GPU). */
const RESOURCES_PER_GPU: Record<GpuType, {cpu: number; memoryGi: number}> = {
  l4: {cpu: 3, memoryGi: 12},
  a10g: {cpu: 3, memoryGi: 12},
  l40s: {cpu: 3, memoryGi: 24},
  'a100-40gb': {cpu: 10, memoryGi: 120},
  'a100-80gb': {cpu: 10, memoryGi: 120},
  h100: {cpu: 14, memoryGi: 200},
  h200: {cpu: 20, memoryGi: 220},
  b200: {cpu: 20, memoryGi: 220},
}

function slug(repo: string): string {
  const s = repo
    .split('/')[1]!
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/[-.]+$/, '')
    .slice(0, 40)
    .replace(/[-.]+$/, '')
  return s || 'model'
}

function validate(data: unknown, where: string): CatalogEntry {
  const parsed = CatalogEntrySchema.safeParse(data)
  if (!parsed.success) {
    const issues = formatIssues(parsed.error)
    throw new UsageError(`${where}: ${issues[0]}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, {fix: 'correct the flag or template field named above', details: {issues}})
  }
  return parsed.data
}

/** Applies flag overrides to an entry and validates the result. */
export function applyOverrides(entry: CatalogEntry, o: EntryOverrides, where = 'deploy flags'): CatalogEntry {
  const e = structuredClone(entry) as CatalogEntryInput & CatalogEntry
  if (o.name) e.name = o.name
  if (o.gpu) {
    const g = gpuType(o.gpu)
    if (g !== e.gpu.type && !o.gpus) {
      // keep the count; resources follow the new GPU's instance shape
    }
    if (g !== e.gpu.type) {
      const r = RESOURCES_PER_GPU[g]
      e.resources = {...e.resources, cpu: String(r.cpu * (o.gpus ?? e.gpu.count)), memory: `${r.memoryGi * (o.gpus ?? e.gpu.count)}Gi`}
    }
    e.gpu.type = g
  }
  if (o.gpus !== undefined) e.gpu.count = o.gpus
  if (o.maxModelLen !== undefined) e.vllm.maxModelLen = o.maxModelLen
  if (o.maxNumSeqs !== undefined) e.vllm.maxNumSeqs = o.maxNumSeqs
  if (o.servedName) e.servedModelName = o.servedName
  if (o.revision) e.hf.revision = o.revision
  if (o.image) e.image = o.image
  if (o.dtype) e.vllm.dtype = o.dtype as CatalogEntry['vllm']['dtype']
  if (o.quantization) e.vllm.quantization = o.quantization
  if (o.kvCacheDtype) e.vllm.kvCacheDtype = o.kvCacheDtype as CatalogEntry['vllm']['kvCacheDtype']
  if (o.toolCallParser) {
    e.vllm.toolCallParser = o.toolCallParser
    e.vllm.enableAutoToolChoice = true
  }
  if (o.minReplicas !== undefined) e.scaling.minReplicas = o.minReplicas
  if (o.maxReplicas !== undefined) e.scaling.maxReplicas = Math.max(o.maxReplicas, 1)
  if (o.extraArgs && o.extraArgs.length > 0) e.vllm.extraArgs = [...e.vllm.extraArgs, ...o.extraArgs]
  return validate(e, where)
}

export interface ResolveDeps {
  /** Needed for hf:ORG/REPO (config.json and the commit sha of the revision). */
  hub?: Pick<HubClient, 'fetchJson' | 'resolveRevision' | 'modelInfo'>
  /** Config `gpu` (default GPU type for hf: sources). */
  defaultGpu?: string
  signal?: AbortSignal
}

/** Builds an entry for hf:ORG/REPO from the Hub: config.json at the resolved commit, defaults sized by GPU. */
export async function entryFromHub(repo: string, o: EntryOverrides, deps: ResolveDeps): Promise<CatalogEntry> {
  if (!deps.hub) throw new UsageError('hf:ORG/REPO needs the Hugging Face Hub', {fix: 'set HF_ENDPOINT / hf-endpoint, or deploy a catalog entry'})
  const gpu = o.gpu ?? deps.defaultGpu
  if (!gpu) throw new UsageError(`hf:${repo} needs a GPU type`, {fix: `pass --gpu (${GPU_TYPES.join(', ')}) or set a default: aip config set gpu l4`})
  const g = gpuType(gpu)
  const sha = await deps.hub.resolveRevision(repo, o.revision ?? 'main')
  const config = await deps.hub.fetchJson<Record<string, unknown>>(repo, 'config.json', sha)
  let gated = false
  try {
    const info = await deps.hub.modelInfo(repo, sha, deps.signal)
    gated = Boolean(info.gated)
  } catch {
    // gated-ness only decides whether the HF token Secret is optional for the preload Job
  }
  const maxPos = typeof config.max_position_embeddings === 'number' ? config.max_position_embeddings : 8192
  const count = o.gpus ?? 1
  const r = RESOURCES_PER_GPU[g]
  const name = o.name ?? slug(repo)
  const base = {
    name,
    description: `${repo} from the Hugging Face Hub (hf:${repo})`,
    task: 'chat',
    hf: {repo, revision: sha, gated},
    servedModelName: o.servedName ?? name,
    image: o.image ?? DEFAULT_VLLM_IMAGE,
    vllm: {maxModelLen: Math.min(maxPos, 32768), maxNumSeqs: 64, dtype: 'auto', extraArgs: []},
    gpu: {type: g, count},
    resources: {cpu: String(r.cpu * count), memory: `${r.memoryGi * count}Gi`, ephemeralStorage: '20Gi'},
    scaling: {minReplicas: 1, maxReplicas: 4, targetRunningRatio: 0.75, targetKvUsage: 0.8, cooldownSeconds: 900, pollingInterval: 15},
    lora: [],
    config,
  }
  const entry = validate(base, `hf:${repo} config.json`)
  return applyOverrides(entry, {...o, name: undefined, gpu: undefined, gpus: undefined, revision: undefined, image: undefined, servedName: undefined}, 'deploy flags')
}

export async function resolveEntry(source: DeploySource, o: EntryOverrides, deps: ResolveDeps = {}): Promise<CatalogEntry> {
  switch (source.kind) {
    case 'catalog':
      return applyOverrides(getCatalogEntry(source.name), o)
    case 'template':
      return applyOverrides(loadTemplateFile(source.path), o, `${source.path} with deploy flags`)
    case 'hf':
      return entryFromHub(source.repo, o, deps)
  }
}
