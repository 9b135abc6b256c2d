import {randomBytes} from 'node:crypto'
import {gunzipSync} from 'node:zlib'

import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {AipError} from '../../../src/lib/errors.js'
import {createKubeClient, type KubeClient, type KubeObject} from '../../../src/lib/kube/index.js'
import {configMapDataBytes, CONFIGMAP_MAX_BYTES, deleteHistory, getRevision, HISTORY_LIMIT, historyName, listRevisions, recordRevision, type RecordInput} from '../../../src/lib/rollout/history.js'
import {diffSummaries, summarizeEntry} from '../../../src/lib/rollout/summary.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'

const NS = 'aip-models'
let api: KubeApiServer
let kube: KubeClient
let model = 'm0'
let seq = 0

function deployment(image: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {name: model, namespace: NS, labels: {app: model}},
    spec: {replicas: 1, selector: {matchLabels: {app: model}}, template: {metadata: {labels: {app: model}}, spec: {containers: [{name: 'vllm', image, ...extra}]}}},
  }
}

function input(image: string, source: RecordInput['source'] = 'deploy', objects?: KubeObject[]): RecordInput {
  const e = getCatalogEntry('qwen3-8b')
  const entry = {...e, image}
  return {source, summary: summarizeEntry(entry), options: {entry, render: {bucket: 'weights', namespace: NS}}, objects: objects ?? [deployment(image), {apiVersion: 'v1', kind: 'Service', metadata: {name: model, namespace: NS}, spec: {selector: {app: model}, ports: [{port: 8000}]}}]}
}

async function failure(p: Promise<unknown>): Promise<AipError> {
  try {
    await p
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected a failure')
}

beforeAll(async () => {
  api = await startKubeApiServer({namespaces: ['default', NS]})
  kube = await createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS, retry: {minDelayMs: 5, maxDelayMs: 50}})
})
afterAll(async () => {
  await api.stop()
})
beforeEach(() => {
  api.faults.clear()
  model = `m${++seq}`
})

