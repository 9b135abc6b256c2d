// Tests of the loopback API server itself, over plain fetch (and client-node's own API classes).
import {readFileSync} from 'node:fs'
import {createServer, type IncomingHttpHeaders} from 'node:http'
import {afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished} from 'vitest'

import {aipGpuNode, systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {deployment, http, namespace, startKubeApiServer, type KubeApiServer} from './helpers.js'

let api: KubeApiServer
let req: ReturnType<typeof http>
const NS = 't1'

beforeAll(async () => {
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 20}, nodes: [systemNode(), systemNode()]})
  req = http(api)
  await req('POST', '/api/v1/namespaces', namespace(NS))
})
afterAll(async () => {
  await api.stop()
})
afterEach(() => api.faults.clear())

/** Reads a watch stream until `n` events arrived or the stream ended. */
async function watchEvents(path: string, n: number, signalAfter?: () => void): Promise<Array<{type: string; object: any}>> {
  const ac = new AbortController()
  const res = await api.fetch(path, {signal: ac.signal})
  expect(res.headers.get('content-type')).toBe('application/json')
  const reader = res.body!.getReader()
  const out: Array<{type: string; object: any}> = []
  let buf = ''
  signalAfter?.()
  try {
    while (out.length < n) {
      const {done, value} = await reader.read()
      if (done) break
      buf += Buffer.from(value).toString('utf8')
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        if (line.trim()) out.push(JSON.parse(line))
      }
    }
  } finally {
    ac.abort()
  }
  return out
}

