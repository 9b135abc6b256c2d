/**
 * gpu-fit: does a model fit a GPU under vLLM, and with what context and concurrency.
 * Pure computation over a config.json (and optionally real safetensors tensors); no I/O here
 * (see source.ts for reading files, the catalog or the Hub).
 */
import {NotFitError, UsageError} from '../errors.js'
import {type Json, type ModelSpec, specFromConfig} from './arch.js'
import {canonicalDtype, dtypeBytes} from './dtypes.js'
import {evaluate, type FitSettings, type GpuFit, hybridLayout, kvSummary, type KvSummary, type Overhead, sequenceBytes, TP_DEGREES, validTp} from './fit.js'
import {findGpu, GPUS, type GpuType} from './gpus.js'
import {stateLabel} from './hybrid.js'
import {validateConfig} from './validate.js'
import {resolveVllm} from './vllm.js'
import {isMtpTensor, residentExtraBytes, weightsFromSpec, weightsFromTensors, type WeightReport} from './weights.js'

export {specFromConfig} from './arch.js'
export {findGpu, GPUS, gpuNames} from './gpus.js'
export {DEFAULT_VLLM_IMAGE, resolveVllm, versionOfImage} from './vllm.js'

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
  /** vLLM --max-num-seqs (sizes the sampler warm-up); default: vLLM's for the GPU. */
  maxNumSeqs?: number
  /** vLLM --max-num-batched-tokens; default: vLLM's for the GPU. */
  maxNumBatchedTokens?: number
  /** Planning target: this many sequences of max-model-len must fit at once (default 1). */
  minConcurrency?: number
  kvCacheDtype?: string
  gpuMemoryUtilization?: number
  dtype?: string
  enforceEager?: boolean
  /** vLLM --quantization: fp8 (or bitsandbytes) quantizes an unquantized checkpoint while loading. */
  quantization?: string
  /** The image model deploy will run (its tag names the vLLM version modelled). */
  image?: string
  /** The vLLM version to model, for a plain estimate or an image whose tag names none. */
  vllmVersion?: string
}

export interface GpuFitReport {
  /** The vLLM release whose start-up memory accounting was modelled. */
  vllm: {version: string; image: string | null; source: 'image' | 'flag' | 'default'; era: string; covers: string}
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
  weights: {bytes: number; byDtype: Record<string, number>; source: 'config' | 'safetensors'; /** On the GPU, with the kernels' padding. */ gpuBytes: number}
  /** bytesPerSequence: KV of one max-model-len sequence plus its recurrent state (hybrids), TP 1. */
  kvCache: KvSummary & {dtype: string; bytesPerSequence: number; maxModelLen: number; state: StateSummary | null}
  settings: {gpuMemoryUtilization: number; maxModelLen: number; maxNumSeqs: number | null; maxNumBatchedTokens: number | null; minConcurrency: number; kvCacheDtype: string; quantization: string | null; tp: number | null}
  gpus: GpuFit[]
  gate?: Gate
  warnings: string[]
}

