/**
 * Scale from zero: the hold derivation (hold.ts) and what it renders (render/wake.ts): the
 * HTTPScaledObject, the ScaledObject's external-push trigger, the model's ingress from the add-on,
 * and the gateway registration through the interceptor (gateway/registry.ts).
 */
import {describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {applyOverrides} from '../../../src/lib/deploy/index.js'
import {weightsBytes} from '../../../src/lib/deploy/fit-gate.js'
import {COLD_START_ESTIMATE, deriveHold, estimateColdStartSeconds, HOLD_MARGIN, MAX_HOLD_SECONDS, recordedColdStart} from '../../../src/lib/deploy/hold.js'
import {desiredFromDeployment, sameRegistration, toLitellm} from '../../../src/lib/gateway/registry.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'
import {type RenderOptions, renderModel} from '../../../src/lib/render/index.js'

const base: RenderOptions = {namespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', bucket: 'b', prefix: 'models', region: 'us-east-1', prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090', capabilities: {keda: true, serviceMonitor: true, prometheusRule: true, httpAddon: true}}
const idle = () => applyOverrides(getCatalogEntry('qwen3-8b'), {idleAfterSeconds: 1800})
const find = (objs: KubeObject[], kind: string) => objs.find((o) => o.kind === kind) as any

describe('hold derivation', () => {
  it('estimates the cold start from gpufit weight bytes: provisioning + pull + load + vLLM start', () => {
    const e = COLD_START_ESTIMATE
    expect(estimateColdStartSeconds(undefined)).toBe(e.nodeProvisioningSeconds + e.imagePullSeconds + e.vllmStartupSeconds)
    expect(estimateColdStartSeconds(16e9)).toBe(Math.ceil(e.nodeProvisioningSeconds + e.imagePullSeconds + 16e9 / e.weightsBytesPerSecond + e.vllmStartupSeconds))
    // one owner of model size: gpufit (qwen3-8b is ~16 GB of bf16 weights)
    const w = weightsBytes(getCatalogEntry('qwen3-8b'))!
    expect(w).toBeGreaterThan(15e9)
    expect(w).toBeLessThan(18e9)
    expect(estimateColdStartSeconds(2 * w)).toBeGreaterThan(estimateColdStartSeconds(w))
  })

  it('hold = max(estimate, measured x margin); capped below the gateway timeout; a flag wins and is named when short', () => {
    const est = estimateColdStartSeconds(16e9)
    expect(deriveHold({weightsBytes: 16e9})).toMatchObject({holdSeconds: est, source: 'estimate', expectedColdStartSeconds: est})
    // a measured start shorter than the estimate: the estimate stands (max)
    expect(deriveHold({weightsBytes: 16e9, measuredSeconds: 100}).holdSeconds).toBe(est)
    // a slow measured start raises the hold to measured x margin
    const slow = deriveHold({weightsBytes: 16e9, measuredSeconds: 350})
    expect(slow).toMatchObject({holdSeconds: Math.ceil(350 * HOLD_MARGIN), source: 'measured', measuredSeconds: 350})
    const huge = deriveHold({weightsBytes: 16e9, measuredSeconds: 900})
    expect(huge.holdSeconds).toBe(MAX_HOLD_SECONDS)
    expect(huge.note).toMatch(/capped/)
    const flag = deriveHold({weightsBytes: 16e9, measuredSeconds: 20, flagSeconds: 5})
    expect(flag).toMatchObject({holdSeconds: 5, source: 'flag'})
    expect(flag.note).toMatch(/--hold-timeout 5s is shorter than the expected cold start/)
    // Retry-After: the rest of the expected start, within [5, 120] s
    expect(flag.retryAfterSeconds).toBe(120)
    expect(deriveHold({measuredSeconds: 20, flagSeconds: 5, weightsBytes: 0}).retryAfterSeconds).toBeGreaterThanOrEqual(5)
    expect(deriveHold({weightsBytes: 16e9}).retryAfterSeconds).toBe(30)
  })

  it('reads the recorded cold start off a Deployment annotation, ignoring junk', () => {
    const dep = (v?: string): KubeObject => ({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'x', ...(v === undefined ? {} : {annotations: {'aip.dev/last-cold-start-seconds': v}})}})
    expect(recordedColdStart(dep('42'))).toBe(42)
    expect(recordedColdStart(dep('abc'))).toBeUndefined()
    expect(recordedColdStart(dep('0'))).toBeUndefined()
    expect(recordedColdStart(dep())).toBeUndefined()
  })
})

