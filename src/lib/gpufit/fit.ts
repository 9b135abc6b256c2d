/**
 * The memory model: weights + KV cache + runtime overhead against each GPU, as the vLLM release
 * modelled budgets it (vllm.ts).
 *
 * vLLM (V1) profiles one forward pass and the sampler, then gives the KV cache what is left of
 * `gpu_memory_utilization x total memory` (as CUDA reports it) after weights, the activation peak,
 * non-torch memory and (v0.21+) CUDA graphs; it refuses to start when one max-model-len sequence
 * does not fit, and dies when the later sampler warm-up does not fit what is left. KV pages are 16-token blocks;
 * sliding-window layers hold at most `window - 1 + max_num_batched_tokens` tokens per request
 * (vLLM SlidingWindowSpec.max_memory_usage_bytes); MLA layers cache one latent vector
 * (kv_lora_rank + qk_rope_head_dim) per token, replicated on every tensor-parallel rank.
 */
import type {LayerAttention, ModelSpec} from './arch.js'
import {type GpuType, GPUS, instancesFor} from './gpus.js'
import {stateBytesPerLayer} from './hybrid.js'
import {replicatedBytes} from './weights.js'
import {capturedGraphBytesBeforeWarmup, CUDA_CONTEXT_BYTES, cudaGraphBytes, nonTorchBytes, type VllmProfile, WARMUP_SLACK_FRACTION} from './vllm.js'

const GiB = 1024 ** 3
export const BLOCK_SIZE = 16
export const TP_DEGREES = [1, 2, 4, 8] as const

export interface FitSettings {
  gpuMemoryUtilization: number
  /** Tokens per sequence to plan for (vLLM --max-model-len). */
  maxModelLen: number
  /** vLLM --max-num-seqs, or undefined for vLLM's default for the GPU; sizes the sampler warm-up. */
  maxNumSeqs?: number
  /** vLLM --max-num-batched-tokens, or undefined for vLLM's default for the GPU. */
  maxNumBatchedTokens?: number
  /** Planning target: this many sequences of max-model-len must fit at once (default 1, as vLLM requires). */
  minConcurrency?: number
  /** Bytes per KV element (2 for bf16/fp16, 1 for fp8). */
  kvBytes: number
  enforceEager?: boolean
  /** The memory behaviour of the vLLM release modelled. */
  profile: VllmProfile
}

export interface Overhead {
  /** Torch peak increase of vLLM's profile run: the larger of the forward pass and the sampler. */
  activationBytes: number
  forwardBytes: number
  samplerBytes: number
  /** CUDA graph memory (estimated); taken from the KV budget only where cudaGraphSubtracted. */
  cudaGraphBytes: number
  cudaGraphSubtracted: boolean
  /** Non-torch memory increase (cuBLAS workspaces; NCCL and custom all-reduce buffers with TP > 1). */
  frameworkBytes: number
  maxNumBatchedTokens: number
  samplerSeqs: number
  /** What the sampler warm-up after KV allocation needs, and what is free then. */
  warmupNeedBytes: number
  warmupFreeBytes: number
  /** What is taken from the budget besides weights. */
  totalBytes: number
}

/** Why a row fits or not, as vLLM would answer at start-up. */
export type Verdict = 'fits' | 'tight' | 'invalid' | 'no-kv-cache' | 'max-model-len' | 'warmup-oom' | 'concurrency'

export interface GpuFit {
  gpu: string
  description: string
  memoryBytes: number
  /** Total memory as CUDA reports it to vLLM. */
  cudaMemoryBytes: number
  tp: number
  valid: boolean
  fits: boolean
  verdict: Verdict
  reason?: string
  /** Set on a fit with under 1 GiB to spare. */
  note?: string
  budgetBytes: number
  weightsPerGpuBytes: number
  overhead: Overhead
  kvAvailablePerGpuBytes: number
  kvPerSequenceBytes: number
  /** KV memory (or warm-up headroom) left over once the planned sequences fit; negative when they do not. */
  spareBytes: number
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
    } else if (a.kind === 'chunked') {
      // vLLM ChunkedLocalAttentionSpec.max_admission_blocks_per_request: one chunk window plus the
      // tokens of a batch, at most max_model_len
      total += roundUp(Math.min(tokens, a.chunk + maxBatchedTokens), BLOCK_SIZE) * per
    } else {
      total += roundUp(tokens, BLOCK_SIZE) * per
    }
  }
  return total
}

