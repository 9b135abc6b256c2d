/**
 * Parameters and weight bytes. Parameters are logical (unpacked) elements; bytes honour the
 * checkpoint's quantization_config per tensor: AWQ/GPTQ n-bit with group scales and zeros, FP8
 * (per-tensor or block scales), compressed-tensors, bitsandbytes 4/8-bit, MXFP4 and NVFP4.
 */
import {elements, type Json, type ModelSpec, type TensorSpec} from './arch.js'
import {canonicalDtype, dtypeBytes} from './dtypes.js'

export interface QuantScheme {
  method: string
  /** Bits per quantized weight element. */
  bits: number
  /** dtype label used in the by-dtype breakdown (e.g. "int4", "fp8", "mxfp4"). */
  label: string
  /** Bytes of a quantized [out, in] weight including its scales/zeros. */
  bytes: (out: number, inp: number) => number
  /** Names (substring or glob) that stay unquantized. */
  skip: string[]
  /** Quantizes expert weights only (MXFP4 in gpt-oss). */
  expertsOnly?: boolean
}

const cdiv = (a: number, b: number) => Math.ceil(a / b)

function globToRegex(p: string): RegExp {
  const esc = p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')
  return new RegExp(esc)
}

function listOf(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

/** Reads quantization_config into a scheme; undefined for unquantized checkpoints. */
export function quantScheme(q: Json | undefined, warnings: string[] = []): QuantScheme | undefined {
  if (!q) return undefined
  const method = String(q.quant_method ?? q.quant_algo ?? (q.load_in_4bit || q.load_in_8bit ? 'bitsandbytes' : 'unknown')).toLowerCase()
  const skipBase = [...listOf(q.modules_to_not_convert), ...listOf(q.ignored_layers), ...listOf(q.ignore), ...listOf(q.exclude_modules)]
  switch (method) {
    case 'awq':
    case 'gptq':
    case 'auto-round':
    case 'autoround': {
      const bits = Number(q.bits ?? q.w_bit ?? 4)
      const g = Number(q.group_size ?? q.q_group_size ?? 128)
      const gptq = method !== 'awq'
      return {
        method,
        bits,
        label: `int${bits}`,
        // qweight packed int32 (bits/8 bytes per element), fp16 scales and packed zeros per group,
        // and GPTQ's g_idx (int32 per input channel).
        bytes: (o, i) => {
          const groups = g <= 0 ? 1 : cdiv(i, g)
          return (o * i * bits) / 8 + groups * o * 2 + (groups * o * bits) / 8 + (gptq ? i * 4 : 0)
        },
        // Routers (role "router") are never quantized; embeddings and norms neither.
        skip: skipBase.length > 0 ? skipBase : ['lm_head', 'vision', 'visual', 'multi_modal_projector'],
      }
    }
    case 'fp8':
    case 'fbgemm_fp8': {
      const block = Array.isArray(q.weight_block_size) ? (q.weight_block_size as number[]) : undefined
      return {
        method,
        bits: 8,
        label: 'fp8',
        bytes: (o, i) => o * i + (block ? cdiv(o, block[0]!) * cdiv(i, block[1]!) * 4 : method === 'fbgemm_fp8' ? o * 4 : 4 + (q.activation_scheme === 'static' ? 4 : 0)),
        skip: skipBase.length > 0 ? skipBase : ['lm_head', 'vision', 'visual', 'multi_modal_projector'],
      }
    }
    case 'mxfp4':
      // 4-bit E2M1 values with one E8M0 byte scale per 32 elements (OCP MX spec).
      return {method, bits: 4.25, label: 'mxfp4', bytes: (o, i) => (o * i) / 2 + cdiv(o * i, 32), skip: skipBase, expertsOnly: true}
    case 'nvfp4':
    case 'modelopt': {
      const algo = String(q.quant_algo ?? (q.quantization as Json | undefined)?.quant_algo ?? 'FP8').toUpperCase()
      if (algo.includes('FP4')) return {method, bits: 4.5, label: 'nvfp4', bytes: (o, i) => (o * i) / 2 + cdiv(o * i, 16) + 4, skip: skipBase.length ? skipBase : ['lm_head']}
      return {method, bits: 8, label: 'fp8', bytes: (o, i) => o * i + 8, skip: skipBase.length ? skipBase : ['lm_head']}
    }
    case 'bitsandbytes': {
      if (q.load_in_8bit) return {method, bits: 8, label: 'int8', bytes: (o, i) => o * i + o * 4, skip: skipBase.length ? skipBase : ['lm_head']}
      const dq = q.bnb_4bit_use_double_quant === true
      // NF4/FP4: 0.5 byte per element, absmax per 64 elements (fp32, or uint8 + fp32 per 256 blocks with double quant).
      return {
        method,
        bits: 4,
        label: String(q.bnb_4bit_quant_type ?? 'nf4'),
        bytes: (o, i) => {
          const n = o * i
          const blocks = cdiv(n, 64)
          return n / 2 + (dq ? blocks + cdiv(blocks, 256) * 4 : blocks * 4)
        },
        skip: skipBase.length ? skipBase : ['lm_head'],
      }
    }
    case 'compressed-tensors': {
      const groups = (q.config_groups ?? {}) as Record<string, Json>
      const first = Object.values(groups)[0]
      const w = (first?.weights ?? {}) as Json
      const bits = Number(w.num_bits ?? 8)
      const type = String(w.type ?? 'int')
      const strategy = String(w.strategy ?? 'tensor')
      const g = Number(w.group_size ?? 128)
      const block = Array.isArray(w.block_structure) ? (w.block_structure as number[]) : undefined
      const symmetric = w.symmetric !== false
      const fmt = String(q.format ?? '')
      const isFp4 = type === 'float' && bits === 4
      const label = type === 'float' ? (isFp4 ? 'nvfp4' : `fp${bits}`) : `int${bits}`
      return {
        method,
        bits,
        label,
        bytes: (o, i) => {
          if (isFp4 || fmt.includes('nvfp4')) return (o * i) / 2 + cdiv(o * i, 16) + 4
          const scales = strategy === 'group' ? o * cdiv(i, g) : strategy === 'channel' ? o : strategy === 'block' && block ? cdiv(o, block[0]!) * cdiv(i, block[1]!) : 1
          const scaleBytes = type === 'float' ? 4 : 2
          return (o * i * bits) / 8 + scales * scaleBytes + (symmetric ? 0 : (scales * bits) / 8)
        },
        skip: skipBase.length > 0 ? skipBase : ['lm_head'],
      }
    }
    default:
      warnings.push(`quantization method "${method}" is not modelled: weights counted at the checkpoint dtype`)
      return undefined
  }
}

function isSkipped(name: string, skip: string[]): boolean {
  return skip.some((p) => (p.includes('*') ? globToRegex(p).test(name) : name.includes(p) || name.replace(/^model\./, '').startsWith(p)))
}

export interface WeightReport {
  /** Logical parameters the serving engine loads (vision tower included, MTP excluded). */
  total: number
  /** Parameters used per token (MoE: routed experts scaled by experts-per-token / experts). */
  active: number
  embedding: number
  vision: number
  /** Multi-token-prediction parameters present in the checkpoint but not loaded for serving. */
  mtp: number
  /** Bytes of the weights vLLM loads, by dtype label. */
  bytes: number
  byDtype: Record<string, number>
}

function lowerLabel(d: string): string {
  const c = canonicalDtype(d) ?? d
  return c.toLowerCase()
}

/** Weights from a ModelSpec (config.json alone). `servingDtype` is what vLLM runs in ("BF16"...). */
export function weightsFromSpec(spec: ModelSpec, servingDtype: string, warnings: string[] = []): WeightReport {
  const scheme = quantScheme(spec.quantization, warnings)
  const base = dtypeBytes(servingDtype) ?? 2
  const baseLabel = lowerLabel(servingDtype)
  const r: WeightReport = {total: 0, active: 0, embedding: 0, vision: 0, mtp: 0, bytes: 0, byDtype: {}}
  const add = (label: string, b: number) => {
    r.byDtype[label] = (r.byDtype[label] ?? 0) + b
    r.bytes += b
  }
  const moe = spec.moe
  for (const t of spec.tensors) {
    const n = elements(t)
    if (t.mtp) {
      r.mtp += n
      continue
    }
    r.total += n
    if (t.role === 'embedding') r.embedding += n
    if (t.vision) r.vision += n
    r.active += t.role === 'expert' && moe && moe.experts > 0 ? (n * moe.perToken) / moe.experts : n
    const quantizable = (t.role === 'linear' || t.role === 'expert') && t.shape.length === 2 && !t.vision
    if (scheme && quantizable && !(scheme.expertsOnly && t.role !== 'expert') && !isSkipped(t.name, scheme.skip)) {
      add(scheme.label, scheme.bytes(t.shape[0]!, t.shape[1]!) * t.count)
    } else {
      add(baseLabel, n * base)
    }
  }
  return r
}

/** The name patterns that mark tensors as routed experts, MTP layers or vision parts in real checkpoints. */
const EXPERT_RE = /\.experts\.|\.experts$|block_sparse_moe\.experts/
const VISION_RE = /(^|\.)(vision_tower|vision_model|visual|multi_modal_projector|mm_projector|vision_embed)/
const EMBED_RE = /(embed_tokens|wte|word_embeddings|tok_embeddings)\.weight$/
const NON_PARAM_RE = /(rotary_emb\.inv_freq|\.g_idx$|\.qzeros$|\.scales$|weight_scale|input_scale|_scale_inv$|\.absmax$|quant_map|quant_state|nested_|\.SCB$|_blocks$|_scales$)/

/**
 * Multi-token-prediction tensors vLLM does not load for serving: decoder layers past
 * num_hidden_layers (DeepSeek-V3's layer 61, GLM-4.5's 46), or a separate `mtp.` module
 * (Qwen3-Next, Qwen3.5: `mtp.layers.0.*`, `mtp.fc`; vLLM loads them only for MTP speculative decoding).
 */
export function isMtpTensor(name: string, numLayers: number): boolean {
  if (VISION_RE.test(name)) return false
  if (/(^|\.)mtp\./.test(name)) return true
  const layer = /layers\.(\d+)\./.exec(name)
  return layer !== null && Number(layer[1]) >= numLayers
}

/**
 * Weights from real safetensors tensors (exact bytes). Parameters of quantized checkpoints are
 * taken from the config (packed tensors do not show logical element counts); otherwise they are the
 * tensors' element counts.
 */
export function weightsFromTensors(
  tensors: Array<{name: string; dtype: string; shape: number[]}>,
  opts: {numLayers: number; moe?: {experts: number; perToken: number}; quantized: boolean; fromConfig?: WeightReport},
): WeightReport {
  const r: WeightReport = {total: 0, active: 0, embedding: 0, vision: 0, mtp: 0, bytes: 0, byDtype: {}}
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1)
    const b = n * (dtypeBytes(t.dtype) ?? 2)
    if (isMtpTensor(t.name, opts.numLayers)) {
      if (!NON_PARAM_RE.test(t.name)) r.mtp += n
      continue
    }
    const label = lowerLabel(t.dtype)
    r.byDtype[label] = (r.byDtype[label] ?? 0) + b
    r.bytes += b
    if (NON_PARAM_RE.test(t.name)) continue
    r.total += n
    if (EMBED_RE.test(t.name)) r.embedding += n
    if (VISION_RE.test(t.name)) r.vision += n
    const routed = EXPERT_RE.test(t.name) && !/shared_expert/.test(t.name)
    r.active += routed && opts.moe && opts.moe.experts > 0 ? (n * opts.moe.perToken) / opts.moe.experts : n
  }
  if (opts.quantized && opts.fromConfig) {
    r.total = opts.fromConfig.total
    r.active = opts.fromConfig.active
    r.embedding = opts.fromConfig.embedding
    r.vision = opts.fromConfig.vision
    r.mtp = opts.fromConfig.mtp
  }
  return r
}

