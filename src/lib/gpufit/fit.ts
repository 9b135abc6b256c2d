/**
 * The memory model: weights + KV cache + runtime overhead against each GPU, as vLLM budgets it.
 *
 * vLLM (V1) profiles one forward pass, then gives the KV cache what is left of
 * `gpu_memory_utilization x total memory` after weights, the activation peak and non-torch memory;
 * it refuses to start when one max-model-len sequence does not fit. KV pages are 16-token blocks;
 * sliding-window layers hold at most `window - 1 + max_num_batched_tokens` tokens per request
 * (vLLM SlidingWindowSpec.max_memory_usage_bytes); MLA layers cache one latent vector
 * (kv_lora_rank + qk_rope_head_dim) per token, replicated on every tensor-parallel rank.
 */
import type {LayerAttention, ModelSpec} from './arch.js'
import {type GpuType, GPUS, instancesFor} from './gpus.js'

const GiB = 1024 ** 3
export const BLOCK_SIZE = 16
export const TP_DEGREES = [1, 2, 4, 8] as const

export interface FitSettings {
  gpuMemoryUtilization: number
  /** Tokens per sequence to plan for. */
  maxModelLen: number
  /** Explicit concurrency (--max-num-seqs), or undefined for vLLM's default batch size. */
  maxNumSeqs?: number
  /** Bytes per KV element (2 for bf16/fp16, 1 for fp8). */
  kvBytes: number
  enforceEager?: boolean
}

export interface Overhead {
  activationBytes: number
  cudaGraphBytes: number
  frameworkBytes: number
  maxNumBatchedTokens: number
  samplerSeqs: number
  totalBytes: number
}

export interface GpuFit {
  gpu: string
  description: string
  memoryBytes: number
  tp: number
  valid: boolean
  fits: boolean
  reason?: string
  budgetBytes: number
  weightsPerGpuBytes: number
  overhead: Overhead
  kvAvailablePerGpuBytes: number
  kvPerSequenceBytes: number
  /** Longest context each of `concurrency` sequences can reach. */
  maxContext: number
  concurrency: number
  /** Sequences of max-model-len that fit at once. */
  maxConcurrency: number
  instances: string[]
}

/** Per-token KV bytes of one layer on one tensor-parallel rank. */
export function layerKvBytesPerToken(a: LayerAttention, tp: number, kvBytes: number): number {
  if (a.kind === 'mla') return a.latentDim * kvBytes
  const headsPerRank = Math.max(1, Math.floor(a.kvHeads / tp))
  return 2 * headsPerRank * a.headDim * kvBytes
}

const roundUp = (n: number, m: number) => Math.ceil(n / m) * m

/** Peak KV bytes one sequence of `tokens` tokens takes on one rank, block-granular as vLLM allocates. */
export function sequenceKvBytes(attn: LayerAttention[], tokens: number, tp: number, kvBytes: number, maxBatchedTokens: number): number {
  let total = 0
  for (const a of attn) {
    const per = layerKvBytesPerToken(a, tp, kvBytes)
    if (a.kind === 'sliding') {
      const held = Math.min(tokens, a.window - 1 + maxBatchedTokens)
      total += (roundUp(held, BLOCK_SIZE) + (held < tokens ? BLOCK_SIZE : 0)) * per
    } else {
      total += roundUp(tokens, BLOCK_SIZE) * per
    }
  }
  return total
}

export interface KvSummary {
  /** Bytes per token summed over full-attention (and MLA) layers, tp=1. */
  fullBytesPerToken: number
  /** Bytes per token summed over sliding-window layers (only `window` tokens are kept), tp=1. */
  slidingBytesPerToken: number
  layers: {full: number; sliding: number; mla: number; window?: number}
}

export function kvSummary(attn: LayerAttention[], kvBytes: number): KvSummary {
  const s: KvSummary = {fullBytesPerToken: 0, slidingBytesPerToken: 0, layers: {full: 0, sliding: 0, mla: 0}}
  for (const a of attn) {
    const b = layerKvBytesPerToken(a, 1, kvBytes)
    if (a.kind === 'sliding') {
      s.slidingBytesPerToken += b
      s.layers.sliding++
      s.layers.window = a.window
    } else {
      s.fullBytesPerToken += b
      if (a.kind === 'mla') s.layers.mla++
      else s.layers.full++
    }
  }
  return s
}

/**
 * vLLM's defaults depend on the GPU: on devices with >= 70 GiB the OpenAI server batches 8192
 * tokens and up to 1024 sequences, on smaller ones 2048 tokens and 256 sequences
 * (vllm/engine/arg_utils.py, _set_default_args).
 */
function engineDefaults(memoryBytes: number): {batchedTokens: number; seqs: number} {
  return memoryBytes >= 70 * GiB ? {batchedTokens: 8192, seqs: 1024} : {batchedTokens: 2048, seqs: 256}
}

/**
 * Runtime overhead per rank: the profiled activation peak (hidden states and MLP intermediates of
 * one batch of max_num_batched_tokens, plus fp32 logits and probabilities of the sampler warm-up
 * over max_num_seqs), CUDA graphs (about 0.5 GiB captured, none with --enforce-eager) and
 * non-torch memory (CUDA context, cuBLAS workspaces; NCCL buffers with tp > 1).
 */
