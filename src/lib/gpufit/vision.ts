/**
 * Vision towers and projectors of multimodal configs (Pixtral, Qwen2/2.5-VL, SigLIP, CLIP), as the
 * checkpoints hold them; counted with the text model's weights (vLLM loads them).
 */
import {type Json, linear, mat, num, Reader, type TensorSpec, vec} from './tensors.js'

/** Pixtral vision encoder (Mistral 3): RMSNorm, gated MLP, 2D RoPE (no position table), patch merger. */
function buildPixtral(vc: Json, textHidden: number, cfg: Json): TensorSpec[] {
  const r = new Reader(vc, 'vision_config', {hidden_size: 1024, intermediate_size: 4096, num_hidden_layers: 24, num_channels: 3, patch_size: 14})
  const H = r.req('hidden_size')
  const I = r.req('intermediate_size')
  const L = r.req('num_hidden_layers')
  const C = r.opt('num_channels') ?? 3
  const p = r.opt('patch_size') ?? 14
  const P = 'vision_tower.'
  const t: TensorSpec[] = [mat(`${P}patch_conv.weight`, H, C * p * p), vec(`${P}ln_pre.weight`, H)]
  for (let i = 0; i < L; i++) {
    const q = `${P}transformer.layers.${i}.`
    t.push(vec(`${q}attention_norm.weight`, H), vec(`${q}ffn_norm.weight`, H))
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) linear(t, `${q}attention.${n}`, H, H, false)
    linear(t, `${q}feed_forward.w1`, I, H, false)
    linear(t, `${q}feed_forward.w3`, I, H, false)
    linear(t, `${q}feed_forward.w2`, H, I, false)
  }
  const merge = num(cfg.spatial_merge_size) ?? 2
  const bias = cfg.multimodal_projector_bias === true
  t.push(vec('multi_modal_projector.norm.weight', H))
  linear(t, 'multi_modal_projector.patch_merger.merging_layer', H, H * merge * merge, false)
  linear(t, 'multi_modal_projector.linear_1', textHidden, H, bias)
  linear(t, 'multi_modal_projector.linear_2', textHidden, textHidden, bias)
  return t
}

/**
 * Qwen2-VL / Qwen2.5-VL vision transformer: 3D patch embedding (temporal x spatial), fused qkv with
 * bias, LayerNorm + fc1/fc2 (Qwen2-VL) or RMSNorm + SwiGLU (Qwen2.5-VL), and the patch merger.
 */
function buildQwenVision(vc: Json, textHidden: number, v25: boolean): TensorSpec[] {
  const r = new Reader(vc, 'vision_config', {depth: 32, in_chans: 3, patch_size: 14, temporal_patch_size: 2, spatial_merge_size: 2, num_heads: 16})
  const L = r.req('depth', 'num_hidden_layers')
  const H = v25 ? r.req('hidden_size') : r.req('embed_dim')
  const I = v25 ? r.req('intermediate_size') : H * (r.opt('mlp_ratio') ?? 4)
  const out = v25 ? (r.opt('out_hidden_size') ?? textHidden) : (r.opt('hidden_size') ?? textHidden)
  const C = r.opt('in_chans', 'in_channels') ?? 3
  const p = r.opt('patch_size', 'spatial_patch_size') ?? 14
  const tp = r.opt('temporal_patch_size') ?? 2
  const m = r.opt('spatial_merge_size') ?? 2
  const P = 'visual.'
  const t: TensorSpec[] = [mat(`${P}patch_embed.proj.weight`, H, C * tp * p * p)]
  for (let i = 0; i < L; i++) {
    const q = `${P}blocks.${i}.`
    t.push(vec(`${q}norm1.weight`, H), vec(`${q}norm2.weight`, H))
    if (!v25) t.push(vec(`${q}norm1.bias`, H, 'bias'), vec(`${q}norm2.bias`, H, 'bias'))
    linear(t, `${q}attn.qkv`, 3 * H, H, true)
    linear(t, `${q}attn.proj`, H, H, true)
    if (v25) {
      linear(t, `${q}mlp.gate_proj`, I, H, true)
      linear(t, `${q}mlp.up_proj`, I, H, true)
      linear(t, `${q}mlp.down_proj`, H, I, true)
    } else {
      linear(t, `${q}mlp.fc1`, I, H, true)
      linear(t, `${q}mlp.fc2`, H, I, true)
    }
  }
  const merged = H * m * m
  t.push(vec(`${P}merger.ln_q.weight`, H))
  if (!v25) t.push(vec(`${P}merger.ln_q.bias`, H, 'bias'))
  linear(t, `${P}merger.mlp.0`, merged, merged, true)
  linear(t, `${P}merger.mlp.2`, out, merged, true)
  return t
}

