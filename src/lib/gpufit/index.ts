/**
 * gpu-fit: does a model fit a GPU under vLLM, and with what context and concurrency.
 * Pure computation over a config.json (and optionally real safetensors tensors); no I/O here
 * (see source.ts for reading files, the catalog or the Hub).
 */
import {NotFitError, UsageError} from '../errors.js'
import {type Json, type ModelSpec, specFromConfig} from './arch.js'
import {canonicalDtype, dtypeBytes} from './dtypes.js'
import {evaluate, type FitSettings, type GpuFit, kvSummary, type KvSummary, type Overhead, sequenceKvBytes, TP_DEGREES, validTp} from './fit.js'
import {findGpu, GPUS, type GpuType} from './gpus.js'
import {weightsFromSpec, weightsFromTensors, type WeightReport} from './weights.js'

export {specFromConfig} from './arch.js'
export {findGpu, GPUS, gpuNames} from './gpus.js'

export interface TensorHeader {
  name: string
  dtype: string
  shape: number[]
}

export interface AnalyzeInput {
  config: unknown
  /** Where the config came from, for messages ("config.json", "catalog qwen3-8b"...). */
  where?: string
  /** Real tensors from safetensors headers, when available. */
  tensors?: TensorHeader[]
  gpu?: string
  /** Any GPU by memory size (--gpu-memory). */
  gpuMemoryBytes?: number
  tp?: number
  maxModelLen?: number
  maxNumSeqs?: number
  kvCacheDtype?: string
  gpuMemoryUtilization?: number
  dtype?: string
  enforceEager?: boolean
}

export interface GpuFitReport {
  model: {
    architecture: string
    modelType: string
    maxPositionEmbeddings: number | null
    /** vLLM's derived maximum (rope scaling applied). */
    maxModelLen: number | null
    dtype: string
    quantization: string | null
    multimodal: boolean
  }
  parameters: {total: number; active: number; embedding: number; vision: number; mtp: number; source: 'config' | 'safetensors'}
  weights: {bytes: number; byDtype: Record<string, number>; source: 'config' | 'safetensors'}
  kvCache: KvSummary & {dtype: string; bytesPerSequence: number; maxModelLen: number}
  settings: {gpuMemoryUtilization: number; maxModelLen: number; maxNumSeqs: number | null; kvCacheDtype: string; tp: number | null}
  gpus: GpuFit[]
  gate?: Gate
  warnings: string[]
}

export interface Gate {
  gpu: string
  tp: number
  maxModelLen: number
  fits: boolean
  reason?: string
  suggestion?: string
  alternatives: Array<{change: string; fits: true; maxContext?: number; instances?: string[]}>
  result: GpuFit
}

const KV_DTYPES: Record<string, number> = {fp8: 1, fp8_e4m3: 1, fp8_e5m2: 1, fp8_ds_mla: 1}

function servingDtype(spec: ModelSpec, flag: string | undefined, warnings: string[]): string {
  if (flag && flag !== 'auto') {
    const c = canonicalDtype(flag)
    if (!c || !['BF16', 'F16', 'F32'].includes(c)) throw new UsageError(`invalid --dtype "${flag}"`, {fix: 'use auto, bfloat16, float16 or float32'})
    return c
  }
  const c = spec.torchDtype ? canonicalDtype(spec.torchDtype) : undefined
  if (!c) {
    if (spec.torchDtype) warnings.push(`unknown torch_dtype "${spec.torchDtype}": planned in bfloat16 (pass --dtype to choose)`)
    return 'BF16'
  }
  // vLLM's dtype "auto" serves float32 checkpoints in bfloat16 (config._get_and_verify_dtype).
  if (c === 'F32') {
    warnings.push('checkpoint is float32; vLLM serves it in bfloat16 (pass --dtype float32 to plan for fp32)')
    return 'BF16'
  }
  return ['BF16', 'F16'].includes(c) ? c : 'BF16'
}

function positive(name: string, v: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return
  if (!Number.isFinite(v) || !Number.isInteger(v) || v <= 0 || v > max) {
    throw new UsageError(`--${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${v}`, {fix: `pass a value such as --${name} ${name === 'tp' ? 2 : name === 'max-num-seqs' ? 16 : 8192}`})
  }
}

