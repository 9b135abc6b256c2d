import {describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {applyOverrides} from '../../../src/lib/deploy/resolve.js'
import {AipError} from '../../../src/lib/errors.js'
import {desiredFromDeployment, GATEWAY_WEIGHT_ANNOTATION, conflictFor, parseModelId, sameRegistration, toLitellm} from '../../../src/lib/gateway/registry.js'
import {entryChanges, liveOverrides, stableEntry} from '../../../src/lib/rollout/base.js'
import {trackQueries, trackSelector} from '../../../src/lib/rollout/gate.js'
import {describeBreaches, describeSteps, fingerprint, judge, parseErrorRate, parseSteps, type TrackMetrics} from '../../../src/lib/rollout/plan.js'
import {explain, type RolloutState} from '../../../src/lib/rollout/index.js'
import {NO_CAPABILITIES, prometheusUrlFromService, type RenderOptions, renderModel, renderTrack, serverSelector} from '../../../src/lib/render/index.js'

const ok = (o: Partial<TrackMetrics> = {}): TrackMetrics => ({requestsPerSecond: 4, errorRate: 0, ttftP95: 0.4, itlP95: 0.04, state: 'ok', ...o})
const usage = (f: () => unknown): AipError => {
  try {
    f()
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected an error')
}
const opts: RenderOptions = {namespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', bucket: 'w', prefix: 'models', prometheusUrl: prometheusUrlFromService(undefined), capabilities: NO_CAPABILITIES}

describe('rollout plan', () => {
  it('steps: rising whole percentages ending at 100; anything else is a usage error naming the rule', () => {
    expect(parseSteps('10,50,100')).toEqual([10, 50, 100])
    expect(parseSteps(' 25 , 100 ')).toEqual([25, 100])
    expect(parseSteps('100')).toEqual([100])
    expect(usage(() => parseSteps('10,50')).message).toMatch(/the last step must be 100/)
    expect(usage(() => parseSteps('50,10,100')).message).toMatch(/steps must rise \(50 then 10\)/)
    expect(usage(() => parseSteps('0,100')).code).toBe('USAGE')
    expect(usage(() => parseSteps('10.5,100')).code).toBe('USAGE')
    expect(usage(() => parseSteps('')).code).toBe('USAGE')
    expect(describeSteps([10, 50, 100])).toBe('0 -> 10 -> 50 -> 100 -> promote')
  })

  it('error rate: a fraction or a percentage', () => {
    expect(parseErrorRate('0.02')).toBe(0.02)
    expect(parseErrorRate('2%')).toBeCloseTo(0.02, 12)
    expect(usage(() => parseErrorRate('2')).code).toBe('USAGE')
    expect(usage(() => parseErrorRate('abc')).code).toBe('USAGE')
  })

  it('judge: each limit breached is named with its value; no data is its own verdict, never a pass', () => {
    const limits = {maxErrorRate: 0.02, maxTtftP95: 2, maxItlP95: 0.1}
    expect(judge(ok(), limits)).toEqual({verdict: 'pass', breaches: []})
    expect(judge(ok({errorRate: 0.02}), limits).verdict).toBe('pass') // at the limit is within it
    const b = judge(ok({errorRate: 0.1, ttftP95: 3.2, itlP95: 0.05}), limits)
    expect(b.verdict).toBe('breach')
    expect(b.breaches).toEqual([
      {metric: 'errorRate', value: 0.1, limit: 0.02},
      {metric: 'ttftP95', value: 3.2, limit: 2},
    ])
    expect(describeBreaches(b.breaches)).toBe('error rate 10.0% > 2.0%; TTFT p95 3.20s > 2.00s')
    expect(judge({requestsPerSecond: null, errorRate: null, ttftP95: null, itlP95: null, state: 'no-data'}, limits)).toEqual({verdict: 'no-data', breaches: []})
    // latency limits not given are not judged
    expect(judge(ok({ttftP95: 30}), {maxErrorRate: 0.02}).verdict).toBe('pass')
  })

  it('fingerprint: the same flags in any order are the same rollout; another flag, step or limit is another', () => {
    const base = {overrides: {revision: 'a', image: 'x'}, steps: [10, 50, 100], intervalMs: 300_000, limits: {maxErrorRate: 0.02}, surge: true}
    expect(fingerprint(base)).toBe(fingerprint({...base, overrides: {image: 'x', revision: 'a', gpu: undefined}}))
    expect(fingerprint(base)).not.toBe(fingerprint({...base, overrides: {revision: 'b', image: 'x'}}))
    expect(fingerprint(base)).not.toBe(fingerprint({...base, steps: [50, 100]}))
    expect(fingerprint(base)).not.toBe(fingerprint({...base, limits: {maxErrorRate: 0.05}}))
    expect(fingerprint(base)).not.toBe(fingerprint({...base, surge: false}))
  })
})

describe('rollout gate queries', () => {
  it('one track is exactly one Deployment\'s pods: the stable\'s regex never matches the canary\'s pods (PromQL regexes are anchored)', () => {
    const stable = trackSelector({namespace: 'aip-models', servedName: 'qwen3-8b', deployment: 'qwen3-8b'})
    expect(stable).toBe('namespace="aip-models",model_name="qwen3-8b",pod=~"qwen3-8b-[a-z0-9]+-[a-z0-9]+"')
    const re = (dep: string) => new RegExp(`^(?:${dep}-[a-z0-9]+-[a-z0-9]+)$`)
    expect(re('qwen3-8b').test('qwen3-8b-7d9f6b5c4-x2k8p')).toBe(true)
    expect(re('qwen3-8b').test('qwen3-8b-canary-5c7d8f9b6-q4m2n')).toBe(false)
    expect(re('qwen3-8b-canary').test('qwen3-8b-canary-5c7d8f9b6-q4m2n')).toBe(true)
    expect(re('qwen3-8b-canary').test('qwen3-8b-7d9f6b5c4-x2k8p')).toBe(false)
    const q = trackQueries({namespace: 'aip-models', servedName: 'qwen3-8b', deployment: 'qwen3-8b-canary'}, 300_000)
    expect(q.finished).toBe('sum by (finished_reason) (rate(vllm:request_success_total{namespace="aip-models",model_name="qwen3-8b",pod=~"qwen3-8b-canary-[a-z0-9]+-[a-z0-9]+"}[5m]))')
    expect(q.itlP95).toMatch(/vllm:inter_token_latency_seconds_bucket.* or .*vllm:time_per_output_token_seconds_bucket/)
  })
})

describe('rollout tracks (render and gateway)', () => {
  const entry = getCatalogEntry('qwen3-8b')

  it('the canary is the same render with its own names, and its pods fall outside every stable selector', () => {
    const stable = renderModel(entry, opts)
    const canary = renderTrack(applyOverrides(entry, {revision: 'a'.repeat(40)}), {...opts, track: 'canary'}, 2)
    expect(canary.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['NetworkPolicy/qwen3-8b-canary', 'NetworkPolicy/qwen3-8b-preload', `Job/${canary.preloadJob.metadata.name}`, 'Service/qwen3-8b-canary', 'Deployment/qwen3-8b-canary', 'PodDisruptionBudget/qwen3-8b-canary'])
    expect(canary.preloadJob.metadata.name).not.toBe(stable.preloadJob.metadata.name) // another revision, another Job
    const podLabels = (canary.deployment.spec as {template: {metadata: {labels: Record<string, string>}}}).template.metadata.labels
    const matches = (sel: Record<string, string>) => Object.entries(sel).every(([k, v]) => podLabels[k] === v)
    expect(matches(serverSelector(entry))).toBe(false) // the stable Deployment, Service and PDB select by this
    expect(matches(serverSelector(entry, {track: 'canary'}))).toBe(true)
    expect(podLabels['aip.dev/track']).toBe('canary')
    expect(canary.deployment.metadata.labels).toMatchObject({'app.kubernetes.io/component': 'server', 'aip.dev/model': 'qwen3-8b', 'aip.dev/track': 'canary'})
    expect((canary.deployment.spec as {replicas: number}).replicas).toBe(2)
    // the stable's render is what it was (no replicas: the autoscaler owns them)
    expect((stable.deployment.spec as {replicas?: number}).replicas).toBeUndefined()
    expect(stable.deployment.metadata.labels?.['aip.dev/track']).toBeUndefined()
  })

  it('gateway: the canary registers as aip:ns:name@canary with a weight; both tracks share the public name without a conflict', () => {
    const canary = renderTrack(entry, {...opts, track: 'canary'}, 1).deployment
    canary.metadata.namespace = 'aip-models'
    canary.metadata.annotations = {...canary.metadata.annotations, [GATEWAY_WEIGHT_ANNOTATION]: '10'}
    const d = desiredFromDeployment(canary)
    expect(d).toMatchObject({id: 'aip:aip-models:qwen3-8b@canary', name: 'qwen3-8b', servedName: 'qwen3-8b', apiBase: 'http://qwen3-8b-canary.aip-models.svc:8000/v1', track: 'canary'})
    expect(parseModelId(d.id)).toEqual({namespace: 'aip-models', name: 'qwen3-8b', track: 'canary'})
    const stableReg = toLitellm({id: 'aip:aip-models:qwen3-8b', namespace: 'aip-models', name: 'qwen3-8b', servedName: 'qwen3-8b', apiBase: 'http://qwen3-8b.aip-models.svc:8000/v1', weight: 90})
    expect(stableReg.litellm_params.weight).toBe(90)
    expect(conflictFor(d, [stableReg])).toBeUndefined()
    const other = toLitellm({id: 'aip:team-b:qwen3-8b', namespace: 'team-b', name: 'qwen3-8b', servedName: 'qwen3-8b', apiBase: 'x'})
    expect(conflictFor(d, [other])?.model_info.id).toBe('aip:team-b:qwen3-8b')
    // a weight change is a change; no wanted weight compares as before
    expect(sameRegistration(stableReg, {...stableReg, litellm_params: {...stableReg.litellm_params, weight: 50}})).toBe(false)
    expect(sameRegistration(stableReg, {...stableReg, litellm_params: {model: stableReg.litellm_params.model, api_base: stableReg.litellm_params.api_base}})).toBe(true)
  })

  it('the stable entry from the live Deployment: catalog entry + what the Deployment runs; changes are named', () => {
    const live = renderModel(applyOverrides(entry, {revision: 'b'.repeat(40), maxModelLen: 8192}), opts).deployment
    live.metadata.namespace = 'aip-models'
    expect(liveOverrides(live)).toMatchObject({revision: 'b'.repeat(40), maxModelLen: 8192, gpus: entry.gpu.count, servedName: 'qwen3-8b', image: entry.image})
    const base = stableEntry(live, {})
    expect(base.source).toBe('catalog+live')
    expect(base.entry.vllm.maxModelLen).toBe(8192)
    const cand = applyOverrides(base.entry, {revision: 'c'.repeat(40)})
    expect(entryChanges(base.entry, cand)).toEqual(['hf revision: bbbbbbbbbbbb -> cccccccccccc'])
    expect(entryChanges(base.entry, base.entry)).toEqual([])
  })

  it('status explains each phase with what to do', () => {
    const s = {model: 'qwen3-8b', mode: 'canary', phase: 'shifting', weight: 10, stepIndex: 0, steps: [10, 50, 100], intervalMs: 4000, candidate: {servedName: 'qwen3-8b', deployment: 'qwen3-8b-canary', changes: []}, stable: {deployment: 'qwen3-8b'}, gates: []} as unknown as RolloutState
    expect(explain(s)).toMatch(/^the candidate serves 10% of "qwen3-8b" \(step 1 of 3\).*rerun it with the same flags to resume/)
    expect(explain({...s, phase: 'aborted', reason: 'the candidate breached its limits at 50%: error rate 10.0% > 2.0%', gates: [{weight: 50}]} as unknown as RolloutState)).toBe(
      'aborted at 50%: the candidate breached its limits at 50%: error rate 10.0% > 2.0%; all traffic is on the stable and the candidate is at 0 replicas',
    )
  })
})
