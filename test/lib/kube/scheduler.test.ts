// The loopback API server's scheduler and kubelets (scheduler.mjs, kubelet.mjs) and the EKS node
// fixtures (nodes.mjs): kube-scheduler's filters and FailedScheduling wording, re-scheduling when a
// node registers or a pod goes, image pull/start events, graceful deletion.
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {aipGpuNode, autoModeNode, INSTANCE_TYPES, karpenterNode, managedNodeGroupNode, systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {nodeAffinityMatches, podRequests, quantity, tolerates} from '../../support/kube-apiserver/scheduler.mjs'
import {http, namespace, startKubeApiServer, type KubeApiServer} from './helpers.js'

const GPU_TOLERATION = {key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}

function pod(name: string, ns: string, spec: Record<string, unknown> = {}, requests: Record<string, string> = {}) {
  return {apiVersion: 'v1', kind: 'Pod', metadata: {name, namespace: ns}, spec: {containers: [{name: 'main', image: 'busybox:1.36', resources: {requests, limits: requests['nvidia.com/gpu'] ? {'nvidia.com/gpu': requests['nvidia.com/gpu']} : {}}}], ...spec}}
}

const node = (labels: Record<string, string>, name = 'n') => ({metadata: {name, labels}})

describe('filters (pure)', () => {
  it('quantities in base units', () => {
    expect(quantity('500m')).toBe(0.5)
    expect(quantity('2')).toBe(2)
    expect(quantity('24Gi')).toBe(24 * 2 ** 30)
    expect(quantity('1G')).toBe(1e9)
    expect(quantity('32386452Ki')).toBe(32386452 * 1024)
    expect(quantity('1e3')).toBe(1000)
    expect(quantity(undefined)).toBe(0)
  })

  it('pod requests: containers summed, sidecars added, init containers as a max, limits default requests', () => {
    const p = {
      spec: {
        initContainers: [
          {name: 'sync', restartPolicy: 'Always', resources: {requests: {cpu: '100m', memory: '256Mi'}}},
          {name: 'init', resources: {requests: {cpu: '4', memory: '1Gi'}}},
        ],
        containers: [
          {name: 'a', resources: {requests: {cpu: '1', memory: '2Gi'}}},
          {name: 'b', resources: {limits: {cpu: '500m', 'nvidia.com/gpu': '1'}}},
        ],
      },
    }
    const r = podRequests(p)
    expect(r.cpu).toBeCloseTo(4.1) // init 4 + the sidecar started before it (100m) beats 1.6
    expect(r.memory).toBe(2 * 2 ** 30 + 256 * 2 ** 20)
    expect(r['nvidia.com/gpu']).toBe(1)
  })

  it('tolerations: Exists, Equal with value, empty effect, empty key', () => {
    const taint = {key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule'}
    expect(tolerates(GPU_TOLERATION, taint)).toBe(true)
    expect(tolerates({key: 'nvidia.com/gpu', value: 'true'}, taint)).toBe(true)
    expect(tolerates({key: 'nvidia.com/gpu', value: 'false'}, taint)).toBe(false)
    expect(tolerates({key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoExecute'}, taint)).toBe(false)
    expect(tolerates({operator: 'Exists'}, taint)).toBe(true)
  })

  it.each([
    ['In', ['l40s', 'l4'], true],
    ['In', ['h100'], false],
    ['NotIn', ['h100'], true],
    ['NotIn', ['l40s'], false],
    ['Exists', undefined, true],
    ['DoesNotExist', undefined, false],
  ] as const)('node affinity %s %j on instance-gpu-name=l40s -> %s', (operator, values, expected) => {
    const p = {spec: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: 'karpenter.k8s.aws/instance-gpu-name', operator, ...(values ? {values} : {})}]}]}}}}}
    expect(nodeAffinityMatches(p, node({'karpenter.k8s.aws/instance-gpu-name': 'l40s'}))).toBe(expected)
  })

  it('node affinity: Gt/Lt compare integers, absent labels, ORed terms, matchFields, nodeSelector', () => {
    const aff = (...terms: unknown[]) => ({spec: {affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: terms}}}}})
    const big = node({'karpenter.k8s.aws/instance-gpu-memory': '45776'})
    expect(nodeAffinityMatches(aff({matchExpressions: [{key: 'karpenter.k8s.aws/instance-gpu-memory', operator: 'Gt', values: ['40000']}]}), big)).toBe(true)
    expect(nodeAffinityMatches(aff({matchExpressions: [{key: 'karpenter.k8s.aws/instance-gpu-memory', operator: 'Lt', values: ['40000']}]}), big)).toBe(false)
    expect(nodeAffinityMatches(aff({matchExpressions: [{key: 'karpenter.k8s.aws/instance-gpu-memory', operator: 'Gt', values: ['1']}]}), node({}))).toBe(false)
    expect(nodeAffinityMatches(aff({matchExpressions: [{key: 'x', operator: 'DoesNotExist'}]}), node({}))).toBe(true)
    expect(nodeAffinityMatches(aff({matchExpressions: [{key: 'a', operator: 'In', values: ['1']}]}, {matchExpressions: [{key: 'b', operator: 'In', values: ['2']}]}), node({b: '2'}))).toBe(true)
    expect(nodeAffinityMatches(aff({matchFields: [{key: 'metadata.name', operator: 'In', values: ['gpu-1']}]}), node({}, 'gpu-1'))).toBe(true)
    expect(nodeAffinityMatches(aff({}), node({}))).toBe(false) // an empty term matches nothing
    expect(nodeAffinityMatches({spec: {nodeSelector: {'aip.dev/node-role': 'gpu'}}}, node({'aip.dev/node-role': 'gpu'}))).toBe(true)
    expect(nodeAffinityMatches({spec: {nodeSelector: {'aip.dev/node-role': 'gpu'}}}, node({}))).toBe(false)
  })
})