describe('discovery', () => {
  it('serves /api, /apis, group versions and resource lists with namespaced flags and verbs', async () => {
    const core = await req('GET', '/api')
    expect(core.body).toMatchObject({kind: 'APIVersions', versions: ['v1']})
    const v1 = await req('GET', '/api/v1')
    expect(v1.contentType).toBe('application/json')
    const pods = v1.body.resources.find((r: any) => r.name === 'pods')
    expect(pods).toMatchObject({kind: 'Pod', namespaced: true})
    expect(pods.verbs).toEqual(expect.arrayContaining(['create', 'get', 'list', 'watch', 'patch', 'delete']))
    expect(v1.body.resources.find((r: any) => r.name === 'nodes').namespaced).toBe(false)
    expect(v1.body.resources.some((r: any) => r.name === 'pods/log')).toBe(true)
    const groups = (await req('GET', '/apis')).body
    const names = groups.groups.map((g: any) => g.name)
    for (const g of ['apps', 'batch', 'networking.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'autoscaling', 'admissionregistration.k8s.io', 'apiregistration.k8s.io', 'apiextensions.k8s.io']) expect(names).toContain(g)
    expect((await req('GET', '/apis/autoscaling/v2')).body.resources.map((r: any) => r.kind)).toContain('HorizontalPodAutoscaler')
    expect((await req('GET', '/apis/keda.sh/v1alpha1')).status).toBe(404)
  })

  it('registerCrd adds the group to discovery and stores an Established CRD object', async () => {
    api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor'})
    api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'PrometheusRule'})
    api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
    const mon = (await req('GET', '/apis/monitoring.coreos.com/v1')).body
    expect(mon.resources.map((r: any) => r.name).sort()).toEqual(expect.arrayContaining(['prometheusrules', 'servicemonitors']))
    expect((await req('GET', '/apis/karpenter.sh/v1')).body.resources[0]).toMatchObject({name: 'nodepools', namespaced: false})
    const crd = (await req('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/servicemonitors.monitoring.coreos.com')).body
    expect(crd.status.conditions.find((c: any) => c.type === 'Established').status).toBe('True')
    expect((await req('GET', '/apis')).body.groups.map((g: any) => g.name)).toContain('karpenter.sh')
  })

  it('a CRD created through the API is served; deleting it removes its objects', async () => {
    const crd = {apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: {name: 'scaledobjects.keda.sh'}, spec: {group: 'keda.sh', scope: 'Namespaced', names: {kind: 'ScaledObject', plural: 'scaledobjects'}, versions: [{name: 'v1alpha1', served: true, storage: true}]}}
    expect((await req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status).toBe(201)
    // no schema in the CRD: the KEDA validator of @kubernetes-models/keda checks it (triggers required)
    const so = {apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: {name: 's'}, spec: {scaleTargetRef: {name: 'd'}}}
    const bad = await req('POST', `/apis/keda.sh/v1alpha1/namespaces/${NS}/scaledobjects`, so)
    expect(bad.status).toBe(422)
    expect(bad.body.message).toBe('ScaledObject.keda.sh "s" is invalid: spec.triggers: Required value')
    expect((await req('POST', `/apis/keda.sh/v1alpha1/namespaces/${NS}/scaledobjects`, {...so, spec: {...so.spec, triggers: [{type: 'cpu', metadata: {value: '50'}}]}})).status).toBe(201)
    expect((await req('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/scaledobjects.keda.sh')).status).toBe(200)
    expect((await req('GET', '/apis/keda.sh/v1alpha1')).status).toBe(404)
    expect(api.store.all().some((o) => o.kind === 'ScaledObject')).toBe(false)
  })
})

describe('CRUD', () => {
  it('create sets uid, creationTimestamp, resourceVersion (no generation on a ConfigMap); duplicate -> AlreadyExists', async () => {
    const cm = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'c1', labels: {a: '1'}}, data: {k: 'v'}}
    const r = await req('POST', `/api/v1/namespaces/${NS}/configmaps`, cm)
    expect(r.status).toBe(201)
    expect(r.body.metadata).toMatchObject({name: 'c1', namespace: NS})
    // only kinds whose registry strategy sets it have metadata.generation (workloads, CRs ...)
    expect(r.body.metadata.generation).toBeUndefined()
    expect(r.body.metadata.uid).toMatch(/^[0-9a-f-]{36}$/)
    expect(Number(r.body.metadata.resourceVersion)).toBeGreaterThan(0)
    const dup = await req('POST', `/api/v1/namespaces/${NS}/configmaps`, cm)
    expect(dup.status).toBe(409)
    expect(dup.body).toEqual({kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'configmaps "c1" already exists', reason: 'AlreadyExists', details: {name: 'c1', group: '', kind: 'configmaps'}, code: 409})
  })

  it('get of a missing object -> 404 NotFound Status with details', async () => {
    const r = await req('GET', `/apis/apps/v1/namespaces/${NS}/deployments/nope`)
    expect(r.status).toBe(404)
    expect(r.contentType).toBe('application/json')
    expect(r.body).toMatchObject({kind: 'Status', status: 'Failure', reason: 'NotFound', message: 'deployments.apps "nope" not found', details: {name: 'nope', group: 'apps', kind: 'deployments'}, code: 404})
  })

  it('update with a stale resourceVersion -> 409 Conflict; a fresh one bumps it; an empty one is unconditional', async () => {
    const cur = (await req('GET', `/api/v1/namespaces/${NS}/configmaps/c1`)).body
    const ok = await req('PUT', `/api/v1/namespaces/${NS}/configmaps/c1`, {...cur, data: {k: 'v2'}})
    expect(ok.status).toBe(200)
    expect(Number(ok.body.metadata.resourceVersion)).toBeGreaterThan(Number(cur.metadata.resourceVersion))
    const stale = await req('PUT', `/api/v1/namespaces/${NS}/configmaps/c1`, {...cur, data: {k: 'v3'}})
    expect(stale.status).toBe(409)
    expect(stale.body.reason).toBe('Conflict')
    expect(stale.body.message).toBe('Operation cannot be fulfilled on configmaps "c1": the object has been modified; please apply your changes to the latest version and try again')
    const uncond = await req('PUT', `/api/v1/namespaces/${NS}/configmaps/c1`, {...cur, metadata: {...cur.metadata, resourceVersion: undefined}, data: {k: 'v4'}})
    expect(uncond.body.data.k).toBe('v4')
  })

  it('generation moves with spec changes only', async () => {
    const d = (await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment('gen', NS))).body
    expect(d.metadata.generation).toBe(1)
    const lab = await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/gen`, {metadata: {labels: {x: 'y'}}}, 'application/merge-patch+json')
    expect(lab.body.metadata.generation).toBe(1)
    const spec = await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/gen`, {spec: {replicas: 3}}, 'application/merge-patch+json')
    expect(spec.body.metadata.generation).toBe(2)
  })

  it('merge, strategic merge (containers by name) and JSON patch', async () => {
    const smp = await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/gen`, {spec: {template: {spec: {containers: [{name: 'side', image: 'busybox'}]}}}}, 'application/strategic-merge-patch+json')
    expect(smp.body.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['vllm', 'side'])
    const mp = await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/gen`, {spec: {template: {spec: {containers: [{name: 'only', image: 'x'}]}}}}, 'application/merge-patch+json')
    expect(mp.body.spec.template.spec.containers.map((c: any) => c.name)).toEqual(['only'])
    const jp = await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/gen`, [{op: 'replace', path: '/spec/replicas', value: 4}, {op: 'add', path: '/metadata/labels/j', value: 'p'}], 'application/json-patch+json')
    expect(jp.body.spec.replicas).toBe(4)
    expect(jp.body.metadata.labels.j).toBe('p')
    const bad = await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/gen`, [{op: 'remove', path: '/spec/nothing'}], 'application/json-patch+json')
    expect(bad.status).toBe(422)
  })

  it('the scale subresource reads and writes spec.replicas as an autoscaling/v1 Scale', async () => {
    const sc = await req('GET', `/apis/apps/v1/namespaces/${NS}/deployments/gen/scale`)
    expect(sc.body).toMatchObject({kind: 'Scale', apiVersion: 'autoscaling/v1', spec: {replicas: 4}, status: {selector: 'app=gen'}})
    const p = await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/gen/scale?fieldManager=hpa`, {spec: {replicas: 6}}, 'application/merge-patch+json')
    expect(p.body.spec.replicas).toBe(6)
    const d = api.store.get('apps/v1', 'Deployment', NS, 'gen')!
    expect(d.spec.replicas).toBe(6)
    expect(d.metadata.managedFields.find((m: any) => m.manager === 'hpa')).toMatchObject({operation: 'Update', subresource: 'scale', fieldsV1: {'f:spec': {'f:replicas': {}}}})
  })

  it('invalid names -> 422 Invalid with causes', async () => {
    const r = await req('POST', `/api/v1/namespaces/${NS}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'Bad_Name'}})
    expect(r.status).toBe(422)
    expect(r.body.reason).toBe('Invalid')
    expect(r.body.details.causes[0].field).toBe('metadata.name')
  })

  it('creating in a namespace that does not exist -> 404', async () => {
    const r = await req('POST', '/api/v1/namespaces/ghost/configmaps', {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x'}})
    expect(r.status).toBe(404)
    expect(r.body.message).toBe('namespaces "ghost" not found')
  })
})

