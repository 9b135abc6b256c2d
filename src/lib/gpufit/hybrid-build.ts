/**
 * The tensor list of a hybrid (attention + Mamba / linear attention) or pure state-space decoder,
 * layer by layer as hybrid.ts layerPlan reads the config, with transformers' module names.
 */
import {dtRankOf, flag, gdnTensors, type HybridState, layerPlan, mamba1Tensors, mamba2Tensors, stateSpecOf} from './hybrid.js'
import {type Json, linear, mat, type Reader, type TensorSpec, vec} from './tensors.js'

export interface HybridBuild {
  family: 'hybrid'
  hiddenSize: number
  numLayers: number
  numHeads: number
  vocabSize: number
  tieEmbeddings: boolean
  attention: Array<{kind: 'full'; kvHeads: number; headDim: number}>
  moe?: {experts: number; perToken: number; sharedExperts: number}
  tensors: TensorSpec[]
  state: HybridState
  /** Attention head size, for the rotary cache (undefined: no RoPE). */
  ropeHeadDim?: number
}

const QWEN = new Set(['qwen3_next', 'qwen3_5_text', 'qwen3_5_moe_text'])

export function buildHybrid(cfg: Json, r: Reader, modelType: string, prefix: string): HybridBuild {
  const attentionFree = modelType === 'mamba' || modelType === 'mamba2'
  const H = r.req('hidden_size', 'd_model')
  const L = r.req('num_hidden_layers', 'n_layer', 'num_layers')
  const V = r.req('vocab_size')
  const {layers, convention} = layerPlan(cfg, r, modelType, L, r.where)
  const {spec, ssmFloat32} = stateSpecOf(cfg, r, modelType, H)
  const nH = attentionFree ? (spec.kind === 'mamba2' ? spec.nHeads : 1) : r.req('num_attention_heads')
  const nKV = attentionFree ? 0 : (r.opt('num_key_value_heads') ?? nH)
  const hd = attentionFree ? 0 : (r.opt('head_dim', 'attention_head_dim') ?? H / nH)
  const tie = r.bool('tie_word_embeddings') ?? attentionFree
  const P = prefix
  const t: TensorSpec[] = [mat(`${P}embed_tokens.weight`, V, H, 'embedding')]
  const attention: HybridBuild['attention'] = []

  // MLP widths and MoE layout per family
  const E = r.opt('num_experts', 'num_local_experts', 'n_routed_experts') ?? 0
  const K = r.opt('num_experts_per_tok') ?? 0
  const I = r.opt('intermediate_size') ?? 0
  const moeI = r.opt('moe_intermediate_size') ?? I
  const sharedI = r.opt('shared_expert_intermediate_size', 'shared_intermediate_size', 'moe_shared_expert_intermediate_size') ?? 0
  const attnBias = r.bool('attention_bias') ?? false
  const mlpBias = r.bool('mlp_bias') ?? false

  for (let i = 0; i < L; i++) {
    const p = `${P}layers.${i}.`
    const plan = layers[i]!
    const nemotron = modelType === 'nemotron_h'
    t.push(vec(`${p}${nemotron || attentionFree ? 'norm' : 'input_layernorm'}.weight`, H))
    if (plan.attention) {
      const a = `${p}${nemotron ? 'mixer' : 'self_attn'}.`
      // Qwen3-Next / Qwen3.5 gate the attention output: q_proj yields the query and a gate
      const gate = QWEN.has(modelType) && flag(cfg, 'attn_output_gate', true) ? 2 : 1
      linear(t, `${a}q_proj`, nH * hd * gate, H, attnBias)
      linear(t, `${a}k_proj`, nKV * hd, H, attnBias)
      linear(t, `${a}v_proj`, nKV * hd, H, attnBias)
      linear(t, `${a}o_proj`, H, nH * hd, attnBias)
      if (QWEN.has(modelType)) t.push(vec(`${a}q_norm.weight`, hd), vec(`${a}k_norm.weight`, hd))
      attention.push({kind: 'full', kvHeads: nKV, headDim: hd})
    }
    if (plan.state) {
      const m = `${p}${nemotron || attentionFree ? 'mixer' : QWEN.has(modelType) ? 'linear_attn' : modelType.startsWith('minimax') ? 'self_attn' : 'mamba'}.`
      if (spec.kind === 'mamba1') mamba1Tensors(t, m, H, spec, dtRankOf(cfg, H), flag(cfg, modelType === 'mamba' ? 'use_conv_bias' : 'mamba_conv_bias', true), flag(cfg, modelType === 'mamba' ? 'use_bias' : 'mamba_proj_bias', false), modelType === 'jamba')
      else if (spec.kind === 'mamba2') mamba2Tensors(t, m, H, spec, flag(cfg, nemotron || attentionFree ? 'use_conv_bias' : 'mamba_conv_bias', true), flag(cfg, nemotron || attentionFree ? 'use_bias' : 'mamba_proj_bias', false), modelType === 'falcon_h1' ? flag(cfg, 'mamba_rms_norm', false) : true)
      else if (spec.kind === 'gdn') gdnTensors(t, m, H, spec)
      else {
        // MiniMax lightning attention: fused qkv, output gate and norm, o_proj
        linear(t, `${m}qkv_proj`, 3 * spec.heads * spec.headDim, H, false)
        linear(t, `${m}output_gate`, spec.heads * spec.headDim, H, false)
        t.push(vec(`${m}norm.weight`, spec.heads * spec.headDim))
        linear(t, `${m}out_proj`, H, spec.heads * spec.headDim, false)
      }
    }
    if (plan.mlp === 'none') continue
    const ff = modelType === 'jamba' || modelType === 'falcon_h1' || modelType === 'bamba'
    if (!nemotron) t.push(vec(`${p}${ff ? 'pre_ff_layernorm' : 'post_attention_layernorm'}.weight`, H))
    const f = `${p}${nemotron ? 'mixer' : ff ? 'feed_forward' : 'mlp'}.`
    if (plan.mlp === 'dense') {
      if (nemotron) {
        // Nemotron-H MLP layers: squared-ReLU, no gate
        linear(t, `${f}up_proj`, I, H, mlpBias)
        linear(t, `${f}down_proj`, H, I, mlpBias)
      } else if (modelType === 'granitemoehybrid') {
        linear(t, `${p}shared_mlp.input_linear`, 2 * sharedI, H, false)
        linear(t, `${p}shared_mlp.output_linear`, H, sharedI, false)
      } else {
        linear(t, `${f}gate_proj`, I, H, mlpBias)
        linear(t, `${f}up_proj`, I, H, mlpBias)
        linear(t, `${f}down_proj`, H, I, mlpBias)
      }
      continue
    }
    // MoE layers
    if (nemotron) {
      linear(t, `${f}gate`, E, H, false, 'router')
      t.push(vec(`${f}gate.e_score_correction_bias`, E, 'router'))
      linear(t, `${f}experts.*.up_proj`, moeI, H, false, 'expert', E)
      linear(t, `${f}experts.*.down_proj`, H, moeI, false, 'expert', E)
      if (sharedI > 0) {
        linear(t, `${f}shared_experts.up_proj`, sharedI, H, false)
        linear(t, `${f}shared_experts.down_proj`, H, sharedI, false)
      }
    } else if (modelType === 'granitemoehybrid') {
      linear(t, `${p}block_sparse_moe.router.layer`, E, H, false, 'router')
      t.push(mat(`${p}block_sparse_moe.input_linear.weight`, 2 * I, H, 'expert', E), mat(`${p}block_sparse_moe.output_linear.weight`, H, I, 'expert', E))
      if (sharedI > 0) {
        linear(t, `${p}shared_mlp.input_linear`, 2 * sharedI, H, false)
        linear(t, `${p}shared_mlp.output_linear`, H, sharedI, false)
      }
    } else if (modelType.startsWith('minimax')) {
      linear(t, `${p}block_sparse_moe.gate`, E, H, false, 'router')
      linear(t, `${p}block_sparse_moe.experts.*.w1`, I, H, false, 'expert', E)
      linear(t, `${p}block_sparse_moe.experts.*.w3`, I, H, false, 'expert', E)
      linear(t, `${p}block_sparse_moe.experts.*.w2`, H, I, false, 'expert', E)
    } else {
      // Qwen3-Next / Qwen3.5-MoE (routed experts of moe_intermediate_size, a gated shared expert) and Jamba (experts of intermediate_size)
      const w = modelType === 'jamba' ? I : moeI
      linear(t, `${f}${modelType === 'jamba' ? 'router' : 'gate'}`, E, H, false, 'router')
      linear(t, `${f}experts.*.gate_proj`, w, H, false, 'expert', E)
      linear(t, `${f}experts.*.up_proj`, w, H, false, 'expert', E)
      linear(t, `${f}experts.*.down_proj`, H, w, false, 'expert', E)
      if (sharedI > 0 && modelType !== 'jamba') {
        linear(t, `${f}shared_expert.gate_proj`, sharedI, H, false)
        linear(t, `${f}shared_expert.up_proj`, sharedI, H, false)
        linear(t, `${f}shared_expert.down_proj`, H, sharedI, false)
        linear(t, `${f}shared_expert_gate`, 1, H, false, 'router')
      }
    }
  }
  t.push(vec(`${P}${modelType === 'nemotron_h' || modelType === 'mamba' || modelType === 'mamba2' ? 'norm_f' : 'norm'}.weight`, H))
  if (!tie) t.push(mat('lm_head.weight', V, H, 'lm_head'))

  const anyMoe = layers.some((l) => l.mlp === 'moe') && E > 1
  const stateLayers = layers.filter((l) => l.state).length
  return {
    family: 'hybrid',
    hiddenSize: H,
    numLayers: L,
    numHeads: nH,
    vocabSize: V,
    tieEmbeddings: tie,
    attention,
    moe: anyMoe ? {experts: E, perToken: K, sharedExperts: sharedI > 0 && modelType !== 'jamba' ? 1 : 0} : undefined,
    tensors: t,
    state: {spec, layers: stateLayers, ssmFloat32, convention},
    ropeHeadDim: QWEN.has(modelType) || modelType === 'falcon_h1' || modelType.startsWith('minimax') ? hd : undefined,
  }
}
