/**
 * One timeout policy for every HTTP peer aip talks to (the Kubernetes API server, the Hugging Face
 * Hub, S3 and EKS, Prometheus, a model server or gateway):
 *
 * - connect: a TCP/TLS connection not established within `connectMs` fails;
 * - idle read: a peer that sends nothing (no response headers, or no body bytes) for `idleMs`
 *   fails, whatever the size of the whole transfer (a 20 GB shard streams for minutes, but never
 *   stalls for 30 s);
 * - an API server that stays unreachable for `idleMs` during a wait ends the wait (exit 5).
 *
 * The value comes from config `http-timeout` / $AIP_HTTP_TIMEOUT (default 30s); the base command
 * applies the resolved configuration with `setHttpTimeout` once it is loaded. Streams that are
 * quiet by design (watches, which see a bookmark about every minute) use idle timeouts of their own.
 *
 * How each client applies it: our node:http requests with `req.setTimeout(idleMs)` (socket
 * inactivity, connect included); fetch with a timer that aborts until the response headers arrive
 * and a read watchdog after; the AWS SDK through its NodeHttpHandler `connectionTimeout` and
 * `socketTimeout` (socket idle; its `requestTimeout` bounds a whole request and only logs a warning
 * unless `throwOnRequestTimeout`, see @smithy/types NodeHttpHandlerOptions).
 */
import {parseDuration} from '../config/parse.js'

export const DEFAULT_HTTP_TIMEOUT_MS = 30_000
/** A connection either comes up in a few seconds or not at all; never longer than the idle bound. */
const MAX_CONNECT_MS = 10_000

export interface HttpTimeouts {
  /** TCP + TLS connection establishment. */
  connectMs: number
  /** No bytes from the peer for this long: it is gone. */
  idleMs: number
}

let configured: number | undefined

/** Applies the resolved configuration (`http-timeout`); undefined restores the default. */
export function setHttpTimeout(ms: number | undefined): void {
  configured = ms
}

export function httpTimeouts(env: NodeJS.ProcessEnv = process.env): HttpTimeouts {
  const idleMs = configured ?? (env.AIP_HTTP_TIMEOUT ? parseDuration(env.AIP_HTTP_TIMEOUT, '$AIP_HTTP_TIMEOUT') : DEFAULT_HTTP_TIMEOUT_MS)
  return {connectMs: Math.min(MAX_CONNECT_MS, idleMs), idleMs}
}

/** "30s", "1m30s", "500ms": for messages ("timed out after 30s"). */
export function formatTimeout(ms: number): string {
  if (ms < 1000) return `${ms}ms`
  const s = Math.round(ms / 1000)
  if (s < 60 || s % 60 !== 0) return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${s % 60}s`
  return `${s / 60}m`
}

/** The error a timed-out request is destroyed with: networkErrorCode() maps ETIMEDOUT to exit 5. */
export function timeoutError(peer: string, ms: number): Error & {code: string} {
  return Object.assign(new Error(`${peer} timed out after ${formatTimeout(ms)}`), {code: 'ETIMEDOUT'})
}

/**
 * fetch with the policy: aborted when no response headers arrive within `idleMs` (undici's own
 * headersTimeout is 300 s), and when the body then stalls for `idleMs`. The caller's signal still
 * cancels. Rejections of a timeout carry `code: 'ETIMEDOUT'` and the message "timed out after Ns".
 */
export async function fetchWithTimeouts(fetchImpl: typeof globalThis.fetch, url: string, init: RequestInit = {}, peer = new URL(url).origin): Promise<Response> {
  const {idleMs} = httpTimeouts()
  const ac = new AbortController()
  let timer: NodeJS.Timeout | undefined
  const arm = (): void => {
    clearTimeout(timer)
    timer = setTimeout(() => ac.abort(timeoutError(peer, idleMs)), idleMs)
    timer.unref() // the request itself keeps the process alive; an unread body must not
  }
  const signal = init.signal ? AbortSignal.any([init.signal, ac.signal]) : ac.signal
  arm()
  let res: Response
  try {
    res = await fetchImpl(url, {...init, signal})
  } catch (error) {
    clearTimeout(timer)
    if (ac.signal.aborted && !init.signal?.aborted) throw ac.signal.reason
    throw error
  }
  if (!res.body) {
    clearTimeout(timer)
    return res
  }
  // the body: re-armed on every chunk, cleared at the end
  const reader = res.body.getReader()
  arm()
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const {done, value} = await reader.read()
        if (done) {
          clearTimeout(timer)
          controller.close()
          return
        }
        arm()
        controller.enqueue(value)
      } catch (error) {
        clearTimeout(timer)
        controller.error(ac.signal.aborted && !init.signal?.aborted ? ac.signal.reason : error)
      }
    },
    cancel(reason) {
      clearTimeout(timer)
      return reader.cancel(reason)
    },
  })
  return new Response(body, {status: res.status, statusText: res.statusText, headers: res.headers})
}