describe('selectors', () => {
  beforeAll(async () => {
    for (const [name, labels] of [
      ['s1', {tier: 'gpu', env: 'prod'}],
      ['s2', {tier: 'cpu', env: 'prod'}],
      ['s3', {tier: 'gpu'}],
    ] as const) {
      await req('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name, labels}})
    }
  })
  const names = async (q: string) => (await req('GET', `/api/v1/namespaces/${NS}/serviceaccounts?${q}`)).body.items.map((i: any) => i.metadata.name).filter((n: string) => /^s\d$/.test(n))

  it.each([
    ['labelSelector=tier%3Dgpu', ['s1', 's3']],
    ['labelSelector=tier%3D%3Dgpu', ['s1', 's3']],
    ['labelSelector=tier!%3Dgpu', ['s2']],
    ['labelSelector=tier%20in%20(cpu,gpu),env%3Dprod', ['s1', 's2']],
    ['labelSelector=tier%20notin%20(cpu)', ['s1', 's3']],
    ['labelSelector=env', ['s1', 's2']],
    ['labelSelector=!env', ['s3']],
    ['fieldSelector=metadata.name%3Ds2', ['s2']],
    ['fieldSelector=metadata.name!%3Ds2,metadata.namespace%3Dt1', ['s1', 's3']],
  ])('%s', async (q, expected) => {
    expect(await names(q)).toEqual(expected)
  })

  it('bad selectors -> 400 BadRequest', async () => {
    expect((await req('GET', `/api/v1/namespaces/${NS}/serviceaccounts?labelSelector=a%20in%20b`)).status).toBe(400)
    const f = await req('GET', `/api/v1/namespaces/${NS}/serviceaccounts?fieldSelector=spec.x%3D1`)
    expect(f.status).toBe(400)
    expect(f.body.message).toContain('field label not supported: spec.x')
  })

  it('status.phase for pods and involvedObject.* for events', async () => {
    await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment('sel', NS))
    await api.waitFor((s) => s.list('v1', 'Pod', NS).some((p) => p.metadata.name.startsWith('sel-') && p.status.phase === 'Running'))
    const running = (await req('GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=status.phase%3DRunning`)).body.items.map((p: any) => p.metadata.name)
    expect(running.some((n: string) => n.startsWith('sel-'))).toBe(true)
    expect((await req('GET', `/api/v1/namespaces/${NS}/pods?fieldSelector=status.phase%3DFailed`)).body.items).toEqual([])
    const pod = running.find((n: string) => n.startsWith('sel-'))
    const evs = (await req('GET', `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.kind%3DPod,involvedObject.name%3D${pod}`)).body.items
    expect(evs.map((e: any) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Started']))
    expect(evs.every((e: any) => e.involvedObject.name === pod)).toBe(true)
  })
})

describe('watch', () => {
  it('streams ADDED for the current state, then MODIFIED and DELETED as JSON lines', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/secrets`, {apiVersion: 'v1', kind: 'Secret', metadata: {name: 'w1'}})
    const events = await watchEvents(`/api/v1/namespaces/${NS}/secrets?watch=true&fieldSelector=metadata.name%3Dw1`, 3, () => {
      setTimeout(async () => {
        await req('PATCH', `/api/v1/namespaces/${NS}/secrets/w1`, {metadata: {labels: {x: '1'}}}, 'application/merge-patch+json')
        await req('DELETE', `/api/v1/namespaces/${NS}/secrets/w1`)
      }, 20)
    })
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED'])
    expect(events[1].object.metadata.labels.x).toBe('1')
  })

  it('resumes from a resourceVersion (only later events) and says 410 Expired when it is too old', async () => {
    const a = (await req('POST', `/api/v1/namespaces/${NS}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'r1'}})).body
    await req('POST', `/api/v1/namespaces/${NS}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'r2'}})
    const ev = await watchEvents(`/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${a.metadata.resourceVersion}`, 1)
    expect(ev[0]).toMatchObject({type: 'ADDED', object: {metadata: {name: 'r2'}}})
    api.compact()
    const gone = await watchEvents(`/api/v1/namespaces/${NS}/configmaps?watch=true&resourceVersion=${a.metadata.resourceVersion}`, 5)
    expect(gone).toHaveLength(1)
    expect(gone[0].type).toBe('ERROR')
    expect(gone[0].object).toMatchObject({kind: 'Status', status: 'Failure', reason: 'Expired', code: 410})
    expect(gone[0].object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/)
  })

  it('a label-selected watch sees an object leave the selection as DELETED', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'sel1', labels: {pick: 'yes'}}})
    const events = await watchEvents(`/api/v1/namespaces/${NS}/configmaps?watch=true&labelSelector=pick%3Dyes`, 2, () => {
      setTimeout(() => void req('PATCH', `/api/v1/namespaces/${NS}/configmaps/sel1`, {metadata: {labels: {pick: 'no'}}}, 'application/merge-patch+json'), 20)
    })
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'DELETED'])
  })

  it('ends the stream after timeoutSeconds and sends bookmarks when allowed', async () => {
    const events = await watchEvents(`/api/v1/namespaces/${NS}/limitranges?watch=true&timeoutSeconds=2&allowWatchBookmarks=true`, 100)
    expect(events.length).toBeGreaterThanOrEqual(1)
    expect(events.every((e) => e.type === 'BOOKMARK' && Number(e.object.metadata.resourceVersion) > 0)).toBe(true)
  })
})

describe('server-side apply', () => {
  const base = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'ssa', labels: {owner: 'a'}}, data: {x: '1', y: '2'}}
  const apply = (body: unknown, q: string) => req('PATCH', `/api/v1/namespaces/${NS}/configmaps/ssa?${q}`, JSON.stringify(body), 'application/apply-patch+yaml')

  it('requires a field manager', async () => {
    const r = await apply(base, '')
    expect(r.status).toBe(422)
    expect(r.body.message).toContain('fieldManager: Required value')
  })

  it('creates on apply and records managedFields per manager', async () => {
    const r = await apply(base, 'fieldManager=a')
    expect(r.status).toBe(201)
    expect(r.body.metadata.managedFields).toEqual([
      expect.objectContaining({manager: 'a', operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: {'f:data': {'f:x': {}, 'f:y': {}}, 'f:metadata': {'f:labels': {'f:owner': {}}}}}),
    ])
  })

  it('a YAML body is accepted and an unchanged apply keeps the resourceVersion', async () => {
    const before = (await req('GET', `/api/v1/namespaces/${NS}/configmaps/ssa`)).body
    const yaml = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\n  labels:\n    owner: a\ndata:\n  x: "1"\n  y: "2"\n'
    const r = await req('PATCH', `/api/v1/namespaces/${NS}/configmaps/ssa?fieldManager=a`, yaml, 'application/apply-patch+yaml')
    expect(r.status).toBe(200)
    expect(r.body.metadata.resourceVersion).toBe(before.metadata.resourceVersion)
  })

  it('another manager setting a field to a different value -> 409 naming manager and field; same value is shared', async () => {
    const conflict = await apply({...base, metadata: {name: 'ssa'}, data: {x: 'other'}}, 'fieldManager=b')
    expect(conflict.status).toBe(409)
    expect(conflict.body.reason).toBe('Conflict')
    expect(conflict.body.message).toBe('Apply failed with 1 conflict: conflict with "a" using v1: .data.x')
    expect(conflict.body.details.causes).toEqual([{reason: 'FieldManagerConflict', message: 'conflict with "a" using v1', field: '.data.x'}])
    const shared = await apply({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'ssa'}, data: {x: '1', z: '3'}}, 'fieldManager=b')
    expect(shared.status).toBe(200)
    const mf = shared.body.metadata.managedFields
    expect(mf.map((m: any) => m.manager)).toEqual(['a', 'b'])
    expect(mf[1].fieldsV1).toEqual({'f:data': {'f:x': {}, 'f:z': {}}})
  })

  it('force=true takes ownership of the conflicting field', async () => {
    const r = await apply({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'ssa'}, data: {x: '1', y: 'forced', z: '3'}}, 'fieldManager=b&force=true')
    expect(r.status).toBe(200)
    expect(r.body.data.y).toBe('forced')
    const a = r.body.metadata.managedFields.find((m: any) => m.manager === 'a')
    expect(a.fieldsV1['f:data']).toEqual({'f:x': {}})
  })

  it('a field dropped from the applied config is removed when no one else owns it, kept when shared', async () => {
    // b drops z (owned by b only) and x (shared with a)
    const r = await apply({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'ssa'}, data: {y: 'forced'}}, 'fieldManager=b')
    expect(r.body.data).toEqual({x: '1', y: 'forced'})
  })

  it('an Update manager (merge patch) owns what it changed and conflicts with a later apply', async () => {
    await req('PATCH', `/api/v1/namespaces/${NS}/configmaps/ssa?fieldManager=kubectl-edit`, {data: {x: 'edited'}}, 'application/merge-patch+json')
    const r = await apply({...base}, 'fieldManager=a')
    expect(r.status).toBe(409)
    // y was taken by b with force before; x now belongs to kubectl-edit
    expect(r.body.message).toBe('Apply failed with 2 conflicts: conflicts with "b" using v1:\n- .data.y\nconflicts with "kubectl-edit" using v1:\n- .data.x')
  })
})

describe('dryRun=All', () => {
  it('create, update, patch and delete validate and answer without storing', async () => {
    const cm = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'dry'}, data: {a: '1'}}
    const c = await req('POST', `/api/v1/namespaces/${NS}/configmaps?dryRun=All`, cm)
    expect(c.status).toBe(201)
    expect(c.body.metadata.uid).toBeTruthy()
    expect((await req('GET', `/api/v1/namespaces/${NS}/configmaps/dry`)).status).toBe(404)
    await req('POST', `/api/v1/namespaces/${NS}/configmaps`, cm)
    const p = await req('PATCH', `/api/v1/namespaces/${NS}/configmaps/dry?dryRun=All`, {data: {a: '2'}}, 'application/merge-patch+json')
    expect(p.body.data.a).toBe('2')
    const ap = await req('PATCH', `/api/v1/namespaces/${NS}/configmaps/dry?dryRun=All&fieldManager=aip&force=true`, JSON.stringify({...cm, data: {a: '3'}}), 'application/apply-patch+yaml')
    expect(ap.body.data.a).toBe('3')
    const d = await req('DELETE', `/api/v1/namespaces/${NS}/configmaps/dry?dryRun=All`)
    expect(d.status).toBe(200)
    expect((await req('GET', `/api/v1/namespaces/${NS}/configmaps/dry`)).body.data.a).toBe('1')
    expect((await req('POST', `/api/v1/namespaces/${NS}/configmaps?dryRun=Some`, cm)).status).toBe(400)
  })
})

describe('deletion, finalizers and garbage collection', () => {
  it('an object with finalizers gets a deletionTimestamp (202) and goes when they are removed', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'fin', finalizers: ['example.com/hold']}})
    const d = await req('DELETE', `/api/v1/namespaces/${NS}/configmaps/fin`)
    expect(d.status).toBe(202)
    expect(d.body.metadata.deletionTimestamp).toBeTruthy()
    expect((await req('GET', `/api/v1/namespaces/${NS}/configmaps/fin`)).status).toBe(200)
    await req('PATCH', `/api/v1/namespaces/${NS}/configmaps/fin`, {metadata: {finalizers: null}}, 'application/merge-patch+json')
    expect((await req('GET', `/api/v1/namespaces/${NS}/configmaps/fin`)).status).toBe(404)
  })

  it('clearFinalizerAfter simulates a controller removing its finalizer', async () => {
    api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
    api.clearFinalizerAfter('NodePool', 'karpenter.sh/termination', 30)
    await req('POST', '/apis/karpenter.sh/v1/nodepools', {apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: {name: 'gpu', finalizers: ['karpenter.sh/termination']}, spec: {template: {spec: {nodeClassRef: {group: 'karpenter.k8s.aws', kind: 'EC2NodeClass', name: 'default'}, requirements: []}}}})
    expect((await req('DELETE', '/apis/karpenter.sh/v1/nodepools/gpu')).status).toBe(202)
    await api.waitFor((s) => !s.get('karpenter.sh/v1', 'NodePool', undefined, 'gpu'))
  })

  it('Background deletes a Deployment\'s ReplicaSets and Pods; Orphan keeps them; Foreground waits for them', async () => {
    for (const n of ['bg', 'orph', 'fg']) await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment(n, NS, {replicas: 2}))
    const podsOf = (s: any, n: string) => s.list('v1', 'Pod', NS).filter((p: any) => p.metadata.name.startsWith(`${n}-`))
    await api.waitFor((s) => ['bg', 'orph', 'fg'].every((n) => podsOf(s, n).length === 2))
    await req('DELETE', `/apis/apps/v1/namespaces/${NS}/deployments/bg`, {kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background'})
    await api.waitFor((s) => podsOf(s, 'bg').length === 0 && !s.list('apps/v1', 'ReplicaSet', NS).some((r) => r.metadata.name.startsWith('bg-')))
    await req('DELETE', `/apis/apps/v1/namespaces/${NS}/deployments/orph?propagationPolicy=Orphan`)
    await new Promise((r) => setTimeout(r, 50))
    expect(podsOf(api.store, 'orph')).toHaveLength(2)
    expect(api.store.list('apps/v1', 'ReplicaSet', NS).find((r) => r.metadata.name.startsWith('orph-'))!.metadata.ownerReferences).toBeUndefined()
    const fg = await req('DELETE', `/apis/apps/v1/namespaces/${NS}/deployments/fg`, {propagationPolicy: 'Foreground'})
    expect(fg.status).toBe(202)
    expect(fg.body.metadata.finalizers).toContain('foregroundDeletion')
    await api.waitFor((s) => !s.get('apps/v1', 'Deployment', NS, 'fg'))
    expect(podsOf(api.store, 'fg')).toHaveLength(0)
  })

  it('a Job deleted in the background takes its pods along', async () => {
    await req('POST', `/apis/batch/v1/namespaces/${NS}/jobs`, {apiVersion: 'batch/v1', kind: 'Job', metadata: {name: 'jgc'}, spec: {template: {spec: {containers: [{name: 'c', image: 'busybox'}], restartPolicy: 'Never'}}}})
    await api.waitFor((s) => s.list('v1', 'Pod', NS).some((p) => p.metadata.labels?.['job-name'] === 'jgc'))
    await req('DELETE', `/apis/batch/v1/namespaces/${NS}/jobs/jgc?propagationPolicy=Background`)
    await api.waitFor((s) => !s.list('v1', 'Pod', NS).some((p) => p.metadata.labels?.['job-name'] === 'jgc'))
  })
})

describe('namespace lifecycle', () => {
  it('Terminating cascades, names what remains in conditions, refuses new content, and goes when empty', async () => {
    const ns = 'doomed'
    await req('POST', '/api/v1/namespaces', namespace(ns))
    api.stuckFinalizer('Service', 'service.kubernetes.io/load-balancer-cleanup')
    onTestFinished(() => api.stuckFinalizer('Service', 'service.kubernetes.io/load-balancer-cleanup', false))
    await req('POST', `/api/v1/namespaces/${ns}/services`, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'lb'}, spec: {type: 'LoadBalancer', ports: [{port: 80}]}})
    await req('POST', `/apis/apps/v1/namespaces/${ns}/deployments`, deployment('d', ns))
    await api.waitFor((s) => !!s.get('v1', 'Service', ns, 'lb')?.status?.loadBalancer?.ingress?.[0]?.hostname)
    const del = await req('DELETE', `/api/v1/namespaces/${ns}`)
    expect(del.status).toBe(202)
    expect(del.body.status.phase).toBe('Terminating')
    const create = await req('POST', `/api/v1/namespaces/${ns}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'late'}})
    expect(create.status).toBe(403)
    expect(create.body.message).toBe('configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated')
    // The namespace controller rewrites its conditions on every pass; the Deployment's pods are
    // Terminating for their grace period first, so wait for the pass where only the Service is left.
    const onlyService = 'Some resources are remaining: services. has 1 resource instances'
    await api.waitFor((s) => {
      const cs: any[] = s.get('v1', 'Namespace', undefined, ns)?.status?.conditions ?? []
      return cs.some((c) => c.type === 'NamespaceFinalizersRemaining' && c.status === 'True') && cs.some((c) => c.type === 'NamespaceContentRemaining' && c.message === onlyService)
    }, 30_000)
    const n = api.store.get('v1', 'Namespace', undefined, ns)!
    const conds = Object.fromEntries(n.status.conditions.map((c: any) => [c.type, c]))
    expect(conds.NamespaceContentRemaining.message).toBe(onlyService)
    expect(conds.NamespaceFinalizersRemaining.message).toBe('Some content in the namespace has finalizers remaining: service.kubernetes.io/load-balancer-cleanup in 1 resource instances')
    expect(api.store.list('apps/v1', 'Deployment', ns)).toHaveLength(0)
    api.stuckFinalizer('Service', 'service.kubernetes.io/load-balancer-cleanup', false)
    await api.waitFor((s) => !s.get('v1', 'Namespace', undefined, ns))
    expect(api.store.all().filter((o) => o.metadata.namespace === ns)).toEqual([])
  })
})

