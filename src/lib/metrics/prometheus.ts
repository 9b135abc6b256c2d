/**
 * A minimal Prometheus HTTP API client (instant queries only), over an Endpoint that is either a
 * direct URL or the API server's service proxy. Errors map onto the exit-code table:
 * unreachable -> 5, bad PromQL (HTTP 400 bad_data) -> 2, 401/403 -> 6, everything else -> 1.
 */
import {AipError, networkErrorCode, UnreachableError, UsageError} from '../errors.js'
import {type Endpoint, httpStatusError} from './transport.js'
import {errorMessageOf} from '../http/body.js'
import {formatTimeout, httpTimeouts} from '../http/timeouts.js'

export interface PromSample {
  labels: Record<string, string>
  /** NaN and ±Inf are kept as numbers here; the view turns non-finite values into null. */
  value: number
}

interface ApiResponse {
  status: 'success' | 'error'
  errorType?: string
  error?: string
  warnings?: string[]
  data?: {resultType: string; result: unknown}
}

export interface PromQueryOptions {
  signal?: AbortSignal
  /** Evaluation time (seconds since the epoch); default: the server's now. */
  time?: number
  /** What the expression is, for error messages ("override ttft_p95"). */
  what?: string
}

export class PrometheusClient {
  /** HTTP requests sent; the tail benchmark reads it to report queries per refresh. */
  requests = 0

  constructor(
    readonly endpoint: Endpoint,
    private readonly timeoutMs = httpTimeouts().idleMs,
  ) {}

  get describe(): string {
    return this.endpoint.describe
  }

  async query(expr: string, opts: PromQueryOptions = {}): Promise<PromSample[]> {
    const body = new URLSearchParams({query: expr})
    if (opts.time !== undefined) body.set('time', String(opts.time))
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
    const fix = 'check --prometheus URL (or config prometheus-url / prometheus-service) and that Prometheus is running'
    let res: Response
    this.requests++
    try {
      res = await this.endpoint.fetch(`${this.endpoint.base}/api/v1/query`, {
        method: 'POST',
        headers: {'content-type': 'application/x-www-form-urlencoded', accept: 'application/json'},
        body: body.toString(),
        signal,
      })
    } catch (error) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? error
      if (error instanceof AipError) throw error
      if (timeout.aborted) {
        throw new UnreachableError(`Prometheus at ${this.describe} timed out after ${formatTimeout(this.timeoutMs)} (no answer)`, {fix, cause: error})
      }
      const code = networkErrorCode(error) ?? (error as Error).message
      throw new UnreachableError(`cannot reach Prometheus at ${this.describe} (${code})`, {fix, cause: error})
    }
    const text = await res.text()
    let json: ApiResponse | undefined
    try {
      json = JSON.parse(text) as ApiResponse
    } catch {
      json = undefined
    }
    if (json?.status === 'error' || !res.ok) {
      const message = errorMessageOf(json ?? text)
      if (json?.errorType === 'bad_data' || res.status === 400) {
        throw new UsageError(`bad PromQL${opts.what ? ` in ${opts.what}` : ''}: ${oneLine(message)}`, {
          fix: 'fix the expression passed with --promql NAME=EXPR (check it in the Prometheus UI)',
          details: {expression: expr},
        })
      }
      if (json?.errorType === 'execution' || res.status === 422) {
        throw new AipError('FAILED', `Prometheus could not evaluate ${opts.what ?? 'the query'}: ${oneLine(message)}`, {fix: 'check --promql overrides and --window', details: {expression: expr}})
      }
      throw httpStatusError(res.status, `Prometheus at ${this.describe}`, message, fix)
    }
    if (!json || json.status !== 'success' || !json.data) {
      throw new AipError('FAILED', `${this.describe} did not answer like the Prometheus HTTP API`, {fix})
    }
    return toSamples(json.data)
  }
}

function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim().slice(0, 300)
}

function parseValue(v: unknown): number {
  if (!Array.isArray(v) || v.length < 2) return Number.NaN
  return Number(v[1])
}

function toSamples(data: {resultType: string; result: unknown}): PromSample[] {
  if (data.resultType === 'vector' && Array.isArray(data.result)) {
    return (data.result as Array<{metric?: Record<string, string>; value?: unknown}>).map((r) => ({labels: r.metric ?? {}, value: parseValue(r.value)}))
  }
  if (data.resultType === 'scalar') return [{labels: {}, value: parseValue(data.result)}]
  throw new UsageError(`expected an instant vector, got a ${data.resultType}`, {fix: 'overrides must return an instant vector by model_name'})
}
