#!/usr/bin/env node
// Benchmark of the Kubernetes layer against the loopback API server (run after `npm run build`):
//  1. API requests and wall time of one model-like deploy (apply 8 objects + wait for rollout);
//  2. how long after the simulated controller marks the Deployment available the wait returns,
//     watch-based (src/lib/kube) vs. a 1 s polling loop (what a naive client does), as a ratio.
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const {startKubeApiServer} = await import(join(root, 'test/support/kube-apiserver/index.mjs'))
const {managedNodeGroupNode} = await import(join(root, 'test/support/kube-apiserver/nodes.mjs'))
const kube = await import(join(root, 'dist/lib/kube/index.js'))

const NS = 'aip-models'
const READY_MS = 300
const ROUNDS = 5

function objects(name) {
  const labels = kube.modelLabels(name)
  const sel = {[kube.MODEL_LABEL]: name}
  return [
    {apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name, labels}},
    {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: `${name}-config`, labels}, data: {model: name}},
    {apiVersion: 'v1', kind: 'Service', metadata: {name, labels}, spec: {selector: sel, ports: [{name: 'http', port: 8000}]}},
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {name, labels},
      spec: {replicas: 1, selector: {matchLabels: sel}, template: {metadata: {labels}, spec: {serviceAccountName: name, containers: [{name: 'vllm', image: 'vllm/vllm-openai:v0.8.5', resources: {limits: {'nvidia.com/gpu': '1'}}}]}}},
    },
    {apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: {name, labels}, spec: {podSelector: {matchLabels: sel}, policyTypes: ['Ingress']}},
    {apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: {name, labels}, spec: {maxUnavailable: 1, selector: {matchLabels: sel}}},
    {apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: {name, labels}, spec: {scaleTargetRef: {apiVersion: 'apps/v1', kind: 'Deployment', name}, minReplicas: 1, maxReplicas: 2, metrics: []}},
    {apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: {name, labels}, spec: {scaleTargetRef: {name}, minReplicaCount: 1, maxReplicaCount: 2, triggers: []}},
  ]
}

const available = (s, name) => (s.get('apps/v1', 'Deployment', NS, name)?.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True') && s.get('apps/v1', 'Deployment', NS, name)?.status?.availableReplicas === 1

async function pollUntilAvailable(client, name, intervalMs) {
  for (;;) {
    const d = await client.request('GET', `/apis/apps/v1/namespaces/${NS}/deployments/${name}`)
    if (kube.rolloutStatus({...d, apiVersion: 'apps/v1', kind: 'Deployment'}).done) return
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

// one untainted GPU node (a managed node group's g6e.xlarge) per deployment the rounds create
const api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: READY_MS}, nodes: Array.from({length: 2 * ROUNDS}, () => managedNodeGroupNode({instanceType: 'g6e.xlarge'}))})
try {
  api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}})
  api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
  const client = await kube.createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS})

  const watchLat = []
  const pollLat = []
  const deployWall = []
  let firstRequests
  for (let i = 0; i < ROUNDS; i++) {
    for (const mode of ['watch', 'poll']) {
      const name = `m-${mode}-${i}`
      api.clearRequests()
      let availableAt = 0
      const marked = api.waitFor((s) => available(s, name), 30_000).then(() => (availableAt = performance.now()))
      const t0 = performance.now()
      const applied = await kube.applyObjects(client, objects(name))
      if (mode === 'watch') await kube.waitForRollout(client, {name, timeoutMs: 30_000})
      else await pollUntilAvailable(client, name, 1000)
      const t1 = performance.now()
      await marked
      ;(mode === 'watch' ? watchLat : pollLat).push(t1 - availableAt)
      if (mode === 'watch') {
        deployWall.push(t1 - t0)
        if (!firstRequests) firstRequests = {total: api.requests.length, watches: api.requests.filter((r) => r.watch).length, objects: applied.length}
      }
    }
  }
  const w = median(watchLat)
  const p = median(pollLat)
  console.log(`kube: deploy of ${firstRequests.objects} objects + rollout wait: ${firstRequests.total} API requests (${firstRequests.watches} watch), median wall ${median(deployWall).toFixed(0)} ms (pods ready after ${READY_MS} ms)`)
  console.log(`kube: available -> reported, watch: median ${w.toFixed(1)} ms (max ${Math.max(...watchLat).toFixed(1)} ms, goal <= 200 ms)`)
  console.log(`kube: available -> reported, 1 s polling: median ${p.toFixed(1)} ms`)
  console.log(`kube: polling/watch latency ratio: ${(p / Math.max(w, 0.1)).toFixed(1)}x`)
} finally {
  await api.stop()
}
