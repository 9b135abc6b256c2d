import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {AipError, TimeoutError, UnreachableError} from '../../../src/lib/errors.js'
import {applyObjects, type KubeClient, modelLabels} from '../../../src/lib/kube/index.js'
import {buildTeardownPlan, executeTeardown, renderPlan, type TeardownEvent} from '../../../src/lib/teardown/index.js'
import type {KubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {client, managedLeft, MODEL, NS, populate, startCluster, survivors} from './fixtures.js'

let api: KubeApiServer
let c: KubeClient

beforeEach(async () => {
  api = await startCluster()
  c = await client(api)
  await populate(api, c)
})
afterEach(async () => {
  await api.stop()
})

const fast = {timeoutMs: 10_000, reconnect: {attempts: 3, delayMs: 50}}

describe('teardown plan', () => {
  it('orders the phases and lists only aip-managed objects (plus nothing unmanaged)', async () => {
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip', protectedBucket: 'weights'})
    const ids = plan.phases.map((p) => p.id)
    expect(ids).toEqual(['scale-models', 'delete-workloads', 'delete-custom-resources', 'delete-load-balancers', 'delete-namespaces'])
    const names = (id: string) => plan.phases.find((p) => p.id === id)!.items.map((i) => `${i.ref.kind}/${i.ref.name}`)
    expect(names('scale-models')).toEqual(expect.arrayContaining([`Deployment/${MODEL}`, `ScaledObject/${MODEL}`]))
    expect(names('delete-workloads').sort()).toEqual([`Deployment/${MODEL}`, `Job/${MODEL}-preload`])
    // KEDA and monitoring first, Karpenter NodePool before its EC2NodeClass
    expect(names('delete-custom-resources')).toEqual([`ScaledObject/${MODEL}`, `ServiceMonitor/${MODEL}`, 'NodePool/aip-gpu', 'EC2NodeClass/aip-gpu'])
    expect(names('delete-load-balancers')).toEqual([`Service/${MODEL}-public`])
    expect(names('delete-namespaces').sort()).toEqual([`Namespace/${NS}`, 'Namespace/team-a'])
    const all = plan.phases.flatMap((p) => p.items.map((i) => `${i.ref.namespace ?? ''}/${i.ref.name}`))
    expect(all).not.toContain('default/ingress')
    expect(all).not.toContain('default/other-app')
    expect(all).not.toContain('/monitoring')
    expect(plan.kept).toContainEqual(expect.objectContaining({what: 'S3 bucket weights'}))
    const text = renderPlan(plan)
    expect(text).toMatch(/1\. Scale aip models to zero/)
    expect(text).toContain(`Service/${NS}/${MODEL}-public: load balancer a`)
    expect(text).toContain('S3 bucket weights')
  })

  it('keeps a namespace that holds objects aip does not manage (and says why)', async () => {
    await applyObjects(c, [{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'user-data', namespace: 'team-a'}, data: {}}])
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    expect(plan.phases.find((p) => p.id === 'delete-namespaces')!.items.map((i) => i.ref.name)).toEqual([NS])
    expect(plan.kept).toContainEqual({what: 'Namespace/team-a', reason: expect.stringContaining('ConfigMap/team-a/user-data')})
    // aip's objects inside it are still deleted, one by one
    expect(plan.phases.find((p) => p.id === 'delete-objects')!.items.map((i) => `${i.ref.kind}/${i.ref.name}`)).toEqual(expect.arrayContaining(['ResourceQuota/aip-quota', 'RoleBinding/aip-tenant-edit']))
    await executeTeardown(plan, {client: c, ...fast})
    expect(api.store.get('v1', 'ConfigMap', 'team-a', 'user-data')).toBeDefined()
    expect(api.store.get('v1', 'ResourceQuota', 'team-a', 'aip-quota')).toBeUndefined()
  })
})