describe('service proxy', () => {
  it('404 for a missing Service, 503 without endpoints, then proxies method, path, query and body, without the caller\'s Authorization', async () => {
    const seen: Array<{method?: string; url?: string; headers: IncomingHttpHeaders; body: string}> = []
    const backend = createServer((r, w) => {
      let body = ''
      r.on('data', (d) => (body += d))
      r.on('end', () => {
        seen.push({method: r.method, url: r.url, headers: r.headers, body})
        w.writeHead(201, {'content-type': 'text/plain', 'x-backend': 'yes'})
        w.end(`echo ${body}`)
      })
    })
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r))
    try {
      const base = `/api/v1/namespaces/${NS}/services`
      const missing = await req('GET', `${base}/web:http/proxy/x`)
      expect(missing.status).toBe(404)
      expect(missing.body).toMatchObject({kind: 'Status', reason: 'NotFound', message: 'services "web" not found'})
      await req('POST', base, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'web'}, spec: {ports: [{name: 'http', port: 8000}, {name: 'metrics', port: 9000}]}})
      const none = await req('GET', `${base}/web:http/proxy/x`)
      expect(none.status).toBe(503)
      expect(none.body).toMatchObject({reason: 'ServiceUnavailable', message: 'no endpoints available for service "web:http"'})
      api.setServiceBackend(NS, 'web', 'http', `http://127.0.0.1:${(backend.address() as {port: number}).port}`)
      // two ports and none named: no endpoint chosen (the real server needs the port then)
      expect((await req('GET', `${base}/web/proxy/x`)).status).toBe(503)
      const res = await api.fetch(`${base}/web:http/proxy/v1/completions?stream=true`, {method: 'POST', headers: {'content-type': 'application/json'}, body: '{"a":1}'})
      expect(res.status).toBe(201)
      expect(res.headers.get('x-backend')).toBe('yes')
      expect(await res.text()).toBe('echo {"a":1}')
      expect(seen.at(-1)).toMatchObject({method: 'POST', url: '/v1/completions?stream=true', body: '{"a":1}'})
      expect(seen.at(-1)!.headers.authorization).toBeUndefined()
      // by port number too
      expect((await req('GET', `${base}/web:8000/proxy/`)).status).toBe(201)
    } finally {
      await new Promise<void>((r) => backend.close(() => r()))
    }
  })
})

