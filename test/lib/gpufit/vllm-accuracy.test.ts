/**
 * gpu-fit against vLLM's own start-up memory reports (test/fixtures/vllm-startup/cases.json, each
 * with the URL it comes from): the available KV cache within 5% of what vLLM reported and the same
 * verdict (served, refused to start, died in the sampler warm-up). The README's accuracy table is
 * rendered from the same data and checked here, so the two cannot drift; regenerate it with
 * `UPDATE_README=1 npx vitest run test/lib/gpufit/vllm-accuracy.test.ts`.
 */
import {readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {analyze} from '../../../src/lib/gpufit/index.js'
import {ROOT} from '../../support/cli.js'

interface Case {
  id: string
  source: string
  model: string
  fixture: string
  kind: string
  gpu: string
  tp: number
  vllm: string
  settings: {gpuMemoryUtilization: number; maxModelLen: number; quantization?: string}
  reported: {kvGiB: number | null}
  /**
   * Run with VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1, the default from v0.21.0 on: modelled as
   * the 0.21 era, and checked against derivedKvGiB (the logged KV less the CUDA graph estimate the
   * same log prints, which is what determine_available_memory subtracts with the variable set).
   */
  cudaGraphEstimate?: boolean
  derivedKvGiB?: number
  /** vLLM's own log lines for this case, as published. */
  quote?: string[]
  verdict: 'fits' | 'refuses' | 'warmup-oom'
  note?: string
}

const data = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/vllm-startup/cases.json'), 'utf8')) as {
  sources: Record<string, {url: string; vllm: string}>
  cases: Case[]
  excluded: Array<{id: string; source: string; reason: string}>
}
const GiB = 1024 ** 3
const config = (f: string) => JSON.parse(readFileSync(join(ROOT, 'test/fixtures/configs', f, 'config.json'), 'utf8'))

function run(c: Case) {
  const r = analyze({config: config(c.fixture), gpu: c.gpu, tp: c.tp, vllmVersion: c.cudaGraphEstimate ? '0.21' : c.vllm, maxModelLen: c.settings.maxModelLen, gpuMemoryUtilization: c.settings.gpuMemoryUtilization, quantization: c.settings.quantization})
  const g = r.gate!.result
  // vLLM logs the KV memory before deciding; gpu-fit reports the same figure (clamped at 0 only for display)
  const kv = (g.budgetBytes - g.weightsPerGpuBytes - g.overhead.totalBytes) / GiB
  const verdict = g.fits ? 'fits' : g.verdict === 'warmup-oom' ? 'warmup-oom' : g.verdict === 'no-kv-cache' || g.verdict === 'max-model-len' ? 'refuses' : g.verdict
  return {kv, verdict, era: r.vllm.era}
}

const expected = (c: Case) => c.reported.kvGiB ?? c.derivedKvGiB ?? null

describe("gpu-fit matches vLLM's start-up memory reports", () => {
  for (const c of data.cases) {
    it(`${c.id}: ${c.model} on ${c.tp}x ${c.gpu}, vLLM ${c.vllm}: ${c.verdict}${expected(c) === null ? '' : `, KV ${expected(c)} GiB`}`, () => {
      const got = run(c)
      expect(got.verdict).toBe(c.verdict)
      const want = expected(c)
      if (want !== null) expect(Math.abs(got.kv - want) / want).toBeLessThan(0.05)
    })
  }

  it('covers the 0.10 era and the current one (CUDA graphs budgeted), each with dense, MoE, sliding-window, quantized and TP > 1 models, and MLA', () => {
    const byEra = (era: string) => data.cases.filter((c) => run(c).era === era && expected(c) !== null)
    for (const era of ['0.10', '0.17', '0.21']) {
      const cases = byEra(era)
      for (const k of ['dense', 'moe', 'sliding-window']) expect(cases.some((c) => c.kind.includes(k)), `${era} ${k}`).toBe(true)
      expect(cases.some((c) => /fp8|mxfp4/.test(c.kind)), `${era} quantized`).toBe(true)
      expect(cases.some((c) => c.tp > 1), `${era} TP > 1`).toBe(true)
    }
    for (const era of ['0.17', '0.21']) expect(byEra(era).some((c) => c.kind.includes('mla')), `${era} mla`).toBe(true)
    for (const c of data.cases) expect(data.sources[c.source]?.url).toMatch(/^https:\/\//)
  })
})

const VERDICT = {fits: 'served', refuses: 'refused to start', 'warmup-oom': 'OOM in sampler warm-up'} as const

function renderTable(): string {
  const rows = data.cases.map((c) => {
    const got = run(c)
    const want = expected(c)
    const err = want === null ? '' : `${(((got.kv - want) / want) * 100).toFixed(1)}%`
    const settings = [`util ${c.settings.gpuMemoryUtilization}`, `max-model-len ${c.settings.maxModelLen}`, c.settings.quantization ? `--quantization ${c.settings.quantization}` : ''].filter(Boolean).join(', ')
    const vllmKv = c.reported.kvGiB !== null ? c.reported.kvGiB.toFixed(2) : c.derivedKvGiB !== undefined ? `${c.derivedKvGiB.toFixed(2)}†` : '-'
    const version = c.cudaGraphEstimate ? `${c.vllm} + graph estimate` : c.vllm
    return `| ${c.model} | ${c.kind} | ${c.tp}x ${c.gpu} | ${settings} | ${version} (era ${got.era}) | ${vllmKv} | ${got.kv.toFixed(2)} | ${err} | ${VERDICT[c.verdict]} | ${VERDICT[got.verdict as keyof typeof VERDICT] ?? got.verdict} | [${c.source}](${data.sources[c.source]!.url}) |`
  })
  return [
    '| model | kind | GPUs | settings | vLLM | vLLM\'s KV (GiB) | aip\'s KV (GiB) | error | vLLM | aip | source |',
    '| --- | --- | --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |',
    ...rows,
    '',
    'Published reports left out of the table, and why:',
    '',
    ...data.excluded.map((x) => `- \`${x.id}\` ([${x.source}](${data.sources[x.source]!.url})): ${x.reason}`),
  ].join('\n')
}

describe('README accuracy table', () => {
  it('is the table rendered from test/fixtures/vllm-startup/cases.json', () => {
    const path = join(ROOT, 'README.md')
    const readme = readFileSync(path, 'utf8')
    const start = '<!-- gpu-fit-accuracy:start -->'
    const end = '<!-- gpu-fit-accuracy:end -->'
    const a = readme.indexOf(start)
    const b = readme.indexOf(end)
    expect(a).toBeGreaterThan(-1)
    expect(b).toBeGreaterThan(a)
    const table = renderTable()
    const current = readme.slice(a + start.length, b).trim()
    if (process.env.UPDATE_README === '1' && current !== table) {
      writeFileSync(path, `${readme.slice(0, a + start.length)}\n${table}\n${readme.slice(b)}`)
      return
    }
    expect(current).toBe(table)
  })
})
