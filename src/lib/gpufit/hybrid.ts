/**
 * Hybrid models: decoders whose layers are partly attention (a KV cache that grows with the
 * sequence) and partly state-space or linear attention (a fixed-size recurrent state per sequence),
 * and pure state-space models. One place knows, per config convention, which layer is which, what
 * state a recurrent layer keeps and which tensors the checkpoint holds:
 *
 * - Qwen3-Next / Qwen3.5 (Gated DeltaNet): `layer_types` ("linear_attention" / "full_attention"),
 *   else every `full_attention_interval`-th layer is attention (transformers Qwen3NextConfig);
 * - Jamba (Mamba-1): layer i is attention when i % attn_layer_period == attn_layer_offset, MoE when
 *   i % expert_layer_period == expert_layer_offset (transformers JambaConfig.layers_block_type);
 * - Nemotron-H (Mamba-2): `hybrid_override_pattern`, one character a layer: M Mamba-2, * attention,
 *   - MLP, E MoE (or the newer `layers_block_type` list);
 * - Granite 4.0 hybrid (Mamba-2): `layer_types` ("mamba" / "attention"), a MoE (or dense) MLP on
 *   every layer;
 * - Bamba (Mamba-2): attention on the layers `attn_layer_indices` lists, a dense MLP on every layer;
 * - Falcon-H1 (Mamba-2): attention and Mamba-2 side by side in every layer (vLLM falcon_h1.py
 *   FalconH1ParallelHybrid);
 * - MiniMax-Text-01 / M1 (lightning attention): `attn_type_list`, 1 softmax attention, 0 linear
 *   (`layer_types` in transformers' native `minimax` config);
 * - Mamba / Mamba-2 models: no attention at all.
 *
 * The state shapes are vLLM's (model_executor/layers/mamba/mamba_utils.py MambaStateShapeCalculator):
 * conv state (d_conv - 1) x conv_dim/TP, plus the SSM / recurrent state. How vLLM pages them next to
 * the attention KV cache is in fit.ts (hybridLayout).
 */
import {UsageError} from '../errors.js'
import {type Json, linear, mat, num, type Reader, type TensorSpec, vec} from './tensors.js'

export type StateKind = 'mamba1' | 'mamba2' | 'gdn' | 'linear'

/** The recurrent state one non-attention layer keeps per sequence (vLLM needs one shape for all). */
export type StateSpec =
  | {kind: 'mamba1'; dInner: number; dState: number; dConv: number}
  | {kind: 'mamba2'; dInner: number; nGroups: number; nHeads: number; headDim: number; dState: number; dConv: number}
  | {kind: 'gdn'; kHeads: number; vHeads: number; kDim: number; vDim: number; dConv: number}
  | {kind: 'linear'; heads: number; headDim: number}

export interface HybridState {
  spec: StateSpec
  /** Layers that keep this state. */
  layers: number
  /** The SSM / recurrent part is kept in float32 whatever the model dtype (NemotronH's default, Qwen3.5's mamba_ssm_dtype). */
  ssmFloat32: boolean
  /** How the layer pattern was read, for output. */
  convention: string
}

/** The model types whose layer layout hybrid.ts knows (text configs). */
export const HYBRID_TYPES = new Set(['qwen3_next', 'qwen3_5_text', 'qwen3_5_moe_text', 'jamba', 'nemotron_h', 'granitemoehybrid', 'bamba', 'falcon_h1', 'mamba', 'mamba2', 'minimax', 'minimax_text_01', 'minimax_m1'])

const STATE_LABEL: Record<StateKind, string> = {mamba1: 'Mamba', mamba2: 'Mamba-2', gdn: 'Gated DeltaNet', linear: 'linear-attention'}
export const stateLabel = (k: StateKind): string => STATE_LABEL[k]

/**
 * Bytes of one layer's state for one sequence on one tensor-parallel rank (vLLM MambaSpec
 * page_size_bytes before padding): conv state in the model dtype (mamba_cache_dtype "auto"), the
 * SSM state in the model dtype or float32 (mamba_ssm_cache_dtype).
 */
