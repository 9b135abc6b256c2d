import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parse, stringify} from 'yaml'
import {describe, expect, it} from 'vitest'

import {catalogNames, getCatalogEntry, isPinned, listCatalog, loadTemplateFile, templatesDir} from '../../../src/lib/catalog/index.js'
import {AipError} from '../../../src/lib/errors.js'
import {checkFit} from '../../../src/lib/gpufit/index.js'

const REQUIRED = ['qwen3-8b', 'qwen2.5-coder-7b-instruct', 'qwen2.5-coder-1.5b', 'llama-guard-3-1b', 'llama-3.1-8b-instruct', 'mistral-7b-instruct-v0.3']

function catchErr(fn: () => unknown): AipError {
  try {
    fn()
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected an error')
}

function writeTemplate(mutate: (doc: Record<string, any>) => void, base = 'qwen3-8b'): string {
  const doc = parse(readFileSync(join(templatesDir(), `${base}.yaml`), 'utf8'))
  mutate(doc)
  const path = join(mkdtempSync(join(tmpdir(), 'aip-tpl-')), 'model.yaml')
  writeFileSync(path, stringify(doc))
  return path
}

describe('catalog', () => {
  it('ships every required entry, each valid, named after its file', () => {
    expect(catalogNames()).toEqual(expect.arrayContaining(REQUIRED))
    for (const e of listCatalog()) {
      expect(e.image).toMatch(/^vllm\/vllm-openai:v\d+\.\d+/)
      expect(e.scaling.cooldownSeconds).toBeGreaterThanOrEqual(600)
      expect(e.scaling.minReplicas).toBeLessThanOrEqual(e.scaling.maxReplicas)
    }
  })

  it('embeds config.json with the fields gpu-fit needs, matching the public model facts', () => {
    const facts: Record<string, Record<string, unknown>> = {
      'qwen3-8b': {hidden_size: 4096, intermediate_size: 12288, num_hidden_layers: 36, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 128, vocab_size: 151936, max_position_embeddings: 40960, tie_word_embeddings: false},
      'llama-3.1-8b-instruct': {hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 128256, max_position_embeddings: 131072, tie_word_embeddings: false},
      'mistral-7b-instruct-v0.3': {hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_key_value_heads: 8, vocab_size: 32768, max_position_embeddings: 32768, sliding_window: null},
      'qwen2.5-coder-7b-instruct': {hidden_size: 3584, intermediate_size: 18944, num_hidden_layers: 28, num_attention_heads: 28, num_key_value_heads: 4, vocab_size: 152064, max_position_embeddings: 32768, tie_word_embeddings: false},
      'qwen2.5-coder-1.5b': {hidden_size: 1536, intermediate_size: 8960, num_hidden_layers: 28, num_attention_heads: 12, num_key_value_heads: 2, vocab_size: 151936, tie_word_embeddings: true},
      'llama-guard-3-1b': {hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64, vocab_size: 128256, tie_word_embeddings: true},
    }
    for (const [name, want] of Object.entries(facts)) {
      const c = getCatalogEntry(name).config
      expect(c, name).toMatchObject(want)
      expect(c.architectures.length, name).toBeGreaterThan(0)
      expect(c.torch_dtype, name).toBe('bfloat16')
    }
    expect(getCatalogEntry('llama-3.1-8b-instruct').config.rope_scaling).toMatchObject({rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192})
    expect(getCatalogEntry('llama-guard-3-1b').config.rope_scaling).toMatchObject({rope_type: 'llama3', factor: 32})
    expect(getCatalogEntry('qwen2.5-coder-1.5b').task).toBe('completion')
  })

  it('every entry passes the gpu-fit gate on its own GPU at its own settings', () => {
    for (const e of listCatalog()) {
      const r = checkFit({config: e.config as Record<string, unknown>, gpu: e.gpu.type, tp: e.gpu.count, maxModelLen: e.vllm.maxModelLen, maxNumSeqs: e.vllm.maxNumSeqs, kvCacheDtype: e.vllm.kvCacheDtype})
      expect(r.fits, `${e.name}: ${r.reason}`).toBe(true)
    }
  })

  it('unknown names are not-found (exit 4) with the closest names', () => {
    const e = catchErr(() => getCatalogEntry('qwen3-8'))
    expect(e.exitCode).toBe(4)
    expect(e.message).toContain('qwen3-8')
    expect(e.fix).toContain('"qwen3-8b"')
    const far = catchErr(() => getCatalogEntry('zzzzzzzzzzzzzz'))
    expect(far.exitCode).toBe(4)
    expect(far.fix).toContain('known models')
  })

  it('also finds an entry by its Hub repo id', () => {
    expect(getCatalogEntry('Qwen/Qwen3-8B').name).toBe('qwen3-8b')
  })

  it('a template failing the schema names the file, the field path and the reason (exit 2)', () => {
    const p1 = writeTemplate((d) => (d.vllm.maxNumSeqs = 'many'))
    const e1 = catchErr(() => loadTemplateFile(p1))
    expect(e1.exitCode).toBe(2)
    expect(e1.message).toContain(p1)
    expect(e1.message).toMatch(/vllm\.maxNumSeqs: Expected number, received string/)

    const e2 = catchErr(() => loadTemplateFile(writeTemplate((d) => (d.gpu.type = 'rtx4090'))))
    expect(e2.message).toMatch(/gpu\.type: Invalid enum value/)

    const e3 = catchErr(() => loadTemplateFile(writeTemplate((d) => delete d.config.hidden_size)))
    expect(e3.message).toMatch(/config\.hidden_size: Required/)

    const e4 = catchErr(() => loadTemplateFile(writeTemplate((d) => (d.vllm.maxModelLen = 100000))))
    expect(e4.message).toMatch(/vllm\.maxModelLen: \(100000\) exceeds the model's max_position_embeddings \(40960\)/)

    const e5 = catchErr(() => loadTemplateFile(writeTemplate((d) => (d.scaling.cooldownSeconds = 30))))
    expect(e5.message).toMatch(/scaling\.cooldownSeconds: must be at least 60 s/)

    const e6 = catchErr(() => loadTemplateFile(writeTemplate((d) => (d.vllm.maxModelLength = 10))))
    expect(e6.message).toMatch(/vllm: unknown field\(s\) "maxModelLength"/)

    const e7 = catchErr(() => loadTemplateFile(writeTemplate((d) => (d.image = 'vllm/vllm-openai:latest'))))
    expect(e7.message).toMatch(/image: must not use :latest/)

    const e8 = catchErr(() => loadTemplateFile(writeTemplate((d) => (d.lora = [{name: 'a', repo: 'not a repo', revision: 'main'}]))))
    expect(e8.message).toMatch(/lora\[0\]\.repo: must be a Hugging Face repo id/)
  })

  it('bad YAML and a missing file give one-line errors with the right exit codes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aip-tpl-'))
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'name: x\n  vllm: [\n')
    const e = catchErr(() => loadTemplateFile(bad))
    expect(e.exitCode).toBe(2)
    expect(e.message).toContain('is not valid YAML')
    expect(catchErr(() => loadTemplateFile(join(dir, 'nope.yaml'))).exitCode).toBe(4)
  })

  it('reports unpinned revisions', () => {
    const e = getCatalogEntry('qwen3-8b')
    expect(isPinned(e)).toBe(e.hf.revision.length === 40)
    expect(isPinned({hf: {repo: 'a/b', revision: 'a'.repeat(40), gated: false}})).toBe(true)
  })
})
