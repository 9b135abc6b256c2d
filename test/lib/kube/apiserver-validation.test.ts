// The loopback API server refuses and defaults what kube-apiserver does: decode errors (400),
// validation (422 Invalid with causes), unknown fields (Warning / Strict / apply), server defaults,
// immutable fields, status through the main resource, generation, and the protocol details kubectl
// and client-node read (OpenAPI, categories, chunked lists, dryRun in DeleteOptions, expiry by age).
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {deployment, http, namespace, startKubeApiServer, type KubeApiServer} from './helpers.js'

let api: KubeApiServer
let req: ReturnType<typeof http>
const NS = 'v1ns'
const APPLY = 'application/apply-patch+yaml'
const MERGE = 'application/merge-patch+json'

beforeAll(async () => {
  api = await startKubeApiServer({deploymentBehavior: {mode: 'none'}, jobBehavior: {outcome: 'succeed', delayMs: 60_000}})
  req = http(api)
  await req('POST', '/api/v1/namespaces', namespace(NS))
})
afterAll(async () => {
  await api.stop()
})

const deps = `/apis/apps/v1/namespaces/${NS}/deployments`
const svcs = `/api/v1/namespaces/${NS}/services`
const jobs = `/apis/batch/v1/namespaces/${NS}/jobs`
const job = (name: string, image: string) => ({apiVersion: 'batch/v1', kind: 'Job', metadata: {name}, spec: {template: {spec: {restartPolicy: 'Never', containers: [{name: 'c', image}]}}}})

