import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import type {CatalogEntry} from '../../../src/lib/catalog/schema.js'
import {deleteModel, deployModel, type DeployOptions} from '../../../src/lib/deploy/index.js'
import {AipError} from '../../../src/lib/errors.js'
import {createKubeClient, type KubeClient} from '../../../src/lib/kube/index.js'
import {prometheusUrlFromService} from '../../../src/lib/render/index.js'
import {historyName, listRevisions, recordRevision} from '../../../src/lib/rollout/history.js'
import {stateName as rolloutStateName} from '../../../src/lib/rollout/state.js'
import {executeRollback, planRollback, rollbackModel} from '../../../src/lib/rollout/rollback.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipCluster} from '../../support/kube-apiserver/nodes.mjs'
import {putModelNamespace} from '../../support/model-namespace.js'

const NS = 'aip-models'
const REV_A = 'a'.repeat(40)
const REV_B = 'b'.repeat(40)
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

function entry(name: string, revision: string, patch: Partial<CatalogEntry> = {}): CatalogEntry {
  const e = getCatalogEntry(name)
  return {...e, hf: {...e.hf, revision}, ...patch}
}

async function deploy(e: CatalogEntry, extra: Partial<DeployOptions> = {}) {
  return deployModel({entry: e, render, client, wait: true, timeoutMs: 20_000, ...extra})
}

async function failure(p: Promise<unknown>): Promise<AipError> {
  try {
    await p
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected a failure')
}

/** The fields of the Deployment aip owns: the spec as applied, without server defaults it does not set. */
function ownedSpec(name: string) {
  const d = api.store.get('apps/v1', 'Deployment', NS, name)!
  return {labels: d.metadata.labels, template: d.spec.template, selector: d.spec.selector, strategy: d.spec.strategy}
}

beforeAll(async () => {
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 20}, jobBehavior: {outcome: 'succeed', delayMs: 10}, nodes: aipCluster({'g6e.xlarge': 3, 'g6.xlarge': 3}, {systemNodes: 2, systemRootVolumeGiB: 100})})
  putModelNamespace(api, NS)
  client = await createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS, retry: {minDelayMs: 10, maxDelayMs: 200}})
})
afterAll(async () => {
  await api.stop()
})

describe('model deploy records revisions', () => {
  it('a deploy records revision 1; a rerun records nothing; dry runs record nothing', async () => {
    const e = entry('qwen3-8b', REV_A)
    const r1 = await deploy(e)
    expect(r1.history).toEqual({revision: 1, recorded: true})
    const again = await deploy(e)
    expect(again.history).toEqual({revision: 1, recorded: false})
    await deploy(entry('qwen3-8b', REV_B), {dryRun: 'server'})
    await deploy(entry('qwen3-8b', REV_B), {diff: true})
    const list = await listRevisions(client, NS, 'qwen3-8b')
    expect(list.map((r) => r.revision)).toEqual([1])
    expect(list[0]).toMatchObject({source: 'deploy', summary: {model: 'qwen3-8b', hfRevision: REV_A, image: e.image, maxModelLen: e.vllm.maxModelLen, tensorParallel: e.gpu.count, gpu: e.gpu.type}})
    expect((list[0].options.entry as CatalogEntry).hf.revision).toBe(REV_A)
    expect(list[0].objects.map((o) => o.kind)).toContain('Deployment')
  })
})