describe('the wake path as rendered', () => {
  it('HTTPScaledObject (skip its own ScaledObject), external-push trigger on aip\'s ScaledObject, ingress from the add-on, Deployment annotations', () => {
    const objs = renderModel(idle(), {...base, wake: {holdSeconds: 420, retryAfterSeconds: 30}}).objects
    const kinds = objs.map((o) => o.kind)
    expect(kinds.indexOf('HTTPScaledObject')).toBeLessThan(kinds.indexOf('ScaledObject'))
    const hso = find(objs, 'HTTPScaledObject')
    expect(hso.metadata).toMatchObject({name: 'qwen3-8b-wake', annotations: {'httpscaledobject.keda.sh/skip-scaledobject-creation': 'true'}})
    expect(hso.spec).toEqual({
      hosts: ['qwen3-8b.aip-models.svc'],
      scaleTargetRef: {apiVersion: 'apps/v1', kind: 'Deployment', name: 'qwen3-8b', service: 'qwen3-8b', port: 8000},
      replicas: {min: 0, max: idle().scaling.maxReplicas},
      scaledownPeriod: 1800,
      scalingMetric: {concurrency: {targetValue: 1000}},
      timeouts: {conditionWait: '420s', responseHeader: '600s'},
    })
    const so = find(objs, 'ScaledObject')
    expect(so.spec.triggers.at(-1)).toEqual({type: 'external-push', name: 'wake-on-request', metadata: {scalerAddress: 'keda-add-ons-http-external-scaler.keda:9090', httpScaledObject: 'qwen3-8b-wake'}})
    const np = objs.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'qwen3-8b') as any
    expect(np.spec.ingress).toContainEqual({from: [{namespaceSelector: {matchLabels: {'kubernetes.io/metadata.name': 'keda'}}}], ports: [{protocol: 'TCP', port: 8000}]})
    const dep = find(objs, 'Deployment')
    expect(dep.metadata.annotations).toMatchObject({'aip.dev/wake-host': 'qwen3-8b.aip-models.svc', 'aip.dev/wake-via': 'http://keda-add-ons-http-interceptor-proxy.keda.svc:8080', 'aip.dev/wake-hold-seconds': '420', 'aip.dev/wake-retry-after-seconds': '30'})
    // the gateway registration goes through the interceptor with the Host the route matches
    const reg = toLitellm(desiredFromDeployment({...dep, metadata: {...dep.metadata, namespace: 'aip-models'}}))
    expect(reg.litellm_params).toEqual({model: 'hosted_vllm/qwen3-8b', api_base: 'http://keda-add-ons-http-interceptor-proxy.keda.svc:8080/v1', extra_headers: {Host: 'qwen3-8b.aip-models.svc'}})
    expect(reg.model_info).toMatchObject({aip_wake: true, aip_retry_after_seconds: 30, aip_hold_seconds: 420})
    const direct = toLitellm({...desiredFromDeployment({...dep, metadata: {...dep.metadata, namespace: 'aip-models', annotations: {}}})})
    expect(direct.litellm_params).toEqual({model: 'hosted_vllm/qwen3-8b', api_base: 'http://qwen3-8b.aip-models.svc:8000/v1'})
    expect(sameRegistration(reg, direct)).toBe(false)
  })

  it('no wake path: a floor above zero, no HTTP add-on (named in skipped), or no KEDA', () => {
    const floor = renderModel(getCatalogEntry('qwen3-8b'), {...base, wake: {holdSeconds: 60, retryAfterSeconds: 30}})
    expect(floor.objects.some((o) => o.kind === 'HTTPScaledObject')).toBe(false)
    expect(JSON.stringify(find(floor.objects, 'ScaledObject').spec.triggers)).not.toContain('external-push')
    const noAddon = renderModel(idle(), {...base, capabilities: {...base.capabilities, httpAddon: false}})
    expect(noAddon.objects.some((o) => o.kind === 'HTTPScaledObject')).toBe(false)
    expect(noAddon.skipped.find((s) => s.kind === 'HTTPScaledObject')?.reason).toMatch(/does not wake/)
    expect(find(noAddon.objects, 'Deployment').metadata.annotations['aip.dev/wake-host']).toBeUndefined()
    const noKeda = renderModel(idle(), {...base, capabilities: {...base.capabilities, keda: false}, wake: {holdSeconds: 60, retryAfterSeconds: 30}})
    expect(noKeda.objects.some((o) => o.kind === 'HTTPScaledObject')).toBe(false)
  })
})
