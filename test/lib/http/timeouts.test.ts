import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterEach, describe, expect, it, vi} from 'vitest'

import {networkErrorCode} from '../../../src/lib/errors.js'
import {fetchWithTimeouts, formatTimeout, httpTimeouts, setHttpTimeout} from '../../../src/lib/http/timeouts.js'

afterEach(() => setHttpTimeout(undefined))

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{url: string; close: () => Promise<void>}> {
  const s = createServer(handler)
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  return {
    url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        s.closeAllConnections()
        s.close(() => r())
      }),
  }
}

describe('the HTTP timeout policy', () => {
  it('defaults to 30s, reads AIP_HTTP_TIMEOUT, and the configured value wins', () => {
    expect(httpTimeouts({})).toEqual({connectMs: 10_000, idleMs: 30_000})
    expect(httpTimeouts({AIP_HTTP_TIMEOUT: '2s'})).toEqual({connectMs: 2000, idleMs: 2000})
    setHttpTimeout(90_000)
    expect(httpTimeouts({AIP_HTTP_TIMEOUT: '2s'})).toEqual({connectMs: 10_000, idleMs: 90_000})
    expect(formatTimeout(30_000)).toBe('30s')
    expect(formatTimeout(90_000)).toBe('1m30s')
    expect(formatTimeout(120_000)).toBe('2m')
  })

  it('fetch: no response headers within the bound is ETIMEDOUT "timed out after"', async () => {
    setHttpTimeout(300)
    const s = await serve(() => undefined)
    try {
      const err = await fetchWithTimeouts(fetch, s.url, {}, 'the peer').catch((e: unknown) => e)
      expect(networkErrorCode(err)).toBe('ETIMEDOUT')
      expect((err as Error).message).toBe('the peer timed out after 300ms')
    } finally {
      await s.close()
    }
  })

  it('fetch: a body that stalls mid-way fails after the bound', async () => {
    setHttpTimeout(400)
    const s = await serve((_req, res) => {
      res.writeHead(200, {'content-type': 'text/plain'})
      res.write('part')
    })
    try {
      const stalled = await fetchWithTimeouts(fetch, `${s.url}/stall`)
      const err = await stalled.text().catch((e: unknown) => e)
      expect(networkErrorCode(err)).toBe('ETIMEDOUT')
    } finally {
      await s.close()
    }
  })

  // A live server writing every 150 ms against a 400 ms bound fails whenever the process stalls for
  // 250 ms (both timers due at once: the idle one fires before the read lands), so the steady case
  // runs on a scripted clock: the body's chunks arrive as the test advances the fake timers.
  it('fetch: a slow but steady body, longer than the bound in total, never idle for it, is not cut (scripted clock)', async () => {
    setHttpTimeout(400)
    vi.useFakeTimers()
    try {
      let peer!: ReadableStreamDefaultController<Uint8Array>
      // a fetch whose body the test writes; an abort errors the body with the signal's reason, as undici's does
      const scripted = (async (_url: string, init: RequestInit) => {
        const body = new ReadableStream<Uint8Array>({start: (c) => void (peer = c)})
        init.signal!.addEventListener('abort', () => peer.error(init.signal!.reason))
        return new Response(body)
      }) as typeof fetch
      const res = await fetchWithTimeouts(scripted, 'http://peer.invalid/steady')
      const reader = res.body!.getReader()
      let got = ''
      // a chunk every 390 ms for 2.3 s
      for (let n = 0; n < 6; n++) {
        await vi.advanceTimersByTimeAsync(390)
        peer.enqueue(new TextEncoder().encode(`${n}`))
        const {value} = await reader.read()
        got += new TextDecoder().decode(value)
      }
      peer.close()
      expect(await reader.read()).toMatchObject({done: true})
      expect(got).toBe('012345')
      // and the same body going quiet: cut exactly at the bound after its last chunk
      const res2 = await fetchWithTimeouts(scripted, 'http://peer.invalid/quiet')
      const reader2 = res2.body!.getReader()
      peer.enqueue(new TextEncoder().encode('x'))
      await reader2.read()
      const next = reader2.read().catch((e: unknown) => e)
      await vi.advanceTimersByTimeAsync(399)
      peer.enqueue(new TextEncoder().encode('y'))
      expect(await next).toMatchObject({done: false})
      let last: unknown = 'still reading'
      void reader2.read().then((v) => (last = v), (e: unknown) => (last = e))
      await vi.advanceTimersByTimeAsync(400)
      for (let i = 0; i < 20; i++) await Promise.resolve() // the abort's rejection, through both streams
      expect(networkErrorCode(last)).toBe('ETIMEDOUT')
    } finally {
      vi.useRealTimers()
    }
  })

  it("fetch: the caller's signal still cancels, with the caller's reason", async () => {
    const s = await serve(() => undefined)
    try {
      const ac = new AbortController()
      setTimeout(() => ac.abort(new Error('stop')), 50)
      const err = await fetchWithTimeouts(fetch, s.url, {signal: ac.signal}).catch((e: unknown) => e)
      expect((err as Error).message).toBe('stop')
    } finally {
      await s.close()
    }
  })
})
