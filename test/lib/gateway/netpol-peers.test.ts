import {describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {type GatewayRenderOptions, renderGateway} from '../../../src/lib/gateway/render.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'
import {NO_CAPABILITIES, type RenderOptions, renderModel, renderTrack} from '../../../src/lib/render/index.js'

/**
 * A NetworkPolicy peer's podSelector as a CNI evaluates it (k8s.io/apimachinery LabelSelectorAsSelector:
 * matchLabels AND every matchExpressions requirement).
 */
function selects(selector: {matchLabels?: Record<string, string>; matchExpressions?: Array<{key: string; operator: string; values?: string[]}>}, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false
  for (const e of selector.matchExpressions ?? []) {
    const has = e.key in labels
    if (e.operator === 'In' && !(has && e.values!.includes(labels[e.key]))) return false
    if (e.operator === 'NotIn' && has && e.values!.includes(labels[e.key])) return false
    if (e.operator === 'Exists' && !has) return false
    if (e.operator === 'DoesNotExist' && has) return false
  }
  return true
}

const gw: GatewayRenderOptions = {namespace: 'aip-gateway', exposure: {kind: 'loadbalancer', internal: false}}
const model: RenderOptions = {namespace: 'team-a', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', bucket: 'b', prefix: 'models', region: 'us-east-1', prometheusUrl: 'http://p:9090', capabilities: NO_CAPABILITIES}

function egressPort8000Selectors(): Array<Record<string, any>> {
  const np = renderGateway(gw).objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'litellm') as KubeObject
  const egress = (np.spec as any).egress as Array<{to?: Array<Record<string, any>>; ports?: Array<{port: number}>}>
  return egress.filter((e) => e.ports?.some((p) => p.port === 8000)).flatMap((e) => e.to ?? [])
}

function podLabels(d: KubeObject): Record<string, string> {
  return (d.spec as any).template.metadata.labels
}

describe('gateway egress reaches every serving track (a real CNI enforces the policy; the loopback server does not)', () => {
  const entry = getCatalogEntry('qwen3-8b')

  it('the stable server pods of a model in any namespace', () => {
    const d = renderModel(entry, model).objects.find((o) => o.kind === 'Deployment')!
    expect(egressPort8000Selectors().some((peer) => selects(peer.podSelector ?? {}, podLabels(d)))).toBe(true)
  })

  it('the canary pods of `aip model rollout` (component server-canary), which the gateway routes a share of traffic to', () => {
    const canary = renderTrack(entry, {...model, track: 'canary'}, 1).deployment
    expect(podLabels(canary)['app.kubernetes.io/component']).toBe('server-canary')
    expect(egressPort8000Selectors().some((peer) => selects(peer.podSelector ?? {}, podLabels(canary)))).toBe(true)
  })

  it('never the preload Job pods (no port 8000 there, nothing to call)', () => {
    const job = renderModel(entry, model).objects.find((o) => o.kind === 'Job')!
    expect(egressPort8000Selectors().some((peer) => selects(peer.podSelector ?? {}, podLabels(job)))).toBe(false)
  })
})

describe('LiteLLM starts without the internet its NetworkPolicy denies', () => {
  it('no egress to HTTPS outside the cluster, so the model cost map is the bundled one (LITELLM_LOCAL_MODEL_COST_MAP)', () => {
    const objs = renderGateway(gw).objects
    const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'litellm') as KubeObject
    const egress = (np.spec as any).egress as Array<{to?: Array<Record<string, any>>; ports?: Array<{port: number}>}>
    expect(egress.some((e) => e.ports?.some((p) => p.port === 443) && (!e.to || e.to.some((t) => t.ipBlock)))).toBe(false)
    // litellm/litellm_core_utils/get_model_cost_map.py: otherwise every process start waits 5 s on GitHub
    const env = (objs.find((o) => o.kind === 'Deployment')!.spec as any).template.spec.containers[0].env as Array<{name: string; value?: string}>
    expect(env).toContainEqual({name: 'LITELLM_LOCAL_MODEL_COST_MAP', value: 'True'})
  })
})
