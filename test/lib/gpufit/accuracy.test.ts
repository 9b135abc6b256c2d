import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {analyze} from '../../../src/lib/gpufit/index.js'
import {ROOT} from '../../support/cli.js'

const load = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/configs', name, 'config.json'), 'utf8'))

/** Published parameter counts (see test/fixtures/configs/SOURCES.md for where each comes from). */
const EXPECTED: Array<{fixture: string; total: number; active?: number; activeExclEmbedding?: number}> = [
  {fixture: 'llama-3.1-8b', total: 8_030_261_248},
  {fixture: 'llama-3.2-1b', total: 1_235_814_400},
  {fixture: 'mistral-7b-v0.3', total: 7_248_023_552},
  {fixture: 'qwen2.5-7b', total: 7_615_616_512},
  {fixture: 'qwen2.5-coder-1.5b', total: 1_543_714_304},
  {fixture: 'qwen3-8b', total: 8_190_735_360},
  {fixture: 'qwen3-30b-a3b', total: 30_532_122_624, active: 3.3e9},
  {fixture: 'mixtral-8x7b', total: 46_702_792_704, active: 12.9e9},
  {fixture: 'gemma-2-9b', total: 9_241_705_984},
  {fixture: 'gemma-3-1b-it', total: 999_885_952},
  {fixture: 'gemma-3-4b-it', total: 4_300_079_472},
  {fixture: 'gemma-3-27b-it', total: 27_432_406_640},
  {fixture: 'phi-3-mini-4k', total: 3_821_079_552},
  {fixture: 'deepseek-v3', total: 671e9, active: 37e9},
  {fixture: 'gpt-oss-20b', total: 20.91e9, activeExclEmbedding: 3.6e9},
  {fixture: 'gpt-oss-120b', total: 116.83e9, activeExclEmbedding: 5.1e9},
  {fixture: 'llava-1.5-7b', total: 7_063_427_072},
  {fixture: 'mistral-small-3.1-24b', total: 24_011_361_280},
  {fixture: 'qwen2-vl-7b', total: 8_291_375_616},
  {fixture: 'qwen2.5-vl-7b', total: 8_292_166_656},
]

