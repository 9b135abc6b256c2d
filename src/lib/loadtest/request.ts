/**
 * One OpenAI-compatible request, timed. Streaming responses are read as Server-Sent Events
 * (`data: {...}` events, ended by `data: [DONE]`):
 * - TTFT = request sent -> first chunk carrying non-empty content (vLLM's role-only first chunk
 *   does not count);
 * - inter-token latency = gaps between consecutive content chunks, divided by the tokens per chunk
 *   when the usage block says a chunk carried more than one token;
 * - output tokens = `usage.completion_tokens` when the server sends it (we ask with
 *   `stream_options.include_usage`), else the number of content chunks.
 * Failures are classified, never thrown: `http_<status>`, `malformed_stream` (an event that is not
 * JSON), `stream_error` (an `{"error": ...}` event), `truncated_stream` (ended without [DONE]),
 * `timeout`, `connection`, `bad_response` (non-stream body without choices).
 */
import {performance} from 'node:perf_hooks'

import {networkErrorCode} from '../errors.js'
import type {FetchLike} from '../metrics/transport.js'
import {fetchTransport, type LeanResponse, type Transport} from './transport.js'

export type Api = 'chat' | 'completions'

export interface RequestSpec {
  base: string
  fetch: FetchLike
  /** How to send (default: `fetch`); the bench uses node:http for direct URLs. */
  transport?: Transport
  api: Api
  model: string
  prompt: string
  maxTokens: number
  stream: boolean
  apiKey?: string
  timeoutMs: number
  signal?: AbortSignal
}

export interface RequestResult {
  ok: boolean
  errorKind?: string
  errorMessage?: string
  /** ms from send to the first content chunk; null for non-streaming or failed-before-content. */
  ttftMs: number | null
  latencyMs: number
  /** performance.now() when the request was handed to the transport (the origin of ttftMs). */
  startedAt: number
  outputTokens: number
  /** true when outputTokens came from the usage block. */
  usageReported: boolean
  chunks: number
  /** per-token gaps in ms */
  itlMs: number[]
}

export function requestBody(s: Pick<RequestSpec, 'api' | 'model' | 'prompt' | 'maxTokens' | 'stream'>): Record<string, unknown> {
  const common = {model: s.model, max_tokens: s.maxTokens, temperature: 0, ...(s.stream ? {stream: true, stream_options: {include_usage: true}} : {})}
  return s.api === 'chat' ? {...common, messages: [{role: 'user', content: s.prompt}]} : {...common, prompt: s.prompt}
}

class Failure extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message)
  }
}

function contentOf(api: Api, j: Record<string, unknown>): string {
  const choices = j.choices as Array<Record<string, unknown>> | undefined
  const c = choices?.[0]
  if (!c) return ''
  if (api === 'chat') {
    const d = c.delta as {content?: unknown} | undefined
    return typeof d?.content === 'string' ? d.content : ''
  }
  return typeof c.text === 'string' ? c.text : ''
}

/** The pieces of a request that do not change between requests of a run (built once, not timed). */
export interface PreparedRequest {
  url: string
  headers: Record<string, string>
  body: string
}

export function prepareRequest(s: Omit<RequestSpec, 'fetch' | 'timeoutMs' | 'signal'>): PreparedRequest {
  const path = s.api === 'chat' ? '/v1/chat/completions' : '/v1/completions'
  const headers: Record<string, string> = {'content-type': 'application/json', accept: s.stream ? 'text/event-stream' : 'application/json'}
  if (s.apiKey) headers.authorization = `Bearer ${s.apiKey}`
  return {url: `${s.base}${path}`, headers, body: JSON.stringify(requestBody(s))}
}

/** Where the first complete SSE event at or after `from` ends (`end`, blank line excluded) and the next begins (`next`); undefined while incomplete. */
function eventEnd(buf: string, from: number): {end: number; next: number} | undefined {
  // events end with \n\n, \r\n\r\n (or a mix): find the first '\n' followed by an optional '\r' and '\n'
  let i = buf.indexOf('\n', from)
  while (i >= 0) {
    let j = i + 1
    if (buf.charCodeAt(j) === 13) j++
    if (buf.charCodeAt(j) === 10) return {end: i > 0 && buf.charCodeAt(i - 1) === 13 ? i - 1 : i, next: j + 1}
    if (j >= buf.length) return undefined
    i = buf.indexOf('\n', i + 1)
  }
  return undefined
}