/**
 * How vLLM pages a hybrid model's cache (V1 hybrid KV cache manager), per tensor-parallel rank:
 *
 * - every layer's page must be the same size, so vLLM raises the attention block size until an
 *   attention page holds at least one recurrent state, in multiples of 16 tokens, and pads the
 *   state to that page (vllm/model_executor/models/config.py
 *   HybridAttentionMambaModelConfig.verify_and_update_config: `attn_block_size =
 *   kernel_block_alignment_size * cdiv(mamba_page_size, kernel_block_alignment_size *
 *   attn_page_size_1_token)`, then `mamba_page_size_padded = attn_page_size`). Qwen3-Next at TP 2
 *   gets 544-token blocks this way. (Blackwell with head size 256 aligns to 32; not modelled.)
 * - layers are grouped by type into groups of equal size, the smaller layer count (or the larger
 *   one when it is under 1.5x the smaller); a type whose count does not divide gets padding layers
 *   that take memory too (vllm/v1/core/kv_cache_utils.py _get_kv_cache_groups_uniform_page_size).
 * - one block pool serves all groups: a sequence holds ceil(tokens / block) pages in every
 *   attention layer and, in every recurrent layer, one page ("none" mode, prefix caching off: the
 *   default for hybrids before v0.28) or two ("align" mode, the default from v0.28.0, vllm#50991:
 *   v1/kv_cache_interface.py MambaSpec.max_memory_usage_bytes returns page_size_bytes * (2 +
 *   num_speculative_blocks)); vllm.ts profileFor picks by release. vLLM's opt-in "all" mode (a
 *   state per block) is not modelled.
 */
export interface HybridLayout {
  /** Attention tokens per block (vLLM's raised block_size). */
  blockSize: number
  /** Bytes of one page of one layer: an attention block, or one padded recurrent state. */
  pageBytes: number
  /** Recurrent state of one layer for one sequence before padding. */
  stateBytesPerLayer: number
  /** Layers with their padding layers, as vLLM allocates them. */
  attentionSlots: number
  stateSlots: number
  /** State pages a sequence holds in each recurrent layer. */
  statePages: number
}

export function hybridLayout(spec: ModelSpec, tp: number, kvBytes: number, dtypeBytes: number, statePages: number): HybridLayout | undefined {
  const st = spec.state
  if (!st) return undefined
  const raw = stateBytesPerLayer(st, tp, dtypeBytes)
  if (spec.attention.length === 0) {
    // attention-free (Mamba, Mamba-2): one group of state pages
    return {blockSize: BLOCK_SIZE, pageBytes: raw, stateBytesPerLayer: raw, attentionSlots: 0, stateSlots: st.layers, statePages}
  }
  const perToken = layerKvBytesPerToken(spec.attention[0]!, tp, kvBytes)
  const blockSize = BLOCK_SIZE * Math.max(1, Math.ceil(raw / (BLOCK_SIZE * perToken)))
  const min = Math.min(spec.attention.length, st.layers)
  const max = Math.max(spec.attention.length, st.layers)
  const group = max < min * 1.5 ? max : min
  const pad = (n: number) => Math.ceil(n / group) * group
  return {blockSize, pageBytes: blockSize * perToken, stateBytesPerLayer: raw, attentionSlots: pad(spec.attention.length), stateSlots: pad(st.layers), statePages}
}