describe('parameter counts from config.json alone', () => {
  for (const e of EXPECTED) {
    it(`${e.fixture}: within 0.5% of ${e.total.toLocaleString('en-US')}`, () => {
      const r = analyze({config: load(e.fixture)})
      expect(Math.abs(r.parameters.total - e.total) / e.total).toBeLessThan(0.005)
      if (e.active) expect(Math.abs(r.parameters.active - e.active) / e.active).toBeLessThan(0.02)
      if (e.activeExclEmbedding) {
        const a = r.parameters.active - r.parameters.embedding
        expect(Math.abs(a - e.activeExclEmbedding) / e.activeExclEmbedding).toBeLessThan(0.02)
      }
      if (!e.active && !e.activeExclEmbedding) expect(r.parameters.active).toBe(r.parameters.total)
    })
  }

  describe('architectures without a dedicated layout: the generic estimate, MoE-aware (2%: published counts are rounded)', () => {
    const cases: Array<{fixture: string; total: number; activeExclEmbedding?: number; moe?: string}> = [
      // total includes the vision tower; active: text only, one routed + the shared expert per layer
      {fixture: 'llama-4-scout', total: 109e9, moe: 'MoE: 16 experts, top-1, shared expert'},
      {fixture: 'glm-4.5-air', total: 106e9, activeExclEmbedding: 12e9, moe: 'MoE: 128 experts, top-8, shared expert'},
      {fixture: 'granite-3.1-8b', total: 8.17e9},
    ]
    for (const e of cases) {
      it(`${e.fixture}: within 2% of ${(e.total / 1e9).toFixed(2)}B, with a warning naming the fields used`, () => {
        const r = analyze({config: load(e.fixture)})
        expect(Math.abs(r.parameters.total - e.total) / e.total).toBeLessThan(0.02)
        if (e.activeExclEmbedding) {
          const a = r.parameters.active - 2 * r.parameters.embedding
          expect(Math.abs(a - e.activeExclEmbedding) / e.activeExclEmbedding).toBeLessThan(0.05)
        }
        expect(r.warnings.join('\n')).toMatch(/unknown architecture/)
        if (e.moe) expect(r.warnings.join('\n')).toContain(e.moe)
        else expect(r.parameters.active).toBe(r.parameters.total)
      })
    }

    it('llama-4-scout: 17B active in the text model (one routed expert and the shared one per layer)', () => {
      const r = analyze({config: load('llama-4-scout')})
      const activeText = r.parameters.active - r.parameters.vision
      expect(Math.abs(activeText - 17e9) / 17e9).toBeLessThan(0.05)
    })

    it('glm-4.5-air: the MTP layer is counted apart, as for DeepSeek-V3', () => {
      const r = analyze({config: load('glm-4.5-air')})
      expect(r.parameters.mtp / 1e9).toBeGreaterThan(2)
      expect(r.parameters.mtp / 1e9).toBeLessThan(5)
    })
  })

  describe('hybrid and state-space models (hybrid.ts): published counts, layer split, no generic fallback', () => {
    // published counts are rounded ("80B", "52B"): 2% on totals; "A3B" / "12B active" likewise
    const cases: Array<{fixture: string; total: number; active?: number; activeExclEmbedding?: number; tol: number; attention: number; state: number}> = [
      {fixture: 'qwen3-next-80b-a3b', total: 80e9, activeExclEmbedding: 3e9, tol: 0.1, attention: 12, state: 36},
      {fixture: 'jamba-v0.1', total: 51.6e9, active: 12e9, tol: 0.02, attention: 4, state: 28},
      {fixture: 'nemotron-h-8b', total: 8e9, tol: 0.02, attention: 4, state: 24},
    ]
    for (const e of cases) {
      it(`${e.fixture}: within 2% of ${(e.total / 1e9).toFixed(1)}B, ${e.attention} attention layers and ${e.state} recurrent ones`, () => {
        const r = analyze({config: load(e.fixture)})
        expect(Math.abs(r.parameters.total - e.total) / e.total).toBeLessThan(0.02)
        if (e.active) expect(Math.abs(r.parameters.active - e.active) / e.active).toBeLessThan(e.tol)
        if (e.activeExclEmbedding) {
          const a = r.parameters.active - 2 * r.parameters.embedding
          expect(Math.abs(a - e.activeExclEmbedding) / e.activeExclEmbedding).toBeLessThan(e.tol)
        }
        if (!e.active && !e.activeExclEmbedding) expect(r.parameters.active).toBe(r.parameters.total)
        expect(r.warnings.join('\n')).not.toMatch(/unknown architecture|generic decoder/)
        expect(r.kvCache.layers.full).toBe(e.attention)
        expect(r.kvCache.state?.layers).toBe(e.state)
      })
    }
  })

  it('counts DeepSeek-V3 MTP separately and does not load it', () => {
    const r = analyze({config: load('deepseek-v3')})
    // README_WEIGHTS.md: 11.5B unique MTP parameters plus its own 0.9B embedding and 0.9B head.
    expect(r.parameters.mtp / 1e9).toBeGreaterThan(13)
    expect(r.parameters.mtp / 1e9).toBeLessThan(14.5)
  })

  it('counts the gemma-3 vision tower and projector', () => {
    const r = analyze({config: load('gemma-3-4b-it')})
    expect(r.model.multimodal).toBe(true)
    // SigLIP-So400m/14 at 896px: about 417M parameters, plus the 2.9M projector.
    expect(r.parameters.vision).toBeGreaterThan(410e6)
    expect(r.parameters.vision).toBeLessThan(425e6)
  })
})

