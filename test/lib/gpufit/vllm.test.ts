import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {applyOverrides, DEFAULT_VLLM_IMAGE as DEPLOY_DEFAULT} from '../../../src/lib/deploy/index.js'
import {fitGate} from '../../../src/lib/deploy/fit-gate.js'
import {AipError} from '../../../src/lib/errors.js'
import {analyze, DEFAULT_VLLM_IMAGE} from '../../../src/lib/gpufit/index.js'
import {cudaGraphBytes, cudaGraphSizes, imageTag, parseVllmVersion, profileFor, resolveVllm, versionOfImage} from '../../../src/lib/gpufit/vllm.js'
import {ROOT} from '../../support/cli.js'

const load = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/configs', name, 'config.json'), 'utf8'))
const GiB = 1024 ** 3

function failure(fn: () => unknown): AipError {
  try {
    fn()
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected an error')
}

describe('which vLLM is modelled', () => {
  it('one source of truth: the catalog default, deploy default and gpu-fit default are the same pinned image', () => {
    expect(DEFAULT_VLLM_IMAGE).toMatch(/^vllm\/vllm-openai:v0\.31\.0@sha256:[0-9a-f]{64}$/)
    expect(DEPLOY_DEFAULT).toBe(DEFAULT_VLLM_IMAGE)
    expect(getCatalogEntry('qwen3-8b').image).toBe(DEFAULT_VLLM_IMAGE)
    expect(resolveVllm({})).toMatchObject({version: '0.31.0', image: DEFAULT_VLLM_IMAGE, source: 'default'})
  })

  it('reads the version from image tags and maps it to a memory era', () => {
    expect(imageTag('vllm/vllm-openai:v0.30.0-cu129@sha256:abc')).toBe('v0.30.0-cu129')
    expect(imageTag('registry:5000/vllm/vllm-openai@sha256:abc')).toBe('')
    expect(versionOfImage('vllm/vllm-openai:v0.10.2')?.text).toBe('0.10.2')
    expect(versionOfImage('vllm/vllm-openai:v0.30.0-cu129')?.text).toBe('0.30.0')
    expect(versionOfImage('my/vllm:nightly')).toBeUndefined()
    const era = (v: string) => profileFor(parseVllmVersion(v)).era
    expect([era('0.10.2'), era('0.16.1'), era('0.17.0'), era('0.20.2'), era('0.21.0'), era('0.31'), era('1.0')]).toEqual(['0.10', '0.10', '0.17', '0.17', '0.21', '0.21', '0.21'])
    expect(failure(() => parseVllmVersion('0.9.2')).exitCode).toBe(2)
    expect(failure(() => parseVllmVersion('latest')).exitCode).toBe(2)
    expect(failure(() => resolveVllm({image: 'my/vllm:nightly'})).message).toMatch(/cannot tell which vLLM version/)
    expect(resolveVllm({image: 'my/vllm:nightly', vllmVersion: '0.19'})).toMatchObject({version: '0.19', image: 'my/vllm:nightly', source: 'flag'})
    const w: string[] = []
    resolveVllm({image: 'vllm/vllm-openai:v0.10.2', vllmVersion: '0.31'}, w)
    expect(w.join()).toMatch(/overrides the version/)
  })

  it('CUDA graphs are taken from the KV budget from v0.21 on, not before', () => {
    const r = (v: string, eager = false) => analyze({config: load('llama-3.1-8b'), gpu: 'h100', vllmVersion: v, enforceEager: eager}).gate!.result
    expect(r('0.20').overhead.cudaGraphSubtracted).toBe(false)
    expect(r('0.21').overhead.cudaGraphSubtracted).toBe(true)
    expect(r('0.20').kvAvailablePerGpuBytes - r('0.21').kvAvailablePerGpuBytes).toBeCloseTo(r('0.21').overhead.cudaGraphBytes, -3)
    expect(r('0.21', true).overhead.cudaGraphBytes).toBe(0)
  })

  it("CUDA graph memory as vLLM's estimator sizes it: capture sizes, first capture per rank, an increase per size and layer", () => {
    // vLLM's default capture sizes: "PIECEWISE=51 (largest=512)", gpt-oss "PIECEWISE=83 (largest=1024)", "FULL=35 (largest=256)"
    expect([cudaGraphSizes(512), cudaGraphSizes(1024), cudaGraphSizes(256), cudaGraphSizes(4), cudaGraphSizes(1)]).toEqual([51, 83, 35, 3, 1])
    const est = (layers: number, moe: boolean, tp: number, largest = 512, maxNumSeqs = 1024, mla = false) => cudaGraphBytes({layers, moe, mla, tp, largest, maxNumSeqs}) / GiB
    // within 0.15 GiB of what vLLM 0.19 estimated on an H100 for Llama-3.1-8B (0.84), Qwen3-8B (0.84), gpt-oss-20b (1.30)
    expect(Math.abs(est(32, false, 1) - 0.84)).toBeLessThan(0.15)
    expect(Math.abs(est(36, false, 1) - 0.84)).toBeLessThan(0.15)
    expect(Math.abs(est(24, true, 1, 1024) - 1.3)).toBeLessThan(0.15)
    // more sizes, more memory; fewer FULL decode graphs with fewer sequences; TP shrinks the first capture
    expect(est(32, false, 1, 512, 256)).toBeLessThan(est(32, false, 1))
    expect(est(32, false, 2)).toBeLessThan(est(32, false, 1))
    expect(est(27, true, 1, 512, 1024, true)).toBeGreaterThan(est(27, true, 1))
    expect(cudaGraphBytes({layers: 32, moe: false, mla: false, tp: 1, largest: 512, maxNumSeqs: 1024, enforceEager: true})).toBe(0)
  })
  it('vLLM\'s engine defaults: 8192 tokens / 1024 sequences on >= 70 GiB GPUs except A100s, 2048 / 256 below', () => {
    const oh = (gpu: string) => analyze({config: load('llama-3.1-8b'), gpu}).gate!.result.overhead
    expect(oh('h100')).toMatchObject({maxNumBatchedTokens: 8192, samplerSeqs: 1024})
    expect(oh('a100-80gb')).toMatchObject({maxNumBatchedTokens: 2048, samplerSeqs: 256})
    expect(oh('l40s')).toMatchObject({maxNumBatchedTokens: 2048, samplerSeqs: 256})
    // the sampler rows are min(max_num_seqs, max_num_batched_tokens)
    expect(analyze({config: load('llama-3.1-8b'), gpu: 'h100', maxNumSeqs: 4096, maxNumBatchedTokens: 2048}).gate!.result.overhead.samplerSeqs).toBe(2048)
  })

  it('non-torch memory: NCCL and custom all-reduce buffers at TP > 1, about 2 GiB on current vLLM', () => {
    const nt = (tp: number, v = '0.31') => analyze({config: load('llama-3.1-8b'), gpu: 'h100', tp, vllmVersion: v}).gate!.result.overhead.frameworkBytes / GiB
    expect(nt(1)).toBeCloseTo(0.25, 2)
    expect(nt(2)).toBeCloseTo(2.1, 2)
    expect(nt(2, '0.10')).toBeCloseTo(0.55, 2)
  })
})

describe('impossible config values are usage errors naming the field', () => {
  const base = () => load('llama-3.1-8b')
  const cases: Array<[string, (c: Record<string, unknown>) => void, RegExp]> = [
    ['NaN anywhere', (c) => (c.rms_norm_eps = Number.NaN), /"rms_norm_eps": NaN; it must be a finite number/],
    ['Infinity in rope_scaling', (c) => ((c.rope_scaling as Record<string, unknown>).high_freq_factor = Number.POSITIVE_INFINITY), /"rope_scaling.high_freq_factor": Infinity/],
    ['zero hidden size', (c) => (c.hidden_size = 0), /"hidden_size": 0; it must be a positive integer/],
    ['zero head_dim', (c) => (c.head_dim = 0), /"head_dim": 0; it must be a positive integer/],
    ['fractional layers', (c) => (c.num_hidden_layers = 31.5), /"num_hidden_layers": 31.5/],
    ['negative rope factor', (c) => ((c.rope_scaling as Record<string, unknown>).factor = -8), /"rope_scaling.factor": -8; it must be a positive number/],
    ['bits: "four"', (c) => (c.quantization_config = {quant_method: 'gptq', bits: 'four', group_size: 128}), /"quantization_config.bits": "four"; it must be a bit width/],
    ['group_size 0', (c) => (c.quantization_config = {quant_method: 'awq', bits: 4, group_size: 0}), /"quantization_config.group_size": 0/],
    ['compressed-tensors num_bits', (c) => (c.quantization_config = {quant_method: 'compressed-tensors', config_groups: {g: {weights: {num_bits: -8}}}}), /"quantization_config.config_groups.g.weights.num_bits": -8/],
    ['a string size', (c) => (c.vocab_size = '128256'), /"vocab_size": "128256"; it must be a positive integer/],
    ['text_config of a multimodal model', (c) => (c.text_config = {hidden_size: -1}), /"text_config.hidden_size": -1/],
  ]
  for (const [name, change, re] of cases) {
    it(name, () => {
      const c = base()
      change(c)
      const e = failure(() => analyze({config: c, gpu: 'h100', where: 'my/config.json'}))
      expect(e.exitCode).toBe(2)
      expect(e.message).toMatch(/^my\/config\.json has /)
      expect(e.message).toMatch(re)
    })
  }
  it('GPTQ group_size -1 (one group per row) is real', () => {
    expect(analyze({config: {...base(), quantization_config: {quant_method: 'gptq', bits: 4, group_size: -1}}}).weights.bytes).toBeGreaterThan(0)
  })
})

describe('--quantization', () => {
  it('fp8 on the fly: linear weights to one byte, embeddings and lm_head kept (vLLM 0.19 reports 8.49 GiB for Llama-3.1-8B)', () => {
    const r = analyze({config: load('llama-3.1-8b'), quantization: 'fp8'})
    expect(r.weights.bytes / GiB).toBeCloseTo(8.49, 1)
    expect(Object.keys(r.weights.byDtype).sort()).toEqual(['bf16', 'fp8'])
    expect(r.model.quantization).toBe('fp8')
  })
  it('a quantized checkpoint must name its own method (or a kernel of it); others quantize only to fp8 or bitsandbytes', () => {
    expect(failure(() => analyze({config: load('qwen2.5-7b-instruct-awq'), quantization: 'fp8'})).message).toMatch(/quantized with awq; vLLM refuses --quantization fp8/)
    expect(analyze({config: load('qwen2.5-7b-instruct-awq'), quantization: 'awq_marlin'}).weights.bytes).toBe(analyze({config: load('qwen2.5-7b-instruct-awq')}).weights.bytes)
    expect(failure(() => analyze({config: load('llama-3.1-8b'), quantization: 'awq'})).exitCode).toBe(2)
    expect(analyze({config: load('llama-3.1-8b'), quantization: 'bitsandbytes'}).weights.byDtype.nf4).toBeGreaterThan(0)
    expect(failure(() => analyze({config: load('llama-3.1-8b'), quantization: 'fp8; rm'})).exitCode).toBe(2)
    // an on-the-fly method gpu-fit does not model is counted at the checkpoint dtype, with a warning
    const other = analyze({config: load('llama-3.1-8b'), quantization: 'experts_int8'})
    expect(other.weights.bytes).toBe(analyze({config: load('llama-3.1-8b')}).weights.bytes)
    expect(other.warnings.join()).toMatch(/--quantization experts_int8 is not modelled/)
  })
})

describe('model deploy gates with the vLLM it renders', () => {
  it('the gate models the entry\'s image and records the version', () => {
    const now = fitGate(applyOverrides(getCatalogEntry('qwen3-8b'), {gpu: 'h100', maxModelLen: 32768, maxNumSeqs: 1024}))
    expect(now.annotations['aip.dev/gpu-fit-vllm-version']).toBe('0.31.0')
    const old = fitGate(applyOverrides(getCatalogEntry('qwen3-8b'), {gpu: 'h100', maxModelLen: 32768, maxNumSeqs: 1024, image: 'vllm/vllm-openai:v0.10.2'}))
    expect(old.annotations['aip.dev/gpu-fit-vllm-version']).toBe('0.10.2')
    expect(Number(old.annotations['aip.dev/gpu-fit-kv-available-bytes'])).toBeLessThan(Number(now.annotations['aip.dev/gpu-fit-kv-available-bytes']))
  })
  it('a refusal names the vLLM version; --quantization on the entry counts', () => {
    const big = applyOverrides(getCatalogEntry('qwen3-8b'), {gpu: 'l4', maxModelLen: 40960, image: 'vllm/vllm-openai:v0.10.2'})
    const e = failure(() => fitGate(big))
    expect(e.exitCode).toBe(3)
    expect(e.message).toMatch(/under vLLM 0\.10\.2: vLLM refuses to start/)
    const q = fitGate(applyOverrides(getCatalogEntry('qwen3-8b'), {gpu: 'l4', maxModelLen: 40960, quantization: 'fp8'}))
    expect(q.fits).toBe(true)
    expect(Number(q.annotations['aip.dev/gpu-fit-weights-bytes']) / GiB).toBeLessThan(10)
  })
})