describe('validation (422 Invalid with details.causes, as errors.NewInvalid writes it)', () => {
  it('a Deployment without selector', async () => {
    const d: any = deployment('nosel', NS)
    delete d.spec.selector
    const r = await req('POST', deps, d)
    expect(r.status).toBe(422)
    expect(r.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Deployment.apps "nosel" is invalid: [spec.selector: Required value, spec.template.metadata.labels: Invalid value: {"app":"nosel"}: `selector` does not match template `labels`]',
      reason: 'Invalid',
      details: {
        name: 'nosel',
        group: 'apps',
        kind: 'Deployment',
        causes: [
          {reason: 'FieldValueRequired', message: 'Required value', field: 'spec.selector'},
          {reason: 'FieldValueInvalid', message: 'Invalid value: {"app":"nosel"}: `selector` does not match template `labels`', field: 'spec.template.metadata.labels'},
        ],
      },
      code: 422,
    })
    expect(api.store.get('apps/v1', 'Deployment', NS, 'nosel')).toBeUndefined()
  })

  it('replicas: "two" is a decode error (400), as the JSON decoder words it', async () => {
    const d: any = deployment('two', NS)
    d.spec.replicas = 'two'
    const r = await req('POST', deps, d)
    expect(r.status).toBe(400)
    expect(r.body.reason).toBe('BadRequest')
    expect(r.body.message).toBe('Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32')
  })

  it('a Service port 99999 (and the targetPort defaulted from it)', async () => {
    const r = await req('POST', svcs, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'big'}, spec: {ports: [{port: 99999}]}})
    expect(r.status).toBe(422)
    expect(r.body.message).toBe('Service "big" is invalid: [spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive, spec.ports[0].targetPort: Invalid value: 99999: must be between 1 and 65535, inclusive]')
    expect(r.body.details.causes[0]).toEqual({reason: 'FieldValueInvalid', message: 'Invalid value: 99999: must be between 1 and 65535, inclusive', field: 'spec.ports[0].port'})
  })

  it('a Pod without containers; a container without image; a mount of a missing volume', async () => {
    const pods = `/api/v1/namespaces/${NS}/pods`
    const none = await req('POST', pods, {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'p'}, spec: {containers: []}})
    expect(none.status).toBe(422)
    expect(none.body.message).toBe('Pod "p" is invalid: spec.containers: Required value')
    const r = await req('POST', pods, {apiVersion: 'v1', kind: 'Pod', metadata: {name: 'p'}, spec: {containers: [{name: 'c', volumeMounts: [{name: 'data', mountPath: '/d'}]}]}})
    expect(r.status).toBe(422)
    expect(r.body.details.causes).toEqual([
      {reason: 'FieldValueRequired', message: 'Required value', field: 'spec.containers[0].image'},
      {reason: 'FieldValueNotFound', message: 'Not found: "data"', field: 'spec.containers[0].volumeMounts[0].name'},
    ])
  })

  it('DNS-1123 names (DNS-1035 for Services) and label syntax', async () => {
    const bad = await req('POST', svcs, {apiVersion: 'v1', kind: 'Service', metadata: {name: '1svc'}, spec: {ports: [{port: 80}]}})
    expect(bad.status).toBe(422)
    expect(bad.body.message).toContain(`Service "1svc" is invalid: metadata.name: Invalid value: "1svc": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character`)
    const lab = await req('POST', `/api/v1/namespaces/${NS}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'cm', labels: {'bad key!': 'x', ok: 'not ok!'}}})
    expect(lab.status).toBe(422)
    expect(lab.body.details.causes.map((c: any) => c.field)).toEqual(['metadata.labels', 'metadata.labels'])
    expect(lab.body.message).toContain(`metadata.labels: Invalid value: "bad key!": name part must consist of alphanumeric characters`)
    expect(lab.body.message).toContain(`metadata.labels: Invalid value: "not ok!": a valid label must be an empty string or consist of alphanumeric characters`)
  })

  it('a Job template with restartPolicy Always (the default) is refused', async () => {
    const j: any = job('always', 'busybox:1.36')
    delete j.spec.template.spec.restartPolicy
    const r = await req('POST', jobs, j)
    expect(r.status).toBe(422)
    expect(r.body.message).toBe('Job.batch "always" is invalid: spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"')
  })
})

describe('unknown fields (fieldValidation)', () => {
  const withFoo = (name: string) => {
    const d: any = deployment(name, NS)
    d.spec.foo = 1
    d.spec.template.spec.containers[0].imagePullPolicyy = 'Always'
    return d
  }
  it('Warn (the default): dropped, one Warning header each', async () => {
    const r = await req('POST', deps, withFoo('warned'))
    expect(r.status).toBe(201)
    // in document order, as the decoder meets them
    expect(r.headers.get('warning')).toBe('299 - "unknown field \\"spec.template.spec.containers[0].imagePullPolicyy\\"", 299 - "unknown field \\"spec.foo\\""')
    expect(r.body.spec.foo).toBeUndefined()
    expect(api.store.get('apps/v1', 'Deployment', NS, 'warned')!.spec.template.spec.containers[0].imagePullPolicyy).toBeUndefined()
  })
  it('Ignore: dropped silently; Strict: 400 naming them', async () => {
    const ign = await req('POST', `${deps}?fieldValidation=Ignore`, withFoo('ignored'))
    expect(ign.status).toBe(201)
    expect(ign.headers.get('warning')).toBeNull()
    const strict = await req('POST', `${deps}?fieldValidation=Strict`, withFoo('strict'))
    expect(strict.status).toBe(400)
    expect(strict.body.message).toBe('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolicyy", unknown field "spec.foo"')
  })
  it('server-side apply is always strict: 400 field not declared in schema', async () => {
    const r = await req('PATCH', `${deps}/applied?fieldManager=t`, {...withFoo('applied'), spec: {...deployment('applied', NS).spec, foo: 1}}, APPLY)
    expect(r.status).toBe(400)
    expect(r.body.message).toBe(`failed to create typed patch object (${NS}/applied; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema`)
  })
})

describe('server defaults clients see', () => {
  it('Deployment, pod template and container defaults; :latest pulls Always', async () => {
    const d: any = deployment('defaults', NS, {image: 'nginx:latest'})
    d.spec.template.spec.containers.push({name: 'side', image: 'busybox:1.36', ports: [{containerPort: 8080}], resources: {limits: {cpu: '1'}}})
    const r = await req('POST', deps, d)
    expect(r.status).toBe(201)
    const s = r.body.spec
    expect(s).toMatchObject({replicas: 1, revisionHistoryLimit: 10, progressDeadlineSeconds: 600, strategy: {type: 'RollingUpdate', rollingUpdate: {maxUnavailable: '25%', maxSurge: '25%'}}})
    expect(s.template.spec).toMatchObject({restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30, securityContext: {}})
    expect(s.template.spec.containers[0]).toMatchObject({imagePullPolicy: 'Always', terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File'})
    expect(s.template.spec.containers[1]).toMatchObject({imagePullPolicy: 'IfNotPresent', ports: [{containerPort: 8080, protocol: 'TCP'}], resources: {limits: {cpu: '1'}, requests: {cpu: '1'}}})
  })

  it('Service clusterIP, clusterIPs, ipFamilies, sessionAffinity, type, targetPort; kept on an update that omits them', async () => {
    const r = await req('POST', svcs, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'web'}, spec: {selector: {app: 'web'}, ports: [{name: 'http', port: 80}]}})
    expect(r.status).toBe(201)
    const s = r.body.spec
    expect(s).toMatchObject({type: 'ClusterIP', sessionAffinity: 'None', ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', internalTrafficPolicy: 'Cluster', ports: [{name: 'http', port: 80, protocol: 'TCP', targetPort: 80}]})
    expect(s.clusterIP).toMatch(/^10\.100\.\d+\.\d+$/)
    expect(s.clusterIPs).toEqual([s.clusterIP])
    const put = await req('PUT', `${svcs}/web`, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'web'}, spec: {selector: {app: 'web'}, ports: [{name: 'http', port: 80}]}})
    expect(put.status).toBe(200)
    expect(put.body.spec.clusterIP).toBe(s.clusterIP)
  })

  it('a Job gets its controller-uid selector and template labels', async () => {
    const r = await req('POST', jobs, job('sel', 'busybox:1.36'))
    expect(r.status).toBe(201)
    const uid = r.body.metadata.uid
    expect(r.body.spec).toMatchObject({selector: {matchLabels: {'batch.kubernetes.io/controller-uid': uid}}, backoffLimit: 6, completions: 1, parallelism: 1, completionMode: 'NonIndexed', suspend: false})
    expect(r.body.spec.template.metadata.labels).toMatchObject({'batch.kubernetes.io/job-name': 'sel', 'job-name': 'sel', 'controller-uid': uid})
  })
})

describe('immutable fields (422, field is immutable)', () => {
  it('a Job template: refused by merge patch and by apply; an unchanged apply is a no-op', async () => {
    expect((await req('PATCH', `${jobs}/imm?fieldManager=aip`, job('imm', 'busybox:1.36'), APPLY)).status).toBe(201)
    const again = await req('PATCH', `${jobs}/imm?fieldManager=aip`, job('imm', 'busybox:1.36'), APPLY)
    expect(again.status).toBe(200)
    const r = await req('PATCH', `${jobs}/imm?fieldManager=aip`, job('imm', 'busybox:1.37'), APPLY)
    expect(r.status).toBe(422)
    expect(r.body.message).toMatch(/^Job\.batch "imm" is invalid: spec\.template: Invalid value: \{.*"image":"busybox:1\.37".*\}: field is immutable$/)
    expect(r.body.details.causes).toEqual([expect.objectContaining({reason: 'FieldValueInvalid', field: 'spec.template'})])
    const m = await req('PATCH', `${jobs}/imm`, {spec: {selector: {matchLabels: {a: 'b'}}}}, MERGE)
    expect(m.status).toBe(422)
    expect(m.body.details.causes.map((c: any) => c.field)).toContain('spec.selector')
  })

  it('a Deployment selector, a Service clusterIP, a PVC spec (requests may grow)', async () => {
    const sel = await req('PATCH', `${deps}/defaults`, {spec: {selector: {matchLabels: {app: 'defaults', x: 'y'}}, template: {metadata: {labels: {app: 'defaults', x: 'y'}}}}}, MERGE)
    expect(sel.status).toBe(422)
    expect(sel.body.message).toBe('Deployment.apps "defaults" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"defaults","x":"y"}}: field is immutable')
    const ip = await req('PATCH', `${svcs}/web`, {spec: {clusterIP: '10.100.0.1', clusterIPs: ['10.100.0.1']}}, MERGE)
    expect(ip.status).toBe(422)
    expect(ip.body.message).toMatch(/^Service "web" is invalid: \[spec\.clusterIP: Invalid value: "10\.100\.0\.1": field is immutable, spec\.clusterIPs\[0\]: Invalid value: \["10\.100\.0\.1"\]: may not change once set\]$/)
    const pvcs = `/api/v1/namespaces/${NS}/persistentvolumeclaims`
    expect((await req('POST', pvcs, {apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {name: 'data'}, spec: {accessModes: ['ReadWriteOnce'], resources: {requests: {storage: '1Gi'}}}})).status).toBe(201)
    expect((await req('PATCH', `${pvcs}/data`, {spec: {resources: {requests: {storage: '2Gi'}}}}, MERGE)).status).toBe(200)
    const mode = await req('PATCH', `${pvcs}/data`, {spec: {accessModes: ['ReadWriteMany']}}, MERGE)
    expect(mode.status).toBe(422)
    expect(mode.body.message).toBe('PersistentVolumeClaim "data" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims')
    const shrink = await req('PATCH', `${pvcs}/data`, {spec: {resources: {requests: {storage: '1Gi'}}}}, MERGE)
    expect(shrink.body.message).toBe('PersistentVolumeClaim "data" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than previous value')
  })
})

describe('status and generation', () => {
  it('status sent through the main resource is ignored (create, update, patch); /status writes it', async () => {
    const d: any = {...deployment('st', NS), status: {replicas: 7}}
    const c = await req('POST', deps, d)
    expect(c.body.status).toBeUndefined()
    const cur = {...c.body, metadata: {...c.body.metadata, resourceVersion: undefined}}
    const put = await req('PUT', `${deps}/st`, {...cur, status: {replicas: 9}})
    expect(put.status, JSON.stringify(put.body)).toBe(200)
    expect(put.body.status?.replicas).not.toBe(9)
    const p = await req('PATCH', `${deps}/st`, {status: {replicas: 9}}, MERGE)
    expect(p.body.status?.replicas).not.toBe(9)
    expect(api.store.get('apps/v1', 'Deployment', NS, 'st')!.status?.replicas).not.toBe(9)
    const s = await req('PATCH', `${deps}/st/status`, {status: {replicas: 3}}, MERGE)
    expect(s.body.status).toMatchObject({replicas: 3})
  })

  it('metadata-only changes keep generation; spec changes bump it', async () => {
    const g0 = api.store.get('apps/v1', 'Deployment', NS, 'st')!.metadata.generation
    const l = await req('PATCH', `${deps}/st`, {metadata: {labels: {extra: 'x'}, annotations: {note: 'y'}}}, MERGE)
    expect(l.body.metadata.generation).toBe(g0)
    const sp = await req('PATCH', `${deps}/st`, {spec: {replicas: 4}}, MERGE)
    expect(sp.body.metadata.generation).toBe(g0 + 1)
  })
})

describe('custom resources: the CRD openAPIV3Schema', () => {
  it('prunes unknown fields (warning), applies defaults, refuses type errors with apiextensions messages', async () => {
    const schema = {
      type: 'object',
      properties: {
        spec: {
          type: 'object',
          required: ['target'],
          properties: {target: {type: 'string'}, replicas: {type: 'integer', minimum: 0, default: 1}, mode: {type: 'string', enum: ['fast', 'slow']}, extra: {type: 'object', 'x-kubernetes-preserve-unknown-fields': true}},
        },
      },
    }
    api.registerCrd({group: 'example.com', version: 'v1', kind: 'Widget', schema})
    const path = `/apis/example.com/v1/namespaces/${NS}/widgets`
    const ok = await req('POST', path, {apiVersion: 'example.com/v1', kind: 'Widget', metadata: {name: 'w'}, spec: {target: 'x', junk: 1, extra: {kept: true}}})
    expect(ok.status).toBe(201)
    expect(ok.headers.get('warning')).toBe('299 - "unknown field \\"spec.junk\\""')
    expect(ok.body.spec).toEqual({target: 'x', replicas: 1, extra: {kept: true}})
    const bad = await req('POST', path, {apiVersion: 'example.com/v1', kind: 'Widget', metadata: {name: 'w2'}, spec: {replicas: 'two', mode: 'medium'}})
    expect(bad.status).toBe(422)
    expect(bad.body.message).toBe('Widget.example.com "w2" is invalid: [spec.target: Required value, spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string", spec.mode: Unsupported value: "medium": supported values: "fast", "slow"]')
    expect(bad.body.details.causes[1]).toEqual({reason: 'FieldValueTypeInvalid', message: 'Invalid value: "string": spec.replicas in body must be of type integer: "string"', field: 'spec.replicas'})
  })
})

describe('protocol details', () => {
  it('/openapi/v3 lists every group-version; a document has the PATCH operation with fieldValidation and the kind', async () => {
    const idx = await req('GET', '/openapi/v3')
    expect(idx.status).toBe(200)
    expect(Object.keys(idx.body.paths)).toEqual(expect.arrayContaining(['api/v1', 'apis/apps/v1', 'apis/batch/v1', 'apis/example.com/v1']))
    const doc = await req('GET', idx.body.paths['apis/apps/v1'].serverRelativeURL)
    const patch = doc.body.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}'].patch
    expect(patch['x-kubernetes-group-version-kind']).toEqual({group: 'apps', version: 'v1', kind: 'Deployment'})
    expect(patch.parameters.map((p: any) => p.name)).toContain('fieldValidation')
    expect(doc.body.components.schemas['io.k8s.api.apps.v1.Deployment'].properties.spec).toBeDefined()
    const v2 = await req('GET', '/openapi/v2')
    expect(v2.body.swagger).toBe('2.0')
  })

  it('discovery lists categories: "all" on workloads, none on ConfigMaps', async () => {
    const core = await req('GET', '/api/v1')
    const byName = (n: string) => core.body.resources.find((x: any) => x.name === n)
    expect(byName('pods').categories).toEqual(['all'])
    expect(byName('services').categories).toEqual(['all'])
    expect(byName('configmaps').categories).toBeUndefined()
  })

  it('limit/continue chunks a list in key order with remainingItemCount', async () => {
    const ns = 'chunks'
    await req('POST', '/api/v1/namespaces', namespace(ns))
    for (const n of ['a', 'b', 'c', 'd', 'e']) await req('POST', `/api/v1/namespaces/${ns}/configmaps`, {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: n}})
    const seen: string[] = []
    let cont = ''
    let first: any
    do {
      const r = await req('GET', `/api/v1/namespaces/${ns}/configmaps?limit=2${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`)
      first ??= r.body
      seen.push(...r.body.items.map((i: any) => i.metadata.name))
      cont = r.body.metadata.continue ?? ''
    } while (cont)
    expect(seen).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(first.metadata.remainingItemCount).toBe(3)
    const bad = await req('GET', `/api/v1/namespaces/${ns}/configmaps?limit=2&continue=xyz`)
    expect(bad.status).toBe(400)
  })

  it('dryRun in the DELETE body (DeleteOptions) stores nothing', async () => {
    const r = await req('DELETE', `${deps}/st`, {kind: 'DeleteOptions', apiVersion: 'v1', dryRun: ['All'], propagationPolicy: 'Background'})
    expect(r.status).toBe(200)
    expect(api.store.get('apps/v1', 'Deployment', NS, 'st')).toBeDefined()
  })
})

describe('server-side apply: associative lists merge by key (containers/env by name, ports by containerPort+protocol)', () => {
  const dep = (containers: any[]) => ({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'multi', namespace: NS}, spec: {selector: {matchLabels: {app: 'multi'}}, template: {metadata: {labels: {app: 'multi'}}, spec: {containers}}}})
  const apply = (manager: string, body: any, force = false) => req('PATCH', `${deps}/multi?fieldManager=${manager}${force ? '&force=true' : ''}`, body, APPLY)
  const containers = () => api.store.get('apps/v1', 'Deployment', NS, 'multi')!.spec.template.spec.containers

  it('two managers own different containers; each keeps the other\'s', async () => {
    expect((await apply('a', dep([{name: 'app', image: 'app:1', env: [{name: 'A', value: '1'}], ports: [{containerPort: 8000}]}]))).status).toBe(201)
    const b = await apply('b', dep([{name: 'sidecar', image: 'side:1'}]))
    expect(b.status, JSON.stringify(b.body)).toBe(200)
    expect(containers().map((c: any) => c.name)).toEqual(['sidecar', 'app'])
    const mf = b.body.metadata.managedFields.find((m: any) => m.manager === 'a')
    expect(mf.fieldsV1['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"app"}']).toMatchObject({'.': {}, 'f:image': {}, 'f:name': {}})
    expect(mf.fieldsV1['f:spec']['f:template']['f:spec']['f:containers']['k:{"name":"app"}']['f:ports']['k:{"containerPort":8000,"protocol":"TCP"}']).toMatchObject({'.': {}, 'f:containerPort': {}})
  })

  it('setting a field another manager owns is a conflict naming the keyed path; the same value is shared', async () => {
    const r = await apply('b', dep([{name: 'sidecar', image: 'side:1'}, {name: 'app', image: 'app:2'}]))
    expect(r.status).toBe(409)
    expect(r.body.message).toBe('Apply failed with 1 conflict: conflict with "a" using apps/v1: .spec.template.spec.containers[name="app"].image')
    expect(r.body.details.causes).toEqual([{reason: 'FieldManagerConflict', message: 'conflict with "a" using apps/v1', field: '.spec.template.spec.containers[name="app"].image'}])
    const shared = await apply('b', dep([{name: 'sidecar', image: 'side:1'}, {name: 'app', image: 'app:1'}]))
    expect(shared.status).toBe(200)
    const port = await apply('b', dep([{name: 'sidecar', image: 'side:1', ports: [{containerPort: 9000, name: 'metrics'}]}, {name: 'app', image: 'app:1', ports: [{containerPort: 8000, name: 'http'}]}]))
    expect(port.status, JSON.stringify(port.body)).toBe(200)
    expect(containers().find((c: any) => c.name === 'app').ports).toEqual([{containerPort: 8000, name: 'http', protocol: 'TCP'}])
  })

  it('an env var a manager stops applying goes; one another manager owns stays', async () => {
    expect((await apply('a', dep([{name: 'app', image: 'app:1', env: [{name: 'A', value: '1'}, {name: 'B', value: '2'}], ports: [{containerPort: 8000}]}]))).status).toBe(200)
    expect((await apply('a', dep([{name: 'app', image: 'app:1', env: [{name: 'B', value: '2'}], ports: [{containerPort: 8000}]}]))).status).toBe(200)
    const app = containers().find((c: any) => c.name === 'app')
    expect(app.env).toEqual([{name: 'B', value: '2'}])
    // b still applies the app container (shared image and port): it stays, with b's port name
    expect(app.ports).toEqual([{containerPort: 8000, name: 'http', protocol: 'TCP'}])
    expect(containers().map((c: any) => c.name).sort()).toEqual(['app', 'sidecar'])
  })
})

describe('strategic merge patch: lists merge on their patch merge key', () => {
  it('Service ports by port, container ports by containerPort, volumeMounts by mountPath; other lists are replaced', async () => {
    const SMP = 'application/strategic-merge-patch+json'
    expect((await req('POST', svcs, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'smp'}, spec: {selector: {app: 'smp'}, ports: [{name: 'a', port: 80}, {name: 'b', port: 81}]}})).status).toBe(201)
    const p = await req('PATCH', `${svcs}/smp`, {spec: {ports: [{port: 81, targetPort: 9081}]}}, SMP)
    expect(p.status, JSON.stringify(p.body)).toBe(200)
    expect(p.body.spec.ports).toEqual([
      {name: 'a', port: 80, protocol: 'TCP', targetPort: 80},
      {name: 'b', port: 81, protocol: 'TCP', targetPort: 9081},
    ])
    const d: any = deployment('smp', NS)
    Object.assign(d.spec.template.spec, {volumes: [{name: 'v', emptyDir: {}}], tolerations: [{key: 'a', operator: 'Exists'}]})
    Object.assign(d.spec.template.spec.containers[0], {ports: [{containerPort: 8000, name: 'http'}], volumeMounts: [{name: 'v', mountPath: '/a'}]})
    expect((await req('POST', deps, d)).status).toBe(201)
    const q = await req('PATCH', `${deps}/smp`, {spec: {template: {spec: {tolerations: [{key: 'b', operator: 'Exists'}], containers: [{name: 'vllm', ports: [{containerPort: 8000, name: 'api'}], volumeMounts: [{name: 'v', mountPath: '/a', readOnly: true}]}]}}}}, SMP)
    expect(q.status, JSON.stringify(q.body)).toBe(200)
    const c = q.body.spec.template.spec.containers[0]
    expect(c.ports).toEqual([{containerPort: 8000, name: 'api', protocol: 'TCP'}])
    expect(c.volumeMounts).toEqual([{name: 'v', mountPath: '/a', readOnly: true}])
    expect(q.body.spec.template.spec.tolerations).toEqual([{key: 'b', operator: 'Exists'}])
  })
})

describe('resourceVersion expiry by age', () => {
  it('a watch from a resourceVersion older than historyTtlMs is 410 Gone "too old resource version"', async () => {
    const a2 = await startKubeApiServer({historyTtlMs: 200, controllers: false})
    try {
      const r2 = http(a2)
      const c = await r2('POST', '/api/v1/namespaces/default/configmaps', {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'x'}})
      const rv = c.body.metadata.resourceVersion
      await new Promise((res) => setTimeout(res, 300))
      await r2('POST', '/api/v1/namespaces/default/configmaps', {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'y'}})
      const res = await a2.fetch(`/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${Number(rv) - 1}`)
      const text = await res.text()
      const ev = JSON.parse(text.trim().split('\n')[0])
      expect(ev.type).toBe('ERROR')
      expect(ev.object).toMatchObject({code: 410, reason: 'Expired'})
      expect(ev.object.message).toMatch(/^too old resource version: \d+ \(\d+\)$/)
    } finally {
      await a2.stop()
    }
  })
})
