import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {TimeoutError} from '../../../src/lib/errors.js'
import {applyObjects, createKubeClient, type KubeClient, type KubeObject, waitForRollout} from '../../../src/lib/kube/index.js'
import {systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {deployment, namespace, startKubeApiServer, type KubeApiServer} from './helpers.js'

/**
 * A new AWS account usually has a vCPU quota of 0 for GPU instances: Karpenter / EKS Auto Mode try to
 * launch the node, EC2 refuses with VcpuLimitExceeded, and Karpenter records it as a Warning event
 * on the NodeClaim (karpenter core: InsufficientCapacityError; events of cluster-scoped objects go
 * to the `default` namespace). The pod only ever says FailedScheduling.
 */
const NS = 'aip-models'
let api: KubeApiServer
let client: KubeClient

beforeAll(async () => {
  api = await startKubeApiServer({nodes: [systemNode()]})
  await applyObjects(await createKubeClient({kubeconfig: api.kubeconfigPath}), [namespace(NS) as KubeObject])
  client = await createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS, retry: {minDelayMs: 10, maxDelayMs: 2000}})
})
afterAll(async () => api?.stop())

async function stalledGpuRollout(name: string): Promise<TimeoutError> {
  const dep = deployment(name, NS) as any
  dep.spec.template.spec.containers[0].resources = {limits: {'nvidia.com/gpu': '1'}}
  await applyObjects(client, [dep as KubeObject])
  await api.waitFor((s) => s.list('v1', 'Pod', NS).some((p) => p.metadata.name.startsWith(name) && p.status.conditions?.some((c: any) => c.reason === 'Unschedulable')))
  return (await waitForRollout(client, {name, timeoutMs: 400}).catch((e: unknown) => e)) as TimeoutError
}

const launchEvent = (name: string, message: string) => ({
  apiVersion: 'v1',
  kind: 'Event',
  metadata: {name: `${name}.1`, namespace: 'default'},
  involvedObject: {apiVersion: 'karpenter.sh/v1', kind: 'NodeClaim', name},
  type: 'Warning',
  reason: 'InsufficientCapacityError',
  message,
  lastTimestamp: new Date().toISOString(),
})

describe('a GPU pod that waits for a node EC2 refuses to launch', () => {
  it('names the NodeClaim launch failure, and the EC2 vCPU quota as the fix (exit 7)', async () => {
    api.store.put(launchEvent('aip-gpu-x7k2p', 'NodeClaim aip-gpu-x7k2p event: creating instance, VcpuLimitExceeded: You have requested more vCPU capacity than your current vCPU limit of 0 allows for the instance bucket that the specified instance type belongs to.'))
    const err = await stalledGpuRollout('quota')
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.exitCode).toBe(7)
    expect(err.message).toMatch(/FailedScheduling: .*Insufficient nvidia\.com\/gpu.*node launch failed \(NodeClaim\/aip-gpu-x7k2p\): InsufficientCapacityError: .*VcpuLimitExceeded/)
    expect(err.fix).toContain('L-DB2E81BA')
  })

  it('no capacity in the zones: says so instead of a quota', async () => {
    api.store.put(launchEvent('aip-gpu-zz', 'NodeClaim aip-gpu-zz event: creating instance, insufficient capacity, with fleet error(s), InsufficientInstanceCapacity: We currently do not have sufficient g6e.xlarge capacity'))
    const err = await stalledGpuRollout('ice')
    expect(err.fix).toMatch(/no capacity for those GPU instances/)
  })
})