export function stateBytesPerLayer(st: HybridState, tp: number, dtypeBytes: number): number {
  const s = st.spec
  const ssmBytes = st.ssmFloat32 ? 4 : dtypeBytes
  const div = (n: number) => Math.ceil(n / tp)
  switch (s.kind) {
    case 'mamba1':
      // mamba1_state_shape: conv (d_conv - 1, d_inner/TP), ssm (d_inner/TP, d_state)
      return (s.dConv - 1) * div(s.dInner) * dtypeBytes + div(s.dInner) * s.dState * ssmBytes
    case 'mamba2': {
      // mamba2_state_shape: groups are replicated to the TP degree when they do not divide it
      const groups = s.nGroups % tp === 0 ? s.nGroups : s.nGroups + (tp - s.nGroups)
      const convDim = s.dInner + 2 * groups * s.dState
      return (s.dConv - 1) * div(convDim) * dtypeBytes + div(s.nHeads) * s.headDim * s.dState * ssmBytes
    }
    case 'gdn': {
      // gated_delta_net_state_shape: conv over q, k, v; recurrent (v_heads/TP, v_dim, k_dim)
      const convDim = 2 * s.kHeads * s.kDim + s.vHeads * s.vDim
      return (s.dConv - 1) * div(convDim) * dtypeBytes + div(s.vHeads) * s.vDim * s.kDim * ssmBytes
    }
    case 'linear':
      // linear_attention_state_shape: (heads/TP, head_dim, head_dim)
      return div(s.heads) * s.headDim * s.headDim * dtypeBytes
  }
}

/** What each layer of a hybrid holds: attention (KV cache), a recurrent state, or neither (an MLP-only layer). */
export interface LayerPlan {
  attention: boolean
  state: boolean
  /** The layer's MLP: MoE, dense, or none (Nemotron-H's mixer-only layers). */
  mlp: 'moe' | 'dense' | 'none'
}

function listOf(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.map(String) : undefined
}

function patternError(where: string, field: string, got: number, want: number): never {
  throw new UsageError(`${where} has a "${field}" of ${got} layers for num_hidden_layers ${want}`, {fix: `correct "${field}" or "num_hidden_layers" in ${where} (copy them from the model's config.json on the Hub)`})
}

