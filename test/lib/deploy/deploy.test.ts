import {afterAll, beforeAll, beforeEach, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import type {CatalogEntry} from '../../../src/lib/catalog/schema.js'
import {deleteModel, deployModel, type DeployOptions, listModels, modelStatus} from '../../../src/lib/deploy/index.js'
import {AipError} from '../../../src/lib/errors.js'
import {applyObjects, createKubeClient, type KubeClient} from '../../../src/lib/kube/index.js'
import {prometheusUrlFromService, renderModel} from '../../../src/lib/render/index.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipCluster} from '../../support/kube-apiserver/nodes.mjs'

const NS = 'aip-models'
let api: KubeApiServer
let client: KubeClient

const render = {
  namespace: NS,
  gatewayNamespace: 'aip-gateway',
  monitoringNamespace: 'monitoring',
  bucket: 'weights',
  prefix: 'models',
  prometheusUrl: prometheusUrlFromService('monitoring/prometheus-operated:9090'),
}

function entry(name = 'qwen3-8b', patch: Partial<CatalogEntry> = {}): CatalogEntry {
  return {...getCatalogEntry(name), ...patch}
}

async function deploy(e: CatalogEntry, extra: Partial<DeployOptions> = {}) {
  const warnings: string[] = []
  const result = await deployModel({entry: e, render, client, wait: true, timeoutMs: 20_000, warn: (w) => warnings.push(w), ...extra})
  return {result, warnings}
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
  // system nodes for the preload Jobs, GPU nodes of aip's NodePool for the models (L40S, L4, A10G).
  // The preload Job's scratch emptyDir of an 8B model (~24Gi ephemeral-storage) does not fit the
  // EKS default 20 GiB root disk, so these system nodes have 100 GiB (see the FailedScheduling test).
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6e.xlarge': 4, 'g6.xlarge': 7, 'g5.xlarge': 1}, {systemNodes: 2, systemRootVolumeGiB: 100})})
  client = await createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS, retry: {minDelayMs: 10, maxDelayMs: 500}})
})
afterAll(async () => {
  await api.stop()
})
beforeEach(() => {
  api.faults.clear()
  if (!api.store.get('v1', 'Namespace', undefined, NS)) api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}})
  // what `aip cluster bootstrap` creates in the model namespace
  for (const sa of ['aip-model-server', 'aip-preload']) if (!api.store.get('v1', 'ServiceAccount', NS, sa)) api.store.put({apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name: sa, namespace: NS}})
  // and `aip secret set hf-token` (gated catalog models need it)
  if (!api.store.get('v1', 'Secret', NS, 'aip-hf-token')) api.store.put({apiVersion: 'v1', kind: 'Secret', metadata: {name: 'aip-hf-token', namespace: NS}, data: {token: Buffer.from('hf_test').toString('base64')}})
})