/** The model analysis and the per-GPU table; with `gpu` set, a gate decision too. */
export function analyze(input: AnalyzeInput): GpuFitReport {
  positive('max-model-len', input.maxModelLen, 16 * 1024 * 1024)
  positive('max-num-seqs', input.maxNumSeqs, 65536)
  positive('tp', input.tp, 64)
  const util = input.gpuMemoryUtilization ?? 0.9
  if (!Number.isFinite(util) || util <= 0 || util > 1) {
    throw new UsageError(`--gpu-memory-utilization must be in (0, 1], got ${util}`, {fix: 'use a fraction such as 0.9 (vLLM\'s default)'})
  }
  if (input.gpuMemoryBytes !== undefined && (!Number.isFinite(input.gpuMemoryBytes) || input.gpuMemoryBytes < 1024 ** 3 || input.gpuMemoryBytes > 16 * 1024 ** 4)) {
    // a bare number is bytes: "--gpu-memory 24" is almost surely 24 GiB meant
    throw new UsageError(`--gpu-memory of ${input.gpuMemoryBytes} bytes is not a GPU's memory (1 GiB to 16 TiB)`, {fix: 'give the size with a unit, e.g. --gpu-memory 24GiB or 80GB'})
  }
  const spec = specFromConfig(input.config, input.where)
  // Without a gate, an invalid degree is bad input (the table would be empty); the gate answers it
  // as "does not fit" with the reason (exit 3), as for any other setting vLLM cannot serve.
  if (input.tp !== undefined && !input.gpu && input.gpuMemoryBytes === undefined) {
    const bad = validTp(spec, input.tp)
    if (bad) {
      const ok = Array.from({length: 64}, (_, i) => i + 1).filter((t) => !validTp(spec, t)).slice(0, 8)
      throw new UsageError(`--tp ${input.tp}: ${bad} (vLLM refuses to start)`, {fix: `use --tp ${ok.join(', ')}`})
    }
  }
  const warnings = [...spec.warnings]
  const dtype = servingDtype(spec, input.dtype, warnings)
  const kvName = (input.kvCacheDtype ?? 'auto').toLowerCase()
  const kvBytes = kvName === 'auto' ? dtypeBytes(dtype)! : KV_DTYPES[kvName]
  if (kvBytes === undefined) throw new UsageError(`invalid --kv-cache-dtype "${input.kvCacheDtype}"`, {fix: 'use auto, fp8, fp8_e4m3 or fp8_e5m2'})

  const fromConfig = weightsFromSpec(spec, dtype, warnings)
  let weights: WeightReport = fromConfig
  let source: 'config' | 'safetensors' = 'config'
  if (input.tensors && input.tensors.length > 0) {
    weights = weightsFromTensors(input.tensors, {numLayers: spec.numLayers, moe: spec.moe, quantized: Boolean(spec.quantization), fromConfig})
    source = 'safetensors'
    // vLLM casts unquantized floating weights to the serving dtype at load time.
    if (!spec.quantization) {
      const b = dtypeBytes(dtype)!
      let bytes = 0
      const byDtype: Record<string, number> = {}
      for (const t of input.tensors) {
        const n = t.shape.reduce((a, c) => a * c, 1)
        const layer = /layers\.(\d+)\./.exec(t.name)
        if (layer && Number(layer[1]) >= spec.numLayers && !/vision|visual/.test(t.name)) continue
        const isFloat = /^(F|BF)/i.test(t.dtype)
        const label = isFloat ? dtype.toLowerCase() : t.dtype.toLowerCase()
        const tb = n * (isFloat ? b : dtypeBytes(t.dtype) ?? b)
        byDtype[label] = (byDtype[label] ?? 0) + tb
        bytes += tb
      }
      weights = {...weights, bytes, byDtype}
    }
  }

  const modelMax = spec.maxModelLen ?? spec.maxPositionEmbeddings
  if (input.maxModelLen !== undefined && modelMax !== undefined && input.maxModelLen > modelMax) {
    throw new UsageError(`--max-model-len ${input.maxModelLen} exceeds the model's maximum of ${modelMax} tokens`, {fix: `use --max-model-len ${modelMax} or less`})
  }
  const maxModelLen = input.maxModelLen ?? modelMax
  if (!maxModelLen) {
    throw new UsageError('the config has no max_position_embeddings, so the context length is unknown', {fix: 'pass --max-model-len'})
  }
  const cap = Math.max(modelMax ?? maxModelLen, maxModelLen)
  const settings: FitSettings = {gpuMemoryUtilization: util, maxModelLen, maxNumSeqs: input.maxNumSeqs, kvBytes, enforceEager: input.enforceEager}
  const actBytes = dtypeBytes(dtype)!

  let gpus: GpuType[]
  if (input.gpuMemoryBytes !== undefined) {
    const name = input.gpu ?? `custom-${Math.round(input.gpuMemoryBytes / 1024 ** 3)}gib`
    gpus = [{name, description: `custom GPU with ${(input.gpuMemoryBytes / 1024 ** 3).toFixed(1)} GiB`, memoryBytes: input.gpuMemoryBytes, instances: []}]
  } else if (input.gpu) {
    gpus = [findGpu(input.gpu)]
  } else {
    gpus = [...GPUS]
  }
  const tps = input.tp ? [input.tp] : [...TP_DEGREES]
  const rows: GpuFit[] = []
  for (const g of gpus) for (const tp of tps) rows.push(evaluate(spec, weights.bytes, g, tp, settings, actBytes, cap))

  const kv = kvSummary(spec.attention, kvBytes)
  const report: GpuFitReport = {
    model: {
      architecture: spec.architecture,
      modelType: spec.modelType,
      maxPositionEmbeddings: spec.maxPositionEmbeddings ?? null,
      maxModelLen: modelMax ?? null,
      dtype: dtype.toLowerCase(),
      quantization: spec.quantization ? String(spec.quantization.quant_method ?? spec.quantization.quant_algo ?? 'unknown') : null,
      multimodal: spec.vision,
    },
    parameters: {total: weights.total, active: weights.active, embedding: weights.embedding, vision: weights.vision, mtp: weights.mtp, source},
    weights: {bytes: weights.bytes, byDtype: weights.byDtype, source},
    kvCache: {...kv, dtype: kvName === 'auto' ? dtype.toLowerCase() : kvName, bytesPerSequence: sequenceKvBytes(spec.attention, maxModelLen, 1, kvBytes, 2048), maxModelLen},
    settings: {gpuMemoryUtilization: util, maxModelLen, maxNumSeqs: input.maxNumSeqs ?? null, kvCacheDtype: kvName, tp: input.tp ?? null},
    gpus: rows,
    warnings,
  }
  if (input.gpu || input.gpuMemoryBytes !== undefined) {
    report.gate = gate(spec, weights.bytes, gpus[0]!, input.tp ?? 1, settings, actBytes, cap, rows)
  }
  return report
}