describe('rollback', () => {
  let specA: ReturnType<typeof ownedSpec>
  let specB: ReturnType<typeof ownedSpec>

  it('refuses with exit 1 while there is only one revision', async () => {
    const e = await failure(planRollback({client, namespace: NS, name: 'qwen3-8b'}))
    expect(e.exitCode).toBe(1)
    expect(e.message).toContain('nothing to roll back to: qwen3-8b has only revision 1')
    expect(e.fix).toContain('deploy another version first')
  })

  it('returns to the previous revision exactly and records it as a new revision', async () => {
    specA = ownedSpec('qwen3-8b')
    await deploy(entry('qwen3-8b', REV_B))
    specB = ownedSpec('qwen3-8b')
    expect(specB.template).not.toEqual(specA.template)

    const plan = await planRollback({client, namespace: NS, name: 'qwen3-8b'})
    expect(plan.current.revision).toBe(2)
    expect(plan.target.revision).toBe(1)
    expect(plan.changes).toEqual([`hf revision: ${REV_B.slice(0, 12)} -> ${REV_A.slice(0, 12)}`])
    expect(plan.fit).toMatchObject({checked: true, fits: true})
    expect(plan.apply.find((o) => o.kind === 'Deployment')?.action).toBe('update')
    // the preload Job of revision 2 (another name: its template differs) is not in revision 1
    expect(plan.delete.map((d) => d.kind)).toEqual(['Job'])
    // planning changes nothing
    expect(ownedSpec('qwen3-8b')).toEqual(specB)

    const r = await executeRollback(plan, {client, timeoutMs: 20_000})
    expect(r).toMatchObject({from: 2, to: 1, revision: 3, waited: true, noop: false})
    expect(ownedSpec('qwen3-8b')).toEqual(specA)
    const list = await listRevisions(client, NS, 'qwen3-8b')
    expect(list.map((x) => [x.revision, x.source, x.restoredFrom])).toEqual([
      [3, 'rollback', 1],
      [2, 'deploy', undefined],
      [1, 'deploy', undefined],
    ])
    expect(list[0].digest).toBe(list[2].digest)
    // the Jobs are those of revision 1 only
    const jobs = api.store.list('batch/v1', 'Job', NS).filter((j) => j.metadata.labels?.['aip.dev/model'] === 'qwen3-8b' && !j.metadata.deletionTimestamp)
    expect(jobs.map((j) => j.metadata.name)).toEqual(list[2].objects.filter((o) => o.kind === 'Job').map((o) => o.metadata.name))
  })

  it('rolling back twice returns to where you were (like kubectl rollout undo)', async () => {
    const r = await rollbackModel({client, namespace: NS, name: 'qwen3-8b', timeoutMs: 20_000})
    expect(r).toMatchObject({from: 3, to: 2, revision: 4})
    expect(ownedSpec('qwen3-8b')).toEqual(specB)
  })

  it('--to N returns to a listed revision; the newest is a no-op; an unknown one is exit 4 listing the numbers', async () => {
    const r = await rollbackModel({client, namespace: NS, name: 'qwen3-8b', to: 1, timeoutMs: 20_000})
    expect(r).toMatchObject({from: 4, to: 1, revision: 5})
    expect(ownedSpec('qwen3-8b')).toEqual(specA)
    const same = await rollbackModel({client, namespace: NS, name: 'qwen3-8b', to: 3})
    expect(same).toMatchObject({noop: true, from: 5, to: 3})
    expect((await listRevisions(client, NS, 'qwen3-8b'))[0].revision).toBe(5)
    const e = await failure(rollbackModel({client, namespace: NS, name: 'qwen3-8b', to: 9}))
    expect(e.exitCode).toBe(4)
    expect(e.message).toContain('available: 1, 2, 3, 4, 5')
  })

  it('--dry-run changes nothing', async () => {
    const before = JSON.stringify(api.store.get('v1', 'ConfigMap', NS, historyName('qwen3-8b')))
    const r = await rollbackModel({client, namespace: NS, name: 'qwen3-8b', dryRun: true})
    expect(r).toMatchObject({dryRun: true, from: 5, to: 4})
    expect(r.objects.find((o) => o.kind === 'Deployment')?.action).toBe('update')
    expect(ownedSpec('qwen3-8b')).toEqual(specA)
    expect(JSON.stringify(api.store.get('v1', 'ConfigMap', NS, historyName('qwen3-8b')))).toBe(before)
  })

  it('refuses while a rollout is in progress (exit 1), not once it finished', async () => {
    api.store.put({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: rolloutStateName('qwen3-8b'), namespace: NS}, data: {'state.json': JSON.stringify({version: 1, model: 'qwen3-8b', phase: 'shifting', weight: 10})}})
    const e = await failure(planRollback({client, namespace: NS, name: 'qwen3-8b'}))
    expect(e.exitCode).toBe(1)
    expect(e.message).toContain('a rollout of qwen3-8b is in progress (shifting, candidate at 10%)')
    expect(e.fix).toContain('aip model rollout qwen3-8b --abort')
    api.store.put({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: rolloutStateName('qwen3-8b'), namespace: NS}, data: {'state.json': JSON.stringify({version: 1, model: 'qwen3-8b', phase: 'promoted', weight: 100})}})
    expect((await planRollback({client, namespace: NS, name: 'qwen3-8b'})).target.revision).toBe(4)
    api.store.put({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: rolloutStateName('qwen3-8b'), namespace: NS}, data: {'state.json': JSON.stringify({version: 1, model: 'qwen3-8b', phase: 'aborted', weight: 0})}})
    // an aborted rollout leaves its canary at zero replicas: not a revision's object, left alone
    api.store.put({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'qwen3-8b-canary', namespace: NS, labels: {'app.kubernetes.io/managed-by': 'aip', 'aip.dev/model': 'qwen3-8b', 'aip.dev/track': 'canary'}}, spec: {replicas: 0, selector: {matchLabels: {t: 'canary'}}, template: {metadata: {labels: {t: 'canary'}}, spec: {containers: [{name: 'vllm', image: 'x:1'}]}}}})
    const plan = await planRollback({client, namespace: NS, name: 'qwen3-8b'})
    expect(plan.target.revision).toBe(4)
    expect(plan.delete.map((d) => d.name)).not.toContain('qwen3-8b-canary')
    api.store.remove('apps/v1', 'Deployment', NS, 'qwen3-8b-canary')
    api.store.remove('v1', 'ConfigMap', NS, rolloutStateName('qwen3-8b'))
  })

  it('the gpu-fit gate runs for what the target revision runs (exit 3)', async () => {
    const list = await listRevisions(client, NS, 'qwen3-8b')
    const e0 = list[0].options.entry as CatalogEntry
    // a revision recorded with an entry that cannot fit (as a --skip-fit deploy would leave one)
    const big = {...e0, gpu: {type: 'l4' as const, count: 1}, vllm: {...e0.vllm, maxModelLen: 40_000}}
    await recordRevision(client, NS, 'qwen3-8b', {source: 'deploy', summary: list[0].summary, options: {...list[0].options, entry: big}, objects: [...list[0].objects, {apiVersion: 'v1', kind: 'Service', metadata: {name: 'marker', namespace: NS}}]})
    // and the current objects again on top (revision 7)
    await recordRevision(client, NS, 'qwen3-8b', {source: 'deploy', summary: list[0].summary, options: list[0].options, objects: list[0].objects})
    const e = await failure(planRollback({client, namespace: NS, name: 'qwen3-8b', to: 6}))
    expect(e.exitCode).toBe(3)
    expect(e.message).toContain('does not fit on 1x l4')
  })

  it('not deployed: exit 4', async () => {
    const e = await failure(planRollback({client, namespace: NS, name: 'llama-3.1-8b-instruct'}))
    expect(e.exitCode).toBe(4)
    expect(e.message).toContain('is not deployed')
  })

  it('objects the target lacks are deleted, objects the current lacks are created (HPA <-> ScaledObject)', async () => {
    const e = entry('qwen2.5-coder-1.5b', REV_A)
    await deploy(e) // no KEDA: an HPA
    api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
    client.invalidateDiscovery()
    await deploy(e) // KEDA now: a ScaledObject (the HPA stays from the first deploy)
    const dep = 'qwen2-5-coder-1-5b'
    expect(api.store.get('keda.sh/v1alpha1', 'ScaledObject', NS, dep)).toBeTruthy()
    // deploy itself does not prune, the HPA of revision 1 is still there: rollback to 2 would delete it
    const r = await rollbackModel({client, namespace: NS, name: 'qwen2.5-coder-1.5b', timeoutMs: 20_000})
    expect(r).toMatchObject({from: 2, to: 1})
    expect(r.deleted.map((d) => `${d.kind}/${d.name}/${d.result}`)).toEqual([`ScaledObject/${dep}/deleted`])
    expect(api.store.get('keda.sh/v1alpha1', 'ScaledObject', NS, dep)).toBeUndefined()
    expect(api.store.get('autoscaling/v2', 'HorizontalPodAutoscaler', NS, dep)).toBeTruthy()
    // back again: the ScaledObject is created, the HPA deleted
    const back = await rollbackModel({client, namespace: NS, name: 'qwen2.5-coder-1.5b', timeoutMs: 20_000})
    expect(back).toMatchObject({from: 3, to: 2})
    expect(back.objects.find((o) => o.kind === 'ScaledObject')?.action).toBe('created')
    expect(back.deleted.map((d) => d.kind)).toEqual(['HorizontalPodAutoscaler'])
    expect(api.store.get('autoscaling/v2', 'HorizontalPodAutoscaler', NS, dep)).toBeUndefined()
  })

  it('model delete removes the history with the model', async () => {
    expect(api.store.get('v1', 'ConfigMap', NS, historyName('qwen2.5-coder-1.5b'))).toBeTruthy()
    const r = await deleteModel(client, 'qwen2.5-coder-1.5b', {namespace: NS, timeoutMs: 20_000})
    expect(r.deleted.at(-1)).toEqual({kind: 'ConfigMap', name: historyName('qwen2.5-coder-1.5b'), result: 'deleted'})
    expect(api.store.get('v1', 'ConfigMap', NS, historyName('qwen2.5-coder-1.5b'))).toBeUndefined()
    expect(api.store.get('v1', 'ConfigMap', NS, historyName('qwen3-8b'))).toBeTruthy()
  })
})