/** Peak cache bytes one sequence of `tokens` tokens takes on one rank: KV of its tokens plus, for hybrids, its recurrent state. */
export function sequenceBytes(spec: ModelSpec, tokens: number, tp: number, s: Pick<FitSettings, 'kvBytes' | 'profile'>, maxBatchedTokens: number, dtypeBytes: number): number {
  const h = hybridLayout(spec, tp, s.kvBytes, dtypeBytes, s.profile.mambaStatePages)
  if (!h) return sequenceKvBytes(spec.attention, tokens, tp, s.kvBytes, maxBatchedTokens)
  return (h.attentionSlots * Math.ceil(tokens / h.blockSize) + h.stateSlots * h.statePages) * h.pageBytes
}

export interface KvSummary {
  /** Bytes per token summed over full-attention (and MLA) layers, tp=1. */
  fullBytesPerToken: number
  /** Bytes per token summed over sliding-window and chunked-local layers (only a window is kept), tp=1. */
  slidingBytesPerToken: number
  layers: {full: number; sliding: number; mla: number; window?: number; chunked?: number; chunk?: number}
}

export function kvSummary(attn: LayerAttention[], kvBytes: number): KvSummary {
  const s: KvSummary = {fullBytesPerToken: 0, slidingBytesPerToken: 0, layers: {full: 0, sliding: 0, mla: 0}}
  for (const a of attn) {
    const b = layerKvBytesPerToken(a, 1, kvBytes)
    if (a.kind === 'sliding') {
      s.slidingBytesPerToken += b
      s.layers.sliding++
      s.layers.window = a.window
    } else if (a.kind === 'chunked') {
      s.slidingBytesPerToken += b
      s.layers.chunked = (s.layers.chunked ?? 0) + 1
      s.layers.chunk = a.chunk
    } else {
      s.fullBytesPerToken += b
      if (a.kind === 'mla') s.layers.mla++
      else s.layers.full++
    }
  }
  return s
}

/**
 * vLLM's scheduler defaults for the OpenAI server depend on the GPU: devices with >= 70 GiB (other
 * than A100s) batch 8192 tokens and up to 1024 sequences, others 2048 tokens and 256 sequences
 * (vllm/engine/arg_utils.py _set_default_args; tests/engine/test_arg_utils.py
 * test_defaults_with_usage_context).
 */
export function engineDefaults(gpu: {cudaMemoryBytes: number; largeDefaults?: boolean}): {batchedTokens: number; seqs: number} {
  const large = gpu.largeDefaults ?? gpu.cudaMemoryBytes >= 70 * GiB
  return large ? {batchedTokens: 8192, seqs: 1024} : {batchedTokens: 2048, seqs: 256}
}

/**
 * Runtime memory per rank as vLLM's start-up measures it (see vllm.ts for the sources): the torch
 * peak of the profile run (the forward pass over max_num_batched_tokens, hidden states and MLP or
 * fused-MoE intermediates, or the sampler over min(max_num_seqs, max_num_batched_tokens) rows of
 * the full vocabulary, whichever is larger), non-torch memory, CUDA graphs, and the sampler warm-up
 * that runs after the KV cache is allocated.
 */