describe('teardown execution', () => {
  it('deletes everything the plan lists, waits for finalizers, and leaves the rest', async () => {
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    const events: TeardownEvent[] = []
    const r = await executeTeardown(plan, {client: c, ...fast, onEvent: (e) => events.push(e)})
    expect(r.verified).toBe(true)
    expect(managedLeft(api)).toEqual([])
    expect(survivors(api)).toBe(true)
    expect(api.store.get('v1', 'Namespace', undefined, 'monitoring')).toBeDefined()
    // the model was scaled to zero before its Deployment was deleted, and the Job with Background propagation
    const scale = api.requests.find((q) => q.method === 'PATCH' && q.path === `/apis/apps/v1/namespaces/${NS}/deployments/${MODEL}`)
    const del = api.requests.findIndex((q) => q.method === 'DELETE' && q.path === `/apis/apps/v1/namespaces/${NS}/deployments/${MODEL}`)
    expect(scale).toBeDefined()
    expect(api.requests.indexOf(scale!)).toBeLessThan(del)
    // NodePool (finalizer) gone before any namespace was deleted; LB before namespaces
    const at = (m: string, p: string) => api.requests.findIndex((q) => q.method === m && q.path === p)
    expect(at('DELETE', '/apis/karpenter.sh/v1/nodepools/aip-gpu')).toBeLessThan(at('DELETE', `/api/v1/namespaces/${NS}`))
    expect(at('DELETE', `/api/v1/namespaces/${NS}/services/${MODEL}-public`)).toBeLessThan(at('DELETE', `/api/v1/namespaces/${NS}`))
    expect(events.map((e) => e.phase)).toContain('verify')
    // a rerun finds nothing left
    const again = await buildTeardownPlan({client: c, clusterName: 'aip'})
    expect(again.empty).toBe(true)
  })

  it('names the object holding a namespace on a stuck finalizer; --force-finalizers clears it', async () => {
    await applyObjects(c, [{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'held', namespace: NS, labels: modelLabels(MODEL), finalizers: ['example.com/never']}, data: {}}])
    api.stuckFinalizer('ConfigMap', 'example.com/never')
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    const err = (await executeTeardown(plan, {client: c, ...fast, timeoutMs: 500}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.exitCode).toBe(7)
    expect(err.message).toContain(`Namespace/${NS}`)
    expect(err.message).toContain(`ConfigMap/${NS}/held (finalizer example.com/never)`)
    expect(err.fix).toContain('--force-finalizers')
    expect(api.store.get('v1', 'Namespace', undefined, NS)).toBeDefined()

    // rerun with --force-finalizers: a fresh plan from what remains, finalizers patched away
    const plan2 = await buildTeardownPlan({client: c, clusterName: 'aip'})
    expect(plan2.phases.map((p) => p.id)).toEqual(['delete-namespaces'])
    expect(plan2.phases[0]!.items[0]!.terminating).toBe(true)
    const r = await executeTeardown(plan2, {client: c, ...fast, timeoutMs: 500, forceFinalizers: true})
    expect(r.phases[0]!.forced).toEqual([`ConfigMap/${NS}/held (example.com/never)`])
    expect(managedLeft(api)).toEqual([])
    expect(survivors(api)).toBe(true)
  })

  it('a LoadBalancer whose cleanup finalizer never clears is named, not silently dropped', async () => {
    api.stuckFinalizer('Service', 'service.kubernetes.io/load-balancer-cleanup')
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    const err = (await executeTeardown(plan, {client: c, ...fast, timeoutMs: 400}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.message).toContain(`Service/${NS}/${MODEL}-public held by finalizer service.kubernetes.io/load-balancer-cleanup`)
    // namespaces were not touched: the LB phase comes first
    expect(api.store.get('v1', 'Namespace', undefined, NS)?.metadata.deletionTimestamp).toBeUndefined()
    api.stuckFinalizer('Service', 'service.kubernetes.io/load-balancer-cleanup', false)
    const r = await executeTeardown(await buildTeardownPlan({client: c, clusterName: 'aip'}), {client: c, ...fast, forceFinalizers: true, timeoutMs: 400})
    expect(r.verified).toBe(true)
    expect(managedLeft(api)).toEqual([])
  })

  it('removes a failing add-on webhook that blocks deletion, and only that one', async () => {
    api.faults.webhookUnreachable(NS, 'aip-admission')
    await applyObjects(c, [
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: {name: 'aip-admission'},
        webhooks: [
          {
            name: 'validate.aip.dev',
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            clientConfig: {service: {namespace: NS, name: 'aip-admission'}},
            rules: [{operations: ['DELETE'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*']}],
          },
        ],
      },
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: {name: 'user-policy'},
        webhooks: [
          {
            name: 'policy.example.com',
            failurePolicy: 'Ignore',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            clientConfig: {service: {namespace: 'default', name: 'policy'}},
            rules: [{operations: ['*'], apiGroups: ['*'], apiVersions: ['*'], resources: ['*']}],
          },
        ],
      },
    ])
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    const hooks = plan.phases.find((p) => p.id === 'remove-webhooks')!.items
    expect(hooks.map((h) => h.ref.name)).toEqual(['aip-admission'])
    expect(hooks[0]!.detail).toContain(`namespace ${NS}`)
    const events: TeardownEvent[] = []
    const r = await executeTeardown(plan, {client: c, ...fast, onEvent: (e) => events.push(e)})
    expect(r.verified).toBe(true)
    // it blocked the first deletes, so it was removed as soon as it did
    expect(events.some((e) => e.message.includes('blocks deletion (webhook validate.aip.dev)'))).toBe(true)
    expect(api.store.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'aip-admission')).toBeUndefined()
    expect(api.store.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'user-policy')).toBeDefined()
    expect(managedLeft(api)).toEqual([])
  })

  it('an unlisted webhook that blocks deletion stops the run with its name', async () => {
    api.faults.webhookUnreachable('policy-system', 'gatekeeper')
    await applyObjects(c, [
      {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'policy-system'}},
      {apiVersion: 'v1', kind: 'Service', metadata: {name: 'gatekeeper', namespace: 'policy-system'}, spec: {ports: [{port: 443}]}},
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingWebhookConfiguration',
        metadata: {name: 'gatekeeper'},
        webhooks: [
          {
            name: 'check.gatekeeper.sh',
            failurePolicy: 'Fail',
            sideEffects: 'None',
            admissionReviewVersions: ['v1'],
            clientConfig: {service: {namespace: 'policy-system', name: 'gatekeeper'}},
            rules: [{operations: ['DELETE'], apiGroups: ['apps'], apiVersions: ['v1'], resources: ['deployments']}],
          },
        ],
      },
    ])
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    expect(plan.phases.find((p) => p.id === 'remove-webhooks')).toBeUndefined()
    const err = (await executeTeardown(plan, {client: c, ...fast}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(AipError)
    expect(err.message).toContain('blocked by admission webhook "check.gatekeeper.sh"')
    expect(api.store.get('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', undefined, 'gatekeeper')).toBeDefined()
  })

  it('leaves objects created after the plan was shown (and says so)', async () => {
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    // after the plan: an aip object elsewhere, and a new model Deployment in the model namespace
    await applyObjects(c, [
      {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'late', namespace: 'default', labels: modelLabels('late')}, data: {}},
      {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'late-in-ns', namespace: NS, labels: modelLabels('late')}, data: {}},
    ])
    const err = (await executeTeardown(plan, {client: c, ...fast}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(AipError)
    expect(err.exitCode).toBe(1)
    expect(err.message).toContain(`Namespace/${NS} (kept: it holds objects created after the plan)`)
    expect(api.store.get('v1', 'ConfigMap', 'default', 'late')).toBeDefined()
    expect(api.store.get('v1', 'ConfigMap', NS, 'late-in-ns')).toBeDefined()
    // everything else of the plan went
    expect(api.store.get('v1', 'Namespace', undefined, 'team-a')).toBeUndefined()
    expect(api.store.get('apps/v1', 'Deployment', NS, MODEL)).toBeUndefined()
    expect(survivors(api)).toBe(true)
  })

  it('an API server that goes away and comes back: the phase is retried and the run completes', async () => {
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    let downed = false
    const r = await executeTeardown(plan, {
      client: c,
      timeoutMs: 10_000,
      reconnect: {attempts: 4, delayMs: 300},
      onEvent: (e) => {
        if (!downed && e.phase === 'delete-custom-resources' && e.status === 'start') {
          downed = true
          void api.goDown().then(() => setTimeout(() => void api.comeBack(), 400))
        }
      },
    })
    expect(downed).toBe(true)
    expect(r.verified).toBe(true)
    expect(managedLeft(api)).toEqual([])
  })

  it('an API server that stays away: UnreachableError (exit 5); a rerun continues and finishes', async () => {
    const plan = await buildTeardownPlan({client: c, clusterName: 'aip'})
    const err = (await executeTeardown(plan, {
      client: c,
      timeoutMs: 10_000,
      reconnect: {attempts: 2, delayMs: 50},
      onEvent: (e) => {
        if (e.phase === 'delete-load-balancers' && e.status === 'start') void api.goDown()
      },
    }).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(UnreachableError)
    expect(err.exitCode).toBe(5)
    expect(err.fix).toContain('rerun')
    // workloads and custom resources were already gone
    expect(api.store.get('apps/v1', 'Deployment', NS, MODEL)).toBeUndefined()
    await api.comeBack()
    const plan2 = await buildTeardownPlan({client: c, clusterName: 'aip'})
    expect(plan2.phases.map((p) => p.id)).toEqual(['delete-load-balancers', 'delete-namespaces'])
    const r = await executeTeardown(plan2, {client: c, ...fast})
    expect(r.verified).toBe(true)
    expect(managedLeft(api)).toEqual([])
    expect(survivors(api)).toBe(true)
  })
})
