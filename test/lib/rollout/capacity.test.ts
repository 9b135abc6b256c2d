/**
 * GPU headroom for a canary against the loopback API server: real Node objects (nodes.mjs), pods
 * bound by its scheduler, a ResourceQuota status as the quota controller keeps it, and Karpenter
 * NodePools served as a CRD.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {createKubeClient, type KubeClient} from '../../../src/lib/kube/index.js'
import {checkCapacity} from '../../../src/lib/rollout/capacity.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipCluster, aipGpuNode} from '../../support/kube-apiserver/nodes.mjs'

let api: KubeApiServer
let client: KubeClient
const NS = 'aip-models'
const need = (replicas: number) => ({namespace: NS, replicas, gpusPerReplica: 1, gpu: {type: 'l40s', count: 1}})

/** A pod holding `gpus` GPUs on `node` (as the scheduler left it). */
function holdGpus(name: string, node: string, gpus: number) {
  api.store.put({apiVersion: 'v1', kind: 'Pod', metadata: {name, namespace: NS}, spec: {nodeName: node, containers: [{name: 'vllm', image: 'x', resources: {requests: {'nvidia.com/gpu': String(gpus)}, limits: {'nvidia.com/gpu': String(gpus)}}}]}, status: {phase: 'Running'}})
}

beforeAll(async () => {
  api = await startKubeApiServer({namespaces: ['default', 'kube-system', NS], controllers: false, nodes: aipCluster({'g6e.xlarge': 2}, {systemNodes: 1})})
  client = await createKubeClient({kubeconfig: api.kubeconfigPath})
})
afterAll(async () => {
  await api?.stop()
})

describe('rollout GPU headroom', () => {
  it('free GPUs on the nodes of the candidate\'s instance types, minus what bound pods request', async () => {
    const gpuNodes = api.store.list('v1', 'Node').filter((n) => n.metadata.labels?.['node.kubernetes.io/instance-type'] === 'g6e.xlarge').map((n) => n.metadata.name)
    expect(gpuNodes).toHaveLength(2)
    holdGpus('stable-0', gpuNodes[0]!, 1)
    const r = await checkCapacity(client, need(1))
    expect(r).toMatchObject({fits: true, needGpus: 1, nodes: {checked: true, matching: 2, freeReplicaSlots: 1}})
    const two = await checkCapacity(client, need(2))
    expect(two.fits).toBe(false)
    expect(two.reason).toMatch(/^the nodes have room for 1 more replica\(s\) of 1 GPU\(s\) \(2 node\(s\) of g6e\.xlarge\/.*\): the candidate needs 2$/)
  })

  it('a NodePool that can launch the instance type adds its headroom up to its GPU limit; one without a limit is unbounded', async () => {
    api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
    const pool = (name: string, limits?: Record<string, string>, types = ['g6e.xlarge']) =>
      api.store.put({apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: {name}, spec: {template: {spec: {requirements: [{key: 'node.kubernetes.io/instance-type', operator: 'In', values: types}]}}, ...(limits ? {limits} : {})}})
    pool('aip-gpu', {'nvidia.com/gpu': '3'})
    client.invalidateDiscovery() // discovery is cached per client, as kubectl's is
    // the two g6e nodes belong to aip-gpu (2 GPUs of its limit 3): one more node can come
    const r = await checkCapacity(client, need(2))
    expect(r.pools).toEqual([{name: 'aip-gpu', limit: 3, used: 2, headroom: 1}])
    expect(r.fits).toBe(true)
    const three = await checkCapacity(client, need(3))
    expect(three.fits).toBe(false)
    expect(three.reason).toMatch(/and NodePool aip-gpu: limit 3 GPUs, 2 used leaves room for 1: the candidate needs 3$/)
    // a pool for other instance types does not count; one without a GPU limit is unbounded
    pool('cpu-only', undefined, ['m6i.large'])
    expect((await checkCapacity(client, need(3))).fits).toBe(false)
    pool('spare')
    expect((await checkCapacity(client, need(3))).fits).toBe(true)
    api.store.remove('karpenter.sh/v1', 'NodePool', undefined, 'spare')
    api.store.remove('karpenter.sh/v1', 'NodePool', undefined, 'cpu-only')
    api.store.remove('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')
    api.addNode(aipGpuNode('g6e.xlarge', {name: 'extra'}))
  })

  it('the namespace ResourceQuota for requests.nvidia.com/gpu: hard minus used', async () => {
    api.store.put({apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'gpus', namespace: NS}, spec: {hard: {'requests.nvidia.com/gpu': '4'}}, status: {hard: {'requests.nvidia.com/gpu': '4'}, used: {'requests.nvidia.com/gpu': '3'}}})
    const r = await checkCapacity(client, need(2))
    expect(r.quota).toEqual([{name: 'gpus', hard: 4, used: 3, free: 1}])
    expect(r.fits).toBe(false)
    expect(r.reason).toBe('ResourceQuota aip-models/gpus allows 4 GPUs and 3 are in use: 1 free, the candidate needs 2 (2 x 1)')
    expect((await checkCapacity(client, need(1))).fits).toBe(true)
  })
})