describe('KV-cache bytes per token in vLLM layout (bf16)', () => {
  const kv = (f: string, dtype?: string) => analyze({config: load(f), kvCacheDtype: dtype}).kvCache
  it('GQA: 2 x layers x kv_heads x head_dim x 2 bytes', () => {
    expect(kv('llama-3.1-8b').fullBytesPerToken).toBe(2 * 32 * 8 * 128 * 2)
    expect(kv('qwen3-8b').fullBytesPerToken).toBe(2 * 36 * 8 * 128 * 2)
    expect(kv('qwen2.5-7b').fullBytesPerToken).toBe(2 * 28 * 4 * 128 * 2)
    expect(kv('phi-3-mini-4k').fullBytesPerToken).toBe(2 * 32 * 32 * 96 * 2)
    expect(kv('mixtral-8x7b').fullBytesPerToken).toBe(2 * 32 * 8 * 128 * 2)
  })
  it('fp8 KV cache halves it', () => {
    expect(kv('llama-3.1-8b', 'fp8').fullBytesPerToken).toBe(2 * 32 * 8 * 128)
  })
  it('MLA caches kv_lora_rank + qk_rope_head_dim once per layer', () => {
    const k = kv('deepseek-v3')
    expect(k.fullBytesPerToken).toBe(61 * (512 + 64) * 2)
    expect(k.layers).toMatchObject({mla: 61, full: 0, sliding: 0})
  })
  it("MLA as vLLM sizes it: DeepSeek-V2-Lite's 27 x (512 + 64) x 2 bytes is the per-token size behind vLLM 0.19's 1,505,552 tokens in 43.61 GiB", () => {
    const k = kv('deepseek-v2-lite')
    expect(k.fullBytesPerToken).toBe(27 * (512 + 64) * 2)
    // vLLM prints the KV memory rounded to 0.01 GiB and the tokens as blocks x 16
    expect(Math.abs((43.61 * 1024 ** 3) / k.fullBytesPerToken - 1_505_552)).toBeLessThan(0.005 * 1024 ** 3 / k.fullBytesPerToken + 16)
    expect(analyze({config: load('deepseek-v2-lite')}).parameters.total).toBe(15_706_484_224)
  })
  it('sliding-window layers are split out and capped at the window', () => {
    const g2 = kv('gemma-2-9b')
    expect(g2.layers).toMatchObject({full: 21, sliding: 21, window: 4096})
    expect(g2.fullBytesPerToken).toBe(21 * 2 * 8 * 256 * 2)
    const g3 = kv('gemma-3-27b-it')
    expect(g3.layers).toMatchObject({full: 10, sliding: 52, window: 1024})
    const oss = kv('gpt-oss-20b')
    expect(oss.layers).toMatchObject({full: 12, sliding: 12, window: 128})
    expect(oss.fullBytesPerToken).toBe(12 * 2 * 8 * 64 * 2)
    // With sliding layers, a long sequence costs less than layers x tokens x per-layer bytes.
    const r = analyze({config: load('gemma-3-27b-it'), maxModelLen: 131072})
    const perLayer = 2 * 16 * 128 * 2
    expect(r.kvCache.bytesPerSequence).toBeLessThan(62 * perLayer * 131072)
    expect(r.kvCache.bytesPerSequence).toBeGreaterThan(10 * perLayer * 131072)
  })
  it("Llama 4's RoPE layers hold one chunk (plus a batch) as vLLM's ChunkedLocalAttentionSpec, its NoPE layers the whole sequence", () => {
    const scout = kv('llama-4-scout')
    expect(scout.layers).toMatchObject({full: 12, chunked: 36, chunk: 8192})
    const perLayerToken = 2 * 8 * 128 * 2
    // bytesPerSequence is reported with 2048 batched tokens: 12 x 131072 + 36 x (8192 + 2048) tokens
    const r = analyze({config: load('llama-4-scout'), maxModelLen: 131072})
    expect(r.kvCache.bytesPerSequence).toBe(perLayerToken * (12 * 131072 + 36 * (8192 + 2048)))
    // on an H100 vLLM batches 8192 tokens: the gate's per-sequence figure uses that
    const g = analyze({config: load('llama-4-scout'), maxModelLen: 131072, gpu: 'h100', tp: 4}).gate!.result
    expect(g.kvPerSequenceBytes).toBe((perLayerToken / 4) * (12 * 131072 + 36 * (8192 + 8192)))
  })
  it('Qwen2 with use_sliding_window false and Mistral v0.3 use full attention everywhere', () => {
    expect(kv('qwen2.5-7b').layers).toMatchObject({full: 28, sliding: 0})
    expect(kv('mistral-7b-v0.3').layers).toMatchObject({full: 32, sliding: 0})
  })
})

