/**
 * How the load tester sends one request. Two implementations of one small interface:
 * - `fetchTransport(fetch)`: any FetchLike (the service-proxy endpoint, tests' custom fetches);
 * - `nodeHttpTransport()`: node:http/https with a keep-alive Agent, for direct URLs. Measured on
 *   loopback (16-token SSE responses): about 0.5 ms of client CPU per request against about 1.45 ms
 *   with Node's fetch (undici's fetch wraps every body in WHATWG streams, writes headers and body
 *   separately and allocates per chunk). At concurrency 32 the workers finish together and send
 *   together, so that per-request CPU queues up in front of the last request of each wave and shows
 *   up as TTFT: the cheaper path is what keeps the tool's own overhead out of the numbers.
 */
import type {FetchLike} from '../metrics/transport.js'

export interface LeanResponse {
  ok: boolean
  status: number
  text(): Promise<string>
  /** The body as it arrives from the network; null when there is none. */
  body: AsyncIterable<Uint8Array> | null
  /**
   * Done with the body: `drain` reads what is left (after `[DONE]`, the end of the response) so
   * the keep-alive connection serves the next request; `drop` closes it (a failed response).
   */
  cancel(how: 'drain' | 'drop'): void
}

export interface SendInit {
  method: 'GET' | 'POST'
  headers: Record<string, string>
  body?: string
  signal?: AbortSignal
}

export interface Transport {
  send(url: string, init: SendInit): Promise<LeanResponse>
  /** Free pooled connections. */
  close(): void
}

export function fetchTransport(fetch: FetchLike): Transport {
  return {
    async send(url, init) {
      const res = await fetch(url, {method: init.method, headers: init.headers, body: init.body, signal: init.signal})
      let reader: ReadableStreamDefaultReader<Uint8Array> | undefined
      return {
        ok: res.ok,
        status: res.status,
        text: () => res.text(),
        body: res.body
          ? {
              async *[Symbol.asyncIterator]() {
                reader = res.body!.getReader()
                for (;;) {
                  const {done, value} = await reader.read()
                  if (done) return
                  yield value
                }
              },
            }
          : null,
        cancel: () => {
          if (reader) reader.cancel().catch(() => undefined)
          else res.body?.cancel().catch(() => undefined)
        },
      }
    },
    close() {},
  }
}

/** node:http(s) with keep-alive connections (Nagle off), at most `maxSockets` per origin. */
export async function nodeHttpTransport(maxSockets: number): Promise<Transport> {
  const [http, https] = await Promise.all([import('node:http'), import('node:https')])
  const agents = {
    'http:': new http.Agent({keepAlive: true, maxSockets, noDelay: true} as ConstructorParameters<typeof http.Agent>[0]),
    'https:': new https.Agent({keepAlive: true, maxSockets, noDelay: true} as ConstructorParameters<typeof https.Agent>[0]),
  }
  return {
    send(url, init) {
      const u = new URL(url)
      const mod = u.protocol === 'https:' ? https : http
      const agent = u.protocol === 'https:' ? agents['https:'] : agents['http:']
      const headers: Record<string, string | number> = {...init.headers}
      if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body)
      return new Promise<LeanResponse>((resolve, reject) => {
        const req = mod.request(u, {method: init.method, headers, agent, signal: init.signal}, (res) => {
          const status = res.statusCode ?? 0
          // a connection cut mid-body surfaces in the reader's loop; never as an unhandled 'error'
          res.on('error', () => undefined)
          resolve({
            ok: status >= 200 && status < 300,
            status,
            text: async () => {
              const parts: Buffer[] = []
              for await (const c of res) parts.push(c as Buffer)
              return Buffer.concat(parts).toString('utf8')
            },
            body: res,
            cancel: (how) => {
              if (how === 'drain' || res.complete) res.resume()
              else res.destroy()
            },
          })
        })
        req.on('socket', (s) => s.setNoDelay(true))
        req.on('error', reject)
        req.end(init.body)
      })
    },
    close() {
      agents['http:'].destroy()
      agents['https:'].destroy()
    },
  }
}