export function overhead(spec: ModelSpec, gpu: {cudaMemoryBytes: number; largeDefaults?: boolean}, tp: number, s: FitSettings, actBytes: number): Overhead {
  const d = engineDefaults(gpu)
  const T = s.maxNumBatchedTokens ?? d.batchedTokens
  const seqs = s.maxNumSeqs ?? d.seqs
  const rows = Math.min(seqs, T)
  const p = s.profile
  const H = spec.hiddenSize
  const forwardBytes = T * actBytes * (4 * H + (3 * intermediatePerToken(spec)) / tp)
  const unit = rows * spec.vocabSize * 4
  const samplerBytes = p.samplerProfileCopies * unit
  const activationBytes = Math.max(forwardBytes, samplerBytes)
  // gpt-oss raises the largest CUDA graph capture size to 1024 (model_executor/models/config.py)
  const largest = Math.min(spec.modelType === 'gpt_oss' ? 1024 : Math.min(2 * seqs, 512), T)
  const cudaGraph = cudaGraphBytes({layers: spec.numLayers, moe: Boolean(spec.moe), mla: spec.attention.some((a) => a.kind === 'mla'), tp, largest, maxNumSeqs: seqs, enforceEager: s.enforceEager})
  const frameworkBytes = nonTorchBytes(p, tp)
  const subtracted = p.subtractsCudaGraphs ? cudaGraph : 0
  // After the KV cache takes its share, what is free is the part of the GPU outside the budget
  // (less the CUDA context and, where not budgeted, the captured graphs) plus the profile's
  // activation peak, which was budgeted and released.
  const warmupNeedBytes = p.warmupSamplerCopies * unit + WARMUP_SLACK_FRACTION * gpu.cudaMemoryBytes
  const captured = p.subtractsCudaGraphs ? 0 : capturedGraphBytesBeforeWarmup(spec.modelType === 'gpt_oss', s.enforceEager)
  const warmupFreeBytes = (1 - s.gpuMemoryUtilization) * gpu.cudaMemoryBytes - CUDA_CONTEXT_BYTES + activationBytes - captured
  return {
    activationBytes,
    forwardBytes,
    samplerBytes,
    cudaGraphBytes: cudaGraph,
    cudaGraphSubtracted: p.subtractsCudaGraphs,
    frameworkBytes,
    maxNumBatchedTokens: T,
    samplerSeqs: rows,
    warmupNeedBytes,
    warmupFreeBytes,
    totalBytes: activationBytes + frameworkBytes + subtracted,
  }
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
export function maxContextFor(spec: ModelSpec, kvAvailable: number, n: number, tp: number, s: FitSettings, T: number, cap: number, dtypeBytes: number): number {
  if (kvAvailable <= 0) return 0
  let lo = 0
  let hi = Math.floor(cap / BLOCK_SIZE)
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2)
    if (n * sequenceBytes(spec, mid * BLOCK_SIZE, tp, s, T, dtypeBytes) <= kvAvailable) lo = mid
    else hi = mid - 1
  }
  return lo === Math.floor(cap / BLOCK_SIZE) ? cap : lo * BLOCK_SIZE
}

export function validTp(spec: ModelSpec, tp: number): string | undefined {
  if (spec.numHeads % tp !== 0) return `num_attention_heads ${spec.numHeads} is not divisible by tensor-parallel size ${tp}`
  const kv = spec.attention.find((a) => a.kind !== 'mla') as {kvHeads: number} | undefined
  if (kv && kv.kvHeads % tp !== 0 && tp % kv.kvHeads !== 0) return `num_key_value_heads ${kv.kvHeads} and tensor-parallel size ${tp} do not divide each other`
  // vLLM shards the recurrent layers' heads (mamba_utils.py divide() asserts they divide)
  const st = spec.state?.spec
  const heads = st?.kind === 'mamba2' ? ['mamba heads', st.nHeads] : st?.kind === 'gdn' ? ['linear value heads', st.vHeads] : st?.kind === 'linear' ? ['linear-attention heads', st.heads] : st?.kind === 'mamba1' ? ['mamba inner size', st.dInner] : undefined
  if (heads && (heads[1] as number) % tp !== 0) return `${heads[0]} ${heads[1]} are not divisible by tensor-parallel size ${tp}`
  if (st?.kind === 'gdn' && st.kHeads % tp !== 0) return `linear key heads ${st.kHeads} are not divisible by tensor-parallel size ${tp}`
  return undefined
}

