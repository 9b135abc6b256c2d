import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {type BootstrapOptions, runBootstrap} from '../../../src/lib/bootstrap/index.js'
import type {KubeClient} from '../../../src/lib/kube/index.js'
import {type KubeApiServer, startKubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {client} from '../teardown/fixtures.js'

let api: KubeApiServer
let c: KubeClient

beforeEach(async () => {
  api = await startKubeApiServer({nodes: [systemNode()]})
  c = await client(api)
})
afterEach(async () => {
  await api.stop()
})

const opts = (): BootstrapOptions => ({
  clusterName: 'prod',
  kubeconfig: {path: api.kubeconfigPath},
  kubeClient: async () => c,
  platform: {modelNamespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', tenants: [], gpuLimit: 8},
})

const DEFAULT = 'storageclass.kubernetes.io/is-default-class'
const autoMode = () => {
  api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
  api.registerCrd({group: 'eks.amazonaws.com', version: 'v1', kind: 'NodeClass', namespaced: false})
}

describe('EKS Auto Mode block storage (Auto Mode creates no StorageClass: the gateway database PVC would stay Pending)', () => {
  it('bootstrap applies an ebs.csi.eks.amazonaws.com gp3 StorageClass, the cluster default; a rerun changes nothing', async () => {
    autoMode()
    const r = await runBootstrap(opts())
    const sc = api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')!
    expect(sc).toBeDefined()
    expect(sc.provisioner).toBe('ebs.csi.eks.amazonaws.com')
    expect(sc.parameters).toMatchObject({type: 'gp3', encrypted: 'true'})
    expect(sc.volumeBindingMode).toBe('WaitForFirstConsumer')
    expect(sc.metadata.annotations?.[DEFAULT]).toBe('true')
    expect(sc.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('aip')
    expect(r.objects).toContainEqual(expect.objectContaining({kind: 'StorageClass', name: 'aip-ebs-gp3', action: 'created'}))
    const again = await runBootstrap(opts())
    expect(again.objects.find((o) => o.kind === 'StorageClass')?.action).toBe('unchanged')
  })

  it('another default StorageClass stays the default (aip adds its class without the annotation)', async () => {
    autoMode()
    api.store.put({apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: {name: 'mine', annotations: {[DEFAULT]: 'true'}}, provisioner: 'ebs.csi.eks.amazonaws.com'})
    await runBootstrap(opts())
    const sc = api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')!
    expect(sc.metadata.annotations?.[DEFAULT]).toBeUndefined()
    expect(api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'mine')!.metadata.annotations?.[DEFAULT]).toBe('true')
  })

  it('not on other clusters (their StorageClasses belong to their own CSI drivers)', async () => {
    await runBootstrap(opts())
    expect(api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')).toBeUndefined()
  })
})