describe('deployModel against the loopback API server', () => {
  it('warns when the revision is a branch rather than a pinned commit', async () => {
    const base = entry('qwen2.5-coder-1.5b')
    const {warnings} = await deploy({...base, hf: {...base.hf, revision: 'main'}}, {dryRun: 'client'})
    expect(warnings.some((w) => w.includes('"main" is a branch, not a commit sha'))).toBe(true)
  })

  it('without KEDA or Prometheus CRDs: HPA fallback, warnings, rollout waited by watch', async () => {
    const e = entry('qwen2.5-coder-1.5b')
    const {result, warnings} = await deploy(e)
    expect(result.mode).toBe('apply')
    expect(result.waited).toBe(true)
    expect(result.capabilities).toEqual({keda: false, serviceMonitor: false, prometheusRule: false, httpAddon: false})
    expect(result.objects.map((o) => o.kind)).toContain('HorizontalPodAutoscaler')
    expect(result.objects.map((o) => o.kind)).not.toContain('ScaledObject')
    expect(result.objects.every((o) => o.action === 'created')).toBe(true)
    expect(warnings.some((w) => w.includes('KEDA'))).toBe(true)
    // catalog entries are pinned to a commit: no "not a commit sha" warning
    expect(warnings.some((w) => w.includes('not a commit sha'))).toBe(false)
    expect(result.rollout).toMatchObject({desired: 1, available: 1})
    expect(result.preload?.status).toBe('Complete')
    const hpa = api.store.get('autoscaling/v2', 'HorizontalPodAutoscaler', NS, 'qwen2-5-coder-1-5b')
    expect(hpa?.metadata.labels['aip.dev/model']).toBe('qwen2.5-coder-1.5b')
  })

  it('with KEDA and the Prometheus Operator: ScaledObject, ServiceMonitor, PrometheusRule; a rerun is unchanged', async () => {
    api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
    api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor'})
    api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'PrometheusRule'})
    client.invalidateDiscovery()
    const e = entry('qwen3-8b')
    const first = await deploy(e)
    expect(first.result.objects.map((o) => o.kind)).toEqual(['NetworkPolicy', 'NetworkPolicy', 'Job', 'Service', 'Deployment', 'PodDisruptionBudget', 'ScaledObject', 'ServiceMonitor', 'PrometheusRule'])
    expect(first.result.fit.annotations?.['aip.dev/gpu-fit-fits']).toBe('true')
    const dep = api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b')!
    expect(dep.spec.template.metadata.annotations['aip.dev/gpu-fit-gpu']).toBe('l40s')
    expect(dep.metadata.managedFields.some((m: any) => m.manager === 'aip')).toBe(true)

    const second = await deploy(e)
    expect(second.result.objects.map((o) => o.action)).toEqual(second.result.objects.map(() => 'unchanged'))
  })

  it('a rerun leaves the replica count the autoscaler set alone', async () => {
    const dep = api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b')!
    expect(dep.spec.replicas ?? 1).toBe(1)
    // What the HPA controller does through the scale subresource, as its own field manager.
    const res = await api.fetch(`/apis/apps/v1/namespaces/${NS}/deployments/qwen3-8b?fieldManager=kube-controller-manager`, {
      method: 'PATCH',
      headers: {'content-type': 'application/merge-patch+json'},
      body: JSON.stringify({spec: {replicas: 3}}),
    })
    expect(res.status).toBe(200)
    const again = await deploy(entry('qwen3-8b'))
    expect(again.result.objects.find((o) => o.kind === 'Deployment')?.action).toBe('unchanged')
    expect(api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b')!.spec.replicas).toBe(3)
    expect(again.result.rollout).toMatchObject({desired: 3, available: 3})
  })

  it('--dry-run=server validates through the API and stores nothing; --diff shows the change', async () => {
    const e = entry('llama-guard-3-1b')
    const dry = await deploy(e, {dryRun: 'server'})
    expect(dry.result.mode).toBe('dry-run-server')
    expect(dry.result.objects.every((o) => o.action === 'created')).toBe(true)
    expect(api.store.get('apps/v1', 'Deployment', NS, 'llama-guard-3-1b')).toBeUndefined()

    await deploy(e)
    const same = await deploy(e, {diff: true})
    expect(same.result.diff?.changed).toBe(false)
    const changed = await deploy({...e, vllm: {...e.vllm, maxModelLen: 4096}}, {diff: true})
    expect(changed.result.diff?.changed).toBe(true)
    expect(changed.result.diff?.text).toMatch(/-\s+- "8192"/)
    expect(changed.result.diff?.text).toMatch(/\+\s+- "4096"/)
    expect(changed.result.objects.find((o) => o.kind === 'Deployment')?.action).toBe('update')
    expect(api.store.get('apps/v1', 'Deployment', NS, 'llama-guard-3-1b')!.spec.template.spec.containers[0].args).toContain('8192')
  })

  it('--dry-run=client renders offline: no requests', async () => {
    api.clearRequests()
    const r = await deployModel({entry: entry('qwen3-8b'), render, dryRun: 'client'})
    expect(r.mode).toBe('dry-run-client')
    expect(r.manifests.length).toBe(9)
    expect(api.requests.length).toBe(0)
  })

  it('a field owned by another manager is a conflict (exit 1, fix names --force-conflicts); --force-conflicts takes it', async () => {
    const e = entry('mistral-7b-instruct-v0.3')
    const objs = renderModel(e, {...render, capabilities: {keda: true, serviceMonitor: true, prometheusRule: true}}).objects
    const svc = structuredClone(objs.find((o) => o.kind === 'Service')!) as any
    // Service ports merge by port+protocol: another value for a field of aip's port is a conflict
    svc.spec.ports[0].targetPort = 9000
    await applyObjects(client, [svc], {fieldManager: 'helm'})
    const err = await failure(deploy(e))
    expect(err.exitCode).toBe(1)
    expect(err.code, err.message).toBe("CONFLICT")
    expect(err.message).toContain("helm")
    expect(err.fix).toContain('--force-conflicts')
    const forced = await deploy(e, {force: true})
    expect(forced.result.objects.find((o) => o.kind === 'Service')?.action).toBe('configured')
    expect(api.store.get('v1', 'Service', NS, 'mistral-7b-instruct-v0-3')!.spec.ports).toEqual([{name: 'http', port: 8000, targetPort: 'http', protocol: 'TCP'}])
  })

  it('a model that does not fit is stopped by the gpu-fit gate (exit 3) before any write', async () => {
    api.clearRequests()
    const e = entry('qwen3-8b', {gpu: {type: 'l4', count: 1}})
    const err = await failure(deploy({...e, vllm: {...e.vllm, maxModelLen: 40960, maxNumSeqs: 64}}))
    expect(err.exitCode).toBe(3)
    expect(err.message).toContain('does not fit on 1x l4')
    expect(err.fix).toBeTruthy()
    expect(api.requests.filter((r) => r.method !== 'GET').length).toBe(0)
    const skipped = await deploy({...e, name: 'qwen3-8b-l4', vllm: {...e.vllm, maxModelLen: 40960, maxNumSeqs: 64}}, {skipFit: true, wait: false})
    expect(skipped.result.fit.checked).toBe(false)
  })

  it('a missing namespace is not-found (exit 4) naming bootstrap', async () => {
    const err = await failure(deployModel({entry: entry('qwen3-8b'), render: {...render, namespace: 'nope'}, client}))
    expect(err.exitCode).toBe(4)
    expect(err.message).toContain('namespace "nope"')
    expect(err.fix).toContain('aip cluster bootstrap')
  })

  it('a gated model without the token Secret fails before anything is applied, naming `aip secret set hf-token`', async () => {
    const {checkDeployPrerequisites} = await import('../../../src/lib/deploy/prerequisites.js')
    const e = entry('llama-guard-3-1b')
    expect(e.hf.gated).toBe(true)
    const ns = 'team-g'
    api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: ns}})
    const check = () => checkDeployPrerequisites({entry: e, bucket: 'weights', namespace: ns, needsCluster: true, connect: async () => client})
    const err = await failure(check())
    expect(err.exitCode).toBe(2)
    expect(err.message).toContain('is gated on the Hub (meta-llama/Llama-Guard-3-1B) and the Secret team-g/aip-hf-token holding its token does not exist')
    expect(err.fix).toContain('aip secret set hf-token -n team-g')
    expect(api.store.all().filter((o: any) => o.metadata.namespace === ns)).toEqual([])
    // with the Secret `aip secret set hf-token` writes, the check passes
    api.store.put({apiVersion: 'v1', kind: 'Secret', metadata: {name: 'aip-hf-token', namespace: ns}, data: {token: Buffer.from('hf_x').toString('base64')}})
    expect(await check()).toBe(client)
  })

  it('a namespace without the bootstrap ServiceAccounts fails before anything is applied, naming bootstrap', async () => {
    api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'team-x'}})
    const err = await failure(deployModel({entry: entry('qwen3-8b'), render: {...render, namespace: 'team-x'}, client, wait: false}))
    expect(err.exitCode).toBe(4)
    expect(err.message).toContain('ServiceAccount team-x/aip-model-server does not exist')
    expect(err.fix).toContain('aip cluster bootstrap')
    expect(err.fix).toContain('--tenant team-x')
    expect(api.store.all().filter((o: any) => o.metadata.namespace === 'team-x')).toEqual([])
  })

  it('a failing preload Job fails the deploy (exit 1) with the pod message; the rerun converges', async () => {
    const e = entry('qwen3-8b', {name: 'preload-fails', servedModelName: 'preload-fails'})
    api.setJobBehavior(NS, '*', {outcome: 'fail', message: 'RepositoryNotFoundError: 401 gated repo'})
    try {
      const err = await failure(deploy(e))
      expect(err.exitCode).toBe(1)
      expect(err.message).toContain('RepositoryNotFoundError')
    } finally {
      api.setJobBehavior(NS, '*', {outcome: 'succeed', delayMs: 20})
    }
    // Fixed (e.g. the token Secret created): the rerun replaces the failed Job and converges.
    const rerun = await deploy(e)
    expect(rerun.warnings.some((w) => w.includes('failed before'))).toBe(true)
    expect(rerun.result.preload?.status).toBe('Complete')
    expect(rerun.result.objects.find((o) => o.kind === 'Job')?.action).toBe('created')
    expect(rerun.result.objects.filter((o) => o.kind !== 'Job').every((o) => o.action === 'unchanged')).toBe(true)
    expect(rerun.result.rollout?.available).toBe(1)
  })

  it('an interrupted deploy exits 130; the rerun converges on the same objects', async () => {
    const name = 'interrupted'
    api.setDeploymentBehavior(NS, name, {mode: 'ready', readyDelayMs: 1500})
    const ac = new AbortController()
    const e = entry('qwen2.5-coder-1.5b', {name, servedModelName: name})
    const p = deploy(e, {signal: ac.signal})
    await api.waitFor((st) => Boolean(st.get('apps/v1', 'Deployment', NS, name)), 10_000)
    ac.abort()
    const err = await failure(p)
    expect(err.exitCode, String(err)).toBe(130)
    const rerun = await deploy(e)
    // What the first run applied is unchanged; what it did not reach is created now.
    expect(rerun.result.objects.find((o) => o.kind === 'Deployment')?.action).toBe('unchanged')
    expect(rerun.result.objects.every((o) => o.action === 'unchanged' || o.action === 'created')).toBe(true)
    expect(rerun.result.rollout?.available).toBe(1)
    const third = await deploy(e)
    expect(third.result.objects.every((o) => o.action === 'unchanged')).toBe(true)
  })

  const stalls: Array<{mode: any; exit: number; expect: RegExp; extra?: (e: AipError) => void}> = [
    // not a simulated mode: two L4s need a 4- or 8-GPU g6 size, and no node's instance type matches
    {mode: {mode: 'Unschedulable'}, exit: 7, expect: /timed out .*FailedScheduling.*didn't match Pod's node affinity/},
    {mode: {mode: 'ImagePullBackOff'}, exit: 7, expect: /timed out .*ImagePullBackOff/},
    {mode: {mode: 'OOMKilled', restartCount: 2}, exit: 1, expect: /cannot become ready: .*(OOMKilled|out of memory)/},
    {
      mode: {mode: 'CrashLoopBackOff', restartCount: 3, exitCode: 1},
      exit: 1,
      expect: /cannot become ready: .*CrashLoopBackOff/,
      extra: (e) => expect(((e.details?.diagnosis as any)?.logTail ?? []).join('\n')).toContain('CUDA out of memory at load'),
    },
    {mode: {mode: 'CrashLoopBackOff', restartCount: 1, exitCode: 1}, exit: 7, expect: /timed out .*CrashLoopBackOff/},
  ]
  for (const s of stalls) {
    it(`a stalled rollout (${s.mode.mode}, ${s.mode.restartCount ?? 0} restarts) ends with exit ${s.exit} and the cause`, async () => {
      const name = `stall-${s.mode.mode.toLowerCase()}-${s.mode.restartCount ?? 0}`
      if (s.mode.mode !== 'Unschedulable') api.setDeploymentBehavior(NS, name, s.mode)
      api.setPodLogs(NS, name, 'INFO loading weights\nERROR CUDA out of memory at load\n')
      const base = entry('qwen2.5-coder-1.5b', {name, servedModelName: name})
      const e = s.mode.mode === 'Unschedulable' ? {...base, gpu: {...base.gpu, count: 2}} : base
      const err = await failure(deploy(e, {timeoutMs: 2500, stallCheckMs: 150}))
      expect(err.exitCode, err.message).toBe(s.exit)
      expect(err.message).toMatch(s.expect)
      expect(err.fix).toBeTruthy()
      s.extra?.(err)
    })
  }
})