describe('node fixtures', () => {
  it('each provisioner labels its nodes its own way; capacity and allocatable follow the instance type', () => {
    const mng = managedNodeGroupNode({instanceType: 'g5.xlarge', nodegroup: 'gpu-ng'})
    expect(mng.metadata.labels).toMatchObject({'eks.amazonaws.com/nodegroup': 'gpu-ng', 'eks.amazonaws.com/capacityType': 'ON_DEMAND', 'node.kubernetes.io/instance-type': 'g5.xlarge', 'kubernetes.io/arch': 'amd64', 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': 'us-east-1a'})
    expect(Object.keys(mng.metadata.labels).some((k) => k.startsWith('karpenter'))).toBe(false)
    expect(mng.spec.taints).toBeUndefined()

    const auto = autoModeNode({instanceType: 'g6e.xlarge'})
    expect(auto.metadata.name).toMatch(/^i-0[0-9a-f]{16}$/)
    expect(auto.metadata.labels).toMatchObject({'eks.amazonaws.com/compute-type': 'auto', 'eks.amazonaws.com/instance-gpu-name': 'l40s', 'eks.amazonaws.com/instance-gpu-count': '1', 'karpenter.sh/nodepool': 'gpu'})
    expect(auto.spec.taints).toEqual([{key: 'nvidia.com/gpu', effect: 'NoSchedule'}])

    const k = karpenterNode({instanceType: 'p5.48xlarge', nodePool: 'training'})
    expect(k.metadata.labels).toMatchObject({'karpenter.sh/nodepool': 'training', 'karpenter.k8s.aws/instance-gpu-name': 'h100', 'karpenter.k8s.aws/instance-gpu-count': '8', 'karpenter.k8s.aws/instance-family': 'p5', 'karpenter.k8s.aws/instance-gpu-memory': '81920'})
    expect(k.status.capacity).toMatchObject({cpu: '192', 'nvidia.com/gpu': '8'})
    expect(k.status.allocatable.cpu).toBe('191450m') // EKS AMI kube-reserved for 192 vCPUs

    const gpu = aipGpuNode()
    expect(gpu.metadata.labels).toMatchObject({'aip.dev/node-role': 'gpu', 'karpenter.sh/nodepool': 'aip-gpu', 'karpenter.k8s.aws/instance-gpu-name': 'l40s', 'node.kubernetes.io/instance-type': 'g6e.xlarge', 'nvidia.com/gpu.product': 'NVIDIA-L40S'})
    expect(gpu.spec.taints).toEqual([{key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule'}])

    const sys = systemNode()
    expect(sys.status.allocatable).toMatchObject({cpu: '1930m', pods: '29'}) // m6i.large as EKS reports it
    expect(quantity(sys.status.capacity['ephemeral-storage'])).toBeLessThan(20 * 2 ** 30)
    expect(quantity(sys.status.allocatable['ephemeral-storage'])).toBeLessThan(18 * 2 ** 30)
    expect(sys.status.conditions.find((c: any) => c.type === 'Ready').status).toBe('True')
    for (const t of Object.keys(INSTANCE_TYPES)) expect(() => managedNodeGroupNode({instanceType: t})).not.toThrow()
  })
})

describe('scheduling against the loopback API server', () => {
  let api: KubeApiServer
  let req: ReturnType<typeof http>
  const NS = 'sched'
  const podOf = (name: string) => api.store.get('v1', 'Pod', NS, name)!
  const condition = (name: string) => podOf(name).status?.conditions?.find((c: any) => c.type === 'PodScheduled')
  const events = (name: string) =>
    api.store
      .list('v1', 'Event', NS)
      .filter((e) => e.involvedObject.name === name)
      .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion))

  beforeAll(async () => {
    // the FailedScheduling example of the issue: a system node and two tainted GPU nodes
    api = await startKubeApiServer({nodes: [systemNode({name: 'sys-1'}), autoModeNode({instanceType: 'g6.xlarge', name: 'i-0aaaaaaaaaaaaaaa1'}), autoModeNode({instanceType: 'g6.xlarge', name: 'i-0aaaaaaaaaaaaaaa2'})], kubelet: {pullMs: 5, startMs: 5}})
    req = http(api)
    await req('POST', '/api/v1/namespaces', namespace(NS))
  })
  afterAll(async () => {
    await api.stop()
  })

  it('a pod that fits nowhere: Pending, PodScheduled=False Unschedulable, FailedScheduling with the scheduler wording', async () => {
    expect((await req('POST', `/api/v1/namespaces/${NS}/pods`, pod('big', NS, {}, {'nvidia.com/gpu': '1'}))).status).toBe(201)
    await api.waitFor(() => condition('big')?.status === 'False')
    const message =
      '0/3 nodes are available: 1 Insufficient nvidia.com/gpu, 2 node(s) had untolerated taint {nvidia.com/gpu: }. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.'
    expect(condition('big')).toMatchObject({status: 'False', reason: 'Unschedulable', message})
    expect(podOf('big').status.phase).toBe('Pending')
    expect(podOf('big').spec.nodeName).toBeUndefined()
    expect(events('big').map((e) => [e.type, e.reason, e.message, e.source.component])).toEqual([['Warning', 'FailedScheduling', message, 'default-scheduler']])
  })

  it('a GPU pod that tolerates the taint runs on a GPU node: Scheduled, Pulling, Pulled, Created, Started, then Ready', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/pods`, pod('gpu', NS, {tolerations: [GPU_TOLERATION]}, {cpu: '3', memory: '12Gi', 'nvidia.com/gpu': '1'}))
    await api.waitFor(() => podOf('gpu')?.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))
    const p = podOf('gpu')
    expect(p.spec.nodeName).toMatch(/^i-0aaaaaaaaaaaaaaa[12]$/)
    expect(p.status).toMatchObject({phase: 'Running', hostIP: expect.any(String), podIP: expect.any(String)})
    expect(p.status.containerStatuses[0]).toMatchObject({name: 'main', ready: true, started: true, state: {running: {startedAt: expect.any(String)}}})
    expect(events('gpu').map((e) => e.reason)).toEqual(['Scheduled', 'Pulling', 'Pulled', 'Created', 'Started'])
    expect(events('gpu')[0].message).toBe(`Successfully assigned ${NS}/gpu to ${p.spec.nodeName}`)
    expect(events('gpu')[1].message).toBe('Pulling image "busybox:1.36"')
  })

  it('requests add up over the pods bound to a node: the second GPU node takes the next pod, a third pod waits', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/pods`, pod('gpu2', NS, {tolerations: [GPU_TOLERATION]}, {cpu: '3', 'nvidia.com/gpu': '1'}))
    await api.waitFor(() => Boolean(podOf('gpu2')?.spec?.nodeName))
    expect(podOf('gpu2').spec.nodeName).not.toBe(podOf('gpu').spec.nodeName)
    await req('POST', `/api/v1/namespaces/${NS}/pods`, pod('gpu3', NS, {tolerations: [GPU_TOLERATION]}, {'nvidia.com/gpu': '1'}))
    await api.waitFor(() => condition('gpu3')?.status === 'False')
    expect(condition('gpu3').message).toBe('0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.')
  })

  it('a pod is retried when a node registers, and when a bound pod goes away', async () => {
    api.addNode(aipGpuNode('g6e.xlarge', {name: 'ip-10-0-9-9.ec2.internal'}))
    await api.waitFor(() => podOf('gpu3')?.spec?.nodeName === 'ip-10-0-9-9.ec2.internal')
    // 'big' has no toleration: the new node's taint (value "true") joins the reasons
    await api.waitFor(() => /0\/4 nodes/.test(condition('big')?.message ?? ''))
    expect(condition('big').message).toBe(
      '0/4 nodes are available: 1 Insufficient nvidia.com/gpu, 1 node(s) had untolerated taint {nvidia.com/gpu: true}, 2 node(s) had untolerated taint {nvidia.com/gpu: }. preemption: 0/4 nodes are available: 1 No preemption victims found for incoming pod, 3 Preemption is not helpful for scheduling.',
    )
    const fs = events('big').filter((e) => e.reason === 'FailedScheduling')
    expect(fs.length).toBe(2)

    await req('POST', `/api/v1/namespaces/${NS}/pods`, pod('gpu4', NS, {tolerations: [GPU_TOLERATION]}, {'nvidia.com/gpu': '1'}))
    await api.waitFor(() => condition('gpu4')?.status === 'False')
    // the bound pod is deleted with a grace period of 0: its GPU is free at once
    expect((await req('DELETE', `/api/v1/namespaces/${NS}/pods/gpu2?gracePeriodSeconds=0`)).status).toBe(200)
    await api.waitFor(() => Boolean(podOf('gpu4')?.spec?.nodeName))
  })

  it('a wrong nodeSelector keeps a pod Pending even with free GPU nodes', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/pods`, pod('typo', NS, {tolerations: [GPU_TOLERATION], nodeSelector: {'karpenter.k8s.aws/instance-gpu-name': 'l40'}}, {'nvidia.com/gpu': '1'}))
    await api.waitFor(() => condition('typo')?.status === 'False')
    expect(condition('typo').message).toMatch(/^0\/4 nodes are available: 4 node\(s\) didn't match Pod's node affinity\/selector\. preemption: 0\/4 nodes are available: 4 Preemption is not helpful for scheduling\.$/)
    api.addNode(managedNodeGroupNode({name: 'cpu-2'}))
    await api.waitFor(() => /0\/5 nodes/.test(condition('typo')?.message ?? ''))
    expect(podOf('typo').spec.nodeName).toBeUndefined()
  })

  it('graceful deletion: Terminating (deletionTimestamp, deletionGracePeriodSeconds) with Killing events, then gone; unscheduled pods go at once', async () => {
    await req('POST', `/api/v1/namespaces/${NS}/pods`, pod('grace', NS, {terminationGracePeriodSeconds: 3000}))
    await api.waitFor(() => podOf('grace')?.status?.phase === 'Running')
    const t0 = Date.now()
    const del = await req('DELETE', `/api/v1/namespaces/${NS}/pods/grace`)
    expect(del.status).toBe(200)
    expect(del.body.kind).toBe('Pod')
    expect(del.body.metadata.deletionGracePeriodSeconds).toBe(3000)
    expect(Date.parse(del.body.metadata.deletionTimestamp) - t0).toBeGreaterThan(2_990_000)
    expect(podOf('grace').metadata.deletionTimestamp).toBeDefined()
    expect(events('grace').at(-1)).toMatchObject({reason: 'Killing', message: 'Stopping container main'})
    // a second delete may shorten the grace period
    expect((await req('DELETE', `/api/v1/namespaces/${NS}/pods/grace`, {gracePeriodSeconds: 1})).body.metadata.deletionGracePeriodSeconds).toBe(1)
    await api.waitFor(() => !podOf('grace'), 5000)

    const gone = await req('DELETE', `/api/v1/namespaces/${NS}/pods/typo`)
    expect(gone.status).toBe(200)
    expect(api.store.get('v1', 'Pod', NS, 'typo')).toBeUndefined()
  })

  it('no node at all: "no nodes available to schedule pods"', async () => {
    const empty = await startKubeApiServer({})
    try {
      const r = http(empty)
      await r('POST', '/api/v1/namespaces', namespace('x'))
      await r('POST', '/api/v1/namespaces/x/pods', pod('p', 'x'))
      await empty.waitFor((s) => s.get('v1', 'Pod', 'x', 'p')?.status?.conditions?.[0]?.status === 'False')
      expect(empty.store.get('v1', 'Pod', 'x', 'p')!.status.conditions[0].message).toBe('no nodes available to schedule pods')
    } finally {
      await empty.stop()
    }
  })
})
