import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {AipError} from '../../../src/lib/errors.js'
import {analyze, checkFit, fitAnnotations, notFitError} from '../../../src/lib/gpufit/index.js'
import {ROOT} from '../../support/cli.js'

const load = (name: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/configs', name, 'config.json'), 'utf8'))
const GiB = 1024 ** 3

function code(fn: () => unknown): number | undefined {
  try {
    fn()
  } catch (error) {
    return (error as AipError).exitCode
  }
  return undefined
}

describe('the fit decision', () => {
  it('budget = utilization x the total CUDA reports (79.19 GiB on an H100); KV gets what weights and overhead leave', () => {
    const r = analyze({config: load('qwen3-8b'), gpu: 'h100', tp: 1})
    const row = r.gate!.result
    expect(row.budgetBytes).toBeCloseTo(81086 * 1024 ** 2 * 0.9, 0)
    expect(row.cudaMemoryBytes / GiB).toBeCloseTo(79.19, 1)
    expect(row.kvAvailablePerGpuBytes).toBeCloseTo(row.budgetBytes - row.weightsPerGpuBytes - row.overhead.totalBytes, 0)
    expect(row.maxConcurrency).toBe(Math.floor(row.kvAvailablePerGpuBytes / row.kvPerSequenceBytes))
  })

  it('gates: fits at a short context, not at a long one, and the suggested setting fits', () => {
    const cfg = load('qwen3-8b')
    expect(checkFit({config: cfg, gpu: 'l4', maxModelLen: 8192}).fits).toBe(true)
    const no = checkFit({config: cfg, gpu: 'l4', maxModelLen: 40960})
    expect(no.fits).toBe(false)
    expect(no.reason).toMatch(/vLLM refuses to start: one 40960-token sequence needs/)
    expect(no.report.gate!.result.verdict).toBe('max-model-len')
    const m = /max-model-len (\d+) fits/.exec(no.suggestion ?? '')
    expect(m).not.toBeNull()
    const suggested = Number(m![1])
    expect(suggested).toBeLessThan(40960)
    expect(checkFit({config: cfg, gpu: 'l4', maxModelLen: suggested}).fits).toBe(true)
    // and a little more than the suggestion's exact maximum does not fit
    const exact = no.report.gate!.result.maxContext
    expect(checkFit({config: cfg, gpu: 'l4', maxModelLen: exact + 1024}).fits).toBe(false)
    const err = notFitError(no.report)!
    expect(err.exitCode).toBe(3)
    expect(err.fix).toContain('max-model-len')
  })

  it('suggests more GPUs when the weights alone do not fit', () => {
    const r = checkFit({config: load('mixtral-8x7b'), gpu: 'h100', maxModelLen: 32768})
    expect(r.fits).toBe(false)
    expect(r.reason).toMatch(/leave no KV cache/)
    expect(r.report.gate!.result.verdict).toBe('no-kv-cache')
    expect(r.suggestion).toMatch(/--tp 2 fits/)
    expect(checkFit({config: load('mixtral-8x7b'), gpu: 'h100', tp: 2, maxModelLen: 32768}).fits).toBe(true)
  })

  it('fp8 KV cache and tensor parallelism raise the reachable context', () => {
    const cfg = load('llama-3.1-8b')
    const base = analyze({config: cfg, gpu: 'l4', tp: 1}).gate!.result.maxContext
    const fp8 = analyze({config: cfg, gpu: 'l4', tp: 1, kvCacheDtype: 'fp8'}).gate!.result.maxContext
    const tp2 = analyze({config: cfg, gpu: 'l4', tp: 2}).gate!.result.maxContext
    expect(fp8).toBeGreaterThan(base * 1.8)
    expect(tp2).toBeGreaterThan(base * 2)
  })

  it('MLA KV cache is replicated on every tensor-parallel rank; GQA heads are split', () => {
    const ds = analyze({config: load('deepseek-v3'), gpu: 'h200', tp: 8, maxModelLen: 4096}).gate!.result
    expect(ds.kvPerSequenceBytes).toBe(61 * 576 * 2 * 4096)
    const ll = analyze({config: load('llama-3.1-8b'), gpu: 'h100', tp: 8, maxModelLen: 4096}).gate!.result
    expect(ll.kvPerSequenceBytes).toBe(32 * 2 * 1 * 128 * 2 * 4096)
  })

  it('marks tensor-parallel degrees the heads do not divide as invalid', () => {
    const r = analyze({config: load('qwen2.5-7b'), gpu: 'h100', tp: 8})
    expect(r.gate!.fits).toBe(false)
    expect(r.gate!.reason).toMatch(/num_attention_heads 28 is not divisible/)
  })

  it('--min-concurrency makes the gate require that many full-length sequences; --max-num-seqs stays vLLM\'s setting', () => {
    const cfg = load('qwen3-8b')
    const one = analyze({config: cfg, gpu: 'a100-40gb', maxModelLen: 32768})
    expect(one.gate!.fits).toBe(true)
    const n = one.gate!.result.maxConcurrency
    expect(analyze({config: cfg, gpu: 'a100-40gb', maxModelLen: 32768, minConcurrency: n}).gate!.fits).toBe(true)
    const many = analyze({config: cfg, gpu: 'a100-40gb', maxModelLen: 32768, minConcurrency: n + 1})
    expect(many.gate!.fits).toBe(false)
    expect(many.gate!.result.verdict).toBe('concurrency')
    expect(notFitError(many)!.exitCode).toBe(3)
    // vLLM's --max-num-seqs sizes the sampler: fewer sequences, a smaller activation peak, more KV
    const small = analyze({config: cfg, gpu: 'h100', vllmVersion: '0.10'}).gate!.result
    const fewer = analyze({config: cfg, gpu: 'h100', vllmVersion: '0.10', maxNumSeqs: 64}).gate!.result
    expect(fewer.overhead.samplerSeqs).toBe(64)
    expect(fewer.kvAvailablePerGpuBytes).toBeGreaterThan(small.kvAvailablePerGpuBytes + 3 * GiB)
  })

  it('any GPU by memory size', () => {
    const r = analyze({config: load('qwen2.5-coder-1.5b'), gpuMemoryBytes: 12 * GiB})
    expect(r.gpus).toHaveLength(4)
    expect(r.gate!.gpu).toBe('custom-12gib')
    expect(r.gate!.fits).toBe(true)
  })

  it('annotations are strings for a pod spec', () => {
    const r = analyze({config: load('qwen3-8b'), gpu: 'l40s', maxModelLen: 32768})
    const a = fitAnnotations(r)
    expect(a['aip.dev/gpu-fit-gpu']).toBe('l40s')
    expect(a['aip.dev/gpu-fit-fits']).toBe('true')
    expect(Object.values(a).every((v) => typeof v === 'string')).toBe(true)
  })
})

describe('bad input', () => {
  it('rejects zero, negative and absurd values with usage errors', () => {
    const cfg = load('qwen3-8b')
    expect(code(() => analyze({config: cfg, maxModelLen: 0}))).toBe(2)
    expect(code(() => analyze({config: cfg, maxNumSeqs: -1}))).toBe(2)
    expect(code(() => analyze({config: cfg, tp: 3.5}))).toBe(2)
    expect(code(() => analyze({config: cfg, gpuMemoryUtilization: 1.5}))).toBe(2)
    expect(code(() => analyze({config: cfg, maxModelLen: 10_000_000}))).toBe(2)
    expect(code(() => analyze({config: cfg, kvCacheDtype: 'int3'}))).toBe(2)
  })
  it('unknown GPU names suggest the closest', () => {
    try {
      analyze({config: load('qwen3-8b'), gpu: 'h10'})
      expect.unreachable()
    } catch (error) {
      expect((error as AipError).exitCode).toBe(2)
      expect((error as AipError).fix).toMatch(/h100/)
    }
    expect(code(() => analyze({config: load('qwen3-8b'), gpu: 'a100'}))).toBe(2)
  })
  it('names the missing field a config needs', () => {
    const cfg = load('llama-3.1-8b')
    delete cfg.num_attention_heads
    delete cfg.hidden_size
    try {
      analyze({config: {...cfg, model_type: 'unknown_arch'}, where: 'my/config.json'})
      expect.unreachable()
    } catch (error) {
      expect((error as AipError).message).toMatch(/my\/config.json is missing "hidden_size"/)
      expect((error as AipError).exitCode).toBe(2)
    }
    expect(code(() => analyze({config: [1, 2]}))).toBe(2)
    expect(code(() => analyze({config: {...load('deepseek-v3'), kv_lora_rank: -5}}))).toBe(2)
  })
  it('an unknown architecture falls back to a generic estimate and says which fields it used', () => {
    const r = analyze({config: {model_type: 'newformer', hidden_size: 1024, num_hidden_layers: 8, num_attention_heads: 16, vocab_size: 32000, intermediate_size: 4096, max_position_embeddings: 4096}})
    expect(r.warnings.join(' ')).toMatch(/unknown architecture "newformer".*hidden_size.*num_hidden_layers/)
    // embed + head + 8 x (4 x 1024^2 attention + 3 x 1024 x 4096 MLP + 2 norms) + final norm
    expect(r.parameters.total).toBe(2 * 32000 * 1024 + 8 * (4 * 1024 * 1024 + 3 * 1024 * 4096 + 2 * 1024) + 1024)
  })
})
