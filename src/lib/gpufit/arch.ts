/**
 * From a model's config.json to a list of the tensors the checkpoint holds (shapes, roles), per
 * architecture, the way Hugging Face transformers and vLLM build the model. Defaults for fields a
 * config.json may omit are the transformers config-class defaults for that model_type.
 */
import {UsageError} from '../errors.js'
import {buildHybrid} from './hybrid-build.js'
import {HYBRID_TYPES, type HybridState, hybridHints} from './hybrid.js'
import {type Json, linear, mat, num, Reader, type TensorRole, type TensorSpec, vec} from './tensors.js'
import {buildVision} from './vision.js'

export type {Json, TensorRole, TensorSpec} from './tensors.js'


export type LayerAttention =
  | {kind: 'full'; kvHeads: number; headDim: number}
  | {kind: 'sliding'; kvHeads: number; headDim: number; window: number}
  /** Llama 4's chunked local attention (vLLM ChunkedLocalAttentionSpec): attends within `chunk`-token chunks. */
  | {kind: 'chunked'; kvHeads: number; headDim: number; chunk: number}
  | {kind: 'mla'; latentDim: number}

export interface MoeSpec {
  experts: number
  perToken: number
  sharedExperts: number
}

export interface ModelSpec {
  architecture: string
  modelType: string
  family: string
  hiddenSize: number
  numLayers: number
  numHeads: number
  vocabSize: number
  maxPositionEmbeddings?: number
  /** vLLM's derived maximum model length (rope scaling applied). */
  maxModelLen?: number
  torchDtype?: string
  tieEmbeddings: boolean
  attention: LayerAttention[]
  moe?: MoeSpec
  tensors: TensorSpec[]
  quantization?: Json
  vision: boolean
  warnings: string[]
  /** Fields that were read, for the generic fallback's warning. */
  generic: boolean
  /** The rotary embedding's cos/sin cache: positions x rotary dims, in the serving dtype (weights.ts ropeCacheBytes). */
  ropeCache?: {positions: number; dims: number}
  /**
   * Hybrid and state-space models: the recurrent state the non-attention layers keep per sequence
   * (hybrid.ts). `attention` then lists the attention layers only, `numLayers` all of them.
   */
  state?: HybridState
}

