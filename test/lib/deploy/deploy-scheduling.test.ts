// deployModel on clusters whose nodes cannot take aip's pods: the preload Job and the rollout stop
// with the scheduler's reason (FailedScheduling), not a bare "1 active" or "0/1 ready".
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {deployModel} from '../../../src/lib/deploy/index.js'
import type {AipError} from '../../../src/lib/errors.js'
import {createKubeClient, type KubeClient} from '../../../src/lib/kube/index.js'
import {prometheusUrlFromService} from '../../../src/lib/render/index.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipGpuNode, systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {putModelNamespace} from '../../support/model-namespace.js'

const NS = 'aip-models'
const render = {namespace: NS, gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', bucket: 'weights', prefix: 'models', prometheusUrl: prometheusUrlFromService('monitoring/prometheus-operated:9090')}
let api: KubeApiServer
let client: KubeClient

beforeAll(async () => {
  // GPU nodes only (tainted nvidia.com/gpu=true:NoSchedule by aip's NodePool): nothing for the preload Job
  api = await startKubeApiServer({nodes: [aipGpuNode('g6e.xlarge', {name: 'gpu-1'})]})
  putModelNamespace(api, NS)
  client = await createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS, retry: {minDelayMs: 10, maxDelayMs: 200}})
})
afterAll(async () => {
  await api.stop()
})

async function failure(p: Promise<unknown>): Promise<AipError> {
  try {
    await p
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected a failure')
}

describe('deployModel when nothing can schedule', () => {
  it('a preload Job whose pod no node takes times out naming FailedScheduling and the untolerated taint', async () => {
    const err = await failure(deployModel({entry: getCatalogEntry('qwen2.5-coder-1.5b'), render, client, wait: true, timeoutMs: 1500}))
    expect(err.exitCode).toBe(7)
    expect(err.message).toMatch(/^timed out after \d+s waiting for Job\/aip-models\/qwen2-5-coder-1-5b-preload-\S+: pod qwen2-5-coder-1-5b-preload-\S+ is Pending, FailedScheduling: 0\/1 nodes are available: 1 node\(s\) had untolerated taint \{nvidia\.com\/gpu: true\}\. preemption: 0\/1 nodes are available: 1 Preemption is not helpful for scheduling\.$/)
    expect(err.fix).toMatch(/no node fits the pod/)
    expect((err.details as any).diagnosis).toMatchObject({reason: 'Unschedulable'})
  })

  it('with a default system node (m6i.large, 20 GiB root disk): the streaming preload Job fits and is scheduled there', async () => {
    api.addNode(systemNode({name: 'sys-1'}))
    await deployModel({entry: getCatalogEntry('qwen3-8b'), render, client, wait: true, timeoutMs: 1500}).catch(() => undefined)
    const pods = api.store.list('v1', 'Pod', NS).filter((p: any) => p.metadata.labels?.['app.kubernetes.io/component'] === 'preload' && p.metadata.name.startsWith('qwen3-8b-preload'))
    expect(pods.length).toBeGreaterThan(0)
    for (const p of pods) expect(p.spec.nodeName).toBe('sys-1')
  })
})
