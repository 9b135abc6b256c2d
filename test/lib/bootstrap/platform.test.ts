import {describe, expect, it} from 'vitest'

import {parseTenant, renderPlatform, type PlatformOptions} from '../../../src/lib/bootstrap/platform.js'
import {UsageError} from '../../../src/lib/errors.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'

const base: PlatformOptions = {
  cluster: 'prod-a',
  modelNamespace: 'llm',
  gatewayNamespace: 'edge',
  monitoringNamespace: 'obs',
  tenants: [
    {name: 'team-a', gpus: 4},
    {name: 'team-b', gpus: 0},
  ],
  gpuLimit: 16,
}

const find = (objs: KubeObject[], kind: string, name: string, ns?: string) =>
  objs.find((o) => o.kind === kind && o.metadata.name === name && (ns === undefined || o.metadata.namespace === ns))

describe('platform templates', () => {
  it('renders the model namespace with restricted Pod Security and namespaced policies', () => {
    const {base: objs} = renderPlatform(base)
    const ns = find(objs, 'Namespace', 'llm')!
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/warn': 'restricted',
      'app.kubernetes.io/managed-by': 'aip',
    })
    const deny = find(objs, 'NetworkPolicy', 'default-deny', 'llm')!
    expect(deny.spec).toEqual({podSelector: {}, policyTypes: ['Ingress', 'Egress']})
    const dns = find(objs, 'NetworkPolicy', 'allow-dns-egress', 'llm')!
    expect(JSON.stringify(dns.spec)).toContain('"port":53')
    const ingress = find(objs, 'NetworkPolicy', 'allow-gateway-and-monitoring', 'llm')!
    const text = JSON.stringify(ingress.spec)
    expect(text).toContain('"edge"')
    expect(text).toContain('"obs"')
    expect(text).not.toContain('aip-gateway')
    // every object is labelled as aip-managed, and namespaced objects sit in their namespace
    for (const o of objs) {
      expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('aip')
      if (o.kind !== 'Namespace') expect(o.metadata.namespace).toBeTruthy()
    }
  })

  it('renders one set per tenant with the GPU quota, LimitRange, RBAC and default-deny + DNS', () => {
    const {base: objs} = renderPlatform(base)
    const qa = find(objs, 'ResourceQuota', 'aip-quota', 'team-a')!
    expect((qa.spec as {hard: Record<string, string>}).hard['requests.nvidia.com/gpu']).toBe('4')
    const qb = find(objs, 'ResourceQuota', 'aip-quota', 'team-b')!
    expect((qb.spec as {hard: Record<string, string>}).hard['requests.nvidia.com/gpu']).toBe('0')
    expect(find(objs, 'LimitRange', 'aip-defaults', 'team-a')).toBeDefined()
    expect(find(objs, 'Role', 'aip-tenant-edit', 'team-b')).toBeDefined()
    const rb = find(objs, 'RoleBinding', 'aip-tenant-edit', 'team-b')!
    expect(rb.subjects).toEqual([{apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'aip:tenant:team-b'}])
    expect(find(objs, 'NetworkPolicy', 'default-deny', 'team-a')).toBeDefined()
    expect(find(objs, 'NetworkPolicy', 'allow-dns-egress', 'team-b')).toBeDefined()
    expect(find(objs, 'Namespace', 'team-a')!.metadata.labels?.['aip.dev/tenant']).toBe('team-a')
    // the two tenants' objects are independent copies
    expect(qa).not.toBe(qb)
  })

  it('renders a Karpenter v1 NodePool with the GPU cap and taint, and its EC2NodeClass', () => {
    const {karpenter} = renderPlatform({...base, capacityTypes: ['spot', 'on-demand'], karpenterNodeRole: 'MyNodeRole'})
    const pool = find(karpenter, 'NodePool', 'aip-gpu')!
    expect(pool.apiVersion).toBe('karpenter.sh/v1')
    const spec = pool.spec as {limits: Record<string, string>; template: {spec: {taints: unknown[]; requirements: Array<{key: string; values: string[]}>}}}
    expect(spec.limits['nvidia.com/gpu']).toBe('16')
    expect(spec.template.spec.taints).toContainEqual({key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule'})
    expect(spec.template.spec.requirements.find((r) => r.key === 'karpenter.sh/capacity-type')!.values).toEqual(['spot', 'on-demand'])
    const nc = find(karpenter, 'EC2NodeClass', 'aip-gpu')!
    expect(nc.apiVersion).toBe('karpenter.k8s.aws/v1')
    expect(JSON.stringify(nc.spec)).toContain('"karpenter.sh/discovery":"prod-a"')
    expect((nc.spec as {role: string}).role).toBe('MyNodeRole')
    expect((renderPlatform(base).karpenter.find((o) => o.kind === 'EC2NodeClass')!.spec as {role: string}).role).toBe('KarpenterNodeRole-prod-a')
  })

  it('parses tenants and rejects bad ones', () => {
    expect(parseTenant('team-a=4', 1)).toEqual({name: 'team-a', gpus: 4})
    expect(parseTenant('team-b', 2)).toEqual({name: 'team-b', gpus: 2})
    expect(() => parseTenant('Team_A', 1)).toThrow(UsageError)
    expect(() => parseTenant('team-a=two', 1)).toThrow(/GPU quota/)
    expect(() => parseTenant('kube-system', 1)).toThrow(/reserved/)
    expect(() => renderPlatform({...base, tenants: [{name: 'x', gpus: 1}, {name: 'x', gpus: 2}]})).toThrow(/twice/)
    expect(() => renderPlatform({...base, tenants: [{name: 'llm', gpus: 1}]})).toThrow(/model namespace/)
  })
})
