import {describe, expect, it} from 'vitest'

import {renderPlatform} from '../../../src/lib/bootstrap/platform.js'
import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {renderGateway} from '../../../src/lib/gateway/render.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'
import {NO_CAPABILITIES, renderModel, renderTrack} from '../../../src/lib/render/index.js'

type Peer = {ipBlock?: {cidr: string; except?: string[]}; podSelector?: unknown; namespaceSelector?: unknown}
type Rule = {to?: Peer[]; ports?: Array<{protocol?: string; port?: number}>}

function ipv4(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0)
}
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/') as [string, string]
  const size = 2 ** (32 - Number(bits))
  return Math.floor(ipv4(ip) / size) === Math.floor(ipv4(base) / size)
}

/**
 * Whether a NetworkPolicy's egress rules let a pod send to an address that is not a pod (a node-local
 * resolver): only a rule without `to`, or an ipBlock holding the address, can (pod and namespace
 * selectors select pods only: kubernetes.io/docs/concepts/services-networking/network-policies).
 */
function allowsEgressTo(np: KubeObject, ip: string, port: number, protocol: 'UDP' | 'TCP'): boolean {
  const rules = ((np.spec as {egress?: Rule[]}).egress ?? []) as Rule[]
  return rules.some((r) => {
    const portOk = !r.ports || r.ports.some((p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port))
    const peerOk = !r.to || r.to.length === 0 || r.to.some((p) => p.ipBlock && inCidr(ip, p.ipBlock.cidr) && !(p.ipBlock.except ?? []).some((e) => inCidr(ip, e)))
    return portOk && peerOk
  })
}

const isEgressPolicy = (o: KubeObject) => o.kind === 'NetworkPolicy' && ((o.spec as {policyTypes?: string[]}).policyTypes ?? []).includes('Egress')

/** Every aip NetworkPolicy that isolates egress and allows any DNS (the DB's none-at-all is fine). */
function dnsPolicies(): KubeObject[] {
  const entry = getCatalogEntry('qwen3-8b')
  const opts = {namespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', bucket: 'b', prefix: 'models', region: 'us-east-1', prometheusUrl: 'http://p:9090', capabilities: NO_CAPABILITIES}
  const platform = renderPlatform({cluster: 'prod', modelNamespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', tenants: [{name: 'team-a', gpus: 1}], gpuLimit: 8})
  const all = [
    ...renderModel(entry, opts).objects,
    ...renderTrack(entry, {...opts, track: 'canary'}, 1).objects,
    ...renderGateway({namespace: 'aip-gateway', exposure: {kind: 'loadbalancer', internal: false}}).objects,
    ...platform.base,
  ]
  return all.filter(isEgressPolicy).filter((np) => JSON.stringify((np.spec as {egress?: unknown}).egress ?? []).includes('"port":53'))
}

describe('DNS egress reaches the resolver wherever it runs', () => {
  it('covers the policies of models, canaries, the gateway and the platform namespaces', () => {
    const names = dnsPolicies().map((np) => `${np.metadata.namespace}/${np.metadata.name}`)
    expect(names).toEqual(expect.arrayContaining(['aip-models/qwen3-8b', 'aip-models/qwen3-8b-preload', 'aip-models/qwen3-8b-canary', 'aip-gateway/litellm', 'aip-models/allow-dns-egress', 'team-a/allow-dns-egress']))
  })

  // EKS Auto Mode runs CoreDNS as a service on each node, not as kube-dns pods; NodeLocal DNSCache
  // answers on 169.254.20.10: a rule naming kube-dns pods blocks both once policies are enforced.
  for (const [where, ip] of [
    ['a node-local resolver (EKS Auto Mode, NodeLocal DNSCache)', '169.254.20.10'],
    ['the VPC resolver (hostNetwork CoreDNS, Route 53 Resolver)', '10.0.0.2'],
  ] as const) {
    it(`lets every isolated pod query ${where}`, () => {
      for (const np of dnsPolicies()) {
        for (const proto of ['UDP', 'TCP'] as const) expect(allowsEgressTo(np, ip, 53, proto), `${np.metadata.namespace}/${np.metadata.name} ${proto}`).toBe(true)
      }
    })
  }

  it('only port 53 is opened that way (no other port to any address)', () => {
    for (const np of dnsPolicies()) expect(allowsEgressTo(np, '169.254.20.10', 54, 'UDP')).toBe(false)
  })
})
