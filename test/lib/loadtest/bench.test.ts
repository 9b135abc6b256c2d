/**
 * The load tester in-process against the loopback OpenAI server. Server and client share the
 * performance.now() clock, so per request: client send < server receive < server's first content
 * write < client's first content chunk. The measured TTFT is therefore >= the TTFT the server
 * actually produced, which is >= the configured one minus Node's timer granularity (setTimeout may
 * fire up to 1 ms early): those lower bounds are exact. Nothing else is bounded by a wall-clock
 * figure: on a loaded machine any gap or delay can stretch, and a late chunk shortens the gap after
 * it, so a single client-side gap has no lower bound. What does hold on one clock, per request: the
 * first chunk is seen after the server wrote it and no later than the response ended, the last chunk
 * after the server wrote it, and a worker's requests run one after another within the run.
 */
import {afterEach, describe, expect, it, vi} from 'vitest'

import {NotFoundError, UnreachableError} from '../../../src/lib/errors.js'
import {directEndpoint} from '../../../src/lib/metrics/transport.js'
import {percentile, runBench, runRequest} from '../../../src/lib/loadtest/index.js'
import type {Transport} from '../../../src/lib/loadtest/transport.js'
import {type OpenAIServer, startOpenAIServer} from '../../support/openai-server.js'

const TIMER_MS = 1
let server: OpenAIServer | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
})

const base = {api: 'chat' as const, concurrency: 4, requests: 12, promptTokens: 64, maxTokens: 8, stream: true, timeoutMs: 10_000}