describe('max model length as vLLM derives it', () => {
  it('uses max_position_embeddings, yarn scaling of the original length, and not llama3 or gemma3 scaling', () => {
    expect(analyze({config: load('llama-3.1-8b')}).model.maxModelLen).toBe(131072)
    expect(analyze({config: load('qwen3-8b')}).model.maxModelLen).toBe(40960)
    expect(analyze({config: load('deepseek-v3')}).model.maxModelLen).toBe(163840)
    expect(analyze({config: load('gpt-oss-20b')}).model.maxModelLen).toBe(131072)
    expect(analyze({config: load('gemma-3-4b-it')}).model.maxModelLen).toBe(131072)
  })
})

describe('weight bytes honour quantization_config', () => {
  it('AWQ 4-bit with group-128 scales and zeros, fp16 embeddings and head', () => {
    const r = analyze({config: load('qwen2.5-7b-instruct-awq')})
    // The published checkpoint's shards add up to about 5.58 GB.
    expect(r.weights.bytes / 1e9).toBeGreaterThan(5.4)
    expect(r.weights.bytes / 1e9).toBeLessThan(5.8)
    expect(Object.keys(r.weights.byDtype).sort()).toEqual(['f16', 'int4'])
  })
  it('MXFP4 experts with bf16 attention, router and embeddings (gpt-oss)', () => {
    const r = analyze({config: load('gpt-oss-20b')})
    // openai/gpt-oss-20b safetensors: 13.8 GB
    expect(r.weights.bytes / 1e9).toBeGreaterThan(13.4)
    expect(r.weights.bytes / 1e9).toBeLessThan(14.1)
  })
  it('FP8 block-quantized DeepSeek-V3 is about one byte per parameter', () => {
    const r = analyze({config: load('deepseek-v3')})
    expect(r.weights.byDtype.fp8! / 1e9).toBeGreaterThan(650)
    expect(r.weights.bytes / 1e9).toBeLessThan(680)
  })
  it('bitsandbytes nf4 and GPTQ 8-bit', () => {
    const base = load('llama-3.1-8b')
    const bf16 = analyze({config: base}).weights.bytes
    const nf4 = analyze({config: {...base, quantization_config: {quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4'}}})
    expect(nf4.weights.byDtype.nf4).toBeGreaterThan(0)
    expect(nf4.weights.bytes).toBeLessThan(bf16 * 0.45)
    const g8 = analyze({config: {...base, quantization_config: {quant_method: 'gptq', bits: 8, group_size: 128}}})
    expect(g8.weights.byDtype.int8).toBeGreaterThan(0)
    expect(g8.weights.bytes).toBeLessThan(bf16 * 0.6)
    expect(g8.weights.bytes).toBeGreaterThan(bf16 * 0.5)
  })
  it('float32 checkpoints are served in bfloat16, with a warning', () => {
    const r = analyze({config: load('gemma-2-9b')})
    expect(r.model.dtype).toBe('bf16')
    expect(r.weights.bytes).toBe(9_241_705_984 * 2)
    expect(r.warnings.join(' ')).toMatch(/float32/)
    expect(analyze({config: load('gemma-2-9b'), dtype: 'float32'}).weights.bytes).toBe(9_241_705_984 * 4)
  })
})
