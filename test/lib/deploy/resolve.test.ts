import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {applyOverrides, parseSource, resolveEntry} from '../../../src/lib/deploy/index.js'
import {AipError} from '../../../src/lib/errors.js'
import {HubClient} from '../../../src/lib/hub/index.js'
import {HubServer} from '../../support/hub-server.js'

let hub: HubServer
let client: HubClient
let commit: string
const config = {
  architectures: ['Qwen2ForCausalLM'],
  model_type: 'qwen2',
  hidden_size: 896,
  intermediate_size: 4864,
  num_hidden_layers: 24,
  num_attention_heads: 14,
  num_key_value_heads: 2,
  vocab_size: 151936,
  max_position_embeddings: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
}

async function failure(p: Promise<unknown> | (() => unknown)): Promise<AipError> {
  try {
    await (typeof p === 'function' ? p() : p)
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected a failure')
}

beforeAll(async () => {
  hub = await HubServer.start()
  commit = hub.addRepo('Qwen/Qwen2.5-0.5B-Instruct', {files: {'config.json': JSON.stringify(config)}}).commit
  client = new HubClient({endpoint: hub.url, retries: 1})
})
afterAll(async () => {
  await hub.stop()
})

describe('parseSource', () => {
  it('tells catalog names, hf: repos and template paths apart', () => {
    expect(parseSource('qwen3-8b', undefined)).toEqual({kind: 'catalog', name: 'qwen3-8b'})
    expect(parseSource('hf:Qwen/Qwen3-8B', undefined)).toEqual({kind: 'hf', repo: 'Qwen/Qwen3-8B'})
    expect(parseSource(undefined, './m.yaml')).toEqual({kind: 'template', path: './m.yaml'})
    expect(parseSource('./m.yaml', undefined)).toEqual({kind: 'template', path: './m.yaml'})
  })
  it('rejects bad input with usage errors', async () => {
    expect((await failure(() => parseSource('hf:not-a-repo', undefined))).exitCode).toBe(2)
    expect((await failure(() => parseSource(undefined, undefined))).exitCode).toBe(2)
    expect((await failure(() => parseSource('qwen3-8b', 'x.yaml'))).exitCode).toBe(2)
  })
})

describe('resolveEntry', () => {
  it('hf:ORG/REPO builds an entry from the Hub: config.json at the resolved commit, flags applied', async () => {
    const e = await resolveEntry({kind: 'hf', repo: 'Qwen/Qwen2.5-0.5B-Instruct'}, {gpu: 'l4', maxModelLen: 8192, maxNumSeqs: 32, servedName: 'tiny'}, {hub: client})
    expect(e.name).toBe('qwen2.5-0.5b-instruct')
    expect(e.hf).toEqual({repo: 'Qwen/Qwen2.5-0.5B-Instruct', revision: commit, gated: false})
    expect(e.config).toMatchObject(config)
    expect(e.gpu).toEqual({type: 'l4', count: 1})
    expect(e.vllm).toMatchObject({maxModelLen: 8192, maxNumSeqs: 32})
    expect(e.servedModelName).toBe('tiny')
  })

  it('hf: without a GPU type, with an unknown GPU, or for a missing repo: one-line errors', async () => {
    expect((await failure(resolveEntry({kind: 'hf', repo: 'Qwen/Qwen2.5-0.5B-Instruct'}, {}, {hub: client}))).fix).toContain('--gpu')
    const g = await failure(resolveEntry({kind: 'hf', repo: 'Qwen/Qwen2.5-0.5B-Instruct'}, {gpu: 'l40'}, {hub: client}))
    expect(g.exitCode).toBe(2)
    expect(g.fix).toMatch(/did you mean "l4"\? \(known: .*l40s/)
    expect((await failure(resolveEntry({kind: 'hf', repo: 'nobody/nothing'}, {gpu: 'l4'}, {hub: client}))).exitCode).toBe(4)
  })

  it('flag overrides are validated by the schema again', async () => {
    const e = applyOverrides(getCatalogEntry('qwen3-8b'), {gpu: 'h100', gpus: 2, maxModelLen: 8192, revision: 'd'.repeat(40)})
    expect(e.gpu).toEqual({type: 'h100', count: 2})
    expect(e.resources.cpu).toBe('28')
    expect(e.hf.revision).toBe('d'.repeat(40))
    const bad = await failure(() => applyOverrides(getCatalogEntry('qwen3-8b'), {maxModelLen: 100000}))
    expect(bad.exitCode).toBe(2)
    expect(bad.message).toContain('vllm.maxModelLen')
  })
})