describe('model bench engine', () => {
  it('streaming chat: TTFT, inter-token latency and tokens match the configured truth', async () => {
    server = await startOpenAIServer({ttftMs: 80, itlMs: 15, tokens: 8})
    const r = await runBench(directEndpoint(server.url), base)
    expect(r.model).toBe('test-model')
    expect(r.succeeded).toBe(12)
    expect(r.failed).toBe(0)
    expect(r.outputTokens).toBe(12 * 8)
    expect(r.tokensFromUsage).toBe(true)
    expect(r.ttft!.count).toBe(12)
    expect(r.ttft!.min).toBeGreaterThanOrEqual((80 - TIMER_MS) / 1000)
    // 7 gaps per request (one client-side gap alone has no lower bound: a late chunk shortens the
    // next one). Per request, TTFT + its gaps = its last chunk - its send, which is at least the
    // server's first-byte-to-last-chunk time (send < receive, last write < last read) and at most
    // its latency; summed over the requests (mean x count). A wrong ITL (zeros, a wrong scale, gaps
    // measured from the first chunk) breaks one side or the other.
    expect(r.interTokenLatency!.count).toBe(12 * 7)
    const total = (d: {mean: number; count: number} | null) => d!.mean * d!.count
    const chats = server.requests.filter((q) => q.path === '/v1/chat/completions')
    expect(chats).toHaveLength(12)
    const served = chats.reduce((a, q) => a + (q.lastWrite! - q.recv), 0) / 1000
    const EPS = 1e-6 // float summation
    expect(total(r.ttft) + total(r.interTokenLatency)).toBeGreaterThanOrEqual(served - EPS)
    expect(total(r.ttft) + total(r.interTokenLatency)).toBeLessThanOrEqual(total(r.latency) + EPS)
    // measured from each request's own send, not from the run's start: a TTFT is within its
    // request's latency, and each of the 4 workers runs its requests one after another in the run
    expect(r.ttft!.p50).toBeLessThanOrEqual(r.latency!.p50)
    expect(r.ttft!.max).toBeLessThanOrEqual(r.latency!.max)
    expect(total(r.latency)).toBeLessThanOrEqual(4 * r.durationSeconds + EPS)
    // request latency >= ttft + 7 gaps; per-request tokens/s <= 8 tokens / that
    const minLatency = (80 + 7 * 15 - 8 * TIMER_MS) / 1000
    expect(r.latency!.min).toBeGreaterThanOrEqual(minLatency)
    expect(r.perRequestTokensPerSecond!.max).toBeLessThanOrEqual(8 / minLatency)
    expect(r.outputTokensPerSecond).toBeCloseTo(r.outputTokens / r.durationSeconds, 6)
    // measured TTFT >= what the server actually produced (same clock)
    for (const q of server.requests) expect(q.firstWrite! - q.recv).toBeGreaterThanOrEqual(80 - TIMER_MS)
    // the request asked for what the flags said
    const body = server.requests[0]!.body
    expect(body).toMatchObject({model: 'test-model', max_tokens: 8, stream: true, stream_options: {include_usage: true}})
    expect(body.messages[0].content.split(' ')).toHaveLength(64)
  })

  it('per-request measurement is bounded by the server-side schedule on the same clock', async () => {
    server = await startOpenAIServer({ttftMs: 40, itlMs: 5, tokens: 4})
    const {performance} = await import('node:perf_hooks')
    const t0 = performance.now()
    const r = await runRequest({base: server.url, fetch, api: 'chat', model: 'test-model', prompt: 'hi there', maxTokens: 4, stream: true, timeoutMs: 5000})
    const q = server.requests[0]!
    expect(r.ok).toBe(true)
    expect(r.ttftMs!).toBeGreaterThanOrEqual(q.firstWrite! - q.recv)
    expect(r.ttftMs!).toBeLessThanOrEqual(r.latencyMs)
    // the request's own clock origin is after the test's, and its first chunk is not seen before
    // the server wrote it (same process, same clock)
    expect(r.startedAt).toBeGreaterThanOrEqual(t0)
    expect(r.startedAt + r.ttftMs!).toBeGreaterThanOrEqual(q.firstWrite! - TIMER_MS)
    expect(r.chunks).toBe(4)
    expect(r.outputTokens).toBe(4)
  })

  it('without usage, tokens are counted from content chunks; multi-token chunks spread the gap', async () => {
    server = await startOpenAIServer({ttftMs: 5, itlMs: 20, tokens: 6, usage: false})
    const r = await runBench(directEndpoint(server.url), {...base, requests: 2, maxTokens: 6})
    expect(r.tokensFromUsage).toBe(false)
    expect(r.outputTokens).toBe(12)
    await server.close()
    server = await startOpenAIServer({ttftMs: 5, itlMs: 20, tokens: 6, tokensPerChunk: 2})
    const r2 = await runBench(directEndpoint(server.url), {...base, requests: 2, maxTokens: 6})
    expect(r2.outputTokens).toBe(12)
    // 3 chunks of 2 tokens: 2 gaps per request, each spread over the 5 token gaps they carry
    expect(r2.interTokenLatency!.count).toBe(4)
    // On one clock, per request: the last chunk is seen after the server wrote it and before the
    // response ended, and it is at send + TTFT + the gaps (each gap = its share * 5/2). (A gap on
    // its own has no lower bound: a late first chunk shortens the gap after it.)
    const q = await runRequest({base: server.url, fetch, api: 'chat', model: 'test-model', prompt: 'hi', maxTokens: 6, stream: true, timeoutMs: 5000})
    const rec = server.requests.at(-1)!
    expect(q.itlMs).toHaveLength(2)
    const lastChunkAt = q.startedAt + q.ttftMs! + (q.itlMs[0]! + q.itlMs[1]!) * (5 / 2)
    expect(lastChunkAt).toBeGreaterThanOrEqual(rec.lastWrite!)
    expect(lastChunkAt).toBeLessThanOrEqual(q.startedAt + q.latencyMs + 1e-6)
  })

  it('inter-token latency spreads each chunk gap over the tokens it carried (exact, on a scripted clock)', async () => {
    const {performance} = await import('node:perf_hooks')
    let clock = 1000
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock)
    try {
      const sse = (o: unknown) => new TextEncoder().encode(`data: ${JSON.stringify(o)}\n\n`)
      const content = (t: string) => ({choices: [{index: 0, delta: {content: t}, finish_reason: null}]})
      // [clock advance before the network chunk, its bytes]
      const script = (usage: boolean): Array<[number, Uint8Array]> => [
        [0, sse({choices: [{index: 0, delta: {role: 'assistant', content: ''}}]})],
        [30, sse(content('a b '))],
        [20, sse(content('c d '))],
        [20, sse(content('e f'))],
        [1, usage ? sse({choices: [], usage: {prompt_tokens: 3, completion_tokens: 6, total_tokens: 9}}) : new Uint8Array()],
        [1, new TextEncoder().encode('data: [DONE]\n\n')],
      ]
      const transport = (usage: boolean): Transport => ({
        async send() {
          return {
            ok: true,
            status: 200,
            text: async () => '',
            body: {
              async *[Symbol.asyncIterator]() {
                for (const [dt, bytes] of script(usage)) {
                  clock += dt
                  yield bytes
                }
              },
            },
            cancel() {},
          }
        },
        close() {},
      })
      const spec = {base: 'http://model.invalid', fetch, api: 'chat' as const, model: 'm', prompt: 'hi', maxTokens: 6, stream: true, timeoutMs: 5000}
      // usage says 6 tokens in 3 chunks: 2 gaps of 20 ms carry 5 token gaps -> 8 ms per token
      const withUsage = await runRequest({...spec, transport: transport(true)})
      expect(withUsage).toMatchObject({ok: true, ttftMs: 30, chunks: 3, outputTokens: 6, usageReported: true})
      expect(withUsage.itlMs).toEqual([8, 8])
      // no usage block: tokens are the content chunks, the gaps stand as measured
      const without = await runRequest({...spec, transport: transport(false)})
      expect(without).toMatchObject({ok: true, ttftMs: 30, chunks: 3, outputTokens: 3, usageReported: false})
      expect(without.itlMs).toEqual([20, 20])
    } finally {
      now.mockRestore()
    }
  })

  it('completions API and non-streaming requests', async () => {
    server = await startOpenAIServer({ttftMs: 10, itlMs: 2, tokens: 5, models: ['m-1', 'm-2']})
    const r = await runBench(directEndpoint(server.url), {...base, api: 'completions', stream: false, requests: 4, model: 'm-2'})
    expect(r.succeeded).toBe(4)
    expect(r.ttft).toBeNull()
    expect(r.interTokenLatency).toBeNull()
    expect(r.outputTokens).toBe(20)
    expect(r.latency!.min).toBeGreaterThanOrEqual((10 + 4 * 2 - 5 * TIMER_MS) / 1000)
    expect(server.requests.every((q) => q.path === '/v1/completions' && q.body.model === 'm-2' && typeof q.body.prompt === 'string' && !q.body.stream)).toBe(true)
    const s = await runBench(directEndpoint(server.url), {...base, api: 'completions', requests: 2, model: 'm-1'})
    expect(s.ttft!.count).toBe(2)
  })

  it('errors are counted by kind: HTTP 500/429, malformed and truncated streams, timeouts', async () => {
    const plan = ['ok', 500, 429, 'malformed', 'truncated', 'hang', 'ok', 500] as const
    server = await startOpenAIServer({ttftMs: 5, itlMs: 2, tokens: 4, plan: (i) => plan[i % plan.length]!})
    const r = await runBench(directEndpoint(server.url), {...base, concurrency: 3, requests: 8, timeoutMs: 1500})
    expect(r.errors).toEqual({http_500: 2, http_429: 1, malformed_stream: 1, truncated_stream: 1, timeout: 1})
    expect(r.succeeded).toBe(2)
    expect(r.failed).toBe(6)
    expect(r.outputTokens).toBe(8) // failed requests contribute no tokens
    expect(r.errorExamples.http_429).toContain('rate limited')
  })

  it('keep-alive: connections are reused across requests', async () => {
    server = await startOpenAIServer({ttftMs: 1, itlMs: 1, tokens: 2})
    await runBench(directEndpoint(server.url), {...base, concurrency: 2, requests: 20})
    expect(server.connections).toBeLessThanOrEqual(4)
  })

  it('API key is sent as a bearer token; an unknown --model or dead endpoint are clear errors', async () => {
    server = await startOpenAIServer({ttftMs: 1, itlMs: 1, tokens: 2, apiKey: 'sk-secret-123456'})
    const ok = await runBench(directEndpoint(server.url), {...base, requests: 2, apiKey: 'sk-secret-123456'})
    expect(ok.succeeded).toBe(2)
    const wrongKey = await runBench(directEndpoint(server.url), {...base, requests: 1, apiKey: 'nope-nope'}).catch((e: unknown) => e)
    expect((wrongKey as {exitCode: number}).exitCode).toBe(6)
    const unknown = await runBench(directEndpoint(server.url), {...base, requests: 1, apiKey: 'sk-secret-123456', model: 'other'}).catch((e: unknown) => e)
    expect(unknown).toBeInstanceOf(NotFoundError)
    const dead = await runBench(directEndpoint('http://127.0.0.1:9'), {...base, requests: 1}).catch((e: unknown) => e)
    expect(dead).toBeInstanceOf(UnreachableError)
  })

  it('percentiles interpolate linearly between ranks', () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5)
    expect(percentile([10], 0.99)).toBe(10)
    expect(percentile([0, 10], 0.9)).toBe(9)
  })
})
