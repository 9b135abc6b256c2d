/**
 * Where `aip model deploy qwen3-8b --gpu l40s` lands on each EKS provisioner, decided by the loopback
 * API server's scheduler (kube-scheduler's filters: taints, node affinity, resources) over Node
 * objects shaped like each provisioner registers them (test/support/kube-apiserver/nodes.mjs):
 * the server on the L40S node (never a CPU node, never another GPU), the preload Job on a CPU node
 * with the EKS default 20 GiB root disk (m6i.large), each under its own ServiceAccount.
 */
import {afterEach, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli} from '../support/cli.js'
import {type KObject, type KubeApiServer, startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {autoModeNode, karpenterNode, managedNodeGroupNode, systemNode} from '../support/kube-apiserver/nodes.mjs'
import {putModelNamespace} from '../support/model-namespace.js'

const NS = 'aip-models'
const GPU_TAINT = {key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule' as const}
let api: KubeApiServer | undefined

afterEach(async () => {
  await api?.stop()
  api = undefined
})

/**
 * Nodes listed before the L40S one are tried first by the scheduler, so a selector that let the
 * server onto them would be caught: a CPU node with room for everything but a GPU, and an A10G node
 * (g5.2xlarge: 8 vCPU / 32 GiB, one GPU) that qwen3-8b's CPU and memory requests fit.
 */
const provisioners: Array<{name: string; cpu: KObject; decoy: KObject; l40s: KObject}> = [
  {
    name: 'EKS managed node group (aip cluster bootstrap --gpu-nodegroup g6e.xlarge:0-2)',
    cpu: systemNode({name: 'system-1'}),
    decoy: managedNodeGroupNode({name: 'a10g-1', instanceType: 'g5.2xlarge', nodegroup: 'other-gpu', taints: [GPU_TAINT], rootVolumeGiB: 200}),
    // what createNodegroupInput asks EKS for: the instance type, the taint, a 200 GiB disk; no GPU label of its own
    l40s: managedNodeGroupNode({name: 'l40s-1', instanceType: 'g6e.xlarge', nodegroup: 'prod-gpu-g6e-xlarge', taints: [GPU_TAINT], rootVolumeGiB: 200, labels: {'aip.dev/node-role': 'gpu'}}),
  },
  {
    name: 'EKS Auto Mode (NodePool aip-gpu on NodeClass default)',
    cpu: autoModeNode({name: 'general-1', instanceType: 'm6i.large', rootVolumeGiB: 20}),
    decoy: autoModeNode({name: 'a10g-1', instanceType: 'g5.2xlarge', nodePool: 'other-gpu'}),
    l40s: autoModeNode({name: 'l40s-1', instanceType: 'g6e.xlarge', nodePool: 'aip-gpu'}),
  },
  {
    name: "Karpenter (a team's own NodePool, not aip's: no aip.dev/node-role label)",
    cpu: systemNode({name: 'system-1'}),
    decoy: karpenterNode({name: 'a10g-1', instanceType: 'g5.2xlarge', nodePool: 'gpu', taints: [GPU_TAINT], rootVolumeGiB: 200}),
    // a GPU EC2NodeClass gives its nodes a large root volume (the vLLM image alone is ~10 GB;
    // qwen3-8b requests 20 GiB ephemeral storage): the AMI's 20 GiB default would not hold the server
    l40s: karpenterNode({name: 'l40s-1', instanceType: 'g6e.xlarge', nodePool: 'gpu', taints: [GPU_TAINT], rootVolumeGiB: 200}),
  },
]

const pods = (component: string) => api!.store.all().filter((o: KObject) => o.kind === 'Pod' && o.metadata.namespace === NS && o.metadata.labels?.['app.kubernetes.io/component'] === component)

describe('aip model deploy qwen3-8b --gpu l40s on each provisioner (loopback scheduler)', () => {
  for (const p of provisioners) {
    it(`${p.name}: the server on the L40S node, the preload Job on the 20 GiB CPU node, each with its own ServiceAccount`, async () => {
      api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 50}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: [p.cpu, p.decoy, p.l40s]})
      putModelNamespace(api, NS)
      const env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
      const r = await runCli(['model', 'deploy', 'qwen3-8b', '--gpu', 'l40s', '--json', '--timeout', '60s'], {env, timeoutMs: 90_000})
      expect(r.code, r.stderr + r.stdout).toBe(0)
      expect(JSON.parse(r.stdout).result.rollout.available).toBe(1)

      const server = pods('server')
      expect(server.length).toBeGreaterThan(0)
      for (const pod of server) {
        expect(pod.spec.nodeName).toBe('l40s-1')
        expect(pod.spec.serviceAccountName).toBe('aip-model-server')
      }
      const preload = pods('preload')
      expect(preload.length).toBeGreaterThan(0)
      for (const pod of preload) {
        expect(pod.spec.nodeName).toBe(p.cpu.metadata.name)
        expect(pod.spec.serviceAccountName).toBe('aip-preload')
      }
      // the CPU node is the EKS default: m6i.large with a 20 GiB root disk
      expect(p.cpu.metadata.labels!['node.kubernetes.io/instance-type']).toBe('m6i.large')
      expect(Number(p.cpu.status!.capacity['ephemeral-storage'].replace('Ki', '')) * 1024).toBeLessThanOrEqual(20 * 2 ** 30)

      // what -o json prints (no cluster needed) is what was scheduled
      const o = await runCli(['model', 'deploy', 'qwen3-8b', '--gpu', 'l40s', '-o', 'json'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
      expect(o.code, o.stderr).toBe(0)
      const dep = JSON.parse(o.stdout).items.find((x: KObject) => x.kind === 'Deployment')
      const live = api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b')!
      for (const k of ['nodeSelector', 'affinity', 'tolerations', 'serviceAccountName']) expect(live.spec.template.spec[k]).toEqual(dep.spec.template.spec[k])
      expect(live.spec.template.spec.containers[0].resources).toEqual(dep.spec.template.spec.containers[0].resources)
    })
  }

  it('-o json: node.kubernetes.io/instance-type In the L40S instance types, the nvidia.com/gpu toleration and request, no Karpenter-only labels', async () => {
    const o = await runCli(['model', 'deploy', 'qwen3-8b', '--gpu', 'l40s', '-o', 'json'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expect(o.code, o.stderr).toBe(0)
    const items = JSON.parse(o.stdout).items as KObject[]
    const spec = items.find((x) => x.kind === 'Deployment')!.spec.template.spec
    expect(spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      {matchExpressions: [{key: 'node.kubernetes.io/instance-type', operator: 'In', values: ['g6e.xlarge', 'g6e.2xlarge', 'g6e.4xlarge', 'g6e.8xlarge', 'g6e.16xlarge', 'g6e.12xlarge', 'g6e.24xlarge', 'g6e.48xlarge']}]},
    ])
    expect(spec.tolerations).toEqual([{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}])
    expect(spec.containers[0].resources.requests['nvidia.com/gpu']).toBe('1')
    expect(JSON.stringify(items)).not.toMatch(/karpenter\.k8s\.aws|instance-gpu-name|aip\.dev\/node-role/)
    const job = items.find((x) => x.kind === 'Job')!.spec.template.spec
    expect(job.serviceAccountName).toBe('aip-preload')
    expect(job.tolerations).toBeUndefined()
    expect(job.containers[0].resources.requests['ephemeral-storage']).toBe('1Gi')
  })
})
