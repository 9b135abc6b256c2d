import {mkdirSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AipError} from '../../../src/lib/errors.js'
import {analyze, specFromConfig} from '../../../src/lib/gpufit/index.js'
import {loadModelSource} from '../../../src/lib/gpufit/source.js'
import {HubClient} from '../../../src/lib/hub/index.js'
import {HubServer, makeSafetensors} from '../../support/hub-server.js'

/** A small Qwen3-MoE-shaped model: every tensor kind (attention, q/k norms, experts, router, tied/untied). */
const tinyMoe = {
  architectures: ['Qwen3MoeForCausalLM'], model_type: 'qwen3_moe', hidden_size: 64, intermediate_size: 128, moe_intermediate_size: 32,
  num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 16, num_experts: 8, num_experts_per_tok: 2,
  vocab_size: 1000, max_position_embeddings: 2048, tie_word_embeddings: false, torch_dtype: 'bfloat16',
}

/** Real tensor list for a config: experts expanded one by one, as a checkpoint stores them. */
function checkpointTensors(cfg: object, dtype = 'BF16') {
  const out: Array<{name: string; dtype: string; shape: number[]}> = []
  for (const t of specFromConfig(cfg).tensors) {
    if (t.name.includes('.*.')) for (let e = 0; e < t.count; e++) out.push({name: t.name.replace('.*.', `.${e}.`), dtype, shape: t.shape})
    else out.push({name: t.name, dtype, shape: t.shape})
  }
  return out
}

function writeModelDir(cfg: object, tensors: Array<{name: string; dtype: string; shape: number[]}>, shards = 2): string {
  const dir = mkdtempSync(join(tmpdir(), 'aip-model-'))
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg))
  const per = Math.ceil(tensors.length / shards)
  const weightMap: Record<string, string> = {}
  for (let s = 0; s < shards; s++) {
    const file = `model-0000${s + 1}-of-0000${shards}.safetensors`
    const part = tensors.slice(s * per, (s + 1) * per)
    for (const t of part) weightMap[t.name] = file
    writeFileSync(join(dir, file), makeSafetensors(part))
  }
  writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({metadata: {}, weight_map: weightMap}))
  return dir
}

const bytesOf = (ts: Array<{dtype: string; shape: number[]}>) => ts.reduce((a, t) => a + t.shape.reduce((x, y) => x * y, 1) * ({BF16: 2, F32: 4, F16: 2, I32: 4, U8: 1} as Record<string, number>)[t.dtype]!, 0)

describe('weights from local safetensors headers', () => {
  it('reads every shard header and counts exactly what the checkpoint holds', async () => {
    const tensors = checkpointTensors(tinyMoe)
    const dir = writeModelDir(tinyMoe, tensors, 3)
    const src = await loadModelSource(dir)
    expect(src.kind).toBe('file')
    expect(src.tensors).toHaveLength(tensors.length)
    const r = analyze({config: src.config, tensors: src.tensors})
    expect(r.parameters.source).toBe('safetensors')
    expect(r.weights.bytes).toBe(bytesOf(tensors))
    // the config-only estimate agrees with the real tensors, parameters and active parameters alike
    const est = analyze({config: tinyMoe})
    expect(r.parameters.total).toBe(est.parameters.total)
    expect(r.parameters.active).toBe(est.parameters.active)
    expect(r.parameters.active).toBeLessThan(r.parameters.total)
  })

  it('uses the real shapes when they differ from what the config implies (e.g. padded vocab)', async () => {
    const tensors = checkpointTensors(tinyMoe).map((t) => (t.name.endsWith('embed_tokens.weight') ? {...t, shape: [1024, 64]} : t))
    const dir = writeModelDir(tinyMoe, tensors, 1)
    const src = await loadModelSource(dir)
    const r = analyze({config: src.config, tensors: src.tensors})
    expect(r.parameters.total - analyze({config: tinyMoe}).parameters.total).toBe(24 * 64)
  })

  it('plans float32 checkpoints at the serving dtype', async () => {
    const tensors = checkpointTensors({...tinyMoe, torch_dtype: 'float32'}, 'F32')
    const dir = writeModelDir({...tinyMoe, torch_dtype: 'float32'}, tensors, 1)
    const src = await loadModelSource(dir)
    const r = analyze({config: src.config, tensors: src.tensors})
    expect(r.weights.bytes).toBe(bytesOf(tensors) / 2)
  })

  it('rejects a file that is not safetensors with a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aip-bad-'))
    writeFileSync(join(dir, 'config.json'), JSON.stringify(tinyMoe))
    writeFileSync(join(dir, 'model.safetensors'), Buffer.from('not a safetensors file at all'))
    await expect(loadModelSource(dir)).rejects.toMatchObject({exitCode: 2})
  })

  it('malformed config.json: one-line usage error naming the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aip-badjson-'))
    mkdirSync(join(dir, 'm'))
    writeFileSync(join(dir, 'm', 'config.json'), '{"hidden_size": 64,')
    const err = (await loadModelSource(join(dir, 'm')).catch((e: unknown) => e)) as AipError
    expect(err.exitCode).toBe(2)
    expect(err.message).toMatch(/config.json is not valid JSON/)
    expect(err.message).not.toContain('\n')
  })

  it('a missing path is not found (exit 4)', async () => {
    await expect(loadModelSource('./no/such/config.json')).rejects.toMatchObject({exitCode: 4})
  })
})

