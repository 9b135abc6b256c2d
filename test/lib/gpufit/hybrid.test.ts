import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {AipError} from '../../../src/lib/errors.js'
import {hybridLayout, sequenceBytes} from '../../../src/lib/gpufit/fit.js'
import {stateBytesPerLayer} from '../../../src/lib/gpufit/hybrid.js'
import {analyze, specFromConfig} from '../../../src/lib/gpufit/index.js'
import {profileFor, parseVllmVersion} from '../../../src/lib/gpufit/vllm.js'
import {ROOT} from '../../support/cli.js'

const load = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/configs', name, 'config.json'), 'utf8'))
const current = {kvBytes: 2, profile: profileFor(parseVllmVersion('0.31'))}
/** Which layers hold a KV cache and which a state, as a string: A attention, S state, B both, - neither. */
const pattern = (cfg: object): string => {
  const spec = specFromConfig(cfg)
  const names = spec.tensors.map((t) => t.name)
  return Array.from({length: spec.numLayers}, (_, i) => {
    const p = new RegExp(`layers\\.${i}\\.`)
    const attn = names.some((n) => p.test(n) && /(self_attn|mixer)\.[qkv]_proj/.test(n))
    const state = names.some((n) => p.test(n) && /(A_log|qkv_proj\.weight|output_gate)/.test(n) && !/self_attn\.[qkv]_proj/.test(n))
    return attn && state ? 'B' : attn ? 'A' : state ? 'S' : '-'
  }).join('')
}

const small = {hidden_size: 256, vocab_size: 1000, max_position_embeddings: 4096, torch_dtype: 'bfloat16', intermediate_size: 512}
const qwenNext = {...small, model_type: 'qwen3_next', num_hidden_layers: 8, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 64, full_attention_interval: 4, linear_num_key_heads: 4, linear_num_value_heads: 8, linear_key_head_dim: 32, linear_value_head_dim: 32, linear_conv_kernel_dim: 4}
const jamba = {...small, model_type: 'jamba', num_hidden_layers: 8, num_attention_heads: 4, num_key_value_heads: 2, attn_layer_period: 4, attn_layer_offset: 1, expert_layer_period: 2, expert_layer_offset: 1, num_experts: 4, num_experts_per_tok: 2, mamba_d_state: 16, mamba_d_conv: 4, mamba_expand: 2, mamba_dt_rank: 16}
const nemotron = {...small, model_type: 'nemotron_h', num_hidden_layers: 6, hybrid_override_pattern: 'M-M*-M', num_attention_heads: 4, num_key_value_heads: 2, head_dim: 64, mamba_num_heads: 8, mamba_head_dim: 32, ssm_state_size: 64, n_groups: 2, conv_kernel: 4}
const granite = {...small, model_type: 'granitemoehybrid', num_hidden_layers: 4, layer_types: ['mamba', 'mamba', 'mamba', 'attention'], num_attention_heads: 4, num_key_value_heads: 2, mamba_n_heads: 8, mamba_d_head: 64, mamba_d_state: 64, mamba_n_groups: 1, mamba_d_conv: 4, mamba_expand: 2, num_local_experts: 4, num_experts_per_tok: 2, shared_intermediate_size: 256, tie_word_embeddings: true}
const falcon = {...small, model_type: 'falcon_h1', num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 64, mamba_d_ssm: 512, mamba_n_heads: 8, mamba_d_head: 64, mamba_n_groups: 1, mamba_d_state: 64, mamba_d_conv: 4}
const mamba2 = {hidden_size: 256, vocab_size: 1000, model_type: 'mamba2', num_hidden_layers: 4, num_heads: 8, head_dim: 64, state_size: 64, n_groups: 1, conv_kernel: 4, expand: 2, torch_dtype: 'bfloat16'}
const minimax = {...small, model_type: 'minimax_text_01', num_hidden_layers: 4, attn_type_list: [0, 1, 0, 1], num_attention_heads: 4, num_key_value_heads: 4, head_dim: 64, num_local_experts: 4, num_experts_per_tok: 2}

