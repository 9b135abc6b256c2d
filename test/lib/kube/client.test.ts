import {mkdtempSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {ConflictError, NotFoundError, TimeoutError, UnauthorizedError, UnreachableError, UsageError} from '../../../src/lib/errors.js'
import {
  aipSelector,
  applyObjects,
  createKubeClient,
  crdExists,
  deleteObjects,
  diagnoseWorkload,
  diffObjects,
  getObject,
  hasApiResource,
  listByLabels,
  modelLabels,
  patchObject,
  readPodLogs,
  waitForDeleted,
  waitForJob,
  waitForRollout,
  type KubeClient,
  type KubeObject,
} from '../../../src/lib/kube/index.js'
import {systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {deployment, namespace, startKubeApiServer, type KubeApiServer} from './helpers.js'

let api: KubeApiServer
let client: KubeClient
const NS = 'aip-models'

beforeAll(async () => {
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, nodes: [systemNode(), systemNode(), systemNode()]})
  api.store.put(namespace(NS))
  client = await createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS, retry: {minDelayMs: 10, maxDelayMs: 2000}})
})
afterAll(async () => {
  await api.stop()
})

describe('module hygiene', () => {
  it('no module of src/lib/kube imports client-node, yaml or p-retry at top level', () => {
    const dir = join(__dirname, '../../../src/lib/kube')
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8')
      const statics = text.split('\n').filter((l) => /^import\s/.test(l) && !/^import type\s/.test(l))
      for (const l of statics) expect(l, `${f}: ${l}`).not.toMatch(/@kubernetes\/client-node|'yaml'|'p-retry'/)
    }
  })
})