function roundContext(n: number): number {
  return n >= 1024 ? Math.floor(n / 1024) * 1024 : Math.floor(n / 16) * 16
}

function gate(spec: ModelSpec, weightBytes: number, gpu: GpuType, tp: number, s: FitSettings, actBytes: number, cap: number, rows: GpuFit[]): Gate {
  const result = rows.find((r) => r.gpu === gpu.name && r.tp === tp) ?? evaluate(spec, weightBytes, gpu, tp, s, actBytes, cap)
  const g: Gate = {gpu: gpu.name, tp, maxModelLen: s.maxModelLen, fits: result.fits, reason: result.reason, alternatives: [], result}
  if (result.fits) return g
  const alts = g.alternatives
  if (result.valid && result.kvAvailablePerGpuBytes > 0 && result.maxContext >= 16) {
    const ctx = roundContext(result.maxContext)
    if (ctx > 0) alts.push({change: `--max-model-len ${ctx}`, fits: true, maxContext: ctx})
  }
  if (s.kvBytes > 1) {
    const r = evaluate(spec, weightBytes, gpu, tp, {...s, kvBytes: 1}, actBytes, cap)
    if (r.fits) alts.push({change: '--kv-cache-dtype fp8', fits: true, maxContext: r.maxContext})
  }
  // another tensor-parallel degree: the next larger that fits (more memory), else a smaller one
  // (a degree no instance type carries, with room to spare); for a degree vLLM refuses, the
  // smallest that fits
  const refused = validTp(spec, tp) !== undefined
  const otherTp = refused ? TP_DEGREES.filter((t) => t !== tp) : [...TP_DEGREES.filter((t) => t > tp), ...TP_DEGREES.filter((t) => t < tp)]
  for (const t of otherTp) {
    const r = evaluate(spec, weightBytes, gpu, t, s, actBytes, cap)
    if (r.fits) {
      alts.push({change: `--tp ${t}`, fits: true, instances: r.instances})
      break
    }
  }
  const bigger = [...GPUS].sort((a, b) => a.memoryBytes - b.memoryBytes).find((x) => x.memoryBytes > gpu.memoryBytes && evaluate(spec, weightBytes, x, tp, s, actBytes, cap).fits)
  if (bigger) alts.push({change: `--gpu ${bigger.name}`, fits: true, instances: instancesFor(bigger, tp)})
  // real flags, and the context agrees with the table's MAX CTX (which it rounds down to a multiple of 1024)
  g.suggestion =
    alts.length > 0
      ? alts.map((a) => (a.change.startsWith('--max-model-len') && result.maxContext !== a.maxContext ? `${a.change} fits (MAX CTX ${result.maxContext}, rounded down)` : `${a.change} fits`)).join('; or ')
      : 'no setting of this GPU fits; try a quantized checkpoint or a larger GPU'
  return g
}

