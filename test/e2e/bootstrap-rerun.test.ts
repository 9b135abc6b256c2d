import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {findGpu} from '../../src/lib/gpufit/gpus.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {systemNode} from '../support/kube-apiserver/nodes.mjs'

// `aip cluster bootstrap` rerun on a cluster with a self-installed Karpenter: an omitted flag keeps
// what an earlier run set, a given one changes only its own field.
let api: KubeApiServer
const env = () => isolatedEnv({KUBECONFIG: api.kubeconfigPath})
const bootstrap = (...args: string[]) => runCli(['cluster', 'bootstrap', '--skip-eks', ...args], {env: env()})
const types = (gpu: string) => findGpu(gpu).instances.map((i) => i.type)

function pool() {
  const p = api.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')!
  const req = (k: string) => p.spec.template.spec.requirements.find((r: {key: string}) => r.key === k).values
  return {limit: p.spec.limits['nvidia.com/gpu'], types: req('node.kubernetes.io/instance-type'), capacity: req('karpenter.sh/capacity-type'), role: api.store.get('karpenter.k8s.aws/v1', 'EC2NodeClass', undefined, 'aip-gpu')!.spec.role}
}
const quota = (ns: string) => api.store.get('v1', 'ResourceQuota', ns, 'aip-quota')?.spec.hard['requests.nvidia.com/gpu']
const settings = (stdout: string) => Object.fromEntries(JSON.parse(stdout).result.settings.map((d: {setting: string; tenant?: string}) => [d.tenant ?? d.setting, d]))

beforeAll(async () => {
  api = await startKubeApiServer({nodes: [systemNode()]})
  api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
  api.registerCrd({group: 'karpenter.k8s.aws', version: 'v1', kind: 'EC2NodeClass', namespaced: false, plural: 'ec2nodeclasses'})
})
afterAll(async () => {
  await api.stop()
})

describe('aip cluster bootstrap rerun keeps what an earlier run set', () => {
  const h100 = {limit: '16', types: types('h100'), capacity: ['spot'], role: 'GpuNodes'}

  it('non-default pool and quota; a plain rerun (and one adding a tenant) keeps them', async () => {
    const first = await bootstrap('--gpu', 'h100', '--gpu-limit', '16', '--capacity-type', 'spot', '--karpenter-node-role', 'GpuNodes', '--tenant', 'team-a=4', '--json')
    expect(first.code, first.stderr).toBe(0)
    expect(pool()).toEqual(h100)
    expect(quota('team-a')).toBe('4')

    const plain = await bootstrap('--json')
    expect(plain.code, plain.stderr).toBe(0)
    expect(pool()).toEqual(h100)
    expect(settings(first.stdout)['gpu-limit']).toMatchObject({action: 'set', value: 16})
    const out = JSON.parse(plain.stdout).result
    expect(out.gpuPool.objects.every((o: {action: string}) => o.action === 'unchanged')).toBe(true)
    expect(out.gpuPool.gpuTypes).toEqual(['h100'])
    expect(settings(plain.stdout)).toMatchObject({'gpu': {action: 'kept', value: ['h100']}, 'gpu-limit': {action: 'kept', value: 16}, 'capacity-type': {action: 'kept', value: ['spot']}, 'karpenter-node-role': {action: 'kept', value: 'GpuNodes'}})

    // the text output says what was kept
    const addTenant = await bootstrap('--tenant', 'team-a', '--tenant', 'team-b')
    expect(addTenant.code, addTenant.stderr).toBe(0)
    expect(pool()).toEqual(h100)
    expect(quota('team-a')).toBe('4')
    expect(quota('team-b')).toBe('1')
    expect(addTenant.stdout).toMatch(/gpu-limit\s+16\s+kept \(flag omitted\)/)
    expect(addTenant.stdout).toMatch(/capacity-type\s+spot\s+kept \(flag omitted\)/)
    expect(addTenant.stdout).toMatch(/tenant team-a gpus\s+4\s+kept \(flag omitted\)/)
    expect(addTenant.stdout).toMatch(/tenant team-b gpus\s+1\s+default/)
  })

  it('--dry-run shows the change old -> new and writes nothing; the real run changes only that flag', async () => {
    const plan = await bootstrap('--gpu-limit', '32', '--dry-run')
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(/gpu-limit\s+16 -> 32\s+changed/)
    expect(plan.stdout).toMatch(/NodePool\s+-\s+aip-gpu\s+update/)
    expect(pool()).toEqual(h100)

    const r = await bootstrap('--gpu-limit', '32', '--tenant', 'team-a', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(pool()).toEqual({...h100, limit: '32'})
    expect(quota('team-a')).toBe('4')
    const s = settings(r.stdout)
    expect(s['gpu-limit']).toMatchObject({action: 'changed', previous: 16, value: 32})
    expect(Object.values(s).filter((d: any) => d.action === 'changed')).toHaveLength(1)
  })

  it('passing the defaults explicitly goes back to them', async () => {
    const r = await bootstrap('--gpu', 'l40s', '--gpu-limit', '8', '--capacity-type', 'on-demand', '--tenant', 'team-a=1', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(pool()).toEqual({limit: '8', types: types('l40s'), capacity: ['on-demand'], role: 'GpuNodes'})
    expect(quota('team-a')).toBe('1')
    expect(settings(r.stdout)['capacity-type']).toMatchObject({action: 'changed', previous: ['spot'], value: ['on-demand']})
  })
})
