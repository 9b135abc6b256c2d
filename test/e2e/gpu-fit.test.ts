import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, ROOT, runCli} from '../support/cli.js'
import {HubServer} from '../support/hub-server.js'

const fixture = (n: string) => join(ROOT, 'test/fixtures/configs', n, 'config.json')

describe('aip gpu-fit (built CLI)', () => {
  it('runs offline from the embedded catalog and prints the table', async () => {
    const r = await runCli(['gpu-fit', 'qwen3-8b'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/Parameters:\s+8\.19B total/)
    expect(r.stdout).toMatch(/^GPU\s+TP\s+FITS/m)
    for (const g of ['l4', 'a10g', 'l40s', 'a100-40gb', 'a100-80gb', 'h100', 'h200', 'b200']) expect(r.stdout).toMatch(new RegExp(`^${g}\\s+1\\s`, 'm'))
    expect(r.stdout).toContain('g6e.xlarge')
  })

  it('names the vLLM version and image it modelled: the catalog entry\'s image, --image, or --vllm-version', async () => {
    const r = await runCli(['gpu-fit', 'qwen3-8b'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^vLLM:\s+0\.31\.0 \(image vllm\/vllm-openai:v0\.31\.0@sha256:c1c9f6fd[0-9a-f]+\)/m)
    const j = JSON.parse((await runCli(['gpu-fit', 'qwen3-8b', '--json'])).stdout)
    expect(j.result.vllm).toMatchObject({version: '0.31.0', source: 'image', era: '0.21'})
    expect(j.result.vllm.image).toMatch(/^vllm\/vllm-openai:v0\.31\.0@sha256:/)
    const old = JSON.parse((await runCli(['gpu-fit', 'qwen3-8b', '--image', 'vllm/vllm-openai:v0.10.2', '--json'])).stdout)
    expect(old.result.vllm).toMatchObject({version: '0.10.2', image: 'vllm/vllm-openai:v0.10.2', source: 'image', era: '0.10'})
    const plain = JSON.parse((await runCli(['gpu-fit', fixture('llama-3.1-8b'), '--vllm-version', '0.19', '--json'])).stdout)
    expect(plain.result.vllm).toMatchObject({version: '0.19', image: null, source: 'flag', era: '0.17'})
    // vLLM 0.10 profiled the sampler over 1024 sequences: far less KV on an H100
    const h = (j2: {result: {gpus: Array<{gpu: string; tp: number; kvAvailablePerGpuBytes: number}>}}) => j2.result.gpus.find((g) => g.gpu === 'h100' && g.tp === 1)!.kvAvailablePerGpuBytes
    expect(h(old)).toBeLessThan(h(j) - 2 * 1024 ** 3)
    const bad = await runCli(['gpu-fit', 'qwen3-8b', '--image', 'registry.example.com/my/vllm@sha256:' + 'a'.repeat(64)])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/cannot tell which vLLM version image .* runs/)
    expect(bad.stderr).toMatch(/Fix: pass --vllm-version/)
    const ancient = await runCli(['gpu-fit', 'qwen3-8b', '--vllm-version', '0.6.3'])
    expect(ancient.code).toBe(2)
  })

  it('verdicts as vLLM gives them: refuses to start, dies in the sampler warm-up, --min-concurrency as a planning target', async () => {
    // Qwen3-32B on one H100 at 32k context under vLLM 0.10: vLLM refuses to start
    const q = await runCli(['gpu-fit', fixture('qwen3-32b'), '--gpu', 'h100', '--max-model-len', '32000', '--vllm-version', '0.10.2'])
    expect(q.code).toBe(3)
    expect(q.stderr).toMatch(/vLLM refuses to start: one 32000-token sequence needs/)
    // gpt-oss-20b at utilization 0.95 under vLLM 0.19: starts, then dies warming up the sampler
    // (vLLM's published log); 0.9 or fewer sequences fit
    const v19 = ['--gpu', 'h100', '--vllm-version', '0.19']
    const oss = await runCli(['gpu-fit', fixture('gpt-oss-20b'), ...v19, '--gpu-memory-utilization', '0.95'])
    expect(oss.code).toBe(3)
    expect(oss.stderr).toMatch(/runs out of memory warming up the sampler with 1024 dummy requests/)
    expect(oss.stderr).toMatch(/--gpu-memory-utilization 0\.9 fits/)
    expect((await runCli(['gpu-fit', fixture('gpt-oss-20b'), ...v19, '--gpu-memory-utilization', '0.9'])).code).toBe(0)
    expect((await runCli(['gpu-fit', fixture('gpt-oss-20b'), ...v19, '--gpu-memory-utilization', '0.95', '--max-num-seqs', '256'])).code).toBe(0)
    // v0.21+ budgets the CUDA graphs (1.3 GiB for gpt-oss), which leaves the warm-up that much more room
    expect((await runCli(['gpu-fit', fixture('gpt-oss-20b'), '--gpu', 'h100', '--gpu-memory-utilization', '0.95'])).code).toBe(0)
    // a warm-up with under 1 GiB to spare says so (vLLM 0.19, util 0.94)
    const edge = await runCli(['gpu-fit', fixture('gpt-oss-20b'), ...v19, '--gpu-memory-utilization', '0.94'])
    expect(edge.code).toBe(0)
    expect(edge.stdout).toMatch(/tight: the sampler warm-up over 1024 sequences leaves .* to spare/)
    const c = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l40s', '--max-model-len', '32768', '--min-concurrency', '50'])
    expect(c.code).toBe(3)
    expect(c.stderr).toMatch(/--min-concurrency 50 needs/)
    // a fit with under 1 GiB to spare says so
    const t = await runCli(['gpu-fit', fixture('qwen3-32b'), '--gpu', 'h100', '--max-model-len', '16000', '--vllm-version', '0.11'])
    expect(t.code).toBe(0)
    expect(t.stdout).toMatch(/tight: .* of KV cache to spare/)
  })

  it('--quantization fp8 halves an unquantized checkpoint\'s linear weights; a quantized one must name its method', async () => {
    const base = JSON.parse((await runCli(['gpu-fit', fixture('llama-3.1-8b'), '--gpu', 'h100', '--json'])).stdout)
    const fp8 = JSON.parse((await runCli(['gpu-fit', fixture('llama-3.1-8b'), '--gpu', 'h100', '--quantization', 'fp8', '--json'])).stdout)
    expect(fp8.result.weights.bytes / 1024 ** 3).toBeCloseTo(8.46, 1)
    expect(fp8.result.weights.bytes).toBeLessThan(base.result.weights.bytes * 0.6)
    expect(fp8.result.settings.quantization).toBe('fp8')
    const bad = await runCli(['gpu-fit', fixture('qwen2.5-7b-instruct-awq'), '--quantization', 'fp8'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/quantized with awq; vLLM refuses --quantization fp8/)
    expect((await runCli(['gpu-fit', fixture('qwen2.5-7b-instruct-awq'), '--quantization', 'awq_marlin'])).code).toBe(0)
    const nope = await runCli(['gpu-fit', fixture('llama-3.1-8b'), '--quantization', 'gptq'])
    expect(nope.code).toBe(2)
    expect(nope.stderr).toMatch(/--quantization gptq needs a checkpoint quantized with gptq/)
  })

  it('a hybrid (Qwen3-Next: Gated DeltaNet + attention) counts KV on its 12 attention layers and a state per sequence on the other 36', async () => {
    const j = JSON.parse((await runCli(['gpu-fit', fixture('qwen3-next-80b-a3b'), '--max-model-len', '32768', '--json'])).stdout)
    const kv = j.result.kvCache
    expect(kv.layers).toMatchObject({full: 12, sliding: 0, mla: 0})
    expect(kv.fullBytesPerToken).toBe(12 * 2 * 2 * 256 * 2)
    expect(kv.state).toMatchObject({kind: 'gdn', layers: 36, attentionBlockSize: 544, pagesPerLayer: 2, bytesPerLayer: 1_097_728, bytesPerSequence: 36 * 2 * 544 * 2048})
    expect(kv.bytesPerSequence).toBe(12 * Math.ceil(32768 / 544) * 544 * 2048 + kv.state.bytesPerSequence)
    expect(j.result.parameters.total / 1e9).toBeCloseTo(79.7, 0)
    expect(j.result.warnings.join('\n')).not.toMatch(/unknown architecture/)
    const h = await runCli(['gpu-fit', fixture('qwen3-next-80b-a3b'), '--max-model-len', '32768', '--gpu', 'h200', '--tp', '2'])
    expect(h.code).toBe(0)
    expect(h.stdout).toMatch(/^KV cache:\s+24\.0 KiB\/token over 12 full-attention layers, bf16/m)
    expect(h.stdout).toMatch(/^State:\s+76\.5 MiB per sequence over 36 Gated DeltaNet layers \(1\.0 MiB each, bf16; vLLM pads it to a 544-token attention page, 2 per layer\)/m)
  })

  it('--json prints only the documented envelope on stdout', async () => {
    const r = await runCli(['gpu-fit', fixture('llama-3.1-8b'), '--json'])
    expect(r.code).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.status).toBe('ok')
    expect(j.result.parameters.total).toBe(8_030_261_248)
    expect(j.result.kvCache.fullBytesPerToken).toBe(131072)
    expect(j.result.gpus.length).toBe(36)
    expect(Object.keys(j.result.gpus[0])).toEqual(expect.arrayContaining(['gpu', 'tp', 'fits', 'maxContext', 'maxConcurrency', 'instances', 'kvAvailablePerGpuBytes']))
  })

  it('is a CI gate: exit 0 when it fits, 3 with the reason and the nearest fit when not', async () => {
    const ok = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--max-model-len', '8192'])
    expect(ok.code).toBe(0)
    expect(ok.stdout).toMatch(/fits: l4 x1 at max-model-len 8192/)
    const no = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--max-model-len', '32768', '--tp', '1'])
    expect(no.code).toBe(3)
    expect(no.stderr).toMatch(/does not fit on l4 x1 at max-model-len 32768/)
    expect(no.stderr).toMatch(/max-model-len \d+ fits/)
    expect(no.stderr).not.toMatch(/\s+at .*\.js:\d+/)
    const j = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--max-model-len', '32768', '--json'])
    expect(j.code).toBe(3)
    const body = JSON.parse(j.stdout)
    expect(body.status).toBe('error')
    expect(body.error).toMatchObject({code: 'NOT_FIT', exitCode: 3})
    expect(body.result.gate.fits).toBe(false)
    expect(j.stderr).toBe('')
  })

  it('--gpu-memory for any other GPU, --annotate for admission policies', async () => {
    const r = await runCli(['gpu-fit', fixture('qwen2.5-coder-1.5b'), '--gpu-memory', '16GiB', '--annotate'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/aip\.dev\/gpu-fit-fits: "true"/)
    expect(r.stdout).toMatch(/aip\.dev\/gpu-fit-gpu: "custom-16gib"/)
  })

  it('a TP degree no instance type carries: shown when asked for; the gate suggests one that fits', async () => {
    const t = await runCli(['gpu-fit', 'qwen3-8b', '--tp', '16'])
    expect(t.code).toBe(0)
    expect(t.stdout).toMatch(/h100\s+16\s+no .*no AWS instance type carries 16 h100 GPUs/)
    const g = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--tp', '16'])
    expect(g.code).toBe(3)
    expect(g.stderr).toMatch(/no AWS instance type carries 16 l4 GPUs\n\s+Fix: --tp 2 fits/)
    // a degree vLLM refuses, in the gate: does not fit (exit 3), with the reason and a degree that does
    const bad = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--tp', '6'])
    expect(bad.code).toBe(3)
    expect(bad.stderr).toMatch(/does not fit on l4 x6 .*num_attention_heads 32 is not divisible by tensor-parallel size 6\n\s+Fix: .*--tp 2 fits/)
  })

  describe('bad input: one line, the right exit code, no stack', () => {
    const cases: Array<[string, string[], number, RegExp]> = [
      ['unknown GPU', ['gpu-fit', 'qwen3-8b', '--gpu', 'h1000'], 2, /unknown GPU "h1000"/],
      ['zero max-model-len', ['gpu-fit', 'qwen3-8b', '--max-model-len', '0'], 2, /max-model-len must be a positive integer/],
      ['negative tp', ['gpu-fit', 'qwen3-8b', '--tp', '-2'], 2, /tp must be a positive integer/],
      ['absurd utilization', ['gpu-fit', 'qwen3-8b', '--gpu-memory-utilization', '7'], 2, /gpu-memory-utilization/],
      ['bad memory size', ['gpu-fit', 'qwen3-8b', '--gpu-memory', 'lots'], 2, /invalid --gpu-memory "lots"/],
      ['unknown catalog model', ['gpu-fit', 'qwen3-8bb'], 4, /qwen3-8bb/],
      ['missing file', ['gpu-fit', './nope/config.json'], 4, /no such file/],
      ['context beyond the model', ['gpu-fit', 'qwen3-8b', '--max-model-len', '1000000'], 2, /exceeds the model's maximum of 40960/],
      ['a TP degree vLLM refuses (heads not divisible)', ['gpu-fit', 'qwen3-8b', '--tp', '3'], 2, /--tp 3: num_attention_heads 32 is not divisible[\s\S]*Fix: use --tp 1, 2, 4, 8, 16, 32/],
      ['a memory size without a unit (bytes)', ['gpu-fit', 'qwen3-8b', '--gpu-memory', '24'], 2, /--gpu-memory of 24 bytes[\s\S]*24GiB/],
    ]
    for (const [name, args, code, re] of cases) {
      it(name, async () => {
        const r = await runCli(args)
        expect(r.code).toBe(code)
        expect(r.stderr).toMatch(re)
        expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2) // the error line and its fix
        expect(r.stdout).toBe('')
        const j = await runCli([...args, '--json'])
        expect(j.code).toBe(code)
        expect(JSON.parse(j.stdout).error.exitCode).toBe(code)
      })
    }

    it('absurd config values: one line naming the field (negative or huge sizes, KV heads that do not divide)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'aip-badcfg-'))
      const base = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/configs/llama-3.1-8b/config.json'), 'utf8'))
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{hidden_size: -4096}, /has "hidden_size": -4096; it must be a positive integer/],
        [{vocab_size: 1e30}, /has "vocab_size": 1e\+30/],
        [{num_key_value_heads: 0}, /has "num_key_value_heads": 0; it must be a positive integer/],
        [{intermediate_size: 0}, /has "intermediate_size": 0; it must be a positive integer/],
        [{quantization_config: {quant_method: 'gptq', bits: 'four', group_size: 128}}, /has "quantization_config.bits": "four"; it must be a bit width/],
        [{rope_scaling: {rope_type: 'yarn', factor: -4, original_max_position_embeddings: 32768}}, /has "rope_scaling.factor": -4; it must be a positive number/],
        [{num_key_value_heads: 5}, /num_key_value_heads 5, which does not divide/],
      ]
      for (const [change, re] of cases) {
        const f = join(dir, 'config.json')
        writeFileSync(f, JSON.stringify({...base, ...change}))
        const r = await runCli(['gpu-fit', f])
        expect(r.code, JSON.stringify(change)).toBe(2)
        expect(r.stderr.split('\n')[0]).toMatch(re)
      }
    })

    it('malformed JSON and a config missing fields', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'aip-e2e-'))
      writeFileSync(join(dir, 'bad.json'), '{"hidden_size": 4096,,}')
      const bad = await runCli(['gpu-fit', join(dir, 'bad.json')])
      expect(bad.code).toBe(2)
      expect(bad.stderr).toMatch(/bad\.json is not valid JSON/)
      writeFileSync(join(dir, 'partial.json'), JSON.stringify({model_type: 'llama', architectures: ['LlamaForCausalLM'], hidden_size: 4096}))
      const partial = await runCli(['gpu-fit', join(dir, 'partial.json')])
      // llama's config class supplies defaults for omitted fields, as transformers does
      expect(partial.code).toBe(0)
      writeFileSync(join(dir, 'nolayers.json'), JSON.stringify({model_type: 'weird', hidden_size: 4096, num_attention_heads: 32, vocab_size: 1000}))
      const missing = await runCli(['gpu-fit', join(dir, 'nolayers.json')])
      expect(missing.code).toBe(2)
      expect(missing.stderr).toMatch(/missing "num_hidden_layers"/)
      const verbose = await runCli(['gpu-fit', join(dir, 'nolayers.json'), '--verbose'])
      expect(verbose.stderr).toMatch(/at .*gpufit/)
    })
  })

  describe('Hub models', () => {
    let hub: HubServer
    beforeAll(async () => {
      hub = await HubServer.start()
      hub.addRepo('acme/llama-8b', {files: {'config.json': JSON.stringify(require_(fixture('llama-3.1-8b')))}})
    })
    afterAll(async () => hub.stop())

    it('fetches config.json from HF_ENDPOINT', async () => {
      const r = await runCli(['gpu-fit', 'acme/llama-8b', '--json'], {env: isolatedEnv({HF_ENDPOINT: hub.url})})
      expect(r.code).toBe(0)
      expect(JSON.parse(r.stdout).result.parameters.total).toBe(8_030_261_248)
    })
    it('404 repo: exit 4; offline: exit 5 in one line', async () => {
      const nf = await runCli(['gpu-fit', 'acme/missing'], {env: isolatedEnv({HF_ENDPOINT: hub.url})})
      expect(nf.code).toBe(4)
      const off = await runCli(['gpu-fit', 'acme/llama-8b'], {env: isolatedEnv({HF_ENDPOINT: 'http://127.0.0.1:9'})})
      expect(off.code).toBe(5)
      expect(off.stderr).toMatch(/cannot reach the Hugging Face Hub/)
    })
  })
})

function require_(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8'))
}