/** The per-sequence state of a hybrid's Mamba / linear-attention layers, as vLLM pages it at TP 1. */
export interface StateSummary {
  kind: string
  label: string
  /** Layers that keep a state (the attention layers are kvCache.layers). */
  layers: number
  /** How the layer pattern was read from the config. */
  convention: string
  /** One layer's state for one sequence, before vLLM pads it to the attention page. */
  bytesPerLayer: number
  /** All state layers for one sequence as vLLM allocates them (padded pages, padding layers, pages per layer). */
  bytesPerSequence: number
  pagesPerLayer: number
  /** The attention block size vLLM raises to fit a state in one page (16 for other models); null when there is no attention. */
  attentionBlockSize: number | null
  dtype: string
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

/** vLLM method names that load the same checkpoint format (quantization/__init__.py, the *_marlin kernels). */
const SAME_METHOD: Record<string, string> = {awq_marlin: 'awq', gptq_marlin: 'gptq', gptq_marlin_24: 'gptq', fbgemm_fp8: 'fp8', 'compressed_tensors': 'compressed-tensors'}

/**
 * --quantization as vLLM takes it: a quantized checkpoint must name the same method (vLLM refuses a
 * mismatch: "Quantization method specified in the model config ... does not match"), an unquantized
 * one can be quantized while loading to fp8 (linear layers to one byte per weight, embeddings and
 * lm_head kept) or bitsandbytes (4-bit NF4).
 */
export function withQuantization(spec: ModelSpec, flag: string | undefined, where: string, warnings: string[] = []): ModelSpec {
  if (flag === undefined) return spec
  const q = flag.trim().toLowerCase()
  if (!/^[a-z0-9_-]+$/.test(q)) throw new UsageError(`invalid --quantization "${flag}"`, {fix: 'use a vLLM method name such as fp8, awq, gptq or bitsandbytes'})
  const norm = (m: string) => SAME_METHOD[m] ?? m
  if (spec.quantization) {
    const method = String(spec.quantization.quant_method ?? spec.quantization.quant_algo ?? '').toLowerCase()
    if (norm(method) !== norm(q)) {
      throw new UsageError(`${where} is quantized with ${method || 'an unnamed method'}; vLLM refuses --quantization ${q} for it`, {fix: `drop --quantization, or pass --quantization ${method}`})
    }
    return spec
  }
  // on the fly: fp8 (and ptpc_fp8, per-token-per-channel fp8) to one byte per linear weight
  if (q === 'fp8' || q === 'ptpc_fp8') return {...spec, quantization: {quant_method: 'fp8', activation_scheme: 'dynamic'}}
  if (q === 'bitsandbytes') return {...spec, quantization: {quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4'}}
  if (PRE_QUANTIZED_ONLY.has(norm(q))) {
    throw new UsageError(`--quantization ${q} needs a checkpoint quantized with ${q}; ${where} is not quantized`, {fix: 'vLLM quantizes an unquantized checkpoint only to fp8 or bitsandbytes: use --quantization fp8, or a pre-quantized checkpoint'})
  }
  warnings.push(`--quantization ${q} is not modelled: weights counted at the checkpoint dtype`)
  return spec
}

/** Methods that read a checkpoint already quantized in that format (vLLM cannot produce them while loading). */
const PRE_QUANTIZED_ONLY = new Set(['awq', 'gptq', 'compressed-tensors', 'modelopt', 'modelopt_fp4', 'mxfp4', 'gguf', 'aqlm', 'quark', 'auto-round', 'nvfp4', 'marlin'])

function positive(name: string, v: number | undefined, max = Number.MAX_SAFE_INTEGER): void {
  if (v === undefined) return
  if (!Number.isFinite(v) || !Number.isInteger(v) || v <= 0 || v > max) {
    throw new UsageError(`--${name} must be a positive integer${max < Number.MAX_SAFE_INTEGER ? ` up to ${max}` : ''}, got ${v}`, {fix: `pass a value such as --${name} ${name === 'tp' ? 2 : name === 'max-num-seqs' ? 16 : name === 'min-concurrency' ? 4 : 8192}`})
  }
}

/** The model analysis and the per-GPU table; with `gpu` set, a gate decision too. */
export function analyze(input: AnalyzeInput): GpuFitReport {
  positive('max-model-len', input.maxModelLen, 16 * 1024 * 1024)
  positive('max-num-seqs', input.maxNumSeqs, 65536)
  positive('max-num-batched-tokens', input.maxNumBatchedTokens, 16 * 1024 * 1024)
  positive('min-concurrency', input.minConcurrency, 65536)
  positive('tp', input.tp, 64)
  const util = input.gpuMemoryUtilization ?? 0.9
  if (!Number.isFinite(util) || util <= 0 || util > 1) {
    throw new UsageError(`--gpu-memory-utilization must be in (0, 1], got ${util}`, {fix: 'use a fraction such as 0.9 (vLLM\'s default)'})
  }
  if (input.gpuMemoryBytes !== undefined && (!Number.isFinite(input.gpuMemoryBytes) || input.gpuMemoryBytes < 1024 ** 3 || input.gpuMemoryBytes > 16 * 1024 ** 4)) {
    // a bare number is bytes: "--gpu-memory 24" is almost surely 24 GiB meant
    throw new UsageError(`--gpu-memory of ${input.gpuMemoryBytes} bytes is not a GPU's memory (1 GiB to 16 TiB)`, {fix: 'give the size with a unit, e.g. --gpu-memory 24GiB or 80GB'})
  }
  const warnings: string[] = []
  const vllm = resolveVllm({image: input.image, vllmVersion: input.vllmVersion}, warnings)
  validateConfig(input.config, input.where)
  const spec = withQuantization(specFromConfig(input.config, input.where), input.quantization, input.where ?? 'config.json', warnings)
  // Without a gate, an invalid degree is bad input (the table would be empty); the gate answers it
  // as "does not fit" with the reason (exit 3), as for any other setting vLLM cannot serve.
  if (input.tp !== undefined && !input.gpu && input.gpuMemoryBytes === undefined) {
    const bad = validTp(spec, input.tp)
    if (bad) {
      const ok = Array.from({length: 64}, (_, i) => i + 1).filter((t) => !validTp(spec, t)).slice(0, 8)
      throw new UsageError(`--tp ${input.tp}: ${bad} (vLLM refuses to start)`, {fix: `use --tp ${ok.join(', ')}`})
    }
  }
  warnings.unshift(...spec.warnings)
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
        if (isMtpTensor(t.name, spec.numLayers)) continue
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
  const settings: FitSettings = {
    gpuMemoryUtilization: util,
    maxModelLen,
    maxNumSeqs: input.maxNumSeqs,
    maxNumBatchedTokens: input.maxNumBatchedTokens,
    minConcurrency: input.minConcurrency,
    kvBytes,
    enforceEager: input.enforceEager,
    profile: vllm.profile,
  }
  const actBytes = dtypeBytes(dtype)!

  let gpus: GpuType[]
  if (input.gpuMemoryBytes !== undefined) {
    const name = input.gpu ?? `custom-${Math.round(input.gpuMemoryBytes / 1024 ** 3)}gib`
    // --gpu-memory is the total CUDA reports (what vLLM's budget multiplies)
    gpus = [{name, description: `custom GPU with ${(input.gpuMemoryBytes / 1024 ** 3).toFixed(1)} GiB`, memoryBytes: input.gpuMemoryBytes, cudaMemoryBytes: input.gpuMemoryBytes, largeDefaults: input.gpuMemoryBytes >= 70 * 1024 ** 3, instances: []}]
  } else if (input.gpu) {
    gpus = [findGpu(input.gpu)]
  } else {
    gpus = [...GPUS]
  }
  const tps = input.tp ? [input.tp] : [...TP_DEGREES]
  const rows: GpuFit[] = []
  // what the weights take on the GPU: the checkpoint's bytes plus the kernels' padding
  const gpuWeightBytes = weights.bytes + residentExtraBytes(spec)
  for (const g of gpus) for (const tp of tps) rows.push(evaluate(spec, gpuWeightBytes, g, tp, settings, actBytes, cap))

  const kv = kvSummary(spec.attention, kvBytes)
  const h = hybridLayout(spec, 1, kvBytes, actBytes, vllm.profile.mambaStatePages)
  const state: StateSummary | null =
    h && spec.state
      ? {
          kind: spec.state.spec.kind,
          label: stateLabel(spec.state.spec.kind),
          layers: spec.state.layers,
          convention: spec.state.convention,
          bytesPerLayer: h.stateBytesPerLayer,
          bytesPerSequence: h.stateSlots * h.statePages * h.pageBytes,
          pagesPerLayer: h.statePages,
          attentionBlockSize: spec.attention.length > 0 ? h.blockSize : null,
          dtype: spec.state.ssmFloat32 && spec.state.spec.kind !== 'linear' ? `${dtype.toLowerCase()} conv, f32 ssm` : dtype.toLowerCase(),
        }
      : null
  const report: GpuFitReport = {
    vllm: {version: vllm.version, image: vllm.image, source: vllm.source, era: vllm.profile.era, covers: vllm.profile.covers},
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
    weights: {bytes: weights.bytes, byDtype: weights.byDtype, source, gpuBytes: gpuWeightBytes},
    kvCache: {...kv, dtype: kvName === 'auto' ? dtype.toLowerCase() : kvName, bytesPerSequence: sequenceBytes(spec, maxModelLen, 1, settings, 2048, actBytes), maxModelLen, state},
    settings: {
      gpuMemoryUtilization: util,
      maxModelLen,
      maxNumSeqs: input.maxNumSeqs ?? null,
      maxNumBatchedTokens: input.maxNumBatchedTokens ?? null,
      minConcurrency: input.minConcurrency ?? 1,
      kvCacheDtype: kvName,
      quantization: input.quantization ?? null,
      tp: input.tp ?? null,
    },
    gpus: rows,
    warnings,
  }
  if (input.gpu || input.gpuMemoryBytes !== undefined) {
    report.gate = gate(spec, gpuWeightBytes, gpus[0]!, input.tp ?? 1, settings, actBytes, cap, rows)
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
  if (result.valid && result.verdict !== 'warmup-oom' && result.kvAvailablePerGpuBytes > 0 && result.maxContext >= 16) {
    const ctx = roundContext(result.maxContext)
    if (ctx > 0) alts.push({change: `--max-model-len ${ctx}`, fits: true, maxContext: ctx})
  }
  if (result.verdict === 'warmup-oom') {
    for (const u of [0.9, 0.85, 0.8]) {
      if (u >= s.gpuMemoryUtilization) continue
      if (evaluate(spec, weightBytes, gpu, tp, {...s, gpuMemoryUtilization: u}, actBytes, cap).fits) {
        alts.push({change: `--gpu-memory-utilization ${u}`, fits: true})
        break
      }
    }
    const seqs = [512, 256, 128, 64].filter((n) => n < result.overhead.samplerSeqs)
    for (const n of seqs) {
      if (evaluate(spec, weightBytes, gpu, tp, {...s, maxNumSeqs: n}, actBytes, cap).fits) {
        alts.push({change: `--max-num-seqs ${n}`, fits: true})
        break
      }
    }
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
  quantization?: string
  maxNumBatchedTokens?: number
  enforceEager?: boolean
  /** The image the deploy renders: the gate models the vLLM it runs. */
  image?: string
  minConcurrency?: number
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
    'aip.dev/gpu-fit-vllm-version': report.vllm.version,
  }
}

export type {GpuFit, Overhead, Json}
