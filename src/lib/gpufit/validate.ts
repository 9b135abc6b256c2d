/**
 * Config values that parse but cannot be real (a zero or negative size, `bits: "four"`, a negative
 * rope factor, NaN or infinity anywhere) are bad input (exit 2) naming the field, never a
 * "does not fit" computed from nonsense.
 */
import {UsageError} from '../errors.js'

type Json = Record<string, unknown>

/** Sizes and counts that, when present, must be positive integers. */
const POSITIVE_INT = [
  'hidden_size', 'n_embd', 'd_model', 'intermediate_size', 'ffn_dim', 'n_inner', 'ffn_hidden_size', 'moe_intermediate_size',
  'shared_expert_intermediate_size', 'intermediate_size_mlp', 'num_hidden_layers', 'n_layer', 'num_layers', 'n_layers',
  'num_attention_heads', 'n_head', 'num_heads', 'n_heads', 'num_key_value_heads', 'num_kv_heads', 'n_kv_heads',
  'head_dim', 'kv_channels', 'vocab_size', 'padded_vocab_size', 'max_position_embeddings', 'n_positions', 'max_seq_len',
  'seq_length', 'num_local_experts', 'num_experts', 'n_routed_experts', 'num_experts_per_tok', 'kv_lora_rank',
  'q_lora_rank', 'qk_rope_head_dim', 'qk_nope_head_dim', 'v_head_dim', 'sliding_window', 'sliding_window_pattern',
  'patch_size', 'image_size', 'depth', 'embed_dim',
  // hybrid / state-space layers (hybrid.ts)
  'linear_num_key_heads', 'linear_num_value_heads', 'linear_key_head_dim', 'linear_value_head_dim', 'linear_conv_kernel_dim',
  'mamba_d_state', 'mamba_d_conv', 'mamba_expand', 'mamba_n_heads', 'mamba_n_groups', 'mamba_num_heads', 'mamba_head_dim',
  'ssm_state_size', 'n_groups', 'conv_kernel', 'state_size', 'attn_layer_period', 'expert_layer_period', 'full_attention_interval',
]
/** Counts that may be zero. */
const NON_NEGATIVE_INT = ['first_k_dense_replace', 'n_shared_experts', 'num_nextn_predict_layers', 'max_window_layers', 'decoder_sparse_step', 'moe_layer_freq', 'attn_layer_offset', 'expert_layer_offset']

function fail(where: string, path: string, value: unknown, must: string): never {
  const shown = typeof value === 'string' ? `"${value}"` : String(value)
  throw new UsageError(`${where} has "${path}": ${shown}; it must be ${must}`, {fix: `correct "${path}" in ${where} (copy it from the model's config.json on the Hub)`})
}

function walkNumbers(v: unknown, path: string, where: string): void {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) fail(where, path, v, 'a finite number')
  } else if (Array.isArray(v)) {
    v.forEach((x, i) => walkNumbers(x, `${path}[${i}]`, where))
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Json)) walkNumbers(x, path ? `${path}.${k}` : k, where)
  }
}

function checkInt(obj: Json, key: string, path: string, where: string, min: number): void {
  const v = obj[key]
  if (v === undefined || v === null) return
  // sliding_window: false/0 turn the window off in some configs
  if (key === 'sliding_window' && (v === false || v === 0)) return
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) fail(where, path, v, min > 0 ? 'a positive integer' : 'a non-negative integer')
}

function checkSection(obj: Json, prefix: string, where: string): void {
  for (const k of POSITIVE_INT) checkInt(obj, k, `${prefix}${k}`, where, 1)
  for (const k of NON_NEGATIVE_INT) checkInt(obj, k, `${prefix}${k}`, where, 0)
  for (const rk of ['rope_scaling', 'rope_parameters']) {
    const rs = obj[rk]
    if (rs && typeof rs === 'object' && !Array.isArray(rs)) {
      const r = rs as Json
      for (const f of ['factor', 'original_max_position_embeddings']) {
        const v = r[f]
        if (v === undefined || v === null) continue
        if (typeof v !== 'number' || !(v > 0)) fail(where, `${prefix}${rk}.${f}`, v, 'a positive number')
      }
    }
  }
  const q = obj.quantization_config ?? obj.compression_config
  if (q && typeof q === 'object' && !Array.isArray(q)) checkQuant(q as Json, `${prefix}${obj.quantization_config ? 'quantization_config' : 'compression_config'}.`, where)
}

function checkQuant(q: Json, prefix: string, where: string): void {
  const bits = (key: string, obj: Json, path: string) => {
    const v = obj[key]
    if (v === undefined || v === null) return
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 32) fail(where, path, v, 'a bit width from 1 to 32')
  }
  bits('bits', q, `${prefix}bits`)
  bits('w_bit', q, `${prefix}w_bit`)
  for (const key of ['group_size', 'q_group_size']) {
    const v = q[key]
    if (v === undefined || v === null) continue
    // GPTQ writes -1 for one group per row
    if (typeof v !== 'number' || !Number.isInteger(v) || (v < 1 && v !== -1)) fail(where, `${prefix}${key}`, v, 'a positive integer (or -1)')
  }
  if (Array.isArray(q.weight_block_size)) {
    q.weight_block_size.forEach((v, i) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) fail(where, `${prefix}weight_block_size[${i}]`, v, 'a positive integer')
    })
  }
  const groups = q.config_groups
  if (groups && typeof groups === 'object') {
    for (const [name, g] of Object.entries(groups as Json)) {
      const w = (g as Json | null)?.weights
      if (w && typeof w === 'object') {
        bits('num_bits', w as Json, `${prefix}config_groups.${name}.weights.num_bits`)
        const gs = (w as Json).group_size
        if (gs !== undefined && gs !== null && (typeof gs !== 'number' || !Number.isInteger(gs) || gs < 1)) fail(where, `${prefix}config_groups.${name}.weights.group_size`, gs, 'a positive integer')
      }
    }
  }
}

/** Throws a usage error naming the first impossible value in a config.json. */
export function validateConfig(config: unknown, where = 'config.json'): void {
  if (!config || typeof config !== 'object' || Array.isArray(config)) return
  walkNumbers(config, '', where)
  const cfg = config as Json
  checkSection(cfg, '', where)
  for (const sub of ['text_config', 'vision_config']) {
    const c = cfg[sub]
    if (c && typeof c === 'object' && !Array.isArray(c)) checkSection(c as Json, `${sub}.`, where)
  }
}
