import {createHash} from 'node:crypto'
import {createServer, type Server} from 'node:http'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {AipError, NotFoundError, UnauthorizedError, UnreachableError} from '../../../src/lib/errors.js'
import {HubClient, hubConfigFromEnv} from '../../../src/lib/hub/index.js'
import {HubServer, makeSafetensors, seededBytes} from '../../support/hub-server.js'

let hub: HubServer
let commit: string
const TOKEN = 'hf_testtokenAAAAAAAAAAAA'
const shard1 = makeSafetensors(
  [
    {name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [64, 16]},
    {name: 'model.layers.0.mlp.up_proj.weight', dtype: 'BF16', shape: [32, 16]},
  ],
  {metadata: {format: 'pt'}},
)
const shard2 = makeSafetensors([{name: 'lm_head.weight', dtype: 'F32', shape: [64, 16]}], {seed: 3})

beforeAll(async () => {
  hub = await HubServer.start()
  commit = hub.addRepo('org/sharded', {
    files: {
      'config.json': JSON.stringify({model_type: 'llama', hidden_size: 16}),
      'model-00001-of-00002.safetensors': shard1,
      'model-00002-of-00002.safetensors': shard2,
      'model.safetensors.index.json': JSON.stringify({metadata: {total_size: 123}, weight_map: {'model.embed_tokens.weight': 'model-00001-of-00002.safetensors', 'model.layers.0.mlp.up_proj.weight': 'model-00001-of-00002.safetensors', 'lm_head.weight': 'model-00002-of-00002.safetensors'}}),
      'big.bin': {size: 3_000_000, seed: 7},
    },
  }).commit
  hub.addRepo('org/single', {files: {'model.safetensors': makeSafetensors([{name: 'w', dtype: 'F16', shape: [4, 4]}])}})
  hub.addRepo('org/gated', {files: {'config.json': '{}'}, gated: true, allow: [TOKEN]})
  hub.tokens.add('hf_otheruserBBBBBBBBBBBB')
})
afterAll(async () => hub?.stop())

const client = (token?: string) => new HubClient({endpoint: hub.url, token, maxRetryWaitMs: 50})

describe('hubConfigFromEnv', () => {
  it('prefers HF_ENDPOINT, then the config value, then huggingface.co; HF_TOKEN then HUGGING_FACE_HUB_TOKEN', () => {
    expect(hubConfigFromEnv({HF_ENDPOINT: 'http://a/'}, 'http://b')).toEqual({endpoint: 'http://a'})
    expect(hubConfigFromEnv({}, 'http://b')).toEqual({endpoint: 'http://b'})
    expect(hubConfigFromEnv({HUGGING_FACE_HUB_TOKEN: 't2'})).toEqual({endpoint: 'https://huggingface.co', token: 't2'})
    expect(hubConfigFromEnv({HF_TOKEN: 't1', HUGGING_FACE_HUB_TOKEN: 't2'}).token).toBe('t1')
  })
})

