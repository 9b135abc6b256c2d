/**
 * The `aip model bench` engine: `requests` OpenAI-compatible requests with at most `concurrency`
 * in flight (a fixed pool of workers pulling the next request index), over an Endpoint (direct URL
 * or the API server's service proxy), with Node's fetch (undici, keep-alive connections reused by
 * the workers).
 */
import {performance} from 'node:perf_hooks'

import {AipError, networkErrorCode, NotFoundError, UnreachableError, UsageError} from '../errors.js'
import {type Endpoint, httpStatusError} from '../metrics/transport.js'
import {distribution, type Distribution} from './stats.js'
import {type Api, prepareRequest, type RequestResult, runRequest} from './request.js'
import {fetchTransport, nodeHttpTransport, type Transport} from './transport.js'
import {formatTimeout, httpTimeouts} from '../http/timeouts.js'

export interface BenchOptions {
  api: Api
  /** Served model name; default: the first id of GET /v1/models. */
  model?: string
  concurrency: number
  requests: number
  promptTokens: number
  maxTokens: number
  stream: boolean
  apiKey?: string
  timeoutMs: number
  signal?: AbortSignal
  /**
   * Before the clock starts, open the keep-alive connections the workers will use (one GET
   * /v1/models per worker, at once), so the first wave's TTFT is the server's, not TCP connects and
   * the client's first-call start-up. Default true.
   */
  warmup?: boolean
  /**
   * 'auto' (default): node:http(s) for a direct http(s) URL (about a third of fetch's client CPU per
   * request), the endpoint's fetch otherwise (the API server's service proxy); 'fetch': always the
   * endpoint's fetch.
   */
  transport?: 'auto' | 'fetch'
  onProgress?(done: number, total: number, failed: number): void
}

export interface BenchResult {
  target: string
  model: string
  api: Api
  stream: boolean
  concurrency: number
  requests: number
  /** Approximate: the prompt is N words, about one token each for common English words. */
  promptTokens: number
  maxTokens: number
  durationSeconds: number
  succeeded: number
  failed: number
  /** error kind -> count: http_<status>, malformed_stream, stream_error, truncated_stream, timeout, connection, bad_response */
  errors: Record<string, number>
  /** first message seen per error kind */
  errorExamples: Record<string, string>
  requestsPerSecond: number
  outputTokens: number
  /** true when every successful response reported usage.completion_tokens (else chunks were counted). */
  tokensFromUsage: boolean
  /** total output tokens of successful requests / wall-clock duration of the run */
  outputTokensPerSecond: number
  /** seconds; null without streaming */
  ttft: Distribution | null
  /** seconds per output token; null without streaming */
  interTokenLatency: Distribution | null
  /** seconds, successful requests */
  latency: Distribution | null
  /** per request: output tokens / request latency */
  perRequestTokensPerSecond: Distribution | null
}

const WORDS = 'the quick brown fox jumps over a lazy dog while seven bright stars shine above quiet green hills near an old stone bridge'.split(' ')

/** A prompt of `n` words (about n tokens with common English words), deterministic. */
export function makePrompt(n: number): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) out.push(WORDS[i % WORDS.length]!)
  return out.join(' ')
}