describe('hybrid layer detection: which layers hold a KV cache, which a recurrent state', () => {
  it('Qwen3-Next: every full_attention_interval-th layer is attention, or as layer_types lists them', () => {
    expect(pattern(qwenNext)).toBe('SSSASSSA')
    const lt = ['full_attention', 'linear_attention', 'linear_attention', 'linear_attention', 'full_attention', 'linear_attention', 'linear_attention', 'linear_attention']
    expect(pattern({...qwenNext, layer_types: lt})).toBe('ASSSASSS')
    expect(specFromConfig(qwenNext).state).toMatchObject({layers: 6, spec: {kind: 'gdn'}, convention: 'full_attention_interval 4'})
  })
  it('Qwen3.5: the text_config of a qwen3_5 wrapper, with its float32 SSM state (mamba_ssm_dtype)', () => {
    const cfg = {model_type: 'qwen3_5', architectures: ['Qwen3_5ForConditionalGeneration'], text_config: {...qwenNext, model_type: 'qwen3_5_text', mamba_ssm_dtype: 'float32'}}
    const spec = specFromConfig(cfg)
    expect(spec.attention).toHaveLength(2)
    expect(spec.state).toMatchObject({layers: 6, ssmFloat32: true})
  })
  it('Jamba: attention where i % attn_layer_period == attn_layer_offset, MoE where i % expert_layer_period == expert_layer_offset', () => {
    expect(pattern(jamba)).toBe('SASSSASS')
    const spec = specFromConfig(jamba)
    expect(spec.state).toMatchObject({layers: 6, spec: {kind: 'mamba1', dInner: 512, dState: 16, dConv: 4}})
    const moeLayers = new Set(spec.tensors.filter((t) => t.role === 'expert').map((t) => /layers\.(\d+)\./.exec(t.name)![1]))
    expect([...moeLayers]).toEqual(['1', '3', '5', '7'])
  })
  it('Nemotron-H: hybrid_override_pattern (M Mamba-2, * attention, - MLP) or layers_block_type', () => {
    expect(pattern(nemotron)).toBe('S-SA-S')
    const blocks = ['mamba', 'mlp', 'mamba', 'attention', 'mlp', 'mamba']
    const {hybrid_override_pattern: _, ...rest} = nemotron
    expect(pattern({...rest, layers_block_type: blocks})).toBe('S-SA-S')
    // vLLM keeps NemotronH's SSM state in float32 unless the config says otherwise
    expect(specFromConfig(nemotron).state?.ssmFloat32).toBe(true)
    expect(() => specFromConfig({...nemotron, hybrid_override_pattern: 'M-M*-'})).toThrow(/hybrid_override_pattern" of 5 layers for num_hidden_layers 6/)
  })
  it('Granite 4.0 hybrid: layer_types "mamba" / "attention", MoE on every layer', () => {
    expect(pattern(granite)).toBe('SSSA')
    expect(specFromConfig(granite).moe).toMatchObject({experts: 4, perToken: 2, sharedExperts: 1})
  })
  it('Bamba: attention on the attn_layer_indices layers, Mamba-2 elsewhere', () => {
    const bamba = {...granite, model_type: 'bamba', num_local_experts: undefined, num_experts_per_tok: undefined, layer_types: undefined, attn_layer_indices: [1, 3]}
    expect(pattern(bamba)).toBe('SASA')
    expect(specFromConfig(bamba).moe).toBeUndefined()
    expect(() => specFromConfig({...bamba, attn_layer_indices: [9]})).toThrow(/attn_layer_indices" entry 9, outside the 4 layers/)
  })
  it('Falcon-H1: attention and Mamba-2 side by side in every layer', () => {
    expect(pattern(falcon)).toBe('BBB')
    const spec = specFromConfig(falcon)
    expect(spec.attention).toHaveLength(3)
    expect(spec.state).toMatchObject({layers: 3, spec: {kind: 'mamba2', dInner: 512}})
    expect(specFromConfig({...falcon, mamba_d_head: 'auto'}).state?.spec).toMatchObject({headDim: 64})
  })
  it('Mamba-2: attention-free, no KV cache at all', () => {
    expect(pattern(mamba2)).toBe('SSSS')
    const r = analyze({config: mamba2, maxModelLen: 4096})
    expect(r.kvCache.fullBytesPerToken).toBe(0)
    expect(r.kvCache.state).toMatchObject({layers: 4, label: 'Mamba-2', attentionBlockSize: null})
    // the whole sequence costs its state, whatever its length
    expect(r.kvCache.bytesPerSequence).toBe(analyze({config: mamba2, maxModelLen: 64}).kvCache.bytesPerSequence)
  })
  it('MiniMax-Text-01: attn_type_list, 1 softmax attention, 0 lightning (linear) attention', () => {
    expect(pattern(minimax)).toBe('SASA')
    expect(specFromConfig(minimax).state).toMatchObject({layers: 2, spec: {kind: 'linear', heads: 4, headDim: 64}})
    // transformers' native minimax config: layer_types
    const {attn_type_list: _, ...native} = minimax
    expect(pattern({...native, model_type: 'minimax', layer_types: ['linear_attention', 'linear_attention', 'full_attention', 'full_attention']})).toBe('SSAA')
  })
  it('MiniMax-Text-01: 456B total, 45.9B active (lightning attention on 70 of 80 layers, 32 experts top-2)', () => {
    const cfg = {model_type: 'minimax_text_01', hidden_size: 6144, num_hidden_layers: 80, num_attention_heads: 64, num_key_value_heads: 8, head_dim: 128, num_local_experts: 32, num_experts_per_tok: 2, intermediate_size: 9216, vocab_size: 200064, max_position_embeddings: 10240000, attn_type_list: Array.from({length: 80}, (_, i) => ((i + 1) % 8 === 0 ? 1 : 0)), torch_dtype: 'bfloat16'}
    const r = analyze({config: cfg, maxModelLen: 1_000_000})
    expect(Math.abs(r.parameters.total - 456e9) / 456e9).toBeLessThan(0.02)
    // 45.9B activated per token, embedding and head aside
    expect(Math.abs(r.parameters.active - 2 * r.parameters.embedding - 45.9e9) / 45.9e9).toBeLessThan(0.02)
    expect(r.kvCache.layers.full).toBe(10)
    // lightning attention keeps heads x head_dim x head_dim per layer
    expect(r.kvCache.state).toMatchObject({layers: 70, bytesPerLayer: 64 * 128 * 128 * 2})
  })
  it('an unknown hybrid gets a warning that its KV cache is counted on every layer, never a silent full count', () => {
    const r = analyze({config: {...small, model_type: 'future_hybrid', num_hidden_layers: 4, num_attention_heads: 4, mamba_d_state: 16, mamba_expand: 2}})
    expect(r.warnings.join('\n')).toMatch(/"future_hybrid" looks like a hybrid or state-space model \(mamba_d_state, mamba_expand\).*KV cache counted on all 4 layers/)
    const lt = analyze({config: {...small, model_type: 'other', num_hidden_layers: 2, num_attention_heads: 4, layer_types: ['linear_attention', 'full_attention']}})
    expect(lt.warnings.join('\n')).toMatch(/looks like a hybrid .*layer_types/)
    // a plain decoder gets no such warning
    expect(analyze({config: {...small, model_type: 'plain', num_hidden_layers: 2, num_attention_heads: 4}}).warnings.join('\n')).not.toMatch(/hybrid/)
  })
  it('a layer pattern that does not match num_hidden_layers is bad input', () => {
    expect(() => specFromConfig({...granite, layer_types: ['mamba', 'attention']})).toThrow(AipError)
    expect(() => specFromConfig({...minimax, attn_type_list: [0, 1]})).toThrow(/attn_type_list" of 2 layers/)
  })
})

describe('hybrid parameter counts from the dimensions the model cards publish', () => {
  it('Granite-4.0-H-Small: 32B total, 9B active (36 Mamba-2 + 4 attention layers, 72 experts top-10 and a shared expert on every layer)', () => {
    // IBM's config fields; which 4 of the 40 layers are attention does not change the count
    const layerTypes = Array.from({length: 40}, (_, i) => (i % 10 === 5 ? 'attention' : 'mamba'))
    const cfg = {model_type: 'granitemoehybrid', hidden_size: 4096, num_hidden_layers: 40, num_attention_heads: 32, num_key_value_heads: 8, num_local_experts: 72, num_experts_per_tok: 10, intermediate_size: 768, shared_intermediate_size: 1536, mamba_n_heads: 128, mamba_d_head: 64, mamba_n_groups: 1, mamba_d_state: 128, mamba_d_conv: 4, mamba_expand: 2, tie_word_embeddings: true, vocab_size: 100352, max_position_embeddings: 131072, layer_types: layerTypes, torch_dtype: 'bfloat16'}
    const r = analyze({config: cfg})
    expect(Math.abs(r.parameters.total - 32e9) / 32e9).toBeLessThan(0.02)
    expect(Math.abs(r.parameters.active - 9e9) / 9e9).toBeLessThan(0.05)
    expect(r.kvCache.layers.full).toBe(4)
    expect(r.kvCache.state?.layers).toBe(36)
  })
})

describe('state and KV memory as vLLM pages hybrids', () => {
  it("state shapes are vLLM's MambaStateShapeCalculator's, sharded by TP", () => {
    const q = specFromConfig(load('qwen3-next-80b-a3b')).state!
    // conv 3 x (2x16x128 + 32x128) + recurrent 32 x 128 x 128, bf16
    expect(stateBytesPerLayer(q, 1, 2)).toBe(3 * 8192 * 2 + 32 * 128 * 128 * 2)
    expect(stateBytesPerLayer(q, 2, 2)).toBe(3 * 4096 * 2 + 16 * 128 * 128 * 2)
    const j = specFromConfig(load('jamba-v0.1')).state!
    expect(stateBytesPerLayer(j, 1, 2)).toBe(3 * 8192 * 2 + 8192 * 16 * 2)
    const n = specFromConfig(load('nemotron-h-8b')).state!
    // conv over d_inner + 2 x groups x d_state; float32 SSM state
    expect(stateBytesPerLayer(n, 1, 2)).toBe(3 * (8192 + 2 * 8 * 128) * 2 + 128 * 64 * 128 * 4)
  })
  it('the attention block grows until a page holds a state (Qwen3-Next: 544 tokens at TP 1 and 2), the state is padded to it', () => {
    const spec = specFromConfig(load('qwen3-next-80b-a3b'))
    for (const tp of [1, 2]) {
      const h = hybridLayout(spec, tp, 2, 2, 2)!
      expect(h.blockSize).toBe(544)
      expect(h.pageBytes).toBe(544 * (2 * Math.max(1, 2 / tp) * 256 * 2))
      expect(h.pageBytes).toBeGreaterThanOrEqual(h.stateBytesPerLayer)
    }
    // fp8 KV halves the attention page, not the (bf16) state: about twice the tokens per block
    expect(hybridLayout(spec, 1, 1, 2, 2)!.blockSize).toBe(16 * Math.ceil(1_097_728 / (16 * 1024)))
  })
  it('layer counts that do not divide get padding layers, as vLLM groups them (6 attention + 23 Mamba -> 24)', () => {
    // Nemotron-3-Nano's layout: 23 Mamba-2 (64 heads x 64, state 128, 8 groups), 6 attention (2 KV heads x 128), 23 MoE
    const nano = {...small, hidden_size: 2688, model_type: 'nemotron_h', num_hidden_layers: 52, hybrid_override_pattern: 'MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME', num_attention_heads: 32, num_key_value_heads: 2, head_dim: 128, mamba_num_heads: 64, mamba_head_dim: 64, ssm_state_size: 128, n_groups: 8, conv_kernel: 4, n_routed_experts: 8, num_experts_per_tok: 2, moe_intermediate_size: 64}
    const spec = specFromConfig(nano)
    const h = hybridLayout(spec, 1, 2, 2, 2)!
    // state 3 x 6144 x 2 + 64 x 64 x 128 x 4 = 2,134,016 bytes; 1024 bytes per attention token -> 2096-token blocks
    expect(h).toMatchObject({stateBytesPerLayer: 2_134_016, blockSize: 2096, pageBytes: 2096 * 1024, attentionSlots: 6, stateSlots: 24})
    // 262,144 tokens: 6 layers x 126 blocks + 24 layers x 2 state pages ("align" mode)
    expect(sequenceBytes(spec, 262_144, 1, current, 8192, 2)).toBe((6 * 126 + 24 * 2) * 2096 * 1024)
    expect(sequenceBytes(spec, 262_144, 1, current, 8192, 2)).toBe(1_725_628_416)
  })
  it('a sequence costs its tokens over the attention layers only, plus its state', () => {
    const r = analyze({config: load('qwen3-next-80b-a3b'), maxModelLen: 32768})
    expect(r.kvCache.layers).toMatchObject({full: 12, sliding: 0})
    expect(r.kvCache.fullBytesPerToken).toBe(12 * 2 * 2 * 256 * 2)
    expect(r.kvCache.state).toMatchObject({layers: 36, label: 'Gated DeltaNet', attentionBlockSize: 544, pagesPerLayer: 2, bytesPerLayer: 1_097_728})
    expect(r.kvCache.state!.bytesPerSequence).toBe(36 * 2 * 544 * 2048)
    expect(r.kvCache.bytesPerSequence).toBe(12 * Math.ceil(32768 / 544) * 544 * 2048 + 36 * 2 * 544 * 2048)
    // before v0.28 prefix caching was off for hybrids (v0.10: disabled; later: opt-in): one state page per layer
    for (const v of ['0.10', '0.19', '0.27.1']) {
      expect(analyze({config: load('qwen3-next-80b-a3b'), maxModelLen: 32768, vllmVersion: v}).kvCache.state!.pagesPerLayer).toBe(1)
    }
    expect(analyze({config: load('qwen3-next-80b-a3b'), maxModelLen: 32768, vllmVersion: '0.10'}).kvCache.state!.bytesPerSequence).toBe(36 * 544 * 2048)
    expect(analyze({config: load('qwen3-next-80b-a3b'), maxModelLen: 32768, vllmVersion: '0.28'}).kvCache.state!.pagesPerLayer).toBe(2)
  })
  it('max context and concurrency count the state: on a GPU the state of many sequences takes real memory', () => {
    const r = analyze({config: load('nemotron-h-8b'), gpu: 'h100', maxModelLen: 8192})
    const g = r.gate!.result
    const perSeq = r.kvCache.bytesPerSequence
    // 4 attention layers x 8192 tokens in 1040-token blocks, plus 24 state pages x 2
    expect(r.kvCache.state!.attentionBlockSize).toBe(1040)
    expect(perSeq).toBe(4 * Math.ceil(8192 / 1040) * 1040 * 4096 + r.kvCache.state!.bytesPerSequence)
    expect(g.kvPerSequenceBytes).toBe(perSeq)
    expect(g.maxConcurrency).toBe(Math.floor(g.kvAvailablePerGpuBytes / perSeq))
    // state ~195 MiB of a ~325 MiB sequence: counting KV alone would promise 2.5x the sequences
    const kvOnly = 4 * 8192 * 2 * 8 * 128 * 2
    expect(g.maxConcurrency).toBeLessThan(Math.floor(g.kvAvailablePerGpuBytes / kvOnly) / 2)
  })
  it('tensor parallelism must divide the recurrent heads, as vLLM shards them', () => {
    const r = analyze({config: {...nemotron, mamba_num_heads: 6}})
    expect(r.gpus.find((g) => g.tp === 4)!.reason).toMatch(/mamba heads 6 are not divisible by tensor-parallel size 4/)
  })
  it('real safetensors headers still win over the config estimate for a hybrid', () => {
    const tensors = specFromConfig(qwenNext).tensors.map((t) => ({name: t.name.replace('.*.', '.0.'), dtype: 'BF16', shape: t.shape}))
    tensors.push({name: 'model.layers.3.linear_attn.extra.weight', dtype: 'BF16', shape: [1000, 1000]})
    const r = analyze({config: qwenNext, tensors})
    expect(r.parameters.source).toBe('safetensors')
    expect(r.parameters.total).toBe(tensors.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1), 0))
    // the KV / state accounting still comes from the config
    expect(r.kvCache.state?.layers).toBe(6)
  })
  it("Qwen3-Next's separate mtp.* module in a checkpoint is counted apart and not loaded, as vLLM serves it without speculative decoding", () => {
    const tensors = specFromConfig(qwenNext).tensors.map((t) => ({name: t.name.replace('.*.', '.0.'), dtype: 'BF16', shape: t.shape}))
    const base = analyze({config: qwenNext, tensors})
    const mtp = [{name: 'mtp.fc.weight', dtype: 'BF16', shape: [256, 512]}, {name: 'mtp.layers.0.mlp.gate_proj.weight', dtype: 'BF16', shape: [512, 256]}]
    const r = analyze({config: qwenNext, tensors: [...tensors, ...mtp]})
    expect(r.parameters.total).toBe(base.parameters.total)
    expect(r.weights.bytes).toBe(base.weights.bytes)
    expect(r.parameters.mtp).toBe(256 * 512 * 2)
  })
})