/** SigLIP / CLIP-style vision tower (patch embedding, position embedding, pre-norm encoder). */
export function buildVision(vc: Json, textHidden: number, wrapperType: string, warnings: string[], cfg: Json = {}): TensorSpec[] {
  const vt = String(vc.model_type ?? '')
  if (vt === 'pixtral') return buildPixtral(vc, textHidden, cfg).map((x) => ({...x, vision: true}))
  if (wrapperType === 'qwen2_5_vl' || wrapperType === 'qwen2_vl') return buildQwenVision(vc, textHidden, wrapperType === 'qwen2_5_vl').map((x) => ({...x, vision: true}))
  const r = new Reader(vc, 'vision_config', {hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, num_channels: 3, image_size: 224, patch_size: 16})
  const H = r.req('hidden_size', 'embed_dim', 'width')
  const I = r.opt('intermediate_size', 'mlp_dim') ?? 4 * H
  const L = r.req('num_hidden_layers', 'depth', 'num_layers')
  const C = r.opt('num_channels', 'in_channels') ?? 3
  const patch = r.opt('patch_size', 'spatial_patch_size') ?? 14
  const image = r.opt('image_size') ?? 224
  const P = 'vision_tower.vision_model.'
  const t: TensorSpec[] = []
  const isClip = vt.startsWith('clip')
  t.push(mat(`${P}embeddings.patch_embedding.weight`, H, C * patch * patch), vec(`${P}embeddings.patch_embedding.bias`, H, isClip ? 'other' : 'bias'))
  if (isClip) t.pop()
  const positions = Math.floor(image / patch) ** 2 + (isClip ? 1 : 0)
  t.push(mat(`${P}embeddings.position_embedding.weight`, positions, H, 'other'))
  if (isClip) t.push(vec(`${P}embeddings.class_embedding`, H, 'other'), vec(`${P}pre_layrnorm.weight`, H), vec(`${P}pre_layrnorm.bias`, H))
  for (let i = 0; i < L; i++) {
    const p = `${P}encoder.layers.${i}.`
    for (const n of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(t, `${p}self_attn.${n}`, H, H, true)
    t.push(vec(`${p}layer_norm1.weight`, H), vec(`${p}layer_norm1.bias`, H), vec(`${p}layer_norm2.weight`, H), vec(`${p}layer_norm2.bias`, H))
    linear(t, `${p}mlp.fc1`, I, H, true)
    linear(t, `${p}mlp.fc2`, H, I, true)
  }
  t.push(vec(`${P}post_layernorm.weight`, H), vec(`${P}post_layernorm.bias`, H))
  if (!vt.startsWith('siglip') && !isClip) {
    warnings.push(`vision tower "${vt || 'unknown'}" estimated as a SigLIP-style ViT from hidden_size, intermediate_size, num_hidden_layers, patch_size, image_size`)
  }
  // projector
  if (wrapperType === 'gemma3') {
    t.push(mat('multi_modal_projector.mm_input_projection_weight', textHidden, H), vec('multi_modal_projector.mm_soft_emb_norm.weight', H))
  } else {
    linear(t, 'multi_modal_projector.linear_1', textHidden, H, true)
    linear(t, 'multi_modal_projector.linear_2', textHidden, textHidden, true)
  }
  for (const x of t) x.vision = true
  return t
}
