/**
 * The preload Job's program (templates/jobs/preload.py), run for real with python3 against the
 * loopback Hub and s3rver, with the environment the rendered Job gives it: streaming multipart
 * upload, sha256 / git blob verification, the marker of `aip model preload`, Range resume, Pod
 * Identity credentials from the agent endpoint, and SigV4 signatures checked against AWS's own signer.
 */
import {spawn, spawnSync} from 'node:child_process'
import {createHash, createHmac} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type Server} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {CreateBucketCommand, ListMultipartUploadsCommand, ListPartsCommand, type S3Client} from '@aws-sdk/client-s3'
import {SignatureV4} from '@smithy/signature-v4'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import type {CatalogEntry} from '../../../src/lib/catalog/schema.js'
import {resolveWeightsLocation} from '../../../src/lib/preload/layout.js'
import {DEFAULT_EXCLUDE, DEFAULT_INCLUDE, selectFiles} from '../../../src/lib/preload/select.js'
import {preloadScript, renderPreloadJob, type RenderOptions} from '../../../src/lib/render/index.js'
import {HubServer, seededBytes} from '../../support/hub-server.js'
import {bucketContents, S3RVER_CREDENTIALS, S3rverHandle, s3rverClient} from '../../support/s3rver.js'

const MiB = 1024 * 1024
const hasPython = spawnSync('python3', ['--version']).status === 0
const REPO = 'acme/stream-llm'
const TOKEN = 'hf_jobtokenJJJJJJJJJJJJJJJJ'
const FILES = {
  'config.json': JSON.stringify({model_type: 'llama', hidden_size: 64}),
  'model-00001-of-00002.safetensors': {size: 12 * MiB + 7, seed: 5},
  'model-00002-of-00002.safetensors': {size: 3 * MiB, seed: 6},
  'tokenizer.json': '{"v":1}',
  'original/consolidated.00.pth': {size: 2 * MiB, seed: 9, lfs: true},
  'README.md': '# not weights',
}

let hub: HubServer
let s3h: S3rverHandle
let s3: S3Client
let commit: string
let n = 0
const tmp = mkdtempSync(join(tmpdir(), 'aip-preload-job-'))

beforeAll(async () => {
  if (!hasPython) return
  hub = await HubServer.start()
  commit = hub.addRepo(REPO, {files: FILES}).commit
  hub.addRepo('acme/gated-llm', {files: {'config.json': '{}', 'model.safetensors': {size: MiB, seed: 2}}, gated: true, allow: [TOKEN]})
  s3h = await S3rverHandle.start()
  s3 = await s3rverClient(s3h)
})
afterAll(async () => {
  await hub?.stop()
  await s3h?.stop()
  rmSync(tmp, {recursive: true, force: true})
})

async function bucket(): Promise<string> {
  const name = `job${++n}-${Date.now().toString(36)}`
  await s3.send(new CreateBucketCommand({Bucket: name}))
  return name
}

function entryFor(repo: string, revision: string, gated = false): CatalogEntry {
  const e = getCatalogEntry('qwen3-8b')
  return {...e, name: 'stream-llm', hf: {...e.hf, repo, revision, gated}}
}

/** The container's env as the Job renders it, with valueFrom resolved as the kubelet would. */
function jobEnv(entry: CatalogEntry, b: string, opts: {token?: string; extra?: Record<string, string>} = {}): {script: string; env: NodeJS.ProcessEnv} {
  const render: RenderOptions = {
    namespace: 'aip-models',
    gatewayNamespace: 'aip-gateway',
    monitoringNamespace: 'monitoring',
    bucket: b,
    prefix: 'models',
    region: 'us-east-1',
    s3Endpoint: s3h.endpoint,
    hfEndpoint: hub.url,
    prometheusUrl: 'http://p:9090',
    capabilities: {keda: false, serviceMonitor: false, prometheusRule: false},
  }
  const job = renderPreloadJob(entry, render) as any
  const c = job.spec.template.spec.containers[0]
  const env: NodeJS.ProcessEnv = {PATH: process.env.PATH}
  for (const v of c.env as Array<{name: string; value?: string; valueFrom?: unknown}>) {
    if (v.value !== undefined) env[v.name] = v.value
    else if (v.name === 'HF_TOKEN' && opts.token) env.HF_TOKEN = opts.token
  }
  env.TMPDIR = tmp
  env.HOME = tmp
  // 5 MiB parts (S3's minimum) so a 12 MiB file is a 3-part upload
  env.AIP_PART_BYTES = String(5 * MiB)
  return {script: c.command[2], env: {...env, ...opts.extra}}
}