/** Reads the layer pattern of a known hybrid model type. */
export function layerPlan(cfg: Json, r: Reader, modelType: string, L: number, where: string): {layers: LayerPlan[]; convention: string} {
  const experts = r.opt('num_experts', 'num_local_experts', 'n_routed_experts') ?? 0
  const lt = listOf(cfg.layer_types)
  switch (modelType) {
    case 'qwen3_next':
    case 'qwen3_5_text':
    case 'qwen3_5_moe_text': {
      const only = Array.isArray(cfg.mlp_only_layers) ? (cfg.mlp_only_layers as number[]) : []
      const step = r.opt('decoder_sparse_step') ?? 1
      const interval = r.opt('full_attention_interval') ?? 4
      if (lt && lt.length !== L) patternError(where, 'layer_types', lt.length, L)
      const layers = Array.from({length: L}, (_, i) => {
        const attention = lt ? lt[i] === 'full_attention' : (i + 1) % interval === 0
        const moe = experts > 0 && !only.includes(i) && (i + 1) % step === 0
        return {attention, state: !attention, mlp: moe ? 'moe' : 'dense'} as LayerPlan
      })
      return {layers, convention: lt ? 'layer_types' : `full_attention_interval ${interval}`}
    }
    case 'jamba': {
      const ap = r.opt('attn_layer_period') ?? 8
      const ao = r.opt('attn_layer_offset') ?? 4
      const ep = r.opt('expert_layer_period') ?? 2
      const eo = r.opt('expert_layer_offset') ?? 1
      const layers = Array.from({length: L}, (_, i) => {
        const attention = i % ap === ao
        return {attention, state: !attention, mlp: experts > 1 && i % ep === eo ? 'moe' : 'dense'} as LayerPlan
      })
      return {layers, convention: `attn_layer_period ${ap}, offset ${ao}`}
    }
    case 'nemotron_h': {
      const blocks = listOf(cfg.layers_block_type)
      const pattern = typeof cfg.hybrid_override_pattern === 'string' ? cfg.hybrid_override_pattern : undefined
      const kinds = blocks ?? (pattern ? [...pattern].map((c) => ({M: 'mamba', '*': 'attention', '-': 'mlp', E: 'moe'})[c] ?? `?${c}`) : undefined)
      if (!kinds) throw new UsageError(`${where} has neither "hybrid_override_pattern" nor "layers_block_type"`, {fix: `add "hybrid_override_pattern" to ${where} (copy it from the model's config.json on the Hub)`})
      if (kinds.length !== L) patternError(where, blocks ? 'layers_block_type' : 'hybrid_override_pattern', kinds.length, L)
      const bad = kinds.find((k) => !['mamba', 'attention', 'mlp', 'moe'].includes(k))
      if (bad) throw new UsageError(`${where} has an unknown layer "${bad.replace(/^\?/, '')}" in its layer pattern`, {fix: 'Nemotron-H layers are M (Mamba-2), * (attention), - (MLP) or E (MoE)'})
      const layers = kinds.map((k) => ({attention: k === 'attention', state: k === 'mamba', mlp: k === 'mlp' ? 'dense' : k === 'moe' ? 'moe' : 'none'}) as LayerPlan)
      return {layers, convention: blocks ? 'layers_block_type' : 'hybrid_override_pattern'}
    }
    case 'granitemoehybrid': {
      if (!lt) throw new UsageError(`${where} has no "layer_types"`, {fix: `add "layer_types" ("mamba" / "attention" per layer) to ${where} (copy it from the model's config.json on the Hub)`})
      if (lt.length !== L) patternError(where, 'layer_types', lt.length, L)
      const layers = lt.map((k) => ({attention: k === 'attention', state: k !== 'attention', mlp: experts > 0 ? 'moe' : 'dense'}) as LayerPlan)
      return {layers, convention: 'layer_types'}
    }
    case 'bamba': {
      const idx = Array.isArray(cfg.attn_layer_indices) ? (cfg.attn_layer_indices as unknown[]).map(Number) : []
      const bad = idx.find((i) => !Number.isInteger(i) || i < 0 || i >= L)
      if (bad !== undefined) throw new UsageError(`${where} has "attn_layer_indices" entry ${bad}, outside the ${L} layers`, {fix: `correct "attn_layer_indices" in ${where} (copy it from the model's config.json on the Hub)`})
      return {layers: Array.from({length: L}, (_, i) => ({attention: idx.includes(i), state: !idx.includes(i), mlp: 'dense'}) as LayerPlan), convention: 'attn_layer_indices'}
    }
    case 'falcon_h1':
      return {layers: Array.from({length: L}, () => ({attention: true, state: true, mlp: 'dense'}) as LayerPlan), convention: 'attention and Mamba-2 in every layer'}
    case 'mamba':
    case 'mamba2':
      return {layers: Array.from({length: L}, () => ({attention: false, state: true, mlp: 'none'}) as LayerPlan), convention: 'attention-free'}
    case 'minimax':
    case 'minimax_text_01':
    case 'minimax_m1': {
      // transformers' native MiniMax config names layer_types; the remote-code configs attn_type_list (1 softmax, 0 lightning)
      const types = lt ? lt.map((x) => (x === 'full_attention' ? 1 : 0)) : Array.isArray(cfg.attn_type_list) ? (cfg.attn_type_list as unknown[]).map(Number) : undefined
      if (!types) throw new UsageError(`${where} has neither "layer_types" nor "attn_type_list"`, {fix: `add "attn_type_list" to ${where} (copy it from the model's config.json on the Hub)`})
      if (types.length !== L) patternError(where, lt ? 'layer_types' : 'attn_type_list', types.length, L)
      return {layers: types.map((t) => ({attention: t === 1, state: t !== 1, mlp: 'moe'}) as LayerPlan), convention: lt ? 'layer_types' : 'attn_type_list'}
    }
    default:
      throw new Error(`layerPlan: ${modelType} is not a hybrid type`)
  }
}