describe('list, status, delete', () => {
  it('lists deployed models with status, replicas and endpoint, then the rest of the catalog', async () => {
    await deploy(entry('qwen3-8b'))
    const rows = await listModels(client, {namespace: NS})
    const q = rows.find((r) => r.name === 'qwen3-8b')!
    const replicas = api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b')!.spec.replicas ?? 1
    expect(q).toMatchObject({deployed: true, inCatalog: true, status: 'Ready', ready: replicas, desired: replicas, endpoint: 'http://qwen3-8b.aip-models.svc:8000/v1', gpu: '1x l40s'})
    expect(rows.find((r) => r.name === 'llama-3.1-8b-instruct')).toMatchObject({deployed: false, status: 'NotDeployed'})
    const offline = await listModels(undefined)
    expect(offline.every((r) => !r.deployed)).toBe(true)
  })

  it('status shows objects, conditions, pods and the diagnosis of a stalled model', async () => {
    const s = await modelStatus(client, 'qwen3-8b', {namespace: NS})
    expect(s.status).toBe('Ready')
    expect(s.objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'Job', 'ScaledObject']))
    expect(s.pods.length).toBeGreaterThan(0)
    expect(s.conditions.some((c) => c.type === 'Available' && c.status === 'True')).toBe(true)
    expect(s.preload?.status).toBe('Complete')

    const stalled = await modelStatus(client, 'stall-unschedulable-0', {namespace: NS})
    expect(stalled.status).toBe('Progressing')
    expect(stalled.diagnosis?.reason).toBe('Unschedulable')

    const err = await failure(modelStatus(client, 'qwen3-8', {namespace: NS}))
    expect(err.exitCode).toBe(4)
    expect(err.fix).toContain('"qwen3-8b"')
  })

  it('delete removes every labelled object and the pods, waits until gone; never a Secret or weights', async () => {
    const r = await deleteModel(client, 'qwen3-8b', {namespace: NS, timeoutMs: 20_000})
    expect(r.waited).toBe(true)
    expect(r.weightsKept).toBe(true)
    expect(r.deleted[0]!.kind).toBe('ScaledObject')
    expect(r.deleted.map((d) => d.kind)).toEqual(expect.arrayContaining(['Deployment', 'Job', 'Service', 'NetworkPolicy']))
    const left = api.store.all().filter((o: any) => o.metadata.labels?.['aip.dev/model'] === 'qwen3-8b')
    expect(left).toEqual([])
    // the namespace's shared ServiceAccounts (bootstrap's) stay for the other models
    expect(api.store.get('v1', 'ServiceAccount', NS, 'aip-model-server')).toBeDefined()
    const again = await failure(deleteModel(client, 'qwen3-8b', {namespace: NS}))
    expect(again.exitCode).toBe(4)
  })
})
