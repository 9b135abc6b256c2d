import {createServer} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'

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

  it('fetch: a body that stalls mid-way fails after the bound; a slow but steady body does not', async () => {
    setHttpTimeout(400)
    const s = await serve((req, res) => {
      res.writeHead(200, {'content-type': 'text/plain'})
      if (req.url === '/stall') {
        res.write('part')
        return
      }
      // a chunk every 150 ms for 900 ms: longer than the bound in total, never idle for it
      let n = 0
      const t = setInterval(() => {
        res.write(`${n}`)
        if (++n === 6) {
          clearInterval(t)
          res.end()
        }
      }, 150)
    })
    try {
      const stalled = await fetchWithTimeouts(fetch, `${s.url}/stall`)
      const err = await stalled.text().catch((e: unknown) => e)
      expect(networkErrorCode(err)).toBe('ETIMEDOUT')
      const steady = await fetchWithTimeouts(fetch, `${s.url}/steady`)
      expect(await steady.text()).toBe('012345')
    } finally {
      await s.close()
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