/** The state of the recurrent layers of a known hybrid model type. */
export function stateSpecOf(cfg: Json, r: Reader, modelType: string, H: number): {spec: StateSpec; ssmFloat32: boolean} {
  const ssmDtype = String(cfg.mamba_ssm_cache_dtype ?? cfg.mamba_ssm_dtype ?? '')
  switch (modelType) {
    case 'qwen3_next':
    case 'qwen3_5_text':
    case 'qwen3_5_moe_text':
      return {
        spec: {kind: 'gdn', kHeads: r.req('linear_num_key_heads'), vHeads: r.req('linear_num_value_heads'), kDim: r.req('linear_key_head_dim'), vDim: r.req('linear_value_head_dim'), dConv: r.opt('linear_conv_kernel_dim') ?? 4},
        ssmFloat32: ssmDtype === 'float32',
      }
    case 'jamba':
      return {spec: {kind: 'mamba1', dInner: (r.opt('mamba_expand') ?? 2) * H, dState: r.opt('mamba_d_state') ?? 16, dConv: r.opt('mamba_d_conv') ?? 4}, ssmFloat32: ssmDtype === 'float32'}
    case 'mamba':
      return {spec: {kind: 'mamba1', dInner: r.opt('intermediate_size') ?? (r.opt('expand') ?? 2) * H, dState: r.opt('state_size') ?? 16, dConv: r.opt('conv_kernel') ?? 4}, ssmFloat32: ssmDtype === 'float32'}
    case 'nemotron_h': {
      const nHeads = r.req('mamba_num_heads')
      const headDim = r.req('mamba_head_dim')
      // vLLM NemotronHForCausalLMConfig: mamba_ssm_cache_dtype from the config, else float32
      return {spec: {kind: 'mamba2', dInner: nHeads * headDim, nGroups: r.opt('n_groups') ?? 8, nHeads, headDim, dState: r.req('ssm_state_size'), dConv: r.opt('conv_kernel') ?? 4}, ssmFloat32: ssmDtype === '' || ssmDtype === 'float32'}
    }
    case 'mamba2': {
      const nHeads = r.req('num_heads')
      const headDim = r.opt('head_dim') ?? 64
      return {spec: {kind: 'mamba2', dInner: (r.opt('expand') ?? 2) * H, nGroups: r.opt('n_groups') ?? 1, nHeads, headDim, dState: r.opt('state_size') ?? 128, dConv: r.opt('conv_kernel') ?? 4}, ssmFloat32: ssmDtype === 'float32'}
    }
    case 'granitemoehybrid':
    case 'bamba':
    case 'falcon_h1': {
      const nHeads = r.req('mamba_n_heads')
      const dInner = (modelType === 'falcon_h1' ? r.opt('mamba_d_ssm') : undefined) ?? (r.opt('mamba_expand') ?? 2) * H
      // Falcon-H1's mamba_d_head may be "auto": d_ssm / heads (transformers FalconH1Config)
      const headDim = r.opt('mamba_d_head') ?? (cfg.mamba_d_head === 'auto' ? dInner / nHeads : 64)
      return {spec: {kind: 'mamba2', dInner, nGroups: r.opt('mamba_n_groups') ?? 1, nHeads, headDim, dState: r.opt('mamba_d_state') ?? 128, dConv: r.opt('mamba_d_conv') ?? 4}, ssmFloat32: ssmDtype === 'float32'}
    }
    case 'minimax':
    case 'minimax_text_01':
    case 'minimax_m1': {
      const heads = r.req('num_attention_heads')
      return {spec: {kind: 'linear', heads, headDim: r.opt('head_dim') ?? H / heads}, ssmFloat32: false}
    }
    default:
      throw new Error(`stateSpecOf: ${modelType} is not a hybrid type`)
  }
}

/** Config fields that mark a hybrid or state-space model gpu-fit has no layout for. */
export function hybridHints(cfg: Json): string[] {
  const hints = Object.keys(cfg).filter((k) => /^(mamba_|linear_(num|key|value|conv)|ssm_|attn_layer_|hybrid_override_pattern$|full_attention_interval$|attn_type_list$|attn_layer_indices$|layers_block_type$)/.test(k))
  const lt = listOf(cfg.layer_types)
  if (lt?.some((t) => /mamba|linear|ssm|recurrent|conv/.test(t))) hints.push('layer_types')
  return hints
}