describe('revision history', () => {
  it('records revisions in a labelled ConfigMap, newest first, with the objects exactly as given', async () => {
    expect(await listRevisions(kube, NS, model)).toEqual([])
    const a = input('vllm/vllm-openai:v0.10.0')
    const r1 = await recordRevision(kube, NS, model, a)
    expect(r1.revision).toBe(1)
    expect(r1.source).toBe('deploy')
    const r2 = await recordRevision(kube, NS, model, input('vllm/vllm-openai:v0.11.0', 'rollout'))
    expect(r2.revision).toBe(2)
    const list = await listRevisions(kube, NS, model)
    expect(list.map((r) => r.revision)).toEqual([2, 1])
    expect(list[1].objects).toEqual(a.objects)
    expect(list[1].summary.image).toBe('vllm/vllm-openai:v0.10.0')
    expect(list[0].source).toBe('rollout')
    expect((await getRevision(kube, NS, model, 1)).objects).toEqual(a.objects)

    const cm = api.store.get('v1', 'ConfigMap', NS, historyName(model))!
    expect(cm.metadata.labels).toMatchObject({'app.kubernetes.io/managed-by': 'aip', 'aip.dev/model': model, 'aip.dev/history': 'true'})
    expect(Object.keys(cm.data).sort()).toEqual(['revision-1.json', 'revision-2.json'])
    // the objects as gzip in binaryData
    expect(JSON.parse(gunzipSync(Buffer.from(cm.binaryData['revision-1.objects.gz'], 'base64')).toString())).toEqual(a.objects)
  })

  it('records nothing when the objects equal the newest revision (key order does not matter)', async () => {
    await recordRevision(kube, NS, model, input('img:v1'))
    await recordRevision(kube, NS, model, input('img:v2'))
    const again = input('img:v2')
    // same objects, keys in another order
    again.objects = again.objects.map((o) => Object.fromEntries(Object.entries(o).reverse()) as KubeObject)
    const r = await recordRevision(kube, NS, model, again)
    expect(r.revision).toBe(2)
    expect((await listRevisions(kube, NS, model)).map((x) => x.revision)).toEqual([2, 1])
    // equal to an OLDER revision is a new revision (rolling back to 1 records 3)
    const back = await recordRevision(kube, NS, model, {...input('img:v1', 'rollback'), restoredFrom: 1})
    expect(back.revision).toBe(3)
    expect(back.restoredFrom).toBe(1)
  })

  it(`keeps the last ${HISTORY_LIMIT} revisions, numbers keep increasing`, async () => {
    for (let i = 1; i <= 8; i++) await recordRevision(kube, NS, model, input(`img:v${i}`))
    const list = await listRevisions(kube, NS, model)
    expect(list.map((r) => r.revision)).toEqual([8, 7, 6, 5, 4])
    expect(list.map((r) => r.summary.image)).toEqual(['img:v8', 'img:v7', 'img:v6', 'img:v5', 'img:v4'])
  })

  it('writers racing never lose a revision (resourceVersion + conflict retry)', async () => {
    await recordRevision(kube, NS, model, input('img:v0'))
    // every writer reads the same resourceVersion before any of them writes: all but one meet 409
    const n = 4
    let reads = 0
    let release!: () => void
    const allRead = new Promise<void>((r) => (release = r))
    const racing = (k: KubeClient): KubeClient => {
      let first = true
      return Object.assign(Object.create(k) as KubeClient, {
        request: async (method: string, path: string, o?: object) => {
          const res = await k.request(method, path, o)
          if (method === 'GET' && first) {
            first = false
            if (++reads === n) release()
            await allRead
          }
          return res
        },
      })
    }
    api.clearRequests()
    const writers = await Promise.all(Array.from({length: n}, (_, i) => recordRevision(racing(kube), NS, model, input(`img:w${i}`))))
    expect(new Set(writers.map((r) => r.revision))).toEqual(new Set([2, 3, 4, 5]))
    const list = await listRevisions(kube, NS, model)
    expect(list.map((r) => r.revision)).toEqual([5, 4, 3, 2, 1])
    expect(new Set(list.slice(0, 4).map((r) => r.summary.image))).toEqual(new Set(['img:w0', 'img:w1', 'img:w2', 'img:w3']))
    expect(api.requests.filter((r) => r.method === 'PUT' && r.status === 409).length).toBeGreaterThanOrEqual(n - 1)
  })

  it('the first writers race on the create: AlreadyExists is retried as an update', async () => {
    let reads = 0
    let release!: () => void
    const allRead = new Promise<void>((r) => (release = r))
    const racing = (k: KubeClient): KubeClient => {
      let first = true
      return Object.assign(Object.create(k) as KubeClient, {
        request: async (method: string, path: string, o?: object) => {
          try {
            return await k.request(method, path, o)
          } finally {
            if (method === 'GET' && first) {
              first = false
              if (++reads === 2) release()
              await allRead
            }
          }
        },
      })
    }
    api.clearRequests()
    const [a, b] = await Promise.all([recordRevision(racing(kube), NS, model, input('img:a')), recordRevision(racing(kube), NS, model, input('img:b'))])
    expect([a.revision, b.revision].sort()).toEqual([1, 2])
    expect((await listRevisions(kube, NS, model)).map((r) => r.revision)).toEqual([2, 1])
    expect(api.requests.some((r) => r.method === 'POST' && r.status === 409)).toBe(true)
  })

  it('retries a 409 Conflict from the API server and gives up after the attempts with exit 1', async () => {
    await recordRevision(kube, NS, model, input('img:v1'))
    api.faults.failNext(2, {status: 409, reason: 'Conflict', match: {method: 'PUT', pathPrefix: `/api/v1/namespaces/${NS}/configmaps/${historyName(model)}`}})
    expect((await recordRevision(kube, NS, model, input('img:v2'))).revision).toBe(2)
    api.faults.failNext(10, {status: 409, reason: 'Conflict', match: {method: 'PUT', pathPrefix: `/api/v1/namespaces/${NS}/configmaps/${historyName(model)}`}})
    const e = await failure(recordRevision(kube, NS, model, input('img:v3'), {attempts: 3}))
    expect(e.exitCode).toBe(1)
    expect(e.message).toContain('kept changing')
    expect((await listRevisions(kube, NS, model)).map((r) => r.revision)).toEqual([2, 1])
  })

  it('stays under the 1 MiB ConfigMap limit: drops the oldest revisions, says so, keeps the new one', async () => {
    // ~300 KiB of incompressible objects per revision: three fit, four do not
    const big = (tag: string): KubeObject[] => [deployment(tag, {args: [randomBytes(300 * 1024).toString('base64').slice(0, 300 * 1024)]})]
    const notices: string[] = []
    for (let i = 1; i <= 5; i++) await recordRevision(kube, NS, model, input(`img:v${i}`, 'deploy', big(`img:v${i}`)), {onNotice: (m) => notices.push(m)})
    const list = await listRevisions(kube, NS, model)
    expect(list[0].revision).toBe(5)
    expect(list.length).toBeLessThan(5)
    expect(list.length).toBeGreaterThanOrEqual(2)
    expect(list.every((r) => r.objects.length === 1 && !r.objectsOmitted)).toBe(true)
    expect(notices.some((n) => /dropped revision\(s\) .*1 MiB/.test(n))).toBe(true)
    const cm = api.store.get('v1', 'ConfigMap', NS, historyName(model))!
    expect(configMapDataBytes(cm as {data?: Record<string, string>; binaryData?: Record<string, string>})).toBeLessThanOrEqual(CONFIGMAP_MAX_BYTES)
  })

  it('keeps a revision whose objects alone exceed the limit without its objects (rollback refuses it later)', async () => {
    await recordRevision(kube, NS, model, input('img:v1'))
    const notices: string[] = []
    const huge = [deployment('img:huge', {args: [randomBytes(1100 * 1024).toString('base64')]})]
    const r = await recordRevision(kube, NS, model, input('img:huge', 'deploy', huge), {onNotice: (m) => notices.push(m)})
    expect(r.objectsOmitted).toMatch(/size limit/)
    expect(notices.join('\n')).toMatch(/too large/)
    const list = await listRevisions(kube, NS, model)
    expect(list.map((x) => x.revision)).toEqual([2, 1])
    expect(list[0].objects).toEqual([])
    expect(list[0].objectsOmitted).toBeTruthy()
    // the digest is kept: the same huge deploy again records nothing
    expect((await recordRevision(kube, NS, model, input('img:huge', 'deploy', huge))).revision).toBe(2)
  })

  it('the loopback API server rejects a ConfigMap over 1 MiB as kube-apiserver does (422)', async () => {
    const res = await api.fetch(`/api/v1/namespaces/${NS}/configmaps`, {
      method: 'POST',
      headers: {'content-type': 'application/json'},
      body: JSON.stringify({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: `big-${model}`}, binaryData: {b: randomBytes(1024 * 1024 + 1).toString('base64')}}),
    })
    expect(res.status).toBe(422)
    expect(await res.text()).toContain('must have at most 1048576 bytes')
  })

  it('never stores Secrets or literal secret values; scrubs secret-looking option values', async () => {
    const secret: KubeObject = {apiVersion: 'v1', kind: 'Secret', metadata: {name: 'x', namespace: NS}}
    expect((await failure(recordRevision(kube, NS, model, input('img:v1', 'deploy', [secret])))).message).toContain('never stores Secrets')
    const literal = [deployment('img:v1', {env: [{name: 'HF_TOKEN', value: 'hf_abc'}]})]
    expect((await failure(recordRevision(kube, NS, model, input('img:v1', 'deploy', literal)))).message).toContain('HF_TOKEN')
    expect(api.store.get('v1', 'ConfigMap', NS, historyName(model))).toBeUndefined()
    // a name that only looks alike is fine (MAX_TOKENS is no token)
    expect((await recordRevision(kube, NS, `${model}-x`, input('img:v1', 'deploy', [deployment('img:v1', {env: [{name: 'MAX_TOKENS', value: '512'}]})]))).revision).toBe(1)
    // a reference is fine
    const ref = [deployment('img:v1', {env: [{name: 'HF_TOKEN', valueFrom: {secretKeyRef: {name: 'aip-hf-token', key: 'token'}}}]})]
    const i = input('img:v1', 'deploy', ref)
    i.options = {...i.options, hfToken: 'hf_secret', apiKey: 'sk-1', render: {hfTokenSecret: {name: 'aip-hf-token', key: 'token'}, bucket: 'b', s3Endpoint: 'https://AKIA:s3cr3t@minio.local:9000/'}}
    const r = await recordRevision(kube, NS, model, i)
    expect(r.options).not.toHaveProperty('hfToken')
    expect(r.options).not.toHaveProperty('apiKey')
    expect(r.options.render).toEqual({hfTokenSecret: {name: 'aip-hf-token', key: 'token'}, bucket: 'b', s3Endpoint: 'https://minio.local:9000/'})
    const raw = JSON.stringify(api.store.get('v1', 'ConfigMap', NS, historyName(model)))
    expect(raw).not.toContain('hf_secret')
    expect(raw).not.toContain('sk-1')
    expect(raw).not.toContain('s3cr3t')
  })

  it('getRevision: exit 4 listing the available numbers; deleteHistory removes the ConfigMap', async () => {
    let e = await failure(getRevision(kube, NS, model, 1))
    expect(e.exitCode).toBe(4)
    expect(e.message).toContain('no recorded revisions')
    await recordRevision(kube, NS, model, input('img:v1'))
    await recordRevision(kube, NS, model, input('img:v2'))
    e = await failure(getRevision(kube, NS, model, 7))
    expect(e.exitCode).toBe(4)
    expect(e.message).toContain('available: 1, 2')
    expect(await deleteHistory(kube, NS, model)).toBe(true)
    expect(await deleteHistory(kube, NS, model)).toBe(false)
    expect(await listRevisions(kube, NS, model)).toEqual([])
  })
})

describe('revision summaries', () => {
  it('names the catalog settings and the flags that differ from the catalog', () => {
    const e = getCatalogEntry('qwen3-8b')
    const s = summarizeEntry(e)
    expect(s).toMatchObject({model: 'qwen3-8b', hfRepo: e.hf.repo, hfRevision: e.hf.revision, image: e.image, maxModelLen: e.vllm.maxModelLen, tensorParallel: e.gpu.count, gpu: e.gpu.type})
    expect(s.overrides).toBeUndefined()
    const changed = summarizeEntry({...e, hf: {...e.hf, revision: 'a'.repeat(40)}, vllm: {...e.vllm, maxNumSeqs: 7, extraArgs: ['--enable-prefix-caching']}})
    expect(changed.overrides).toEqual({'vllm.maxNumSeqs': '7', 'vllm.extraArgs': '--enable-prefix-caching'})
    const d = diffSummaries(s, changed)
    expect(d).toContain(`hf revision: ${e.hf.revision.slice(0, 12)} -> aaaaaaaaaaaa`)
    expect(d).toContain('vllm.maxNumSeqs: (catalog) -> 7')
    expect(diffSummaries(s, s)).toEqual([])
  })
})