/** transformers config-class defaults for fields configs commonly omit. */
const DEFAULTS: Record<string, Json> = {
  llama: {vocab_size: 32000, hidden_size: 4096, intermediate_size: 11008, num_hidden_layers: 32, num_attention_heads: 32, max_position_embeddings: 2048, tie_word_embeddings: false, attention_bias: false, mlp_bias: false},
  mistral: {vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 131072, tie_word_embeddings: false},
  mixtral: {vocab_size: 32000, hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, max_position_embeddings: 131072, num_local_experts: 8, num_experts_per_tok: 2, tie_word_embeddings: false},
  qwen2: {vocab_size: 151936, hidden_size: 4096, intermediate_size: 22016, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32, max_position_embeddings: 32768, tie_word_embeddings: false, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28},
  qwen3: {vocab_size: 151936, hidden_size: 4096, intermediate_size: 22016, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 32, head_dim: 128, max_position_embeddings: 32768, tie_word_embeddings: false, attention_bias: false, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28},
  qwen2_moe: {vocab_size: 151936, hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 24, num_attention_heads: 16, num_key_value_heads: 16, max_position_embeddings: 32768, tie_word_embeddings: false, decoder_sparse_step: 1, moe_intermediate_size: 1408, shared_expert_intermediate_size: 5632, num_experts_per_tok: 4, num_experts: 60, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28},
  qwen3_moe: {vocab_size: 151936, hidden_size: 2048, intermediate_size: 6144, num_hidden_layers: 24, num_attention_heads: 32, num_key_value_heads: 4, head_dim: 128, max_position_embeddings: 32768, tie_word_embeddings: false, attention_bias: false, decoder_sparse_step: 1, moe_intermediate_size: 768, num_experts_per_tok: 8, num_experts: 128, use_sliding_window: false, sliding_window: 4096, max_window_layers: 28},
  gemma2: {vocab_size: 256000, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 256, max_position_embeddings: 8192, sliding_window: 4096, tie_word_embeddings: true, attention_bias: false},
  gemma3_text: {vocab_size: 262208, hidden_size: 2304, intermediate_size: 9216, num_hidden_layers: 26, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 256, max_position_embeddings: 131072, sliding_window: 4096, sliding_window_pattern: 6, tie_word_embeddings: true, attention_bias: false},
  phi3: {vocab_size: 32064, hidden_size: 3072, intermediate_size: 8192, num_hidden_layers: 32, num_attention_heads: 32, max_position_embeddings: 4096, tie_word_embeddings: false},
  deepseek_v3: {vocab_size: 129280, hidden_size: 7168, intermediate_size: 18432, moe_intermediate_size: 2048, num_hidden_layers: 61, num_attention_heads: 128, num_key_value_heads: 128, n_shared_experts: 1, n_routed_experts: 256, num_experts_per_tok: 8, first_k_dense_replace: 3, moe_layer_freq: 1, q_lora_rank: 1536, kv_lora_rank: 512, qk_rope_head_dim: 64, v_head_dim: 128, qk_nope_head_dim: 128, max_position_embeddings: 4096, tie_word_embeddings: false, topk_method: 'noaux_tc'},
  deepseek_v2: {vocab_size: 102400, hidden_size: 5120, intermediate_size: 12288, moe_intermediate_size: 1536, num_hidden_layers: 60, num_attention_heads: 128, n_shared_experts: 2, n_routed_experts: 160, num_experts_per_tok: 6, first_k_dense_replace: 1, moe_layer_freq: 1, q_lora_rank: 1536, kv_lora_rank: 512, qk_rope_head_dim: 64, v_head_dim: 128, qk_nope_head_dim: 128, max_position_embeddings: 2048, tie_word_embeddings: false, topk_method: 'greedy'},
  gpt_oss: {vocab_size: 201088, hidden_size: 2880, intermediate_size: 2880, num_hidden_layers: 36, num_attention_heads: 64, num_key_value_heads: 8, head_dim: 64, num_local_experts: 128, num_experts_per_tok: 4, sliding_window: 128, max_position_embeddings: 131072, tie_word_embeddings: false, attention_bias: true},
}

/** architectures[0] -> model_type, for configs that omit model_type. */
const ARCH_TO_TYPE: Record<string, string> = {
  LlamaForCausalLM: 'llama', MistralForCausalLM: 'mistral', MixtralForCausalLM: 'mixtral', Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3', Qwen2MoeForCausalLM: 'qwen2_moe', Qwen3MoeForCausalLM: 'qwen3_moe', Gemma2ForCausalLM: 'gemma2',
  Gemma3ForCausalLM: 'gemma3_text', Gemma3ForConditionalGeneration: 'gemma3', Phi3ForCausalLM: 'phi3',
  DeepseekV3ForCausalLM: 'deepseek_v3', DeepseekV2ForCausalLM: 'deepseek_v2', GptOssForCausalLM: 'gpt_oss',
  Qwen3NextForCausalLM: 'qwen3_next', JambaForCausalLM: 'jamba', NemotronHForCausalLM: 'nemotron_h', GraniteMoeHybridForCausalLM: 'granitemoehybrid', BambaForCausalLM: 'bamba',
  FalconH1ForCausalLM: 'falcon_h1', MambaForCausalLM: 'mamba', Mamba2ForCausalLM: 'mamba2', MiniMaxText01ForCausalLM: 'minimax_text_01', MiniMaxM1ForCausalLM: 'minimax_m1', MiniMaxForCausalLM: 'minimax',
}

const FAMILY: Record<string, string> = {
  llama: 'dense', mistral: 'dense', qwen2: 'dense', qwen3: 'dense', phi3: 'dense', gemma2: 'gemma', gemma3_text: 'gemma',
  mixtral: 'moe', qwen2_moe: 'moe', qwen3_moe: 'moe', deepseek_v3: 'mla', deepseek_v2: 'mla', gpt_oss: 'gpt_oss',
}