/**
 * Bytes the weights take on the GPU beyond the checkpoint's: vLLM's MXFP4 MoE kernels on Hopper
 * and older pad the experts' hidden dimension to a multiple of 256 when they lay the weights out
 * (model_executor/layers/quantization/mxfp4.py): gpt-oss's 2880 becomes 3072, 6.7% more expert
 * memory. vLLM's reports agree: gpt-oss-20b's 12.8 GiB of checkpoint weights take 13.47-13.64 GiB,
 * gpt-oss-120b's 60.8 GiB take 64.38 GiB (test/fixtures/vllm-startup/cases.json).
 */
export function residentExtraBytes(spec: ModelSpec, warnings: string[] = []): number {
  const scheme = quantScheme(spec.quantization, warnings)
  if (!scheme || scheme.label !== 'mxfp4') return 0
  const H = spec.hiddenSize
  const padded = Math.ceil(H / 256) * 256
  if (padded === H) return 0
  let extra = 0
  for (const t of spec.tensors) {
    if (t.mtp || t.role !== 'expert' || t.shape.length !== 2) continue
    extra += scheme.bytes(t.shape[0]!, t.shape[1]!) * t.count * (padded / H - 1)
  }
  return extra
}

/**
 * Bytes every tensor-parallel rank holds besides its shard of the weights, counted by vLLM in
 * "Model loading took": the rotary embedding's cos/sin cache (arch.ts ropeCacheShape), in the
 * serving dtype. Small for most models (Llama-3.1: 32 MiB); 2.5 GiB for Llama 4 Scout, whose
 * 10,485,760 positions x 128 dims are why vLLM 0.19 loads 53.12 GiB per rank at TP 4 where the
 * sharded parameters are 50.6 GiB (llm-d-planner accuracy/results/v0.19.0 Scout log).
 */
export function replicatedBytes(spec: ModelSpec, dtypeBytes: number): number {
  const rc = spec.ropeCache
  return rc ? rc.positions * rc.dims * dtypeBytes : 0
}
