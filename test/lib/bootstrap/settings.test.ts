import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {type BootstrapOptions, runBootstrap} from '../../../src/lib/bootstrap/index.js'
import {parseTenant} from '../../../src/lib/bootstrap/platform.js'
import {decideSettings, describeDecisions, gpusOfInstanceTypes, type LiveSettings, poolSettings, type SettingDefaults} from '../../../src/lib/bootstrap/settings.js'
import {findGpu} from '../../../src/lib/gpufit/gpus.js'
import type {KubeClient} from '../../../src/lib/kube/index.js'
import {type KubeApiServer, startKubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {client} from '../teardown/fixtures.js'

const defaults: SettingDefaults = {gpuTypes: ['l40s'], gpuLimit: 8, capacityTypes: ['on-demand'], karpenterNodeRole: 'KarpenterNodeRole-prod', tenantGpus: 1}
const types = (gpu: string) => findGpu(gpu).instances.map((i) => i.type)
const none: LiveSettings = {tenantGpus: {}}
const live: LiveSettings = {instanceTypes: types('h100'), gpuLimit: 16, capacityTypes: ['spot'], karpenterNodeRole: 'MyNodes', tenantGpus: {'team-a': 4}}
const byName = (ds: ReturnType<typeof decideSettings>['decisions']) => Object.fromEntries(ds.map((d) => [d.tenant ? `tenant:${d.tenant}` : d.setting, d]))

describe('decideSettings: what a (re)run applies', () => {
  it('first run: omitted flags take the defaults, given ones are set', () => {
    const s = decideSettings({gpuLimit: 4, tenants: [{name: 'team-a'}, {name: 'team-b', gpus: 3}]}, none, defaults)
    expect(s).toMatchObject({gpuTypes: ['l40s'], instanceTypes: undefined, gpuLimit: 4, capacityTypes: ['on-demand'], karpenterNodeRole: 'KarpenterNodeRole-prod', tenants: [{name: 'team-a', gpus: 1}, {name: 'team-b', gpus: 3}]})
    const d = byName(s.decisions)
    expect(d['gpu']!.action).toBe('default')
    expect(d['gpu-limit']).toMatchObject({action: 'set', value: 4})
    expect(d['capacity-type']).toMatchObject({action: 'default', value: ['on-demand']})
    expect(d['tenant:team-a']).toMatchObject({action: 'default', value: 1, object: 'ResourceQuota/team-a/aip-quota'})
    expect(d['tenant:team-b']).toMatchObject({action: 'set', value: 3})
    expect(s.decisions.every((x) => x.previous === undefined)).toBe(true)
  })

  it('plain rerun: every omitted flag keeps the cluster value, nothing goes back to the defaults', () => {
    const s = decideSettings({tenants: [{name: 'team-a'}]}, live, defaults)
    expect(s).toMatchObject({gpuTypes: ['h100'], instanceTypes: types('h100'), gpuLimit: 16, capacityTypes: ['spot'], karpenterNodeRole: 'MyNodes', tenants: [{name: 'team-a', gpus: 4}]})
    expect(s.decisions.map((x) => x.action)).toEqual(['kept', 'kept', 'kept', 'kept', 'kept'])
    expect(byName(s.decisions)['gpu-limit']).toMatchObject({value: 16, previous: 16})
    expect(describeDecisions(s.decisions)).toBe('kept gpu h100, gpu-limit 16, capacity-type spot, karpenter-node-role MyNodes, tenant team-a gpus 4 (flags omitted)')
  })

  it('a rerun with one flag given changes only that one (old -> new); the same value given is unchanged', () => {
    const s = decideSettings({gpuLimit: 32, capacityTypes: ['spot'], tenants: [{name: 'team-a', gpus: 2}]}, live, defaults)
    const d = byName(s.decisions)
    expect(d['gpu-limit']).toMatchObject({action: 'changed', previous: 16, value: 32})
    expect(d['capacity-type']).toMatchObject({action: 'unchanged', value: ['spot']})
    expect(d['tenant:team-a']).toMatchObject({action: 'changed', previous: 4, value: 2})
    expect(d['gpu']).toMatchObject({action: 'kept', value: ['h100']})
    expect(d['karpenter-node-role']).toMatchObject({action: 'kept', value: 'MyNodes'})
    expect(describeDecisions(s.decisions)).toBe('kept gpu h100, karpenter-node-role MyNodes (flags omitted); changed gpu-limit 16 -> 32, tenant team-a gpus 4 -> 2')
  })

  it('back to the defaults by passing them explicitly', () => {
    const s = decideSettings({gpuTypes: ['l40s'], gpuLimit: 8, capacityTypes: ['on-demand'], karpenterNodeRole: 'KarpenterNodeRole-prod', tenants: [{name: 'team-a', gpus: 1}]}, live, defaults)
    expect(s).toMatchObject({gpuTypes: ['l40s'], instanceTypes: undefined, gpuLimit: 8, capacityTypes: ['on-demand'], karpenterNodeRole: 'KarpenterNodeRole-prod', tenants: [{name: 'team-a', gpus: 1}]})
    expect(s.decisions.map((x) => x.action)).toEqual(['changed', 'changed', 'changed', 'changed', 'changed'])
    expect(byName(s.decisions)['gpu']).toMatchObject({previous: ['h100'], value: ['l40s']})
  })

  it('--gpu is compared by instance types (order and aliases do not count); kept types stay verbatim, also ones gpu-fit does not know', () => {
    const same = decideSettings({gpuTypes: ['nvidia-h100'], tenants: []}, {...none, instanceTypes: [...types('h100')].reverse()}, defaults)
    expect(byName(same.decisions)['gpu']!.action).toBe('unchanged')
    const edited = decideSettings({tenants: []}, {...none, instanceTypes: ['g6e.xlarge', 'x9.metal']}, defaults)
    expect(edited.instanceTypes).toEqual(['g6e.xlarge', 'x9.metal'])
    expect(edited.gpuTypes).toEqual(['l40s', 'x9.metal'])
    expect(gpusOfInstanceTypes([...types('l4'), ...types('l40s')])).toEqual(['l4', 'l40s'])
  })

  it('a new tenant on a rerun gets the default quota; an existing one given without =GPUS keeps its own', () => {
    const s = decideSettings({tenants: [{name: 'team-a'}, {name: 'team-new'}]}, live, defaults)
    expect(s.tenants).toEqual([{name: 'team-a', gpus: 4}, {name: 'team-new', gpus: 1}])
  })

  it('parseTenant: without =GPUS and without --gpu-quota the quota is left open (kept or default)', () => {
    expect(parseTenant('team-a', undefined)).toEqual({name: 'team-a'})
    expect(parseTenant('team-a', 2)).toEqual({name: 'team-a', gpus: 2})
    expect(parseTenant('team-a=0', 2)).toEqual({name: 'team-a', gpus: 0})
  })

  it('poolSettings reads requirements (In only) and a whole-number limit', () => {
    const pool = (limit: unknown, op = 'In') => ({apiVersion: 'karpenter.sh/v1', kind: 'NodePool', metadata: {name: 'aip-gpu'}, spec: {limits: {'nvidia.com/gpu': limit}, template: {spec: {requirements: [{key: 'node.kubernetes.io/instance-type', operator: op, values: ['p5.48xlarge']}, {key: 'karpenter.sh/capacity-type', operator: 'In', values: ['spot', 'on-demand']}]}}}})
    expect(poolSettings(pool('16'))).toEqual({instanceTypes: ['p5.48xlarge'], gpuLimit: 16, capacityTypes: ['spot', 'on-demand']})
    expect(poolSettings(pool(24)).gpuLimit).toBe(24)
    expect(poolSettings(pool('1500m')).gpuLimit).toBeUndefined()
    expect(poolSettings(pool('8', 'NotIn')).instanceTypes).toBeUndefined()
    expect(poolSettings(undefined)).toEqual({})
  })
})

describe('runBootstrap rerun against an API server (Karpenter)', () => {
  let api: KubeApiServer
  let c: KubeClient
  beforeEach(async () => {
    api = await startKubeApiServer({nodes: [systemNode()]})
    api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
    api.registerCrd({group: 'karpenter.k8s.aws', version: 'v1', kind: 'EC2NodeClass', namespaced: false, plural: 'ec2nodeclasses'})
    c = await client(api)
  })
  afterEach(async () => {
    await api.stop()
  })
  const opts = (platform: Partial<BootstrapOptions['platform']> = {}, extra: Partial<BootstrapOptions> = {}): BootstrapOptions => ({
    clusterName: 'prod',
    kubeconfig: {path: api.kubeconfigPath},
    kubeClient: async () => c,
    platform: {modelNamespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', tenants: [{name: 'team-a'}], ...platform},
    ...extra,
  })
  const pool = () => {
    const p = api.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')!
    const req = (k: string) => p.spec.template.spec.requirements.find((r: {key: string}) => r.key === k).values
    return {limit: p.spec.limits['nvidia.com/gpu'], types: req('node.kubernetes.io/instance-type'), capacity: req('karpenter.sh/capacity-type'), role: api.store.get('karpenter.k8s.aws/v1', 'EC2NodeClass', undefined, 'aip-gpu')!.spec.role}
  }
  const quota = () => api.store.get('v1', 'ResourceQuota', 'team-a', 'aip-quota')!.spec.hard['requests.nvidia.com/gpu']

  it('a plain rerun keeps a non-default pool and quota; one flag given changes only that one; a dry run shows it and writes nothing', async () => {
    await runBootstrap(opts({gpuTypes: ['h100'], gpuLimit: 16, capacityTypes: ['spot'], karpenterNodeRole: 'MyNodes', tenants: [{name: 'team-a', gpus: 4}]}))
    const first = pool()
    expect(first).toEqual({limit: '16', types: types('h100'), capacity: ['spot'], role: 'MyNodes'})
    expect(quota()).toBe('4')

    const again = await runBootstrap(opts({defaultGpuTypes: ['l40s']}))
    expect(pool()).toEqual(first)
    expect(quota()).toBe('4')
    expect([...again.objects, ...again.gpuPool.objects].every((o) => o.action === 'unchanged')).toBe(true)
    expect(again.settings.map((d) => [d.tenant ?? d.setting, d.action])).toEqual([['gpu', 'kept'], ['gpu-limit', 'kept'], ['capacity-type', 'kept'], ['karpenter-node-role', 'kept'], ['team-a', 'kept']])

    const plan = await runBootstrap(opts({gpuLimit: 32}, {dryRun: true}))
    expect(plan.settings.find((d) => d.setting === 'gpu-limit')).toMatchObject({action: 'changed', previous: 16, value: 32})
    expect(plan.gpuPool.objects.find((o) => o.kind === 'NodePool')!.action).toBe('update')
    expect(pool().limit).toBe('16')

    const changed = await runBootstrap(opts({gpuLimit: 32}))
    expect(pool()).toEqual({...first, limit: '32'})
    expect(quota()).toBe('4')
    expect(changed.settings.filter((d) => d.action === 'changed').map((d) => d.setting)).toEqual(['gpu-limit'])
  })

  it('EKS Auto Mode: a plain rerun keeps the pool on NodeClass default; no karpenter-node-role setting', async () => {
    const auto = await startKubeApiServer({nodes: [systemNode()]})
    try {
      auto.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
      auto.registerCrd({group: 'eks.amazonaws.com', version: 'v1', kind: 'NodeClass', namespaced: false})
      const ac = await client(auto)
      const on = (p: Partial<BootstrapOptions['platform']>) => ({...opts(p), kubeClient: async () => ac, kubeconfig: {path: auto.kubeconfigPath}})
      await runBootstrap(on({gpuTypes: ['l4'], gpuLimit: 2, capacityTypes: ['spot', 'on-demand']}))
      const r = await runBootstrap(on({}))
      expect(r.gpuPool.provisioner).toBe('auto-mode')
      const p = auto.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')!
      expect(p.spec.limits['nvidia.com/gpu']).toBe('2')
      expect(p.spec.template.spec.requirements.find((x: {key: string}) => x.key === 'node.kubernetes.io/instance-type').values).toEqual(types('l4'))
      expect(p.spec.template.spec.requirements.find((x: {key: string}) => x.key === 'karpenter.sh/capacity-type').values).toEqual(['spot', 'on-demand'])
      expect(r.settings.map((d) => [d.tenant ?? d.setting, d.action])).toEqual([['gpu', 'kept'], ['gpu-limit', 'kept'], ['capacity-type', 'kept'], ['team-a', 'kept']])
    } finally {
      await auto.stop()
    }
  })

  it('without a provisioner only the tenant quotas are reported', async () => {
    const bare = await startKubeApiServer({nodes: [systemNode()]})
    try {
      const bc = await client(bare)
      const r = await runBootstrap({...opts({tenants: [{name: 'team-a', gpus: 2}]}), kubeClient: async () => bc, kubeconfig: {path: bare.kubeconfigPath}})
      expect(r.gpuPool.provisioner).toBe('none')
      expect(r.settings).toEqual([{setting: 'tenant-gpus', tenant: 'team-a', object: 'ResourceQuota/team-a/aip-quota', value: 2, action: 'set'}])
    } finally {
      await bare.stop()
    }
  })
})