describe('weights from the Hub with Range requests only', () => {
  let hub: HubServer
  const tensors = checkpointTensors(tinyMoe)
  beforeAll(async () => {
    hub = await HubServer.start()
    const shardA = tensors.slice(0, 40)
    const shardB = tensors.slice(40)
    const weightMap: Record<string, string> = {}
    for (const t of shardA) weightMap[t.name] = 'model-00001-of-00002.safetensors'
    for (const t of shardB) weightMap[t.name] = 'model-00002-of-00002.safetensors'
    hub.addRepo('tiny/moe', {
      files: {
        'config.json': JSON.stringify(tinyMoe),
        'model.safetensors.index.json': JSON.stringify({weight_map: weightMap}),
        'model-00001-of-00002.safetensors': makeSafetensors(shardA),
        'model-00002-of-00002.safetensors': makeSafetensors(shardB),
      },
    })
    hub.addRepo('tiny/gated', {files: {'config.json': JSON.stringify(tinyMoe)}, gated: true, allow: ['hf_goodtoken123']})
    hub.addRepo('tiny/nosafetensors', {files: {'config.json': JSON.stringify(tinyMoe), 'pytorch_model.bin': Buffer.alloc(64)}})
  })
  afterAll(async () => hub.stop())

  const client = (token?: string) => async () => new HubClient({endpoint: hub.url, token})

  it('fetches config.json and the safetensors headers, never the weight bytes', async () => {
    hub.requests.length = 0
    const src = await loadModelSource('tiny/moe', {hub: client()})
    expect(src.kind).toBe('hub')
    const r = analyze({config: src.config, tensors: src.tensors})
    expect(r.weights.bytes).toBe(bytesOf(tensors))
    const content = hub.requests.filter((q) => q.content && q.file?.endsWith('.safetensors'))
    expect(content.length).toBeGreaterThan(0)
    // every weight-file read is a Range request for the header (8 bytes, then the JSON)
    expect(content.every((q) => q.range !== undefined)).toBe(true)
  })

  it('falls back to the config estimate when the repo has no safetensors', async () => {
    const warnings: string[] = []
    const src = await loadModelSource('tiny/nosafetensors', {hub: client(), warn: (w) => warnings.push(w)})
    expect(src.tensors).toBeUndefined()
    expect(warnings.join(' ')).toMatch(/no safetensors/)
  })

  it('gated repo without a token: exit 6 naming HF_TOKEN; with a token it works', async () => {
    const err = (await loadModelSource('tiny/gated', {hub: client()}).catch((e: unknown) => e)) as AipError
    expect(err.exitCode).toBe(6)
    expect(err.fix).toMatch(/HF_TOKEN/)
    const ok = await loadModelSource('hf:tiny/gated', {hub: client('hf_goodtoken123')})
    expect((ok.config as {hidden_size: number}).hidden_size).toBe(64)
  })

  it('unknown repo: exit 4; unreachable Hub: exit 5', async () => {
    await expect(loadModelSource('tiny/missing', {hub: client()})).rejects.toMatchObject({exitCode: 4})
    await expect(loadModelSource('tiny/moe', {hub: async () => new HubClient({endpoint: 'http://127.0.0.1:9', retries: 0})})).rejects.toMatchObject({exitCode: 5})
  })
})