describe('simulated controllers', () => {
  it('a Deployment gets a ReplicaSet and Pods with ownerReferences and a rollout-complete status', async () => {
    await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment('ctl', NS, {replicas: 2}))
    await api.waitFor((s) => s.get('apps/v1', 'Deployment', NS, 'ctl')?.status?.availableReplicas === 2)
    const d = api.store.get('apps/v1', 'Deployment', NS, 'ctl')!
    expect(d.status).toMatchObject({observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2})
    expect(d.status.conditions.map((c: any) => [c.type, c.status, c.reason])).toEqual([
      ['Available', 'True', 'MinimumReplicasAvailable'],
      ['Progressing', 'True', 'NewReplicaSetAvailable'],
    ])
    const rs = api.store.list('apps/v1', 'ReplicaSet', NS).find((r) => r.metadata.name.startsWith('ctl-'))!
    expect(rs.metadata.ownerReferences[0]).toMatchObject({kind: 'Deployment', name: 'ctl', uid: d.metadata.uid, controller: true})
    const pods = api.store.list('v1', 'Pod', NS).filter((p) => p.metadata.name.startsWith(rs.metadata.name))
    expect(pods).toHaveLength(2)
    expect(pods[0].metadata.ownerReferences[0]).toMatchObject({kind: 'ReplicaSet', uid: rs.metadata.uid})
    // a new template rolls out a new ReplicaSet and scales the old one down
    await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/ctl`, {spec: {template: {spec: {containers: [{name: 'vllm', image: 'vllm/vllm-openai:v0.9.0'}]}}}}, 'application/strategic-merge-patch+json')
    await api.waitFor((s) => {
      const x = s.get('apps/v1', 'Deployment', NS, 'ctl')!
      return x.status.observedGeneration === 2 && x.status.updatedReplicas === 2 && x.status.availableReplicas === 2 && x.status.replicas === 2
    })
    expect(api.store.list('apps/v1', 'ReplicaSet', NS).filter((r) => r.metadata.name.startsWith('ctl-')).map((r) => r.spec.replicas).sort()).toEqual([0, 2])
    // back to the first template (kubectl rollout undo): its ReplicaSet scales up again under the
    // next revision (the deployment controller bumps the existing ReplicaSet's revision)
    await req('PATCH', `/apis/apps/v1/namespaces/${NS}/deployments/ctl`, {spec: {template: {spec: {containers: [{name: 'vllm', image: 'vllm/vllm-openai:v0.8.5'}]}}}}, 'application/strategic-merge-patch+json')
    await api.waitFor((s) => {
      const x = s.get('apps/v1', 'Deployment', NS, 'ctl')!
      return x.status.observedGeneration === 3 && x.status.updatedReplicas === 2 && x.status.availableReplicas === 2 && x.status.replicas === 2
    })
    const sets = api.store.list('apps/v1', 'ReplicaSet', NS).filter((r) => r.metadata.name.startsWith('ctl-'))
    expect(sets).toHaveLength(2)
    expect(sets.find((r) => r.metadata.name === rs.metadata.name)).toMatchObject({spec: {replicas: 2}, metadata: {annotations: {'deployment.kubernetes.io/revision': '3'}}})
    expect(api.store.get('apps/v1', 'Deployment', NS, 'ctl')!.metadata.annotations['deployment.kubernetes.io/revision']).toBe('3')
  })

  it('a GPU pod stays Pending (PodScheduled=False, FailedScheduling) until a GPU node registers, then runs', async () => {
    const d0 = deployment('nogpu', NS) as any
    d0.spec.template.spec.tolerations = [{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}]
    d0.spec.template.spec.containers[0].resources = {requests: {cpu: '3', memory: '24Gi', 'nvidia.com/gpu': '1'}, limits: {'nvidia.com/gpu': '1'}}
    await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, d0)
    await api.waitFor((s) => s.list('v1', 'Event', NS).some((e) => e.reason === 'FailedScheduling' && e.involvedObject.name.startsWith('nogpu-')))
    const pod = api.store.list('v1', 'Pod', NS).find((p) => p.metadata.name.startsWith('nogpu-'))!
    expect(pod.status.phase).toBe('Pending')
    expect(pod.status.conditions[0]).toMatchObject({type: 'PodScheduled', status: 'False', reason: 'Unschedulable'})
    // two m6i.large system nodes: neither has the GPU, the CPU or the memory (kube-scheduler's FitError + preemption message)
    expect(pod.status.conditions[0].message).toBe('0/2 nodes are available: 2 Insufficient cpu, 2 Insufficient memory, 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod.')
    const d = api.store.get('apps/v1', 'Deployment', NS, 'nogpu')!
    expect(d.status.conditions.find((c: any) => c.type === 'Available').status).toBe('False')
    api.addNode(aipGpuNode('g6e.xlarge', {name: 'gpu-a'}))
    await api.waitFor((s) => s.get('apps/v1', 'Deployment', NS, 'nogpu')?.status?.availableReplicas === 1)
    const running = api.store.list('v1', 'Pod', NS).find((p) => p.metadata.name.startsWith('nogpu-'))!
    expect(running.spec.nodeName).toBe('gpu-a')
    const reasons = api.store.list('v1', 'Event', NS).filter((e) => e.involvedObject.uid === running.metadata.uid).sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion)).map((e) => e.reason)
    expect(reasons).toEqual(['FailedScheduling', 'Scheduled', 'Pulling', 'Pulled', 'Created', 'Started'])
    await req('DELETE', `/apis/apps/v1/namespaces/${NS}/deployments/nogpu`)
  })

  it('CrashLoopBackOff pods carry restartCount and the last terminated state; logs honour tailLines', async () => {
    api.setDeploymentBehavior(NS, 'crash', {mode: 'CrashLoopBackOff', restartCount: 3, exitCode: 2})
    api.setPodLogs(NS, 'crash', 'a\nb\nc\n')
    await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment('crash', NS))
    await api.waitFor((s) => s.list('v1', 'Pod', NS).some((p) => p.metadata.name.startsWith('crash-') && p.status.containerStatuses?.[0]?.restartCount === 3))
    const pod = api.store.list('v1', 'Pod', NS).find((p) => p.metadata.name.startsWith('crash-'))!
    expect(pod.status.containerStatuses[0].state.waiting.reason).toBe('CrashLoopBackOff')
    expect(pod.status.containerStatuses[0].lastState.terminated).toMatchObject({exitCode: 2, reason: 'Error'})
    const logs = await req('GET', `/api/v1/namespaces/${NS}/pods/${pod.metadata.name}/log?tailLines=2&previous=true`)
    expect(logs.body).toBe('b\nc\n')
  })

  it('Jobs complete or fail with conditions, and the failing pod carries the terminated message', async () => {
    api.setJobBehavior(NS, 'jfail', {outcome: 'fail', message: 'no marker', exitCode: 3})
    const job = (name: string) => ({apiVersion: 'batch/v1', kind: 'Job', metadata: {name}, spec: {backoffLimit: 0, template: {spec: {containers: [{name: 'c', image: 'busybox'}], restartPolicy: 'Never'}}}})
    await req('POST', `/apis/batch/v1/namespaces/${NS}/jobs`, job('jok'))
    await req('POST', `/apis/batch/v1/namespaces/${NS}/jobs`, job('jfail'))
    await api.waitFor((s) => ['jok', 'jfail'].every((n) => (s.get('batch/v1', 'Job', NS, n)?.status?.conditions ?? []).length > 0))
    const ok = api.store.get('batch/v1', 'Job', NS, 'jok')!
    expect(ok.status.conditions.find((c: any) => c.type === 'Complete').status).toBe('True')
    expect(ok.status.succeeded).toBe(1)
    const bad = api.store.get('batch/v1', 'Job', NS, 'jfail')!
    expect(bad.status.conditions.find((c: any) => c.type === 'Failed')).toMatchObject({status: 'True', reason: 'BackoffLimitExceeded'})
    const pod = api.store.list('v1', 'Pod', NS).find((p) => p.metadata.labels?.['job-name'] === 'jfail')!
    expect(pod.status.containerStatuses[0].state.terminated).toMatchObject({exitCode: 3, message: 'no marker'})
  })

  it('LoadBalancer Services get the cleanup finalizer and a hostname; deletion clears it after a delay', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/services`, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'gw'}, spec: {type: 'LoadBalancer', ports: [{port: 80}]}})
    await api.waitFor((s) => !!s.get('v1', 'Service', NS, 'gw')?.status?.loadBalancer?.ingress)
    const svc = api.store.get('v1', 'Service', NS, 'gw')!
    expect(svc.metadata.finalizers).toEqual(['service.kubernetes.io/load-balancer-cleanup'])
    expect(svc.status.loadBalancer.ingress[0].hostname).toMatch(/\.elb\.us-east-1\.amazonaws\.com$/)
    expect((await req('DELETE', `/api/v1/namespaces/${NS}/services/gw`)).status).toBe(202)
    await api.waitFor((s) => !s.get('v1', 'Service', NS, 'gw'))
  })
})