function modelTypeOf(cfg: Json): string | undefined {
  const mt = typeof cfg.model_type === 'string' ? cfg.model_type : undefined
  if (mt) return mt
  const arch = Array.isArray(cfg.architectures) ? cfg.architectures[0] : undefined
  return typeof arch === 'string' ? ARCH_TO_TYPE[arch] : undefined
}

/** vLLM's derived max model length: the position limit, times the rope scaling factor where vLLM applies it. */
function derivedMaxLen(r: Reader, cfg: Json): number | undefined {
  const keys = ['max_position_embeddings', 'n_positions', 'max_seq_len', 'seq_length', 'max_sequence_length', 'max_seq_length', 'seq_len']
  let len: number | undefined
  for (const k of keys) {
    const v = num(cfg[k])
    if (v !== undefined) len = len === undefined ? v : Math.min(len, v)
  }
  if (len === undefined) len = r.opt('max_position_embeddings')
  const rs = (cfg.rope_scaling ?? (cfg.rope_parameters as Json | undefined)) as Json | undefined
  if (len !== undefined && rs && typeof rs === 'object') {
    const type = String(rs.rope_type ?? rs.type ?? '')
    const factor = num(rs.factor)
    // vLLM (config _get_and_verify_max_len): su/longrope/llama3 already state the full length;
    // yarn scales original_max_position_embeddings; other types (linear, dynamic) scale the limit.
    // Gemma 3 states its scaled length already (vLLM skips the multiplication for gemma3).
    const gemma3 = String(cfg.model_type ?? '').startsWith('gemma3')
    if (factor && !gemma3 && !['su', 'longrope', 'llama3', 'default', 'mrope', ''].includes(type)) {
      const base = type === 'yarn' ? (num(rs.original_max_position_embeddings) ?? len) : len
      len = Math.floor(base * factor)
    }
  }
  return len
}

/**
 * The cos/sin cache vLLM's rotary embedding keeps on the GPU (rotary_embedding/base.py
 * _compute_cos_sin_cache: [max_position, rotary_dim], cast to the model dtype, one buffer shared by
 * all layers through get_rope's cache). max_position is the config's max_position_embeddings, not
 * --max-model-len (a proposal to clamp it, vllm#44738, was closed unmerged); YaRN-style scaling
 * (yarn_scaling_rope.py, deepseek_scaling_rope.py) caches original_max_position_embeddings x factor.
 * Llama 4's 10M positions make it 2.5 GiB on every tensor-parallel rank.
 */
function ropeCacheShape(r: Reader, cfg: Json, headDim: number | undefined): {positions: number; dims: number} | undefined {
  const maxPos = r.opt('max_position_embeddings')
  if (!maxPos || !headDim) return undefined
  const rs = (cfg.rope_scaling ?? (cfg.rope_parameters as Json | undefined)) as Json | undefined
  let positions = maxPos
  if (rs && typeof rs === 'object' && ['yarn', 'deepseek_yarn'].includes(String(rs.rope_type ?? rs.type ?? ''))) {
    const orig = num(rs.original_max_position_embeddings)
    const factor = num(rs.factor)
    if (orig && factor) positions = Math.floor(orig * factor)
  }
  const partial = num(cfg.partial_rotary_factor) ?? 1
  return {positions, dims: Math.floor(headDim * partial)}
}

function quantizationOf(cfg: Json, text?: Json): Json | undefined {
  const q = (cfg.quantization_config ?? text?.quantization_config ?? cfg.compression_config) as Json | undefined
  return q && typeof q === 'object' ? q : undefined
}

