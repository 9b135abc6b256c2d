import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {runBootstrap} from '../../../src/lib/bootstrap/index.js'
import {applyObjects, createKubeClient, type KubeClient, type KubeObject, modelLabels} from '../../../src/lib/kube/index.js'
import {type KubeApiServer, startKubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipCluster} from '../../support/kube-apiserver/nodes.mjs'

export const MODEL = 'qwen3-8b'
export const NS = 'aip-models'

export async function client(api: KubeApiServer, retries = 2): Promise<KubeClient> {
  return createKubeClient({kubeconfig: api.kubeconfigPath, env: {HOME: mkdtempSync(join(tmpdir(), 'aip-h-'))}, retry: {retries, minDelayMs: 20, maxDelayMs: 100}, requestTimeoutMs: 5000})
}

export async function startCluster(): Promise<KubeApiServer> {
  const api = await startKubeApiServer({lbCleanupDelayMs: 30, nodes: aipCluster()})
  api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
  api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor'})
  api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
  api.registerCrd({group: 'karpenter.k8s.aws', version: 'v1', kind: 'EC2NodeClass', namespaced: false, plural: 'ec2nodeclasses'})
  return api
}

/** Bootstrap (platform + NodePool) and a deployed model with the objects aip creates for it. */
export async function populate(api: KubeApiServer, c: KubeClient): Promise<void> {
  await runBootstrap({
    clusterName: 'aip',
    kubeconfig: {path: api.kubeconfigPath},
    kubeClient: async () => c,
    platform: {modelNamespace: NS, gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', tenants: [{name: 'team-a', gpus: 2}], gpuLimit: 8},
  })
  // Karpenter adds its termination finalizer to NodePools; its controller clears it when the nodes are gone
  const pool = api.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')!
  api.store.put({...pool, metadata: {...pool.metadata, finalizers: ['karpenter.sh/termination']}})
  api.clearFinalizerAfter('NodePool', 'karpenter.sh/termination', 40)
  api.clearFinalizerAfter('ScaledObject', 'finalizer.keda.sh', 40)
  api.clearFinalizerAfter('ServiceMonitor', 'example.com/cleanup', 40)

  const labels = modelLabels(MODEL)
  const objs: KubeObject[] = [
    {apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'monitoring'}},
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {name: MODEL, namespace: NS, labels},
      spec: {replicas: 1, selector: {matchLabels: {'aip.dev/model': MODEL}}, template: {metadata: {labels}, spec: {containers: [{name: 'vllm', image: 'vllm/vllm-openai:v0.10.2'}]}}},
    },
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {name: `${MODEL}-preload`, namespace: NS, labels},
      spec: {template: {metadata: {labels}, spec: {restartPolicy: 'Never', containers: [{name: 'preload', image: 'amazon/aws-cli'}]}}},
    },
    {apiVersion: 'v1', kind: 'Service', metadata: {name: MODEL, namespace: NS, labels}, spec: {selector: {'aip.dev/model': MODEL}, ports: [{port: 8000}]}},
    {apiVersion: 'v1', kind: 'Service', metadata: {name: `${MODEL}-public`, namespace: NS, labels}, spec: {type: 'LoadBalancer', selector: {'aip.dev/model': MODEL}, ports: [{port: 80}]}},
    {apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', metadata: {name: MODEL, namespace: NS, labels, finalizers: ['finalizer.keda.sh']}, spec: {scaleTargetRef: {name: MODEL}, minReplicaCount: 0, triggers: [{type: 'prometheus', metadata: {serverAddress: 'http://prometheus.monitoring:9090', query: 'sum(vllm:num_requests_running)', threshold: '4'}}]}},
    {apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', metadata: {name: MODEL, namespace: 'monitoring', labels, finalizers: ['example.com/cleanup']}, spec: {selector: {matchLabels: {'aip.dev/model': MODEL}}, endpoints: [{port: 'http', path: '/metrics'}]}},
    // not managed by aip: must survive
    {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'keep-me', namespace: 'default'}, data: {a: 'b'}},
    {apiVersion: 'v1', kind: 'Service', metadata: {name: 'ingress', namespace: 'default'}, spec: {type: 'LoadBalancer', ports: [{port: 443}]}},
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {name: 'other-app', namespace: 'default'},
      spec: {replicas: 1, selector: {matchLabels: {app: 'other'}}, template: {metadata: {labels: {app: 'other'}}, spec: {containers: [{name: 'x', image: 'nginx'}]}}},
    },
  ]
  await applyObjects(c, objs)
  // the simulated controllers: the LB gets its finalizer and address, the Deployment its pods
  await api.waitFor((s) => (s.get('v1', 'Service', NS, `${MODEL}-public`)?.metadata.finalizers ?? []).length > 0, 5000)
}

export function managedLeft(api: KubeApiServer): string[] {
  return api.store
    .all()
    .filter((o) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'aip')
    .map((o) => `${o.kind}/${o.metadata.namespace ? o.metadata.namespace + '/' : ''}${o.metadata.name}`)
}

export function survivors(api: KubeApiServer): boolean {
  return Boolean(api.store.get('v1', 'ConfigMap', 'default', 'keep-me') && api.store.get('v1', 'Service', 'default', 'ingress') && api.store.get('apps/v1', 'Deployment', 'default', 'other-app'))
}