/** GET /v1/models: the served model ids. Unreachable -> exit 5, 401/403 -> 6. */
export async function listModels(ep: Endpoint, apiKey?: string, signal?: AbortSignal): Promise<string[]> {
  let res: Response
  const fix = 'check --url (or that the model is deployed and ready) and AIP_API_KEY'
  const timeout = AbortSignal.timeout(httpTimeouts().idleMs)
  try {
    res = await ep.fetch(`${ep.base}/v1/models`, {headers: {accept: 'application/json', ...(apiKey ? {authorization: `Bearer ${apiKey}`} : {})}, signal: signal ? AbortSignal.any([signal, timeout]) : timeout})
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error
    if (error instanceof AipError) throw error
    if (timeout.aborted) throw new UnreachableError(`${ep.describe} timed out after ${formatTimeout(httpTimeouts().idleMs)} (no answer to GET /v1/models)`, {fix, cause: error})
    throw new UnreachableError(`cannot reach ${ep.describe} (${networkErrorCode(error) ?? (error as Error).message})`, {fix, cause: error})
  }
  const text = await res.text()
  if (!res.ok) throw httpStatusError(res.status, `GET ${ep.describe}/v1/models`, text, fix)
  try {
    const j = JSON.parse(text) as {data?: Array<{id?: string}>}
    return (j.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string')
  } catch {
    throw new AipError('FAILED', `${ep.describe}/v1/models did not return JSON`, {fix: 'is this an OpenAI-compatible endpoint? pass the base URL without /v1'})
  }
}

export async function resolveModel(ep: Endpoint, o: Pick<BenchOptions, 'model' | 'apiKey' | 'signal'>): Promise<string> {
  const models = await listModels(ep, o.apiKey, o.signal)
  if (o.model) {
    if (models.length > 0 && !models.includes(o.model)) {
      throw new NotFoundError(`model "${o.model}" is not served by ${ep.describe}`, {fix: `use --model with one of: ${models.join(', ')}`, details: {models}})
    }
    return o.model
  }
  if (models.length === 0) throw new NotFoundError(`${ep.describe} serves no models`, {fix: 'pass --model SERVED_NAME'})
  return models[0]!
}

export function validateBenchOptions(o: Pick<BenchOptions, 'concurrency' | 'requests' | 'promptTokens' | 'maxTokens'>): void {
  const check = (v: number, name: string, min: number) => {
    if (!Number.isInteger(v) || v < min) throw new UsageError(`--${name} must be an integer >= ${min}, got ${v}`, {fix: `e.g. --${name} ${Math.max(min, 8)}`})
  }
  check(o.concurrency, 'concurrency', 1)
  check(o.requests, 'requests', 1)
  check(o.promptTokens, 'prompt-tokens', 1)
  check(o.maxTokens, 'max-tokens', 1)
}

export function summarize(results: readonly RequestResult[], meta: Omit<BenchResult, 'durationSeconds' | 'succeeded' | 'failed' | 'errors' | 'errorExamples' | 'requestsPerSecond' | 'outputTokens' | 'tokensFromUsage' | 'outputTokensPerSecond' | 'ttft' | 'interTokenLatency' | 'latency' | 'perRequestTokensPerSecond'>, durationMs: number): BenchResult {
  const ok = results.filter((r) => r.ok)
  const errors: Record<string, number> = {}
  const errorExamples: Record<string, string> = {}
  for (const r of results) {
    if (r.ok || !r.errorKind) continue
    errors[r.errorKind] = (errors[r.errorKind] ?? 0) + 1
    errorExamples[r.errorKind] ??= r.errorMessage ?? r.errorKind
  }
  const outputTokens = ok.reduce((a, r) => a + r.outputTokens, 0)
  const secs = durationMs / 1000
  const s = (ms: number) => ms / 1000
  return {
    ...meta,
    durationSeconds: secs,
    succeeded: ok.length,
    failed: results.length - ok.length,
    errors,
    errorExamples,
    requestsPerSecond: secs > 0 ? ok.length / secs : 0,
    outputTokens,
    tokensFromUsage: ok.length > 0 && ok.every((r) => r.usageReported),
    outputTokensPerSecond: secs > 0 ? outputTokens / secs : 0,
    ttft: meta.stream ? distribution(ok.map((r) => r.ttftMs).filter((v): v is number => v !== null).map(s)) : null,
    interTokenLatency: meta.stream ? distribution(ok.flatMap((r) => r.itlMs).map(s)) : null,
    latency: distribution(ok.map((r) => s(r.latencyMs))),
    perRequestTokensPerSecond: distribution(ok.filter((r) => r.latencyMs > 0).map((r) => r.outputTokens / s(r.latencyMs))),
  }
}

/**
 * `n` concurrent GET /v1/models, bodies drained: the transport opens (and keeps alive) one
 * connection per worker. Failures are ignored here; the measured requests report them.
 */
async function warmConnections(ep: Endpoint, transport: Transport, n: number, apiKey?: string, signal?: AbortSignal): Promise<void> {
  const headers = {accept: 'application/json', ...(apiKey ? {authorization: `Bearer ${apiKey}`} : {})}
  await Promise.all(
    Array.from({length: n}, async () => {
      try {
        const res = await transport.send(`${ep.base}/v1/models`, {method: 'GET', headers, signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(10_000)]) : AbortSignal.timeout(10_000)})
        await res.text()
      } catch {
        // counted by the run itself
      }
    }),
  )
  if (signal?.aborted) throw signal.reason
}

export async function runBench(ep: Endpoint, o: BenchOptions): Promise<BenchResult> {
  validateBenchOptions(o)
  const model = await resolveModel(ep, o)
  const workers = Math.min(o.concurrency, o.requests)
  // A direct endpoint is a plain URL with Node's fetch (directEndpoint); the service proxy has `server`.
  const direct = (o.transport ?? 'auto') === 'auto' && ep.server === undefined && ep.describe === ep.base && /^https?:\/\//.test(ep.base)
  const transport = direct ? await nodeHttpTransport(workers) : fetchTransport(ep.fetch)
  try {
    return await runWith(ep, o, model, workers, transport)
  } finally {
    transport.close()
  }
}

async function runWith(ep: Endpoint, o: BenchOptions, model: string, workers: number, transport: Transport): Promise<BenchResult> {
  const prompt = makePrompt(o.promptTokens)
  if (o.warmup !== false) await warmConnections(ep, transport, workers, o.apiKey, o.signal)
  const spec = {base: ep.base, fetch: ep.fetch, transport, api: o.api, model, prompt, maxTokens: o.maxTokens, stream: o.stream, apiKey: o.apiKey, timeoutMs: o.timeoutMs, signal: o.signal}
  const prepared = prepareRequest(spec)
  const results: RequestResult[] = []
  let next = 0
  let failed = 0
  const t0 = performance.now()
  const worker = async () => {
    while (next < o.requests && !o.signal?.aborted) {
      next++
      const r = await runRequest(spec, prepared)
      results.push(r)
      if (!r.ok) failed++
      o.onProgress?.(results.length, o.requests, failed)
    }
  }
  await Promise.all(Array.from({length: workers}, worker))
  if (o.signal?.aborted) throw o.signal.reason
  const durationMs = performance.now() - t0
  return summarize(results, {target: ep.describe, model, api: o.api, stream: o.stream, concurrency: o.concurrency, requests: o.requests, promptTokens: o.promptTokens, maxTokens: o.maxTokens}, durationMs)
}