describe('createKubeClient', () => {
  it('reads the kubeconfig file, its context and the namespace flag', () => {
    expect(client.context).toBe('aip-test')
    expect(client.server).toBe(api.url)
    expect(client.namespace).toBe(NS)
  })

  it('honours KUBECONFIG and defaults the namespace to "default"', async () => {
    const c = await createKubeClient({env: {KUBECONFIG: `/nonexistent/x:${api.kubeconfigPath}`, HOME: '/nonexistent'}})
    expect(c.kubeconfigPath).toBe(api.kubeconfigPath)
    expect(c.namespace).toBe('default')
  })

  it('no kubeconfig anywhere -> NotFoundError with the bootstrap fix', async () => {
    const home = mkdtempSync(join(tmpdir(), 'aip-nohome-'))
    const err = await createKubeClient({env: {HOME: home}}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect((err as NotFoundError).exitCode).toBe(4)
    expect((err as NotFoundError).fix).toContain('aip cluster bootstrap')
    const err2 = await createKubeClient({kubeconfig: join(home, 'missing')}).catch((e: unknown) => e)
    expect(err2).toBeInstanceOf(NotFoundError)
  })

  it('unknown context -> UsageError listing the contexts', async () => {
    const err = await createKubeClient({kubeconfig: api.kubeconfigPath, context: 'prod'}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UsageError)
    expect((err as UsageError).message).toContain('"prod"')
    expect((err as UsageError).message).toContain('aip-test')
  })

  it('a broken kubeconfig file -> UsageError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aip-kc-'))
    writeFileSync(join(dir, 'config'), 'this: [is not: a kubeconfig')
    const err = await createKubeClient({kubeconfig: join(dir, 'config')}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UsageError)
  })

  it('an unreachable server -> UnreachableError (exit 5) after retries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aip-kc-'))
    const file = join(dir, 'config')
    writeFileSync(
      file,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:9\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: x\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n`,
    )
    const c = await createKubeClient({kubeconfig: file, retry: {retries: 2, minDelayMs: 5}})
    const err = await c.request('GET', '/api/v1/namespaces').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnreachableError)
    expect((err as UnreachableError).exitCode).toBe(5)
    expect(c.requestCount).toBe(3)
  })
})

describe('apply, diff, get, list, delete', () => {
  const objs = (): KubeObject[] => [
    {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: 'm1', labels: modelLabels('m1')}},
    {...deployment('m1', NS, {labels: modelLabels('m1')}), metadata: {name: 'm1', labels: {...modelLabels('m1'), app: 'm1'}}} as KubeObject,
  ]

  it('creates, then reports unchanged, then configured', async () => {
    const first = await applyObjects(client, objs())
    expect(first.map((r) => r.action)).toEqual(['created', 'created'])
    expect(first[1].object.metadata.namespace).toBe(NS)
    expect(first[1].object.metadata.managedFields?.[0]).toMatchObject({manager: 'aip', operation: 'Apply'})
    const again = await applyObjects(client, objs())
    expect(again.map((r) => r.action)).toEqual(['unchanged', 'unchanged'])
    const changed = objs()
    ;(changed[1].spec as any).replicas = 2
    const third = await applyObjects(client, changed)
    expect(third.map((r) => r.action)).toEqual(['unchanged', 'configured'])
    expect(api.store.get('apps/v1', 'Deployment', NS, 'm1')?.spec.replicas).toBe(2)
  })

  it('server dry run stores nothing', async () => {
    const o = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'dry'}, data: {a: '1'}}
    const r = await applyObjects(client, [o], {dryRun: 'server'})
    expect(r[0].action).toBe('created')
    expect(api.store.get('v1', 'ConfigMap', NS, 'dry')).toBeUndefined()
  })

  it('diff shows a kubectl-diff style unified diff of the change only', async () => {
    const changed = objs()
    ;(changed[1].spec as any).replicas = 3
    const d = await diffObjects(client, changed)
    expect(d.changed).toBe(true)
    expect(d.objects.map((o) => o.action)).toEqual(['unchanged', 'update'])
    expect(d.diff).toContain('--- LIVE/apps.v1.Deployment.aip-models.m1')
    expect(d.diff).toMatch(/^-  replicas: 2$/m)
    expect(d.diff).toMatch(/^\+  replicas: 3$/m)
    expect(d.diff).not.toContain('managedFields')
    expect(d.diff).not.toContain('resourceVersion')
    expect(api.store.get('apps/v1', 'Deployment', NS, 'm1')?.spec.replicas).toBe(2)
    const none = await diffObjects(client, [changed[0]])
    expect(none).toMatchObject({changed: false, diff: ''})
  })

  it('a conflict with another field manager -> ConflictError naming it; force takes over', async () => {
    const res = await api.fetch(`/apis/apps/v1/namespaces/${NS}/deployments/m1?fieldManager=kubectl-scale`, {
      method: 'PATCH',
      headers: {'content-type': 'application/merge-patch+json'},
      body: JSON.stringify({spec: {replicas: 5}}),
    })
    expect(res.status).toBe(200)
    const changed = objs()
    ;(changed[1].spec as any).replicas = 2
    const err = await applyObjects(client, changed).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ConflictError)
    expect((err as ConflictError).message).toContain('"kubectl-scale"')
    expect((err as ConflictError).message).toContain('.spec.replicas')
    expect((err as ConflictError).fix).toContain('--force-conflicts')
    const forced = await applyObjects(client, changed, {force: true})
    expect(forced[1].action).toBe('configured')
    expect(api.store.get('apps/v1', 'Deployment', NS, 'm1')?.spec.replicas).toBe(2)
  })

  it('getObject, listByLabels (skipping kinds not served), hasApiResource, crdExists', async () => {
    expect((await getObject(client, {apiVersion: 'v1', kind: 'ServiceAccount', name: 'm1', namespace: NS}))?.metadata.name).toBe('m1')
    expect(await getObject(client, {apiVersion: 'v1', kind: 'ServiceAccount', name: 'nope', namespace: NS})).toBeUndefined()
    expect(await hasApiResource(client, 'keda.sh/v1alpha1', 'ScaledObject')).toBe(false)
    expect(await crdExists(client, 'keda.sh', 'ScaledObject')).toBe(false)
    const kinds = [
      {apiVersion: 'v1', kind: 'ServiceAccount'},
      {apiVersion: 'apps/v1', kind: 'Deployment'},
      {apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject'},
    ]
    const found = await listByLabels(client, kinds, aipSelector('m1'))
    expect(found.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(['Deployment/m1', 'ServiceAccount/m1'])
    api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
    client.invalidateDiscovery()
    expect(await hasApiResource(client, 'keda.sh/v1alpha1', 'ScaledObject')).toBe(true)
    expect(await crdExists(client, 'keda.sh', 'ScaledObject')).toBe(true)
    await applyObjects(client, [{apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: {name: 'm1', labels: modelLabels('m1')}, spec: {scaleTargetRef: {name: 'm1'}, triggers: [{type: 'cpu', metadata: {value: '50'}}]}}])
    expect((await listByLabels(client, kinds, aipSelector('m1'))).length).toBe(3)
  })

  it('patchObject releases a finalizer; readPodLogs tails logs', async () => {
    await applyObjects(client, [{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'pinned', finalizers: ['example.com/pin']}}])
    await deleteObjects(client, [{apiVersion: 'v1', kind: 'ConfigMap', name: 'pinned', namespace: NS}])
    expect(api.store.get('v1', 'ConfigMap', NS, 'pinned')?.metadata.deletionTimestamp).toBeTruthy()
    await patchObject(client, {apiVersion: 'v1', kind: 'ConfigMap', name: 'pinned'}, {metadata: {finalizers: null}})
    expect(api.store.get('v1', 'ConfigMap', NS, 'pinned')).toBeUndefined()
    api.store.put({apiVersion: 'v1', kind: 'Pod', metadata: {name: 'logger-1', namespace: NS}, spec: {containers: [{name: 'c', image: 'x'}]}})
    api.setPodLogs(NS, 'logger-', 'l1\nl2\nl3\n')
    expect(await readPodLogs(client, {name: 'logger-1'}, {tailLines: 2})).toEqual(['l2', 'l3'])
  })

  it('applying a kind whose CRD is missing -> NotFoundError naming the kind', async () => {
    const err = await applyObjects(client, [{apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: {name: 'x'}}]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect((err as Error).message).toContain('ServiceMonitor')
  })

  it('deletes with propagation and waits until the objects and their dependents are gone', async () => {
    await waitForRollout(client, {name: 'm1', timeoutMs: 10_000})
    expect(api.store.list('v1', 'Pod', NS).length).toBeGreaterThan(0)
    const found = await listByLabels(client, [{apiVersion: 'apps/v1', kind: 'Deployment'}, {apiVersion: 'v1', kind: 'ServiceAccount'}], aipSelector('m1'))
    const res = await deleteObjects(client, found, {propagationPolicy: 'Background'})
    expect(res.map((r) => r.result)).toEqual(['deleted', 'deleted'])
    await waitForDeleted(client, found.map((o) => ({apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: NS})), {timeoutMs: 10_000})
    await api.waitFor((s) => s.list('v1', 'Pod', NS).filter((p) => p.metadata.name.startsWith('m1-')).length === 0)
    const again = await deleteObjects(client, found)
    expect(again.map((r) => r.result)).toEqual(['not-found', 'not-found'])
  })
})

describe('waits', () => {
  it('waitForRollout reports progress and returns when available', async () => {
    const messages: string[] = []
    await applyObjects(client, [deployment('ok', NS, {replicas: 2}) as KubeObject])
    const r = await waitForRollout(client, {name: 'ok', timeoutMs: 10_000, onProgress: (p) => messages.push(p.message)})
    expect(r).toMatchObject({desired: 2, updated: 2, available: 2})
    expect(messages.at(-1)).toBe('deployment "ok" successfully rolled out')
    const dep = api.store.get('apps/v1', 'Deployment', NS, 'ok')!
    expect(dep.status.conditions.find((c: any) => c.type === 'Available').status).toBe('True')
  })

  it.each([
    ['Unschedulable', /Insufficient nvidia\.com\/gpu/],
    ['ImagePullBackOff', /ImagePullBackOff/],
    ['OOMKilled', /OOMKilled|out of memory/],
    ['CrashLoopBackOff', /CrashLoopBackOff/],
  ] as const)('a stalled rollout (%s) times out with exit 7 and the cause', async (mode, re) => {
    const name = `stuck-${mode.toLowerCase()}`
    const dep = deployment(name, NS) as any
    // Unschedulable is the real scheduler's verdict: the cluster has no GPU node
    if (mode === 'Unschedulable') dep.spec.template.spec.containers[0].resources = {limits: {'nvidia.com/gpu': '1'}}
    else api.setDeploymentBehavior(NS, name, {mode} as any)
    await applyObjects(client, [dep as KubeObject])
    await api.waitFor((s) => s.list('v1', 'Pod', NS).some((p) => p.metadata.name.startsWith(name) && (p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff' || p.status.conditions?.some((c: any) => c.reason === 'Unschedulable') || /ImagePull/.test(p.status.containerStatuses?.[0]?.state?.waiting?.reason ?? ''))))
    const err = await waitForRollout(client, {name, timeoutMs: 400}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as TimeoutError).exitCode).toBe(7)
    expect((err as TimeoutError).message).toMatch(re)
    const d = (err as TimeoutError).details?.diagnosis as any
    expect(d.reason).toBe(mode)
    if (mode === 'CrashLoopBackOff' || mode === 'OOMKilled') expect(d.logTail.length).toBeGreaterThan(0)
    if (mode === 'Unschedulable') expect(d.events.some((e: any) => e.reason === 'FailedScheduling')).toBe(true)
  })

  it('ProgressDeadlineExceeded fails the wait at once with the cause (exit 1, not a timeout)', async () => {
    api.setDeploymentBehavior(NS, 'deadline', {mode: 'ImagePullBackOff'})
    const d = deployment('deadline', NS) as any
    d.spec.progressDeadlineSeconds = 1
    await applyObjects(client, [d])
    const err = await waitForRollout(client, {name: 'deadline', timeoutMs: 20_000}).catch((e: unknown) => e)
    expect(err).not.toBeInstanceOf(TimeoutError)
    expect((err as any).exitCode).toBe(1)
    expect((err as Error).message).toContain('exceeded its progress deadline')
    expect((err as Error).message).toContain('ImagePullBackOff')
  })

  it('an aborted wait ends with InterruptedError (exit 130)', async () => {
    api.setDeploymentBehavior(NS, 'never', {mode: 'none'})
    await applyObjects(client, [deployment('never', NS) as KubeObject])
    const ac = new AbortController()
    setTimeout(() => ac.abort(), 100)
    const err = await waitForRollout(client, {name: 'never', timeoutMs: 20_000, signal: ac.signal}).catch((e: unknown) => e)
    expect((err as any).exitCode).toBe(130)
  })

  it('waitForDeleted on a namespace reports what holds it, then returns once it is gone', async () => {
    await applyObjects(client, [namespace('nsdel') as KubeObject])
    api.stuckFinalizer('ConfigMap', 'example.com/hold')
    await applyObjects(client, [{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'held', namespace: 'nsdel', finalizers: ['example.com/hold']}}])
    await deleteObjects(client, [{apiVersion: 'v1', kind: 'Namespace', name: 'nsdel'}])
    const seen: string[] = []
    // the bound must outlast the wait's first answer (what it names comes from there): a few ms on
    // an idle machine, far more on a loaded one, so 2 s rather than 0.5 s
    const err = await waitForDeleted(client, [{apiVersion: 'v1', kind: 'Namespace', name: 'nsdel'}], {timeoutMs: 2000, onProgress: (p) => seen.push(...Object.values(p.holding))}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as Error).message).toContain('example.com/hold in 1 resource instances')
    expect(seen.some((s) => s.includes('NamespaceContentRemaining'))).toBe(true)
    api.store.removeFinalizer('v1', 'ConfigMap', 'nsdel', 'held')
    await waitForDeleted(client, [{apiVersion: 'v1', kind: 'Namespace', name: 'nsdel'}], {timeoutMs: 10_000})
  })

  it('diagnoseWorkload returns the last log lines of a crash loop', async () => {
    api.setDeploymentBehavior(NS, 'crashy', {mode: 'CrashLoopBackOff', restartCount: 7})
    api.setPodLogs(NS, 'crashy', 'one\ntwo\nthree\nfour\n')
    await applyObjects(client, [deployment('crashy', NS) as KubeObject])
    await api.waitFor((s) => s.list('v1', 'Pod', NS).some((p) => p.metadata.name.startsWith('crashy') && p.status.containerStatuses?.[0]?.restartCount === 7))
    const d = await diagnoseWorkload(client, {deployment: 'crashy', logLines: 2})
    expect(d).toMatchObject({reason: 'CrashLoopBackOff', restartCount: 7, logTail: ['three', 'four']})
    expect(await diagnoseWorkload(client, {deployment: 'ok'})).toBeUndefined()
  })

  it('waitForJob: complete, and failed with the pod message', async () => {
    api.setJobBehavior(NS, 'bad', {outcome: 'fail', message: 'preload marker missing in s3://b/p', delayMs: 30})
    const job = (name: string) => ({apiVersion: 'batch/v1', kind: 'Job', metadata: {name}, spec: {backoffLimit: 1, template: {spec: {restartPolicy: 'Never', containers: [{name: 'preload', image: 'busybox'}]}}}})
    await applyObjects(client, [job('good'), job('bad')])
    expect((await waitForJob(client, {name: 'good', timeoutMs: 10_000})).status).toBe('Complete')
    const err = await waitForJob(client, {name: 'bad', timeoutMs: 10_000}).catch((e: unknown) => e)
    expect((err as Error).message).toContain('BackoffLimitExceeded')
    expect((err as Error).message).toContain('preload marker missing')
    const r = await waitForJob(client, {name: 'bad', timeoutMs: 10_000, throwOnFailure: false})
    expect(r.status).toBe('Failed')
    expect(r.events.some((e) => e.reason === 'BackoffLimitExceeded')).toBe(true)
  })

  it('waitForDeleted names the finalizer that holds an object on timeout', async () => {
    api.stuckFinalizer('Service', 'service.kubernetes.io/load-balancer-cleanup')
    await applyObjects(client, [{apiVersion: 'v1', kind: 'Service', metadata: {name: 'lb'}, spec: {type: 'LoadBalancer', ports: [{port: 80}]}}])
    await api.waitFor((s) => (s.get('v1', 'Service', NS, 'lb')?.metadata.finalizers ?? []).length > 0)
    await deleteObjects(client, [{apiVersion: 'v1', kind: 'Service', name: 'lb', namespace: NS}])
    const ref = {apiVersion: 'v1', kind: 'Service', name: 'lb', namespace: NS}
    const err = await waitForDeleted(client, [ref], {timeoutMs: 2000}).catch((e: unknown) => e) // outlasts the first answer (see above)
    expect(err).toBeInstanceOf(TimeoutError)
    expect((err as Error).message).toContain('service.kubernetes.io/load-balancer-cleanup')
    api.stuckFinalizer('Service', 'service.kubernetes.io/load-balancer-cleanup', false)
    await waitForDeleted(client, [ref], {timeoutMs: 10_000})
    expect(api.store.get('v1', 'Service', NS, 'lb')).toBeUndefined()
  })
})

describe('faults', () => {
  it('429 with Retry-After is retried after the server-given delay', async () => {
    api.clearRequests()
    api.faults.failNext(2, {status: 429, retryAfterSeconds: 0, match: {method: 'GET', pathPrefix: '/api/v1/namespaces/aip-models/configmaps'}})
    const list = await client.request<{items: unknown[]}>('GET', `/api/v1/namespaces/${NS}/configmaps`)
    expect(Array.isArray(list.items)).toBe(true)
    expect(api.requests.filter((r) => r.path.endsWith('/configmaps')).map((r) => r.status)).toEqual([429, 429, 200])
  })

  it('Retry-After seconds are honoured (not the shorter backoff)', async () => {
    api.faults.failNext(1, {status: 429, retryAfterSeconds: 1, match: {pathPrefix: '/api/v1/namespaces/aip-models/secrets'}})
    const t0 = Date.now()
    await client.request('GET', `/api/v1/namespaces/${NS}/secrets`)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950)
  })

  it('500 and a dropped connection are retried; 4xx is not', async () => {
    api.clearRequests()
    api.faults.failNext(1, {status: 500, match: {pathPrefix: '/api/v1/namespaces/aip-models/services'}})
    api.faults.dropNext(1, {pathPrefix: '/api/v1/namespaces/aip-models/services'})
    await client.request('GET', `/api/v1/namespaces/${NS}/services`)
    const statuses = api.requests.filter((r) => r.path.endsWith('/services')).map((r) => r.status)
    // the drop rule is checked before the failure rule: reset, then 500, then success
    expect(statuses).toEqual([0, 500, 200])
    api.clearRequests()
    const err = await client.request('GET', `/api/v1/namespaces/${NS}/services/nope`).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect(api.requests.length).toBe(1)
  })

  it('persistent 500 gives up with the server message', async () => {
    api.faults.failNext(10, {status: 500, match: {pathPrefix: '/api/v1/namespaces/aip-models/limitranges'}})
    const c = await createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS, retry: {retries: 2, minDelayMs: 1}})
    const err = await c.request('GET', `/api/v1/namespaces/${NS}/limitranges`).catch((e: unknown) => e)
    expect((err as Error).message).toContain('500')
    expect((err as Error).message).toContain('injected fault')
    api.faults.clear()
  })

  it('403 maps to UnauthorizedError naming verb, resource and namespace', async () => {
    api.faults.forbid({verb: 'patch', resource: 'deployments', namespace: NS})
    const err = await applyObjects(client, [deployment('forbidden', NS) as KubeObject]).catch((e: unknown) => e)
    api.faults.clear()
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect((err as UnauthorizedError).exitCode).toBe(6)
    expect((err as Error).message).toContain('patch deployments.apps')
    expect((err as Error).message).toContain(NS)
    expect((err as UnauthorizedError).fix).toContain('kubectl auth can-i patch deployments.apps')
  })

  it('an unreachable admission webhook fails at once (no retries) naming the webhook and its service', async () => {
    api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
    api.store.put({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: {name: 'keda-admission'},
      webhooks: [{name: 'vscaledobject.kb.io', failurePolicy: 'Fail', clientConfig: {service: {namespace: 'keda', name: 'keda-admission-webhooks'}}, rules: [{operations: ['*'], apiGroups: ['keda.sh'], apiVersions: ['*'], resources: ['scaledobjects']}]}],
    })
    api.faults.webhookUnreachable('keda', 'keda-admission-webhooks')
    api.clearRequests()
    const err = await applyObjects(client, [{apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: {name: 'hooked'}, spec: {}}]).catch((e: unknown) => e)
    api.faults.clear()
    expect((err as any).exitCode).toBe(1)
    expect((err as Error).message).toContain('admission webhook "vscaledobject.kb.io"')
    expect((err as any).fix).toContain('keda/keda-admission-webhooks')
    expect(api.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1)
  })

  it('401 maps to UnauthorizedError', async () => {
    api.faults.unauthorized(true)
    const err = await client.request('GET', '/api/v1/namespaces').catch((e: unknown) => e)
    api.faults.unauthorized(false)
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect((err as Error).message).toContain('401')
  })

  // The three watch tests below make the Deployment ready only when the test says so (its pods
  // never become ready on their own): with a ready delay, a loaded machine could finish the rollout
  // before the fault is injected, and the test would pass without exercising the resume.
  const watching = (a: KubeApiServer, since = 0) => a.requests.slice(since).some((r) => r.watch && r.path.endsWith('/deployments'))
  // waits for the condition; the bound only turns a hang into a clear failure
  const until = async (cond: () => boolean, what = 'a watch on deployments') => {
    for (const end = Date.now() + 30_000; !cond(); await new Promise((r) => setTimeout(r, 10))) if (Date.now() > end) throw new Error(`no ${what} within 30 s`)
  }
  const markReady = (a: KubeApiServer, name: string) => {
    const dep = a.store.get('apps/v1', 'Deployment', NS, name)!
    a.store.setStatus('apps/v1', 'Deployment', NS, name, {observedGeneration: dep.metadata.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1})
  }

  it('a watch that drops mid-rollout is resumed and the rollout is still seen', async () => {
    api.setDeploymentBehavior(NS, 'slow', {mode: 'none'})
    await applyObjects(client, [deployment('slow', NS) as KubeObject])
    api.clearRequests()
    const p = waitForRollout(client, {name: 'slow', timeoutMs: 20_000})
    // drop the watch once it is open (a fixed sleep loses the race on a loaded machine)
    await until(() => watching(api))
    api.faults.dropWatches()
    const dropped = api.requests.length
    // ready once the client watches again: only a resumed watch (or a relist) can see it
    await until(() => watching(api, dropped))
    markReady(api, 'slow')
    await expect(p).resolves.toMatchObject({available: 1})
    expect(api.requests.filter((r) => r.watch && r.path.endsWith('/deployments')).length).toBeGreaterThanOrEqual(2)
  })

  it('a watch whose resourceVersion expired (410 Gone) relists and still sees the rollout', async () => {
    api.setDeploymentBehavior(NS, 'expired', {mode: 'none'})
    await applyObjects(client, [deployment('expired', NS) as KubeObject])
    api.clearRequests()
    const p = waitForRollout(client, {name: 'expired', timeoutMs: 20_000})
    await until(() => watching(api))
    api.clearRequests()
    api.store.put({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'noise', namespace: NS}})
    api.compact()
    api.faults.dropWatches()
    // the client's next watch from its old resourceVersion is answered 410 Gone
    await until(() => watching(api))
    markReady(api, 'expired')
    await expect(p).resolves.toMatchObject({available: 1})
    const lists = api.requests.filter((r) => !r.watch && r.method === 'GET' && r.path.endsWith('/deployments'))
    expect(lists.length).toBeGreaterThanOrEqual(1)
  })

  it('a watch resumed after the API server went away and came back (410 -> relist)', async () => {
    const small = await startKubeApiServer({historyLimit: 5, deploymentBehavior: {mode: 'none'}, nodes: [systemNode()]})
    try {
      small.store.put(namespace(NS))
      const c = await createKubeClient({kubeconfig: small.kubeconfigPath, namespace: NS, retry: {minDelayMs: 20}})
      await applyObjects(c, [deployment('gone', NS) as KubeObject])
      const p = waitForRollout(c, {name: 'gone', timeoutMs: 20_000})
      await until(() => watching(small))
      await small.goDown()
      // history moves on while the client is away: its resourceVersion expires
      for (let i = 0; i < 10; i++) small.store.put({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: `noise-${i}`, namespace: NS}})
      await new Promise((r) => setTimeout(r, 100))
      small.clearRequests()
      await small.comeBack()
      markReady(small, 'gone')
      await expect(p).resolves.toMatchObject({available: 1})
      // seen by listing again after the 410, not by the old watch
      expect(small.requests.some((r) => !r.watch && r.method === 'GET' && r.path.endsWith('/deployments'))).toBe(true)
    } finally {
      await small.stop()
    }
  })
})