/** Evaluates one GPU type at one tensor-parallel degree. */
export function evaluate(spec: ModelSpec, weightBytes: number, gpu: GpuType, tp: number, s: FitSettings, actBytes: number, modelMax: number): GpuFit {
  const invalid = validTp(spec, tp)
  const instances = instancesFor(gpu, tp)
  const budget = gpu.cudaMemoryBytes * s.gpuMemoryUtilization
  // the shard of the weights plus what every rank holds whole (the RoPE cache)
  const weightsPer = weightBytes / tp + replicatedBytes(spec, actBytes)
  const oh = overhead(spec, gpu, tp, s, actBytes)
  const kvAvail = budget - weightsPer - oh.totalBytes
  const T = oh.maxNumBatchedTokens
  // a sequence costs its tokens' KV plus, for hybrids, its recurrent state
  const perSeq = sequenceBytes(spec, s.maxModelLen, tp, s, T, actBytes)
  const concurrency = s.minConcurrency ?? 1
  const maxContext = maxContextFor(spec, kvAvail, concurrency, tp, s, T, modelMax, actBytes)
  const maxConcurrency = kvAvail > 0 && perSeq > 0 ? Math.floor(kvAvail / perSeq) : 0
  const warmupSpare = oh.warmupFreeBytes - oh.warmupNeedBytes
  const spare = Math.min(kvAvail - perSeq * concurrency, warmupSpare)
  let verdict: Verdict = 'fits'
  let reason: string | undefined
  const noInstance = instances.length === 0 && gpu.instances.length > 0
  if (invalid) {
    verdict = 'invalid'
    reason = invalid
  } else if (noInstance) {
    verdict = 'invalid'
    reason = `no AWS instance type carries ${tp} ${gpu.name} GPUs`
  } else if (kvAvail <= 0) {
    // vLLM: "No available memory for the cache blocks. Try increasing gpu_memory_utilization"
    verdict = 'no-kv-cache'
    reason = `vLLM refuses to start: weights (${fmt(weightsPer)}) and overhead (${fmt(oh.totalBytes)}) leave no KV cache in the ${fmt(budget)} budget (${s.gpuMemoryUtilization} x ${fmt(gpu.cudaMemoryBytes)})`
  } else if (perSeq > kvAvail) {
    // vLLM kv_cache_utils.check_enough_kv_cache_memory: one max-model-len request must fit
    verdict = 'max-model-len'
    reason = `vLLM refuses to start: one ${s.maxModelLen}-token sequence needs ${fmt(perSeq)} of KV cache${spec.state ? ' and state' : ''}; ${fmt(kvAvail)} is left after weights ${fmt(weightsPer)} and overhead ${fmt(oh.totalBytes)}`
  } else if (warmupSpare < 0) {
    verdict = 'warmup-oom'
    reason = `vLLM starts, then runs out of memory warming up the sampler with ${oh.samplerSeqs} dummy requests: it needs ${fmt(oh.warmupNeedBytes)}, ${fmt(Math.max(0, oh.warmupFreeBytes))} is free after the KV cache takes its ${fmt(kvAvail)}`
  } else if (maxConcurrency < concurrency) {
    verdict = 'concurrency'
    reason = `KV cache holds ${maxConcurrency} sequence${maxConcurrency === 1 ? '' : 's'} of ${s.maxModelLen} tokens (${fmt(kvAvail)} after weights ${fmt(weightsPer)} and overhead ${fmt(oh.totalBytes)}); --min-concurrency ${concurrency} needs ${fmt(perSeq * concurrency)}`
  }
  let note: string | undefined
  if (verdict === 'fits' && spare < GiB) {
    verdict = 'tight'
    note = warmupSpare < kvAvail - perSeq * concurrency
      ? `tight: the sampler warm-up over ${oh.samplerSeqs} sequences leaves ${fmt(warmupSpare)} of GPU memory to spare`
      : `tight: ${fmt(spare)} of KV cache to spare`
  }
  return {
    gpu: gpu.name,
    description: gpu.description,
    memoryBytes: gpu.memoryBytes,
    cudaMemoryBytes: gpu.cudaMemoryBytes,
    tp,
    valid: !invalid && !noInstance,
    fits: verdict === 'fits' || verdict === 'tight',
    verdict,
    reason,
    note,
    budgetBytes: budget,
    weightsPerGpuBytes: weightsPer,
    overhead: oh,
    kvAvailablePerGpuBytes: Math.max(0, kvAvail),
    kvPerSequenceBytes: perSeq,
    spareBytes: spare,
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