function run(script: string, env: NodeJS.ProcessEnv): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve) => {
    const p = spawn('python3', ['-c', script], {env})
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', (d) => (stdout += d))
    p.stderr.on('data', (d) => (stderr += d))
    p.on('close', (code) => resolve({code: code ?? -1, stdout, stderr}))
  })
}

const s3Creds = {AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey}

describe.skipIf(!hasPython)('preload Job program (python3, standard library) against the loopback Hub and s3rver', () => {
  it('streams the default selection into the preload layout with a marker `aip model preload` reads; a rerun skips at once', async () => {
    const b = await bucket()
    const {script, env} = jobEnv(entryFor(REPO, 'main'), b)
    const r = await run(script, {...env, ...s3Creds})
    expect(r.code, r.stderr + r.stdout).toBe(0)
    const root = `models/acme--stream-llm/${commit}/`
    const c = await bucketContents(s3, b)
    expect(c.get(`${root}model-00001-of-00002.safetensors`)!.equals(seededBytes(12 * MiB + 7, 5))).toBe(true)
    expect(c.get(`${root}model-00002-of-00002.safetensors`)!.equals(seededBytes(3 * MiB, 6))).toBe(true)
    expect(c.get(`${root}config.json`)!.toString()).toBe(FILES['config.json'])
    // same selection as `aip model preload`: no original/**, no README
    expect([...c.keys()].filter((k) => k.startsWith(root)).sort()).toEqual(
      [`${root}.aip-preload.json`, `${root}config.json`, `${root}model-00001-of-00002.safetensors`, `${root}model-00002-of-00002.safetensors`, `${root}tokenizer.json`].sort(),
    )
    // the branch resolves through refs/main, and the marker is the CLI's own schema
    expect(c.get('models/acme--stream-llm/refs/main')!.toString().trim()).toBe(commit)
    const loc = await resolveWeightsLocation(s3, {bucket: b, prefix: 'models', repo: REPO, revision: 'main'})
    expect(loc.uri).toBe(`s3://${b}/${root}`)
    const files = Object.fromEntries(loc.marker.files.map((f) => [f.path, f]))
    expect(files['model-00001-of-00002.safetensors']).toEqual({path: 'model-00001-of-00002.safetensors', size: 12 * MiB + 7, sha256: createHash('sha256').update(seededBytes(12 * MiB + 7, 5)).digest('hex'), lfs: true})
    expect(files['config.json']!.lfs).toBe(false)
    expect(loc.marker.totalBytes).toBe(Object.values(files).reduce((a, f) => a + f.size, 0))
    expect(r.stdout).toContain('preloaded acme/stream-llm@')

    const before = hub.requests.length
    const again = await run(script, {...env, ...s3Creds})
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('present: s3://')
    expect(hub.requests.length).toBe(before) // the marker answers: the Hub is not asked
  })

  it('a dropped Hub connection resumes at its byte offset with Range', async () => {
    const b = await bucket()
    hub.dropConnection('model-00001-of-00002.safetensors', MiB + 3, 1) // inside a 2 MiB range
    try {
      const {script, env} = jobEnv(entryFor(REPO, commit), b)
      const r = await run(script, {...env, ...s3Creds})
      expect(r.code, r.stderr + r.stdout).toBe(0)
      expect(r.stdout).toMatch(/connection lost at byte \d+.*resuming|ended early/s)
      const ranged = hub.contentRequests('model-00001-of-00002.safetensors').filter((q) => q.range)
      expect(ranged.length).toBeGreaterThan(0)
      const c = await bucketContents(s3, b)
      expect(c.get(`models/acme--stream-llm/${commit}/model-00001-of-00002.safetensors`)!.equals(seededBytes(12 * MiB + 7, 5))).toBe(true)
    } finally {
      hub.clearFaults()
    }
  })

  it('reads each file as ranges over several kept-alive connections (AIP_CONNECTIONS), straight from its CDN URL: one resolve per file', async () => {
    const b = await bucket()
    const big = 'model-00001-of-00002.safetensors'
    hub.throttle(16 * MiB)
    hub.resetConcurrency()
    const before = {resolves: hub.resolveRequests(big).length, content: hub.contentRequests(big).length, conns: hub.connectionsOpened, requests: hub.requests.length}
    try {
      const {script, env} = jobEnv(entryFor(REPO, commit), b, {extra: {AIP_CONNECTIONS: '3'}})
      const r = await run(script, {...env, ...s3Creds})
      expect(r.code, r.stderr + r.stdout).toBe(0)
      // range GETs ride 3 kept-alive connections; the model info and each file's resolve open their own
      const reads = hub.requests.slice(before.requests).filter((q) => q.method === 'GET' && q.content).length
      const others = hub.requests.slice(before.requests).length - reads
      expect(reads).toBeGreaterThanOrEqual(12)
      expect(hub.connectionsOpened - before.conns).toBeLessThanOrEqual(3 + others)
      expect(hub.rangeConcurrency(big)).toBeGreaterThanOrEqual(2)
      expect(hub.rangeConcurrency()).toBeLessThanOrEqual(3)
      // 12 MiB + 7 in 5 MiB parts, each cut into 2 MiB ranges (3 + 3 + 2), one GET each
      const ranges: string[] = []
      for (let p = 0; p < 12 * MiB + 7; p += 5 * MiB) for (let s = p; s < Math.min(p + 5 * MiB, 12 * MiB + 7); s += 2 * MiB) ranges.push(`GET bytes=${s}-${Math.min(s + 2 * MiB, p + 5 * MiB, 12 * MiB + 7) - 1}`)
      expect(hub.contentRequests(big).slice(before.content).map((q) => `${q.method} ${q.range}`).sort()).toEqual(ranges.sort())
      expect(hub.resolveRequests(big).length - before.resolves).toBe(1)
      const c = await bucketContents(s3, b)
      expect(c.get(`models/acme--stream-llm/${commit}/${big}`)!.equals(seededBytes(12 * MiB + 7, 5))).toBe(true)
    } finally {
      hub.clearFaults()
      hub.resetConcurrency()
    }
  })

  it('a CDN URL refused mid-run (expired or revoked signature: 403) is resolved again and the copy completes', async () => {
    const b = await bucket()
    const big = 'model-00001-of-00002.safetensors'
    hub.throttle(8 * MiB)
    const before = {resolves: hub.resolveRequests(big).length, requests: hub.requests.length}
    const watch = setInterval(() => {
      if (hub.contentRequests(big).length > 0 && hub.requests.slice(before.requests).some((q) => q.file === big && q.content)) {
        hub.revokeCdnUrls()
        clearInterval(watch)
      }
    }, 20)
    try {
      const {script, env} = jobEnv(entryFor(REPO, commit), b, {extra: {AIP_CONNECTIONS: '2'}})
      const r = await run(script, {...env, ...s3Creds})
      expect(r.code, r.stderr + r.stdout).toBe(0)
      expect(hub.requests.slice(before.requests).filter((q) => q.file === big && q.refused).length).toBeGreaterThanOrEqual(1)
      expect(hub.resolveRequests(big).length - before.resolves).toBe(2)
      const c = await bucketContents(s3, b)
      expect(c.get(`models/acme--stream-llm/${commit}/${big}`)!.equals(seededBytes(12 * MiB + 7, 5))).toBe(true)
    } finally {
      clearInterval(watch)
      hub.clearFaults()
    }
  })

  it('a rerun after the Job was killed mid-file continues its unfinished upload: the parts already there are not sent again', async () => {
    const b = await bucket()
    const big = 'model-00001-of-00002.safetensors'
    const key = `models/acme--stream-llm/${commit}/${big}`
    hub.throttle(4 * MiB)
    const {script, env} = jobEnv(entryFor(REPO, commit), b, {extra: {AIP_CONNECTIONS: '2'}})
    const p = spawn('python3', ['-c', script], {env: {...env, ...s3Creds}})
    const exited = new Promise((r) => p.on('close', r))
    try {
      // parts S3 lists (ListParts: whole parts; one being written when the Job dies is not one)
      const listed = async () => {
        const up = (await s3h.pendingUploads(b)).find((u) => u.key === key)
        return up ? ((await s3.send(new ListPartsCommand({Bucket: b, Key: key, UploadId: up.uploadId}))).Parts ?? []).length : 0
      }
      for (let i = 0; i < 400 && (await listed()) < 1; i++) await new Promise((r) => setTimeout(r, 50))
      p.kill('SIGKILL')
      await exited
    } finally {
      hub.clearFaults()
    }
    const up = (await s3h.pendingUploads(b)).find((u) => u.key === key)!
    const kept = ((await s3.send(new ListPartsCommand({Bucket: b, Key: key, UploadId: up.uploadId}))).Parts ?? []).length
    expect(kept).toBeGreaterThanOrEqual(1)
    const before = hub.requests.length
    const r = await run(script, {...env, ...s3Creds})
    expect(r.code, r.stderr + r.stdout).toBe(0)
    expect(r.stdout).toContain(`${big}: continuing its unfinished upload (${kept} parts there)`)
    expect(r.stdout).toMatch(new RegExp(`${big}: \\d+ parts reused from the unfinished upload`))
    expect(hub.requests.length).toBeGreaterThan(before) // the bytes are read again for the sha256
    expect(await s3h.pendingUploads(b)).toEqual([])
    const c = await bucketContents(s3, b)
    expect(c.get(key)!.equals(seededBytes(12 * MiB + 7, 5))).toBe(true)
    expect([...c.keys()].some((k) => k.endsWith('.aip-preload.json'))).toBe(true)
  })

  it('a corrupted download fails the Job: no marker, the multipart upload aborted', async () => {
    const b = await bucket()
    hub.corruptFile('model-00001-of-00002.safetensors', 6 * MiB)
    try {
      const {script, env} = jobEnv(entryFor(REPO, commit), b)
      const r = await run(script, {...env, ...s3Creds})
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('checksum mismatch for model-00001-of-00002.safetensors')
      const c = await bucketContents(s3, b)
      expect([...c.keys()].some((k) => k.endsWith('.aip-preload.json'))).toBe(false)
      expect([...c.keys()].some((k) => k.endsWith('model-00001-of-00002.safetensors'))).toBe(false)
      const uploads = await s3.send(new ListMultipartUploadsCommand({Bucket: b}))
      expect(uploads.Uploads ?? []).toEqual([])
    } finally {
      hub.clearFaults()
    }
  })

  it('a gated repo: without the token Secret it fails naming `aip secret set hf-token`; with it, it copies', async () => {
    const b = await bucket()
    const e = entryFor('acme/gated-llm', 'main', true)
    const without = jobEnv(e, b)
    const r = await run(without.script, {...without.env, ...s3Creds})
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('aip secret set hf-token')
    const withToken = jobEnv(e, b, {token: TOKEN})
    const ok = await run(withToken.script, {...withToken.env, ...s3Creds})
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout + ok.stderr).not.toContain(TOKEN)
  })

  it('S3 AccessDenied (no association for the ServiceAccount) fails naming bootstrap and doctor; nothing is marked preloaded', async () => {
    const b = await bucket()
    s3h.deny.add(b)
    try {
      const {script, env} = jobEnv(entryFor(REPO, commit), b)
      const r = await run(script, {...env, ...s3Creds})
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('AccessDenied')
      expect(r.stderr).toContain('aip cluster bootstrap')
      expect(r.stderr).toContain('aip doctor')
    } finally {
      s3h.deny.delete(b)
    }
    const c = await bucketContents(s3, b)
    expect([...c.keys()]).toEqual([])
  })

  it('takes credentials from the EKS Pod Identity agent endpoint (token file in the Authorization header)', async () => {
    const b = await bucket()
    const tokenFile = join(tmp, 'eks-pod-identity-token')
    writeFileSync(tokenFile, 'pod-identity-jwt')
    const seen: Array<string | undefined> = []
    const agent: Server = createServer((req, res) => {
      seen.push(req.headers.authorization)
      if (req.headers.authorization !== 'pod-identity-jwt') {
        res.writeHead(401).end()
        return
      }
      res.writeHead(200, {'content-type': 'application/json'})
      res.end(JSON.stringify({AccessKeyId: S3RVER_CREDENTIALS.accessKeyId, SecretAccessKey: S3RVER_CREDENTIALS.secretAccessKey, Token: 'session-token', Expiration: new Date(Date.now() + 3600_000).toISOString()}))
    })
    await new Promise<void>((r) => agent.listen(0, '127.0.0.1', r))
    try {
      const {script, env} = jobEnv(entryFor(REPO, commit), b, {
        extra: {AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${(agent.address() as {port: number}).port}/v1/credentials`, AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: tokenFile},
      })
      const r = await run(script, env)
      expect(r.code, r.stderr + r.stdout).toBe(0)
      expect(seen[0]).toBe('pod-identity-jwt')
      expect(seen.length).toBe(1) // cached until close to its expiry
    } finally {
      await new Promise<void>((r) => agent.close(() => r()))
    }
    // without any credentials source: the fix names bootstrap
    const {script, env} = jobEnv(entryFor(REPO, commit), await bucket())
    const r = await run(script, env)
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('aip cluster bootstrap')
  })
})

/** Node's crypto as the hash SignatureV4 takes (what @aws-crypto/sha256-js provides in the SDK). */
class Sha256 {
  private h
  constructor(secret?: unknown) {
    this.h = secret ? createHmac('sha256', secret as Uint8Array) : createHash('sha256')
  }
  update(d: unknown) {
    this.h.update(d as Uint8Array)
  }
  async digest() {
    return new Uint8Array(this.h.digest())
  }
}

function pySign(req: {method: string; url: string; headers: Record<string, string>; payload: string; token?: string}, date: Date): string {
  const code = `
import importlib.util, datetime, json, sys
spec = importlib.util.spec_from_file_location('p', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
a = json.loads(sys.argv[2])
now = datetime.datetime.fromtimestamp(a['t'], datetime.timezone.utc)
creds = {'id': 'AKIDEXAMPLE', 'secret': 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', 'token': a.get('token')}
print(m.sign(a['method'], a['url'], a['headers'], a['payload'], creds, region='eu-west-1', now=now)['Authorization'])
`
  const r = spawnSync('python3', ['-c', code, join(import.meta.dirname, '../../../templates/jobs/preload.py'), JSON.stringify({...req, t: date.getTime() / 1000})], {encoding: 'utf8'})
  if (r.status !== 0) throw new Error(r.stderr)
  return r.stdout.trim()
}

describe.skipIf(!hasPython)('preload Job SigV4 (hand-written with hmac/hashlib)', () => {
  it("matches AWS's documented S3 example (GET Object with Range)", () => {
    const code = `
import importlib.util, datetime, sys
spec = importlib.util.spec_from_file_location('p', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
h = m.sign('GET', 'https://examplebucket.s3.amazonaws.com/test.txt', {'Range': 'bytes=0-9'}, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
           {'id': 'AKIAIOSFODNN7EXAMPLE', 'secret': 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'}, region='us-east-1', now=datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc))
print(h['Authorization'])`
    const r = spawnSync('python3', ['-c', code, join(import.meta.dirname, '../../../templates/jobs/preload.py')], {encoding: 'utf8'})
    // https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html (Example: GET Object)
    expect(r.stdout.trim()).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    )
  })

  it("matches the AWS SDK's signer for the requests the Job sends (multipart, metadata, session token, odd keys)", async () => {
    const date = new Date('2026-03-04T05:06:07Z')
    const body = Buffer.from('<CompleteMultipartUpload></CompleteMultipartUpload>')
    const cases: Array<{method: string; path: string; query: Record<string, string>; headers: Record<string, string>; payload: Buffer; token?: string}> = [
      {method: 'POST', path: '/b/models/Org--M/abc/model-00001-of-00002.safetensors', query: {uploads: ''}, headers: {'content-type': 'application/octet-stream', 'x-amz-meta-sha256': 'ab'.repeat(32), 'content-length': '0'}, payload: Buffer.alloc(0)},
      {method: 'PUT', path: '/b/models/Org--M/abc/model.safetensors', query: {partNumber: '2', uploadId: 'VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA=='}, headers: {'content-length': '5'}, payload: Buffer.from('hello')},
      {method: 'POST', path: '/b/models/Org--M/abc/x.safetensors', query: {uploadId: 'a/b+c=='}, headers: {'content-type': 'application/xml', 'content-length': String(body.length)}, payload: body},
      {method: 'HEAD', path: '/b/models/Org--M/abc/tok%20en%2B%26.json', query: {}, headers: {}, payload: Buffer.alloc(0), token: 'FwoGZXIvYXdzE...session'},
    ]
    for (const c of cases) {
      const payload = createHash('sha256').update(c.payload).digest('hex')
      const qs = Object.entries(c.query).map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')
      const py = pySign({method: c.method, url: `https://s3.eu-west-1.amazonaws.com${c.path}${qs ? `?${qs}` : ''}`, headers: c.headers, payload, token: c.token}, date)
      const signer = new SignatureV4({
        service: 's3',
        region: 'eu-west-1',
        credentials: {accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: c.token},
        sha256: Sha256,
        uriEscapePath: false, // S3 signs the path as sent
        applyChecksum: false,
      })
      const signed = await signer.sign(
        {method: c.method, protocol: 'https:', hostname: 's3.eu-west-1.amazonaws.com', path: c.path, query: c.query, headers: {...c.headers, host: 's3.eu-west-1.amazonaws.com', 'x-amz-content-sha256': payload}},
        {signingDate: date},
      )
      expect(py, `${c.method} ${c.path}`).toBe(signed.headers.authorization)
    }
  })

  it('selects the files `aip model preload` selects (the same defaults and fallbacks as select.ts)', () => {
    const lists = [
      ['config.json', 'model.safetensors', 'original/consolidated.00.pth', 'README.md', 'tokenizer.model', 'sub/x.json'],
      ['config.json', 'pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin', 'tokenizer.json'],
      ['consolidated.safetensors', 'model-00001-of-00003.safetensors', 'params.json', 'tekken.json', 'onnx/model.onnx', 'chat_template.jinja'],
      ['consolidated.safetensors', 'params.json'],
    ]
    for (const names of lists) {
      const ts = selectFiles(names.map((rfilename) => ({rfilename})) as never)
      const code = `
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('p', sys.argv[1]); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
a = json.loads(sys.argv[2])
print(json.dumps(m.select(a['names'], a['include'], a['exclude'], True)))`
      const r = spawnSync('python3', ['-c', code, join(import.meta.dirname, '../../../templates/jobs/preload.py'), JSON.stringify({names, include: DEFAULT_INCLUDE, exclude: DEFAULT_EXCLUDE})], {encoding: 'utf8'})
      const [files, inc, exc] = JSON.parse(r.stdout) as [string[], string[], string[]]
      expect(files.sort(), names.join(',')).toEqual(ts.files.map((f) => f.rfilename).sort())
      expect(inc).toEqual(ts.include)
      expect(exc).toEqual(ts.exclude)
    }
  })

  it('is the program the Job runs', () => {
    expect(preloadScript()).toContain('def sign(')
  })
})
