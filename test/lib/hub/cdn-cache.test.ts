// The signed CDN URL a file's `resolve` redirects to is reused for its range reads until it
// expires, and refreshed when the CDN refuses it (issue 18).
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {HubClient} from '../../../src/lib/hub/index.js'
import {CdnUrlCache, signedUrlExpiry} from '../../../src/lib/hub/cdn-cache.js'
import {HubServer, seededBytes} from '../../support/hub-server.js'

let hub: HubServer
let commit: string
const FILE = 'model.safetensors'
const SIZE = 3_000_000

beforeAll(async () => {
  hub = await HubServer.start()
  commit = hub.addRepo('org/cdn', {files: {[FILE]: {size: SIZE, seed: 9}, 'config.json': '{}'}}).commit
})
afterAll(async () => hub?.stop())
afterEach(() => {
  hub.cdnUrlTtlSeconds = 3600
})

const readAll = async (r: NodeJS.ReadableStream) => {
  const parts: Buffer[] = []
  for await (const c of r) parts.push(c as Buffer)
  return Buffer.concat(parts)
}
/** Reads the file as `n` ranges, one after another, with one client. */
async function readRanges(c: HubClient, n: number): Promise<Buffer> {
  const out: Buffer[] = []
  const step = Math.ceil(SIZE / n)
  for (let s = 0; s < SIZE; s += step) {
    const f = await c.streamFile('org/cdn', FILE, commit, {start: s, end: Math.min(s + step, SIZE) - 1})
    expect(f.status).toBe(206)
    out.push(await readAll(f.stream))
  }
  return Buffer.concat(out)
}

describe('signed CDN URLs', () => {
  it('reads the expiry of CloudFront (Expires=) and SigV4 (X-Amz-Date + X-Amz-Expires) signed URLs', () => {
    expect(signedUrlExpiry('https://cdn-lfs.hf.co/repos/ab/cd/x?response-content-disposition=a&Expires=1767225600&Policy=p&Signature=s&Key-Pair-Id=K')).toBe(1767225600 * 1000)
    expect(signedUrlExpiry('https://cas-bridge.xethub.hf.co/xet-bridge-us/x?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T120000Z&X-Amz-Expires=3600&X-Amz-Signature=s')).toBe(Date.UTC(2026, 0, 1, 13))
    expect(signedUrlExpiry('https://mirror.example/file.bin')).toBeUndefined()
  })

  it('keeps a URL until a minute before it expires; one without an expiry for a while', () => {
    let now = Date.UTC(2026, 0, 1, 12)
    const cache = new CdnUrlCache(() => now)
    cache.set('a', 'https://cdn/x?X-Amz-Date=20260101T120000Z&X-Amz-Expires=3600&X-Amz-Signature=s')
    cache.set('b', 'https://cdn/y?X-Amz-Date=20260101T120000Z&X-Amz-Expires=30&X-Amz-Signature=s') // under a minute: not kept
    cache.set('c', 'https://mirror/z')
    expect(cache.get('a')).toContain('https://cdn/x')
    expect(cache.get('b')).toBeUndefined()
    expect(cache.get('c')).toBe('https://mirror/z')
    now += 59 * 60_000 + 1
    expect(cache.get('a')).toBeUndefined()
    expect(cache.get('c')).toBeUndefined()
  })

  it('the ranges of one file go straight to the CDN URL: one resolve for all of them', async () => {
    const c = new HubClient({endpoint: hub.url, maxRetryWaitMs: 20})
    const before = hub.resolveRequests(FILE).length
    expect((await readRanges(c, 6)).equals(seededBytes(SIZE, 9))).toBe(true)
    expect(hub.resolveRequests(FILE).length - before).toBe(1)
    // another client has its own cache (a new process resolves again)
    await readRanges(new HubClient({endpoint: hub.url}), 2)
    expect(hub.resolveRequests(FILE).length - before).toBe(2)
  })

  it('a URL the CDN refuses (403: expired or revoked signature) is resolved again, once, and the new one reused', async () => {
    const c = new HubClient({endpoint: hub.url, maxRetryWaitMs: 20})
    await readRanges(c, 2)
    const before = hub.requests.length
    hub.revokeCdnUrls()
    expect((await readRanges(c, 3)).equals(seededBytes(SIZE, 9))).toBe(true)
    const reqs = hub.requests.slice(before)
    expect(reqs.filter((r) => r.refused)).toHaveLength(1) // the old URL, once
    expect(reqs.filter((r) => r.url.includes('/resolve/'))).toHaveLength(1)
    expect(reqs.filter((r) => r.content && !r.refused)).toHaveLength(3)
  })

  it('a URL about to expire is not reused: every range resolves again', async () => {
    hub.cdnUrlTtlSeconds = 30
    const c = new HubClient({endpoint: hub.url, maxRetryWaitMs: 20})
    const before = hub.requests.length
    await readRanges(c, 3)
    const reqs = hub.requests.slice(before)
    expect(reqs.filter((r) => r.url.includes('/resolve/'))).toHaveLength(3)
    expect(reqs.filter((r) => r.refused)).toEqual([])
  })

  it('an expired URL is refused by the loopback CDN as by the real one (403 AccessDenied)', async () => {
    hub.cdnUrlTtlSeconds = 0
    const c = new HubClient({endpoint: hub.url, retries: 1})
    const err = await c.streamFile('org/cdn', FILE, commit, {start: 0, end: 9}).catch((e: unknown) => e)
    expect((err as {details?: {status?: number}}).details?.status).toBe(403)
  })

  it("a refusal by the file storage is reported as the storage's, not as HF_TOKEN lacking access", async () => {
    hub.cdnUrlTtlSeconds = 0
    const c = new HubClient({endpoint: hub.url, retries: 1, token: 'hf_secret_token_value'})
    const err = (await c.streamFile('org/cdn', FILE, commit, {start: 0, end: 9}).catch((e: unknown) => e)) as Error & {fix?: string; details?: {storage?: string}}
    expect(err.message).toContain(`the Hub's file storage at ${hub.url} refused org/cdn/${FILE}`)
    expect(err.message).toMatch(/\(403: AccessDenied: Request has expired\)/)
    expect(err.message).not.toContain('HF_TOKEN')
    expect(err.message).not.toContain('hf_secret_token_value')
    expect(err.fix).toContain('proxy or firewall')
    expect(err.details?.storage).toBe(hub.url)
    // the Hub's own 403 (no access to a gated repo) still names HF_TOKEN
    hub.addRepo('org/gated', {files: {'config.json': '{}'}, gated: true, allow: []})
    const gated = (await c.streamFile('org/gated', 'config.json', 'main').catch((e: unknown) => e)) as Error & {fix?: string}
    // (the loopback Hub does not know this token: 401 with X-Error-Code GatedRepo)
    expect(gated.message).toBe('the Hub rejected HF_TOKEN for org/gated (401 GatedRepo)')
    expect(gated.fix).toMatch(/^set HF_TOKEN to a token with access to org\/gated \(request access at /)
    expect(gated.message).not.toContain('file storage')
  })
})
