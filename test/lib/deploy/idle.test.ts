/**
 * Idle shutdown: `deploy --idle-after` on the catalog entry and the KEDA ScaledObject, and what
 * `model status` reads back (idle since, last cold start).
 */
import {describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {applyOverrides, scalingStatus} from '../../../src/lib/deploy/index.js'
import {UsageError} from '../../../src/lib/errors.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'
import {type RenderOptions, renderModel} from '../../../src/lib/render/index.js'

const opts: RenderOptions = {namespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', bucket: 'b', prefix: 'models', region: 'us-east-1', prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090', capabilities: {keda: true, serviceMonitor: true, prometheusRule: true}}
const so = (e = getCatalogEntry('qwen3-8b'), o = opts) => renderModel(e, o).objects.find((x) => x.kind === 'ScaledObject') as any

describe('--idle-after', () => {
  it('sets minReplicas 0 and idleAfterSeconds; refuses a floor above 0 and under 60 s', () => {
    const e = applyOverrides(getCatalogEntry('qwen3-8b'), {idleAfterSeconds: 1800})
    expect(e.scaling).toMatchObject({minReplicas: 0, idleAfterSeconds: 1800})
    expect(() => applyOverrides(getCatalogEntry('qwen3-8b'), {idleAfterSeconds: 1800, minReplicas: 1})).toThrow(UsageError)
    expect(() => applyOverrides(getCatalogEntry('qwen3-8b'), {idleAfterSeconds: 30})).toThrow(/at least 60 s/)
  })

  it('maps onto the ScaledObject: cooldownPeriod, an activation-only activity trigger, the annotation', () => {
    const plain = so()
    expect(plain.spec.triggers.map((t: any) => t.name)).toEqual(['running-ratio', 'kv-cache-usage'])
    expect(plain.metadata.annotations).toBeUndefined()
    const idle = so(applyOverrides(getCatalogEntry('qwen3-8b'), {idleAfterSeconds: 1800}))
    expect(idle.spec).toMatchObject({minReplicaCount: 0, cooldownPeriod: 1800})
    const activity = idle.spec.triggers.find((t: any) => t.name === 'activity')
    expect(activity.metadata).toMatchObject({activationThreshold: '0', ignoreNullValues: 'true', threshold: '1000000'})
    expect(activity.metadata.query).toContain('rate(vllm:request_success_total{namespace="aip-models",model_name="qwen3-8b"}[2m])) or vector(0)')
    expect(idle.metadata.annotations).toEqual({'aip.dev/idle-after-seconds': '1800'})
    // without KEDA: an HPA, and the skip reason says --idle-after has no effect
    const r = renderModel(applyOverrides(getCatalogEntry('qwen3-8b'), {idleAfterSeconds: 1800}), {...opts, capabilities: {keda: false, serviceMonitor: true, prometheusRule: true}})
    expect(r.skipped.find((s) => s.kind === 'ScaledObject')?.reason).toMatch(/--idle-after has no effect/)
  })
})

describe('scalingStatus', () => {
  const pod = (name: string, created: string, ready?: string): KubeObject => ({apiVersion: 'v1', kind: 'Pod', metadata: {name, creationTimestamp: created}, status: {conditions: ready ? [{type: 'Ready', status: 'True', lastTransitionTime: ready}] : []}})
  it('idle since from KEDA lastActiveTime while inactive; last cold start of the newest ready pod', () => {
    const obj: KubeObject = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: {name: 'm', annotations: {'aip.dev/idle-after-seconds': '1800'}},
      spec: {minReplicaCount: 0, maxReplicaCount: 3},
      status: {lastActiveTime: '2026-01-01T10:00:00Z', conditions: [{type: 'Ready', status: 'True'}, {type: 'Active', status: 'False'}]},
    }
    const s = scalingStatus([obj], [pod('old', '2026-01-01T08:00:00Z', '2026-01-01T08:02:00Z'), pod('new', '2026-01-01T09:00:00Z', '2026-01-01T09:04:30Z'), pod('loading', '2026-01-01T09:30:00Z')])
    expect(s).toEqual({autoscaler: 'ScaledObject', min: 0, max: 3, idleAfterSeconds: 1800, active: false, idleSince: '2026-01-01T10:00:00Z', lastColdStart: {pod: 'new', createdAt: '2026-01-01T09:00:00Z', readyAt: '2026-01-01T09:04:30Z', seconds: 270}})
    // active: no "idle since"
    const active = scalingStatus([{...obj, status: {lastActiveTime: '2026-01-01T10:00:00Z', conditions: [{type: 'Active', status: 'True'}]}}], [])
    expect(active.idleSince).toBeUndefined()
    expect(active.lastColdStart).toBeUndefined()
  })
})