export async function runRequest(s: RequestSpec, prepared: PreparedRequest = prepareRequest(s)): Promise<RequestResult> {
  const timeout = AbortSignal.timeout(s.timeoutMs)
  const signal = s.signal ? AbortSignal.any([s.signal, timeout]) : timeout
  const transport = s.transport ?? fetchTransport(s.fetch)
  const times: number[] = []
  let usageTokens: number | undefined
  // t0: the last moment before the request is handed to the transport (body, headers and signals
  // are built above, outside the measured interval)
  const t0 = performance.now()
  const result = (ok: boolean, extra: Partial<RequestResult> = {}): RequestResult => {
    const latencyMs = performance.now() - t0
    const tokens = usageTokens ?? times.length
    const itl: number[] = []
    if (times.length > 1) {
      // chunks carrying several tokens: spread each gap over the tokens it carried
      const scale = tokens > 1 && tokens !== times.length ? (times.length - 1) / (tokens - 1) : 1
      for (let i = 1; i < times.length; i++) itl.push((times[i]! - times[i - 1]!) * scale)
    }
    return {ok, ttftMs: times.length > 0 ? times[0]! - t0 : null, latencyMs, startedAt: t0, outputTokens: ok ? tokens : 0, usageReported: usageTokens !== undefined, chunks: times.length, itlMs: ok ? itl : [], ...extra}
  }
  let res: LeanResponse | undefined
  try {
    res = await transport.send(prepared.url, {method: 'POST', headers: prepared.headers, body: prepared.body, signal})
    if (!res.ok) {
      const text = await res.text().catch(() => '')
      let msg = text.slice(0, 200)
      try {
        const j = JSON.parse(text) as {error?: {message?: string} | string; message?: string}
        msg = (typeof j.error === 'string' ? j.error : j.error?.message) ?? j.message ?? msg
      } catch {
        // keep the text
      }
      throw new Failure(`http_${res.status}`, `HTTP ${res.status}: ${msg}`.trim())
    }
    if (!s.stream) {
      const text = await res.text()
      let j: {choices?: Array<{message?: {content?: string}; text?: string}>; usage?: {completion_tokens?: number}}
      try {
        j = JSON.parse(text)
      } catch {
        throw new Failure('bad_response', 'response body is not JSON')
      }
      if (!Array.isArray(j.choices) || j.choices.length === 0) throw new Failure('bad_response', 'response has no choices')
      if (typeof j.usage?.completion_tokens === 'number') usageTokens = j.usage.completion_tokens
      else {
        const t = s.api === 'chat' ? j.choices[0]?.message?.content : j.choices[0]?.text
        usageTokens = t ? t.split(/\s+/).filter(Boolean).length : 0
      }
      return {...result(true), ttftMs: null, itlMs: [], usageReported: typeof j.usage?.completion_tokens === 'number'}
    }
    if (!res.body) throw new Failure('malformed_stream', 'empty response body')
    const body = res.body[Symbol.asyncIterator]()
    const decoder = new TextDecoder()
    let buf = ''
    let done = false
    // `at`: when the network chunk holding the event was received (taken before decoding/parsing)
    const handleEvent = (event: string, at: number) => {
      let data = ''
      let any = false
      for (const line of event.split('\n')) {
        if (!line.startsWith('data:')) continue
        let v = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5)
        if (v.endsWith('\r')) v = v.slice(0, -1)
        data = any ? `${data}\n${v}` : v
        any = true
      }
      if (!data) return
      if (data.trim() === '[DONE]') {
        done = true
        return
      }
      let j: Record<string, unknown>
      try {
        j = JSON.parse(data) as Record<string, unknown>
      } catch {
        throw new Failure('malformed_stream', `event is not JSON: ${data.slice(0, 80)}`)
      }
      if (j.error) {
        const e = j.error as {message?: string} | string
        throw new Failure('stream_error', `error event: ${typeof e === 'string' ? e : e.message ?? 'unknown'}`)
      }
      const usage = j.usage as {completion_tokens?: number} | undefined | null
      if (usage && typeof usage.completion_tokens === 'number') usageTokens = usage.completion_tokens
      if (contentOf(s.api, j).length > 0) times.push(at)
    }
    let at = 0
    while (!done) {
      let chunk: IteratorResult<Uint8Array>
      try {
        chunk = await body.next()
      } catch (error) {
        if (timeout.aborted || s.signal?.aborted) throw error
        throw new Failure('truncated_stream', `stream broke after ${times.length} chunks: ${(error as Error).message}`)
      }
      at = performance.now()
      if (chunk.done) break
      buf += decoder.decode(chunk.value, {stream: true})
      let e: {end: number; next: number} | undefined
      while (!done && (e = eventEnd(buf, 0))) {
        handleEvent(buf.slice(0, e.end), at)
        buf = buf.slice(e.next)
      }
    }
    if (!done && buf.trim()) handleEvent(buf, at)
    if (!done) throw new Failure('truncated_stream', `stream ended without [DONE] after ${times.length} chunks`)
    res.cancel('drain')
    return result(true)
  } catch (error) {
    res?.cancel('drop')
    if (error instanceof Failure) return result(false, {errorKind: error.kind, errorMessage: error.message})
    if (s.signal?.aborted) throw s.signal.reason ?? error
    if (timeout.aborted) return result(false, {errorKind: 'timeout', errorMessage: `no complete response within ${Math.round(s.timeoutMs / 1000)}s`})
    const code = networkErrorCode(error)
    return result(false, {errorKind: 'connection', errorMessage: `${code ?? ''} ${(error as Error).message}`.trim()})
  }
}