/** Builds the decoder (text) model of one config. */
function buildText(cfg: Json, where: string, modelType: string, prefix: string, warnings: string[]): Omit<ModelSpec, 'architecture' | 'vision' | 'quantization' | 'warnings'> {
  const family = FAMILY[modelType]
  const generic = family === undefined
  const r = new Reader(cfg, where, DEFAULTS[modelType] ?? {})
  if (HYBRID_TYPES.has(modelType)) {
    const h = buildHybrid(cfg, r, modelType, prefix)
    return {
      ...h,
      modelType,
      generic: false,
      maxPositionEmbeddings: r.opt('max_position_embeddings'),
      maxModelLen: derivedMaxLen(r, cfg),
      ropeCache: ropeCacheShape(r, cfg, h.ropeHeadDim),
      torchDtype: typeof (cfg.torch_dtype ?? cfg.dtype) === 'string' ? String(cfg.torch_dtype ?? cfg.dtype) : undefined,
    }
  }
  const H = r.req('hidden_size', 'n_embd', 'd_model', 'dim')
  const L = r.req('num_hidden_layers', 'n_layer', 'num_layers', 'n_layers')
  const nH = r.req('num_attention_heads', 'n_head', 'num_heads', 'n_heads')
  const nKV = r.opt('num_key_value_heads', 'num_kv_heads', 'n_kv_heads', 'multi_query_group_num') ?? nH
  if (nKV <= 0 || nH % nKV !== 0) {
    throw new UsageError(`${where} has num_key_value_heads ${nKV}, which does not divide num_attention_heads ${nH}`, {fix: `correct "num_key_value_heads" in ${where} (grouped-query attention needs a divisor of the attention heads)`})
  }
  const V = r.req('vocab_size', 'padded_vocab_size', 'n_vocab')
  const hd = r.opt('head_dim', 'kv_channels') ?? H / nH
  if (!Number.isInteger(hd)) {
    throw new UsageError(`${where}: hidden_size ${H} is not divisible by num_attention_heads ${nH} and no head_dim is given`, {fix: `add "head_dim" to ${where}`})
  }
  const tie = r.bool('tie_word_embeddings') ?? (family === 'gemma')
  const P = prefix
  const t: TensorSpec[] = []
  const attention: LayerAttention[] = []
  let moe: MoeSpec | undefined

  t.push(mat(`${P}embed_tokens.weight`, V, H, 'embedding'))

  // Which layers use a sliding window, as vLLM builds them: explicit layer_types first, then the
  // architecture's own interleaving. Llama-family models (llama, mistral, mixtral, phi3) without
  // layer_types are served with full attention on every layer even when config.sliding_window is
  // set (vLLM llama.py only windows layers that layer_types marks "sliding_attention").
  const window = r.opt('sliding_window')
  const layerTypes = Array.isArray(cfg.layer_types) ? (cfg.layer_types as unknown[]).map(String) : undefined
  const slidingAt = (i: number): boolean => {
    if (!window) return false
    if (layerTypes && layerTypes.length >= L) return layerTypes[i] === 'sliding_attention'
    if (modelType === 'gemma2') return i % 2 === 0
    if (modelType === 'gemma3_text') {
      const pattern = r.opt('sliding_window_pattern') ?? 6
      return (i + 1) % pattern !== 0
    }
    if (modelType === 'gpt_oss') return i % 2 === 0
    if (['qwen2', 'qwen3', 'qwen2_moe', 'qwen3_moe'].includes(modelType)) {
      return r.bool('use_sliding_window') === true && i >= (r.opt('max_window_layers') ?? L)
    }
    return false
  }
  // Llama 4: layers with RoPE attend within attention_chunk_size-token chunks, the NoPE layers
  // (no_rope_layers[i] == 0; by default every 4th) globally (vLLM llama4.py use_chunked_local_attn;
  // transformers Llama4TextConfig fills an empty no_rope_layers with that default).
  const chunk = modelType.startsWith('llama4') ? r.opt('attention_chunk_size') : undefined
  const noRope = Array.isArray(cfg.no_rope_layers) && (cfg.no_rope_layers as unknown[]).length >= L ? (cfg.no_rope_layers as unknown[]).map(Number) : undefined
  const chunkedAt = (i: number): boolean => Boolean(chunk) && (noRope ? noRope[i] !== 0 : (i + 1) % (r.opt('no_rope_layer_interval') ?? 4) !== 0)
  if (window && !layerTypes && ['llama', 'mistral', 'mixtral', 'phi3'].includes(modelType)) {
    warnings.push(`config sets sliding_window ${window}, but vLLM serves ${modelType} with full attention on every layer; KV cache is counted in full`)
  }

  const qkvBias = r.bool('attention_bias') ?? (modelType === 'qwen2' || modelType === 'qwen2_moe')
  const mlpBias = r.bool('mlp_bias') ?? false
  // the MLP width: required for the architectures we know; a generic decoder without one is
  // estimated at 4 x hidden_size (and the warning lists the fields it did use)
  const I = generic ? (r.opt('intermediate_size', 'ffn_dim', 'n_inner', 'ffn_hidden_size') ?? 4 * H) : r.req('intermediate_size', 'ffn_dim', 'n_inner', 'ffn_hidden_size')
  const expertCount = num(cfg.num_local_experts) ?? num(cfg.num_experts) ?? num(cfg.n_routed_experts) ?? num(cfg.moe_num_experts) ?? 0
  const genericMoe = generic && expertCount > 1
  // dense MLP width: llama4 keeps its dense layers' width apart from the experts'
  const denseI = genericMoe ? (r.opt('intermediate_size_mlp') ?? I) : I

  // MoE layout
  let E = 0
  let K = 0
  let moeI = 0
  let sharedI = 0
  let sharedN = 0
  const isMoeLayer = (i: number): boolean => {
    if (E === 0) return false
    if (modelType === 'deepseek_v3' || modelType === 'deepseek_v2') {
      const k = r.opt('first_k_dense_replace') ?? 0
      const f = r.opt('moe_layer_freq') ?? 1
      return i >= k && i % f === 0
    }
    if (modelType === 'qwen2_moe' || modelType === 'qwen3_moe') {
      const only = Array.isArray(cfg.mlp_only_layers) ? (cfg.mlp_only_layers as number[]) : []
      const step = r.opt('decoder_sparse_step') ?? 1
      return !only.includes(i) && (i + 1) % step === 0
    }
    if (genericMoe) {
      // The conventions of the MoE families transformers knows: an explicit list of MoE layers
      // (llama4 moe_layers), dense layers listed (mlp_only_layers) or first (first_k_dense_replace),
      // and every n-th layer (llama4 interleave_moe_layer_step, qwen decoder_sparse_step: (i+1) % n;
      // deepseek-style moe_layer_freq: i % n).
      if (Array.isArray(cfg.moe_layers)) return (cfg.moe_layers as number[]).includes(i)
      if (Array.isArray(cfg.mlp_only_layers) && (cfg.mlp_only_layers as number[]).includes(i)) return false
      if (i < (r.opt('first_k_dense_replace') ?? 0)) return false
      const step = r.opt('interleave_moe_layer_step', 'decoder_sparse_step')
      if (step) return (i + 1) % step === 0
      const freq = r.opt('moe_layer_freq')
      return freq ? i % freq === 0 : true
    }
    return true
  }
  if (genericMoe) {
    // An unknown MoE architecture: routed experts (moe_intermediate_size, else intermediate_size),
    // a router, and shared experts where the config names them; dense layers use
    // intermediate_size_mlp (llama4) or intermediate_size.
    E = r.req('num_local_experts', 'num_experts', 'n_routed_experts', 'moe_num_experts')
    K = r.opt('num_experts_per_tok', 'experts_per_token', 'moe_topk', 'num_experts_per_token', 'moe_k') ?? 1
    moeI = r.opt('moe_intermediate_size', 'expert_intermediate_size') ?? I
    sharedN = r.opt('n_shared_experts', 'num_shared_experts') ?? (modelType === 'llama4_text' ? 1 : 0)
    sharedI = r.opt('shared_expert_intermediate_size') ?? sharedN * moeI
    moe = {experts: E, perToken: K, sharedExperts: sharedN || (sharedI > 0 ? 1 : 0)}
  } else if (family === 'moe' || family === 'mla' || family === 'gpt_oss') {
    E = r.opt('num_local_experts', 'num_experts', 'n_routed_experts') ?? 0
    K = r.opt('num_experts_per_tok', 'experts_per_token', 'moe_topk') ?? 0
    moeI = modelType === 'mixtral' || modelType === 'gpt_oss' ? I : (r.opt('moe_intermediate_size') ?? I)
    sharedN = modelType === 'deepseek_v3' || modelType === 'deepseek_v2' ? (r.opt('n_shared_experts') ?? 0) : 0
    sharedI = modelType === 'qwen2_moe' ? (r.opt('shared_expert_intermediate_size') ?? 0) : sharedN * moeI
    if (E > 0) moe = {experts: E, perToken: K, sharedExperts: sharedN || (sharedI > 0 ? 1 : 0)}
  }

  // DeepSeek-style multi-token-prediction layers (GLM-4.5 uses the same module)
  const mtpLayers = modelType === 'deepseek_v3' || genericMoe ? (r.opt('num_nextn_predict_layers') ?? 0) : 0
  for (let i = 0; i < L + mtpLayers; i++) {
    const p = `${P}layers.${i}.`
    const start = t.length
    const isMtp = i >= L
    // attention
    if (family === 'mla') {
      const qLora = num(cfg.q_lora_rank) ?? (cfg.q_lora_rank === null ? undefined : num(DEFAULTS[modelType]?.q_lora_rank))
      const kvLora = r.req('kv_lora_rank')
      const rope = r.req('qk_rope_head_dim')
      const nope = r.req('qk_nope_head_dim')
      const vDim = r.req('v_head_dim')
      const qHead = nope + rope
      if (qLora) {
        linear(t, `${p}self_attn.q_a_proj`, qLora, H, false)
        t.push(vec(`${p}self_attn.q_a_layernorm.weight`, qLora))
        linear(t, `${p}self_attn.q_b_proj`, nH * qHead, qLora, false)
      } else {
        linear(t, `${p}self_attn.q_proj`, nH * qHead, H, false)
      }
      linear(t, `${p}self_attn.kv_a_proj_with_mqa`, kvLora + rope, H, false)
      t.push(vec(`${p}self_attn.kv_a_layernorm.weight`, kvLora))
      linear(t, `${p}self_attn.kv_b_proj`, nH * (nope + vDim), kvLora, false)
      linear(t, `${p}self_attn.o_proj`, H, nH * vDim, false)
      if (!isMtp) attention.push({kind: 'mla', latentDim: kvLora + rope})
    } else {
      if (modelType === 'phi3') {
        linear(t, `${p}self_attn.qkv_proj`, nH * hd + 2 * nKV * hd, H, qkvBias)
      } else {
        linear(t, `${p}self_attn.q_proj`, nH * hd, H, qkvBias)
        linear(t, `${p}self_attn.k_proj`, nKV * hd, H, qkvBias)
        linear(t, `${p}self_attn.v_proj`, nKV * hd, H, qkvBias)
      }
      linear(t, `${p}self_attn.o_proj`, H, nH * hd, modelType === 'gpt_oss' ? true : qkvBias && modelType !== 'qwen2' && modelType !== 'qwen2_moe')
      if (modelType === 'qwen3' || modelType === 'qwen3_moe' || modelType === 'gemma3_text') {
        t.push(vec(`${p}self_attn.q_norm.weight`, hd), vec(`${p}self_attn.k_norm.weight`, hd))
      }
      if (modelType === 'gpt_oss') t.push(vec(`${p}self_attn.sinks`, nH, 'other'))
      if (!isMtp) {
        attention.push(slidingAt(i) ? {kind: 'sliding', kvHeads: nKV, headDim: hd, window: window!} : chunkedAt(i) ? {kind: 'chunked', kvHeads: nKV, headDim: hd, chunk: chunk!} : {kind: 'full', kvHeads: nKV, headDim: hd})
      }
    }
    // norms
    t.push(vec(`${p}input_layernorm.weight`, H), vec(`${p}post_attention_layernorm.weight`, H))
    if (family === 'gemma') t.push(vec(`${p}pre_feedforward_layernorm.weight`, H), vec(`${p}post_feedforward_layernorm.weight`, H))
    // mlp
    if (isMoeLayer(i)) {
      if (modelType === 'gpt_oss') {
        // fused expert tensors: gate_up_proj [E, H, 2I] + bias [E, 2I], down_proj [E, I, H] + bias [E, H]
        t.push(mat(`${p}mlp.experts.gate_up_proj`, 2 * moeI, H, 'expert', E), {name: `${p}mlp.experts.gate_up_proj_bias`, shape: [2 * moeI], role: 'bias', count: E})
        t.push(mat(`${p}mlp.experts.down_proj`, H, moeI, 'expert', E), {name: `${p}mlp.experts.down_proj_bias`, shape: [H], role: 'bias', count: E})
        linear(t, `${p}mlp.router`, E, H, true, 'router')
      } else if (modelType === 'mixtral') {
        linear(t, `${p}block_sparse_moe.gate`, E, H, false, 'router')
        linear(t, `${p}block_sparse_moe.experts.*.w1`, moeI, H, false, 'expert', E)
        linear(t, `${p}block_sparse_moe.experts.*.w3`, moeI, H, false, 'expert', E)
        linear(t, `${p}block_sparse_moe.experts.*.w2`, H, moeI, false, 'expert', E)
      } else {
        linear(t, `${p}mlp.gate`, E, H, false, 'router')
        if (family === 'mla' && String(r.raw('topk_method')) === 'noaux_tc') t.push(vec(`${p}mlp.gate.e_score_correction_bias`, E, 'router'))
        linear(t, `${p}mlp.experts.*.gate_proj`, moeI, H, false, 'expert', E)
        linear(t, `${p}mlp.experts.*.up_proj`, moeI, H, false, 'expert', E)
        linear(t, `${p}mlp.experts.*.down_proj`, H, moeI, false, 'expert', E)
        if (sharedI > 0) {
          const s = modelType === 'qwen2_moe' ? 'shared_expert' : 'shared_experts'
          linear(t, `${p}mlp.${s}.gate_proj`, sharedI, H, false)
          linear(t, `${p}mlp.${s}.up_proj`, sharedI, H, false)
          linear(t, `${p}mlp.${s}.down_proj`, H, sharedI, false)
          if (modelType === 'qwen2_moe') linear(t, `${p}mlp.shared_expert_gate`, 1, H, false, 'router')
        }
      }
    } else if (modelType === 'phi3') {
      linear(t, `${p}mlp.gate_up_proj`, 2 * I, H, mlpBias)
      linear(t, `${p}mlp.down_proj`, H, I, mlpBias)
    } else {
      linear(t, `${p}mlp.gate_proj`, denseI, H, mlpBias)
      linear(t, `${p}mlp.up_proj`, denseI, H, mlpBias)
      linear(t, `${p}mlp.down_proj`, H, denseI, mlpBias)
    }
    if (isMtp) {
      // DeepSeek MTP module: enorm, hnorm, eh_proj, and its own norm/head/embedding copies.
      t.push(vec(`${p}enorm.weight`, H), vec(`${p}hnorm.weight`, H))
      linear(t, `${p}eh_proj`, H, 2 * H, false)
      t.push(vec(`${p}shared_head.norm.weight`, H))
      t.push(mat(`${p}shared_head.head.weight`, V, H, 'lm_head'), mat(`${p}embed_tokens.weight`, V, H, 'embedding'))
      for (let j = start; j < t.length; j++) t[j]!.mtp = true
    }
  }

  t.push(vec(`${P}norm.weight`, H))
  if (!tie) t.push(mat(prefix.startsWith('model.language_model.') ? 'lm_head.weight' : 'lm_head.weight', V, H, 'lm_head'))

  if (generic) {
    // a hybrid gpu-fit has no layout for: say that its KV cache is counted on every layer
    const hints = hybridHints(cfg)
    if (hints.length > 0) {
      warnings.push(`"${modelType}" looks like a hybrid or state-space model (${hints.slice(0, 4).join(', ')}), but gpu-fit does not know which of its layers are attention: KV cache counted on all ${L} layers (an over-estimate), recurrent state not counted`)
    }
    const fields = [...r.used].sort().join(', ')
    const shape = genericMoe ? `MoE: ${E} experts, top-${K}${sharedI > 0 ? ', shared expert' : ''}` : 'gated MLP'
    warnings.push(`unknown architecture "${modelType}": estimated as a generic decoder (${shape}, ${tie ? 'tied' : 'untied'} embeddings) from ${fields}`)
  }
  return {
    modelType,
    family: family ?? 'generic',
    hiddenSize: H,
    numLayers: L,
    numHeads: nH,
    vocabSize: V,
    maxPositionEmbeddings: r.opt('max_position_embeddings'),
    maxModelLen: derivedMaxLen(r, cfg),
    ropeCache: ropeCacheShape(r, cfg, family === 'mla' ? r.opt('qk_rope_head_dim') : hd),
    torchDtype: typeof (cfg.torch_dtype ?? cfg.dtype) === 'string' ? String(cfg.torch_dtype ?? cfg.dtype) : undefined,
    tieEmbeddings: tie,
    attention,
    moe,
    tensors: t,
    generic,
  }
}