describe('webhooks and faults', () => {
  it('an unreachable webhook with failurePolicy Fail fails matching requests with the real message', async () => {
    await req('POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: {name: 'keda-admission'},
      webhooks: [{name: 'vscaledobject.kb.io', failurePolicy: 'Fail', clientConfig: {service: {namespace: 'keda', name: 'keda-admission-webhooks', path: '/validate'}}, rules: [{operations: ['CREATE', 'UPDATE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments']}], sideEffects: 'None', admissionReviewVersions: ['v1']}],
    })
    api.faults.webhookUnreachable('keda', 'keda-admission-webhooks')
    const r = await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment('hooked', NS))
    expect(r.status).toBe(500)
    expect(r.body.reason).toBe('InternalError')
    expect(r.body.message).toMatch(/^Internal error occurred: failed calling webhook "vscaledobject.kb.io": failed to call webhook: Post "https:\/\/keda-admission-webhooks.keda.svc:443\/validate\?timeout=10s": .*connection refused$/)
    expect((await req('POST', `/api/v1/namespaces/${NS}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'unhooked'}})).status).toBe(201)
    api.faults.webhookUnreachable('keda', 'keda-admission-webhooks', false)
    expect((await req('POST', `/apis/apps/v1/namespaces/${NS}/deployments`, deployment('hooked', NS))).status).toBe(201)
  })

  it('failNext answers 429 with Retry-After, then 500, then recovers; the request log records them', async () => {
    api.clearRequests()
    api.faults.failNext(1, {status: 429, retryAfterSeconds: 3, match: {method: 'GET', pathPrefix: '/api/v1/nodes'}})
    api.faults.failNext(1, {status: 500, match: {pathPrefix: '/api/v1/nodes'}})
    const a = await req('GET', '/api/v1/nodes')
    expect(a.status).toBe(429)
    expect(a.headers.get('retry-after')).toBe('3')
    expect(a.body).toMatchObject({kind: 'Status', reason: 'TooManyRequests', code: 429, details: {retryAfterSeconds: 3}})
    expect((await req('GET', '/api/v1/nodes')).status).toBe(500)
    expect((await req('GET', '/api/v1/nodes')).status).toBe(200)
    expect(api.requests.map((r) => [r.method, r.path, r.status])).toEqual([
      ['GET', '/api/v1/nodes', 429],
      ['GET', '/api/v1/nodes', 500],
      ['GET', '/api/v1/nodes', 200],
    ])
  })

  it('dropNext resets the connection', async () => {
    api.faults.dropNext(1, {pathPrefix: '/api/v1/nodes'})
    await expect(api.fetch('/api/v1/nodes')).rejects.toThrow()
  })

  it('forbid answers 403 with the authorizer message', async () => {
    api.faults.forbid({verb: 'list', resource: 'secrets', namespace: NS, user: 'alice'})
    const r = await req('GET', `/api/v1/namespaces/${NS}/secrets`)
    expect(r.status).toBe(403)
    expect(r.body.message).toBe(`secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "${NS}"`)
    api.faults.forbid({verb: 'delete', resource: 'clusterroles'})
    const c = await req('DELETE', '/apis/rbac.authorization.k8s.io/v1/clusterroles/x')
    expect(c.body.message).toBe('clusterroles.rbac.authorization.k8s.io "x" is forbidden: User "system:serviceaccount:ci:aip" cannot delete resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope')
  })

  it('goDown closes the port, comeBack serves the same store on the same port', async () => {
    await api.goDown()
    await expect(api.fetch(`/api/v1/namespaces/${NS}`)).rejects.toThrow()
    await api.comeBack()
    expect((await req('GET', `/api/v1/namespaces/${NS}`)).status).toBe(200)
  })
})

describe('kubeconfig and client-node compatibility', () => {
  it('writes a kubeconfig with cluster, user and context "aip-test"', () => {
    const text = readFileSync(api.kubeconfigPath, 'utf8')
    expect(text).toContain(`server: ${api.url}`)
    expect(text).toContain('current-context: aip-test')
  })

  it('client-node KubernetesObjectApi (discovery + SSA patch) and CoreV1Api work against it', async () => {
    const k8s = await import('@kubernetes/client-node')
    const kc = new k8s.KubeConfig()
    kc.loadFromFile(api.kubeconfigPath)
    const objApi = k8s.KubernetesObjectApi.makeApiClient(kc)
    const dep = deployment('cn', NS)
    const applied = await objApi.patch(dep as any, undefined, undefined, 'aip', false, k8s.PatchStrategy.ServerSideApply)
    expect(applied.metadata?.name).toBe('cn')
    const read = await objApi.read({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'cn', namespace: NS}})
    expect((read as any).spec.replicas).toBe(1)
    const core = kc.makeApiClient(k8s.CoreV1Api)
    const list = await core.listNamespacedConfigMap({namespace: NS})
    expect(list.items.length).toBeGreaterThan(0)
    const err = await core.readNamespacedConfigMap({name: 'missing', namespace: NS}).catch((e: any) => e)
    expect(err.code).toBe(404)
  })
})