describe('HubClient', () => {
  it('reads model info with siblings, sizes and LFS sha256', async () => {
    const info = await client().modelInfo('org/sharded')
    expect(info.sha).toBe(commit)
    const big = info.siblings.find((s) => s.rfilename === 'big.bin')!
    expect(big.size).toBe(3_000_000)
    expect(big.lfs?.sha256).toBe(createHash('sha256').update(seededBytes(3_000_000, 7)).digest('hex'))
    const cfg = info.siblings.find((s) => s.rfilename === 'config.json')!
    expect(cfg.lfs).toBeUndefined()
    expect(cfg.size).toBeGreaterThan(10)
  })

  it('resolves a branch to its commit sha and accepts the sha itself', async () => {
    expect(await client().resolveRevision('org/sharded', 'main')).toBe(commit)
    expect(await client().resolveRevision('org/sharded', commit)).toBe(commit)
  })

  it('fetches JSON and streams a Range of an LFS file through the redirect', async () => {
    expect(await client().fetchJson('org/sharded', 'config.json')).toEqual({model_type: 'llama', hidden_size: 16})
    const f = await client().openFile('org/sharded', 'big.bin', commit, {start: 1000, end: 1999})
    expect(f.status).toBe(206)
    expect(f.totalSize).toBe(3_000_000)
    const bytes = Buffer.from(await new Response(f.body).arrayBuffer())
    expect(bytes.equals(seededBytes(3_000_000, 7).subarray(1000, 2000))).toBe(true)
    // resolve was answered with a redirect, the bytes came from the content path
    expect(hub.requests.some((r) => r.url.startsWith('/cdn/org/sharded/') && r.range === 'bytes=1000-1999')).toBe(true)
  })

  it('reads a safetensors header with two Range requests, without downloading the data', async () => {
    const before = hub.requests.length
    const h = await client().readSafetensorsHeader('org/sharded', 'model-00002-of-00002.safetensors', commit)
    expect(h.tensors['lm_head.weight']).toEqual({dtype: 'F32', shape: [64, 16], data_offsets: [0, 64 * 16 * 4]})
    const ranges = hub.requests.slice(before).filter((r) => r.content).map((r) => r.range)
    expect(ranges[0]).toBe('bytes=0-7')
    expect(ranges[1]).toMatch(/^bytes=8-\d+$/)
  })

  it('lists the tensors of all shards via the index, and of a single-file repo', async () => {
    const all = await client().listSafetensorsTensors('org/sharded', commit)
    expect(Object.keys(all.tensors).sort()).toEqual(['lm_head.weight', 'model.embed_tokens.weight', 'model.layers.0.mlp.up_proj.weight'])
    expect(all.tensors['lm_head.weight']!.file).toBe('model-00002-of-00002.safetensors')
    expect(all.files[0]!.metadata).toEqual({format: 'pt'})
    expect(all.metadata).toEqual({total_size: 123})
    const single = await client().listSafetensorsTensors('org/single')
    expect(single.files.map((f) => f.path)).toEqual(['model.safetensors'])
    expect(single.tensors.w).toMatchObject({dtype: 'F16', shape: [4, 4]})
  })

  it('maps a gated repo without a token to UnauthorizedError naming HF_TOKEN (401)', async () => {
    const err = await client().modelInfo('org/gated').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect((err as AipError).exitCode).toBe(6)
    expect((err as AipError).fix).toContain('set HF_TOKEN to a token with access to org/gated')
  })

  it('maps a token without access to 403 UnauthorizedError, and never puts the token in the message', async () => {
    const other = 'hf_otheruserBBBBBBBBBBBB'
    const err = (await client(other).modelInfo('org/gated').catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect(err.message).toContain('403')
    expect(JSON.stringify(err.toJSON())).not.toContain(other)
    expect((await client(TOKEN).modelInfo('org/gated')).id).toBe('org/gated')
  })

  it('maps unknown repo, revision and file to NotFoundError naming them', async () => {
    const repo = (await client().modelInfo('org/nope').catch((e: unknown) => e)) as AipError
    expect(repo).toBeInstanceOf(NotFoundError)
    expect(repo.message).toContain('org/nope')
    const rev = (await client().modelInfo('org/sharded', 'v9').catch((e: unknown) => e)) as AipError
    expect(rev).toBeInstanceOf(NotFoundError)
    expect(rev.message).toContain('"v9"')
    expect(rev.message).toContain('org/sharded')
    const file = (await client().fetchText('org/sharded', 'nope.json').catch((e: unknown) => e)) as AipError
    expect(file).toBeInstanceOf(NotFoundError)
    expect(file.message).toContain('nope.json')
  })

  it('retries 429 honouring Retry-After, then fails with FAILED when it persists', async () => {
    const retries: number[] = []
    const c = new HubClient({endpoint: hub.url, retries: 4, onRetry: (r) => retries.push(r.status ?? 0)})
    hub.rateLimitNext(2, 0)
    expect((await c.modelInfo('org/sharded')).sha).toBe(commit)
    expect(retries).toEqual([429, 429])
    hub.rateLimitNext(10, 0)
    const err = (await c.modelInfo('org/sharded').catch((e: unknown) => e)) as AipError
    hub.rateLimitNext(0)
    expect(err.code).toBe('FAILED')
    expect(err.message).toContain('429')
  })

  it('maps connection refused to UnreachableError naming the endpoint', async () => {
    const srv: Server = createServer()
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    const port = (srv.address() as {port: number}).port
    await new Promise<void>((r) => srv.close(() => r()))
    const err = (await new HubClient({endpoint: `http://127.0.0.1:${port}`}).modelInfo('org/x').catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(UnreachableError)
    expect(err.exitCode).toBe(5)
    expect(err.message).toContain(`127.0.0.1:${port}`)
    expect(err.fix).toContain('HF_ENDPOINT')
  })

  it('sends the token to the Hub but not across origins on redirects', async () => {
    const seen: Array<string | undefined> = []
    const cdn = createServer((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(200, {'content-length': '2'})
      res.end('ok')
    })
    await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r))
    const cdnPort = (cdn.address() as {port: number}).port
    const front = createServer((req, res) => {
      seen.push(req.headers.authorization)
      res.writeHead(302, {location: `http://localhost:${cdnPort}/blob`})
      res.end()
    })
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r))
    const c = new HubClient({endpoint: `http://127.0.0.1:${(front.address() as {port: number}).port}`, token: TOKEN})
    expect(await c.fetchText('org/x', 'a.txt')).toBe('ok')
    expect(seen).toEqual([`Bearer ${TOKEN}`, undefined])
    cdn.close()
    front.close()
  })

  describe('streamFile (node:http, the preload path)', () => {
    const readAll = async (r: NodeJS.ReadableStream) => {
      const parts: Buffer[] = []
      for await (const c of r) parts.push(c as Buffer)
      return Buffer.concat(parts)
    }

    it('streams a whole LFS file and a Range of it through the redirect, with the same metadata as openFile', async () => {
      const whole = await client().streamFile('org/sharded', 'big.bin', commit)
      expect(whole.status).toBe(200)
      expect(whole.totalSize).toBe(3_000_000)
      expect(whole.commit).toBe(commit)
      expect((await readAll(whole.stream)).equals(seededBytes(3_000_000, 7))).toBe(true)
      const before = hub.requests.length
      const part = await client().streamFile('org/sharded', 'big.bin', commit, {start: 2_999_000})
      expect(part.status).toBe(206)
      expect(part.start).toBe(2_999_000)
      expect(part.length).toBe(1000)
      expect(part.totalSize).toBe(3_000_000)
      const f = await client().openFile('org/sharded', 'big.bin', commit, {start: 2_999_000})
      expect(part.etag).toBe(f.etag)
      await f.body.cancel()
      expect((await readAll(part.stream)).equals(seededBytes(3_000_000, 7).subarray(2_999_000))).toBe(true)
      const reqs = hub.requests.slice(before)
      expect(reqs[0]!.url).toContain('/resolve/')
      expect(reqs[1]!.url.startsWith('/cdn/org/sharded/')).toBe(true)
      expect(reqs[1]!.range).toBe('bytes=2999000-')
    })

    it('maps errors like openFile: gated 401 naming HF_TOKEN, unknown file 404, persistent 429 FAILED', async () => {
      const gated = (await client().streamFile('org/gated', 'config.json').catch((e: unknown) => e)) as AipError
      expect(gated).toBeInstanceOf(UnauthorizedError)
      expect(gated.fix).toContain('set HF_TOKEN to a token with access to org/gated')
      const ok = await client(TOKEN).streamFile('org/gated', 'config.json')
      expect((await readAll(ok.stream)).toString()).toBe('{}')
      const missing = (await client().streamFile('org/sharded', 'nope.bin', commit).catch((e: unknown) => e)) as AipError
      expect(missing).toBeInstanceOf(NotFoundError)
      expect(missing.details?.kind).toBe('entry')
      expect(missing.message).toContain('nope.bin')
      const retries: number[] = []
      const c = new HubClient({endpoint: hub.url, retries: 3, maxRetryWaitMs: 10, onRetry: (r) => retries.push(r.status ?? 0)})
      hub.rateLimitNext(2, 0)
      expect((await readAll((await c.streamFile('org/sharded', 'config.json', commit)).stream)).toString()).toContain('llama')
      expect(retries).toEqual([429, 429])
      hub.rateLimitNext(10, 0)
      const limited = (await c.streamFile('org/sharded', 'config.json', commit).catch((e: unknown) => e)) as AipError
      hub.rateLimitNext(0)
      expect(limited.code).toBe('FAILED')
      expect(limited.message).toContain('429')
    })

    it('maps connection refused to UnreachableError, and drops the token across origins on redirects', async () => {
      const srv: Server = createServer()
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
      const port = (srv.address() as {port: number}).port
      await new Promise<void>((r) => srv.close(() => r()))
      const err = (await new HubClient({endpoint: `http://127.0.0.1:${port}`, retries: 1}).streamFile('org/x', 'a.bin').catch((e: unknown) => e)) as AipError
      expect(err).toBeInstanceOf(UnreachableError)
      expect(err.message).toContain(`127.0.0.1:${port}`)

      const seen: Array<string | undefined> = []
      const cdn = createServer((req, res) => {
        seen.push(req.headers.authorization)
        res.writeHead(200, {'content-length': '2'})
        res.end('ok')
      })
      await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r))
      const cdnPort = (cdn.address() as {port: number}).port
      const front = createServer((req, res) => {
        seen.push(req.headers.authorization)
        res.writeHead(302, {location: `http://localhost:${cdnPort}/blob`})
        res.end()
      })
      await new Promise<void>((r) => front.listen(0, '127.0.0.1', r))
      const c = new HubClient({endpoint: `http://127.0.0.1:${(front.address() as {port: number}).port}`, token: TOKEN})
      expect((await readAll((await c.streamFile('org/x', 'a.bin')).stream)).toString()).toBe('ok')
      expect(seen).toEqual([`Bearer ${TOKEN}`, undefined])
      cdn.closeAllConnections()
      front.closeAllConnections()
      cdn.close()
      front.close()
    })
  })
})