// ---- tensors -------------------------------------------------------------------------------

/** One Mamba-1 mixer (transformers JambaMambaMixer / MambaMixer). */
export function mamba1Tensors(t: TensorSpec[], p: string, H: number, s: Extract<StateSpec, {kind: 'mamba1'}>, dtRank: number, convBias: boolean, projBias: boolean, jamba: boolean): void {
  linear(t, `${p}in_proj`, 2 * s.dInner, H, projBias)
  t.push({name: `${p}conv1d.weight`, shape: [s.dInner, 1, s.dConv], role: 'other', count: 1})
  if (convBias) t.push(vec(`${p}conv1d.bias`, s.dInner, 'bias'))
  linear(t, `${p}x_proj`, dtRank + 2 * s.dState, s.dInner, false)
  linear(t, `${p}dt_proj`, s.dInner, dtRank, true)
  t.push(mat(`${p}A_log`, s.dInner, s.dState, 'other'), vec(`${p}D`, s.dInner, 'other'))
  linear(t, `${p}out_proj`, H, s.dInner, projBias)
  if (jamba) t.push(vec(`${p}dt_layernorm.weight`, dtRank), vec(`${p}b_layernorm.weight`, s.dState), vec(`${p}c_layernorm.weight`, s.dState))
}

/** One Mamba-2 mixer (transformers Mamba2Mixer, NemotronHMamba2Mixer, GraniteMoeHybridMambaLayer, FalconH1Mixer). */
export function mamba2Tensors(t: TensorSpec[], p: string, H: number, s: Extract<StateSpec, {kind: 'mamba2'}>, convBias: boolean, projBias: boolean, gatedNorm = true): void {
  const convDim = s.dInner + 2 * s.nGroups * s.dState
  linear(t, `${p}in_proj`, 2 * s.dInner + 2 * s.nGroups * s.dState + s.nHeads, H, projBias)
  t.push({name: `${p}conv1d.weight`, shape: [convDim, 1, s.dConv], role: 'other', count: 1})
  if (convBias) t.push(vec(`${p}conv1d.bias`, convDim, 'bias'))
  t.push(vec(`${p}dt_bias`, s.nHeads, 'other'), vec(`${p}A_log`, s.nHeads, 'other'), vec(`${p}D`, s.nHeads, 'other'))
  if (gatedNorm) t.push(vec(`${p}norm.weight`, s.dInner))
  linear(t, `${p}out_proj`, H, s.dInner, projBias)
}

/** One Gated DeltaNet mixer (transformers Qwen3NextGatedDeltaNet). */
export function gdnTensors(t: TensorSpec[], p: string, H: number, s: Extract<StateSpec, {kind: 'gdn'}>): void {
  const key = s.kHeads * s.kDim
  const value = s.vHeads * s.vDim
  linear(t, `${p}in_proj_qkvz`, 2 * key + 2 * value, H, false)
  linear(t, `${p}in_proj_ba`, 2 * s.vHeads, H, false)
  t.push({name: `${p}conv1d.weight`, shape: [2 * key + value, 1, s.dConv], role: 'other', count: 1})
  t.push(vec(`${p}dt_bias`, s.vHeads, 'other'), vec(`${p}A_log`, s.vHeads, 'other'), vec(`${p}norm.weight`, s.vDim))
  linear(t, `${p}out_proj`, H, value, false)
}

/** Whether a config field reads as true (some configs write booleans as strings). */
export function flag(cfg: Json, key: string, dflt: boolean): boolean {
  const v = cfg[key]
  if (typeof v === 'boolean') return v
  if (v === 'true') return true
  if (v === 'false') return false
  return dflt
}

export const dtRankOf = (cfg: Json, H: number): number => num(cfg.mamba_dt_rank) ?? num(cfg.time_step_rank) ?? Math.ceil(H / 16)