function instancesFor(g: GpuType, n: number): string[] {
  return g.instances.filter((i) => i.gpus >= n).map((i) => i.type)
}

/** The deploy preflight: does this config fit on this GPU at this setting. */
export interface FitCheckInput {
  config: Record<string, unknown>
  gpu: string
  tp?: number
  maxModelLen?: number
  maxNumSeqs?: number
  kvCacheDtype?: string
  gpuMemoryUtilization?: number
  dtype?: string
}

export function checkFit(input: FitCheckInput): {fits: boolean; reason?: string; suggestion?: string; report: GpuFitReport} {
  const report = analyze({...input, tp: input.tp ?? 1})
  const g = report.gate!
  return {fits: g.fits, reason: g.reason, suggestion: g.fits ? undefined : g.suggestion, report}
}

/** The gate's verdict as an error (exit 3) with the reason and the nearest setting that fits. */
export function notFitError(report: GpuFitReport): NotFitError | undefined {
  const g = report.gate
  if (!g || g.fits) return undefined
  return new NotFitError(`does not fit on ${g.gpu} x${g.tp} at max-model-len ${g.maxModelLen}: ${g.reason}`, {fix: g.suggestion, details: {gpu: g.gpu, tp: g.tp, maxModelLen: g.maxModelLen}})
}

/** Pod annotations an admission policy can enforce (strings, as Kubernetes requires). */
export function fitAnnotations(report: GpuFitReport): Record<string, string> {
  const r = report.gate?.result ?? report.gpus.find((x) => x.fits) ?? report.gpus[0]!
  return {
    'aip.dev/gpu-fit-gpu': r.gpu,
    'aip.dev/gpu-fit-tp': String(r.tp),
    'aip.dev/gpu-fit-fits': String(r.fits),
    'aip.dev/gpu-fit-max-model-len': String(report.settings.maxModelLen),
    'aip.dev/gpu-fit-weights-bytes': String(Math.round(report.weights.bytes)),
    'aip.dev/gpu-fit-kv-bytes-per-token': String(report.kvCache.fullBytesPerToken + report.kvCache.slidingBytesPerToken),
    'aip.dev/gpu-fit-kv-available-bytes': String(Math.round(r.kvAvailablePerGpuBytes)),
    'aip.dev/gpu-fit-max-concurrency': String(r.maxConcurrency),
    'aip.dev/gpu-fit-gpu-memory-utilization': String(report.settings.gpuMemoryUtilization),
  }
}

export type {GpuFit, Overhead, Json}