export function overhead(spec: ModelSpec, gpu: {memoryBytes: number}, tp: number, s: FitSettings, actBytes: number): Overhead {
  const d = engineDefaults(gpu.memoryBytes)
  const T = d.batchedTokens
  const seqs = s.maxNumSeqs ?? d.seqs
  const H = spec.hiddenSize
  const mlp = intermediatePerToken(spec)
  const activationBytes = T * actBytes * (4 * H + (3 * mlp) / tp) + seqs * spec.vocabSize * 4 * 2
  const cudaGraphBytes = s.enforceEager ? 0 : 0.5 * GiB
  const frameworkBytes = 0.5 * GiB + (tp > 1 ? 0.5 * GiB : 0)
  return {activationBytes, cudaGraphBytes, frameworkBytes, maxNumBatchedTokens: T, samplerSeqs: seqs, totalBytes: activationBytes + cudaGraphBytes + frameworkBytes}
}

const intermediateCache = new WeakMap<ModelSpec, number>()

function intermediatePerToken(spec: ModelSpec): number {
  let v = intermediateCache.get(spec)
  if (v === undefined) {
    v = computeIntermediate(spec)
    intermediateCache.set(spec, v)
  }
  return v
}

function computeIntermediate(spec: ModelSpec): number {
  let dense = 0
  let moe = 0
  for (const t of spec.tensors) {
    if (t.mtp || t.vision) continue
    if (/mlp\.(gate_proj|gate_up_proj)\.weight$/.test(t.name) && /layers\.0\./.test(t.name)) dense = t.shape[0]! / (t.name.includes('gate_up') ? 2 : 1)
    if (t.role === 'expert' && /(gate_proj|w1|gate_up_proj)/.test(t.name) && moe === 0) moe = t.shape[0]! / (t.name.includes('gate_up') ? 2 : 1)
  }
  if (spec.moe && moe > 0) return Math.max(dense, moe * spec.moe.perToken)
  return dense || 4 * spec.hiddenSize
}

/** Largest context (a multiple of the block size) that `n` sequences can each reach, capped at `cap`. */
export function maxContextFor(spec: ModelSpec, kvAvailable: number, n: number, tp: number, s: FitSettings, T: number, cap: number): number {
  if (kvAvailable <= 0) return 0
  let lo = 0
  let hi = Math.floor(cap / BLOCK_SIZE)
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (n * sequenceKvBytes(spec.attention, mid * BLOCK_SIZE, tp, s.kvBytes, T) <= kvAvailable) lo = mid
    else hi = mid - 1
  }
  return lo === Math.floor(cap / BLOCK_SIZE) ? cap : lo * BLOCK_SIZE
}

export function validTp(spec: ModelSpec, tp: number): string | undefined {
  if (spec.numHeads % tp !== 0) return `num_attention_heads ${spec.numHeads} is not divisible by tensor-parallel size ${tp}`
  const kv = spec.attention.find((a) => a.kind !== 'mla') as {kvHeads: number} | undefined
  if (kv && kv.kvHeads % tp !== 0 && tp % kv.kvHeads !== 0) return `num_key_value_heads ${kv.kvHeads} and tensor-parallel size ${tp} do not divide each other`
  return undefined
}

/** Evaluates one GPU type at one tensor-parallel degree. */
export function evaluate(spec: ModelSpec, weightBytes: number, gpu: GpuType, tp: number, s: FitSettings, actBytes: number, modelMax: number): GpuFit {
  const invalid = validTp(spec, tp)
  const instances = instancesFor(gpu, tp)
  const budget = gpu.memoryBytes * s.gpuMemoryUtilization
  const weightsPer = weightBytes / tp
  const oh = overhead(spec, gpu, tp, s, actBytes)
  const kvAvail = budget - weightsPer - oh.totalBytes
  const T = oh.maxNumBatchedTokens
  const perSeq = sequenceKvBytes(spec.attention, s.maxModelLen, tp, s.kvBytes, T)
  const concurrency = s.maxNumSeqs ?? 1
  const maxContext = maxContextFor(spec, kvAvail, concurrency, tp, s, T, modelMax)
  const maxConcurrency = kvAvail > 0 && perSeq > 0 ? Math.floor(kvAvail / perSeq) : 0
  let reason: string | undefined
  if (invalid) reason = invalid
  else if (instances.length === 0 && gpu.instances.length > 0) reason = `no AWS instance type carries ${tp} ${gpu.name} GPUs`
  else if (kvAvail <= 0) reason = `weights (${fmt(weightsPer)}) and overhead (${fmt(oh.totalBytes)}) exceed the ${fmt(budget)} budget (${s.gpuMemoryUtilization} x ${fmt(gpu.memoryBytes)})`
  else if (maxConcurrency < concurrency) {
    reason = `KV cache needs ${fmt(perSeq * concurrency)} for ${concurrency} sequence${concurrency > 1 ? 's' : ''} of ${s.maxModelLen} tokens; ${fmt(kvAvail)} is left after weights ${fmt(weightsPer)} and overhead ${fmt(oh.totalBytes)}`
  }
  return {
    gpu: gpu.name,
    description: gpu.description,
    memoryBytes: gpu.memoryBytes,
    tp,
    valid: !invalid && !(instances.length === 0 && gpu.instances.length > 0),
    fits: reason === undefined,
    reason,
    budgetBytes: budget,
    weightsPerGpuBytes: weightsPer,
    overhead: oh,
    kvAvailablePerGpuBytes: Math.max(0, kvAvail),
    kvPerSequenceBytes: perSeq,
    maxContext,
    concurrency,
    maxConcurrency,
    instances,
  }
}

function fmt(b: number): string {
  return `${(b / GiB).toFixed(1)} GiB`
}

export function allGpus(): readonly GpuType[] {
  return GPUS
}