/** Normalises a config.json into a ModelSpec: tensors, attention layout per layer, MoE, quantization. */
export function specFromConfig(config: unknown, where = 'config.json'): ModelSpec {
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    throw new UsageError(`${where} is not a JSON object`, {fix: 'pass the model\'s config.json (a JSON object with hidden_size, num_hidden_layers, ...)'})
  }
  const cfg = config as Json
  const warnings: string[] = []
  const architecture = Array.isArray(cfg.architectures) && typeof cfg.architectures[0] === 'string' ? (cfg.architectures[0] as string) : String(cfg.model_type ?? 'unknown')
  const wrapperType = modelTypeOf(cfg) ?? 'unknown'
  const text = cfg.text_config && typeof cfg.text_config === 'object' ? (cfg.text_config as Json) : undefined
  let spec: ReturnType<typeof buildText>
  let vision = false
  const tensors: TensorSpec[] = []
  const qwenVl = wrapperType === 'qwen2_5_vl' || wrapperType === 'qwen2_vl'
  if (text) {
    let textType = modelTypeOf(text) ?? (wrapperType === 'gemma3' ? 'gemma3_text' : wrapperType === 'mistral3' ? 'mistral' : qwenVl ? 'qwen2' : /^qwen3_5/.test(wrapperType) ? wrapperType : 'llama')
    if (textType === 'gemma3') textType = 'gemma3_text'
    if (textType === 'qwen3_5' || textType === 'qwen3_5_moe') textType = `${textType}_text`
    if (/^qwen2(_5)?_vl(_text)?$/.test(textType)) textType = 'qwen2'
    // Wrapper-level tie flag applies to the text model when text_config omits it.
    const merged: Json = {...text}
    if (merged.tie_word_embeddings === undefined && typeof cfg.tie_word_embeddings === 'boolean') merged.tie_word_embeddings = cfg.tie_word_embeddings
    if (merged.torch_dtype === undefined && merged.dtype === undefined) merged.torch_dtype = cfg.torch_dtype ?? cfg.dtype
    spec = buildText(merged, `${where} text_config`, textType, 'model.language_model.', warnings)
    tensors.push(...spec.tensors)
    if (cfg.vision_config && typeof cfg.vision_config === 'object') {
      vision = true
      tensors.push(...buildVision(cfg.vision_config as Json, spec.hiddenSize, wrapperType, warnings, cfg))
    } else {
      warnings.push('multimodal config without vision_config: the vision tower is not counted')
    }
  } else if (qwenVl) {
    // Older Qwen2-VL / Qwen2.5-VL configs keep the text fields at the top level.
    spec = buildText(cfg, where, 'qwen2', 'model.', warnings)
    tensors.push(...spec.tensors)
    if (cfg.vision_config && typeof cfg.vision_config === 'object') {
      vision = true
      tensors.push(...buildVision(cfg.vision_config as Json, spec.hiddenSize, wrapperType, warnings, cfg))
    }
  } else {
    spec = buildText(cfg, where, wrapperType, 'model.', warnings)
    tensors.push(...spec.tensors)
  }
  return {...spec, architecture, tensors, vision, quantization: quantizationOf(cfg, text), warnings}
}

export function elements(t: {shape: number[]; count?: number}): number {
  return t.shape.reduce((a, b) => a * b, 1) * (t.count ?? 1)
}
