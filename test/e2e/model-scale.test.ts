/**
 * `aip model scale` (built CLI) against the loopback API server: the bounds of a deployed model's
 * KEDA ScaledObject change by server-side apply (field manager aip) and its triggers stay; with no
 * autoscaler the Deployment's /scale subresource is used; bad input exits 2, an unknown model 4.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {putModelNamespace} from '../support/model-namespace.js'

const NS = 'aip-models'
const MODEL = 'qwen2.5-coder-1.5b'
const OBJ = 'qwen2-5-coder-1-5b'
let api: KubeApiServer
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 50}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6.xlarge': 2}, {systemRootVolumeGiB: 100})})
  putModelNamespace(api, NS) // what cluster bootstrap leaves: the namespace and its ServiceAccounts
  api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
  env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
  const r = await runCli(['model', 'deploy', MODEL, '--json'], {env})
  expect(r.code, r.stderr).toBe(0)
})
afterAll(async () => {
  await api?.stop()
})

const scaledObject = () => api.store.get('keda.sh/v1alpha1', 'ScaledObject', NS, OBJ) as any

describe('aip model scale', () => {
  it('--min/--max change the ScaledObject bounds by server-side apply; triggers and the rest of the spec stay', async () => {
    const before = scaledObject()
    const triggers = JSON.stringify(before.spec.triggers)
    const r = await runCli(['model', 'scale', MODEL, '--min', '0', '--max', '3', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.result).toMatchObject({target: {kind: 'ScaledObject', name: OBJ}, after: {min: 0, max: 3}, action: 'configured'})
    const after = scaledObject()
    expect(after.spec.minReplicaCount).toBe(0)
    expect(after.spec.maxReplicaCount).toBe(3)
    expect(JSON.stringify(after.spec.triggers)).toBe(triggers)
    expect(after.spec.cooldownPeriod).toBe(before.spec.cooldownPeriod)
    expect(after.metadata.managedFields.some((f: any) => f.manager === 'aip' && f.operation === 'Apply')).toBe(true)
    const again = await runCli(['model', 'scale', MODEL, '--max', '3'], {env})
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain(`ScaledObject/${OBJ} in ${NS}: min 0 max 3 -> min 0 max 3 (unchanged)`)
  })

  it('--replicas N pins min = max = N; --replicas 0 pauses KEDA at zero; --min/--max lift the pause', async () => {
    expect((await runCli(['model', 'scale', MODEL, '--replicas', '2'], {env})).code).toBe(0)
    expect(scaledObject().spec).toMatchObject({minReplicaCount: 2, maxReplicaCount: 2})
    const zero = await runCli(['model', 'scale', MODEL, '--replicas', '0'], {env})
    expect(zero.code, zero.stderr).toBe(0)
    expect(scaledObject().metadata.annotations['autoscaling.keda.sh/paused-replicas']).toBe('0')
    expect(zero.stdout).toContain('(paused at 0)')
    expect((await runCli(['model', 'scale', MODEL, '--min', '1', '--max', '2'], {env})).code).toBe(0)
    expect(scaledObject().metadata.annotations?.['autoscaling.keda.sh/paused-replicas']).toBeUndefined()
    expect(scaledObject().spec).toMatchObject({minReplicaCount: 1, maxReplicaCount: 2})
  })

  it('--dry-run changes nothing', async () => {
    const r = await runCli(['model', 'scale', MODEL, '--max', '9', '--dry-run'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('server dry run')
    expect(scaledObject().spec.maxReplicaCount).toBe(2)
  })

  it('bad input exits 2 naming the problem; an unknown model exits 4 with a suggestion', async () => {
    const none = await runCli(['model', 'scale', MODEL], {env})
    expect(none.code).toBe(2)
    expect(none.stderr).toMatch(/nothing to change/)
    const inverted = await runCli(['model', 'scale', MODEL, '--min', '5', '--max', '2'], {env})
    expect(inverted.code).toBe(2)
    expect(inverted.stderr).toMatch(/--min 5 is greater than --max 2/)
    const overCurrent = await runCli(['model', 'scale', MODEL, '--min', '4'], {env})
    expect(overCurrent.code).toBe(2)
    expect(overCurrent.stderr).toMatch(/would exceed the current max 2/)
    expect((await runCli(['model', 'scale', MODEL, '--replicas', '1', '--max', '2'], {env})).code).toBe(2)
    const unknown = await runCli(['model', 'scale', 'qwen2.5-coder-1.5', '--replicas', '1'], {env})
    expect(unknown.code).toBe(4)
    expect(unknown.stderr).toContain('did you mean')
  })

  it('without an autoscaler: --replicas sets the Deployment replicas through /scale; --min/--max are refused', async () => {
    api.store.removeFinalizer('keda.sh/v1alpha1', 'ScaledObject', NS, OBJ)
    api.store.remove('keda.sh/v1alpha1', 'ScaledObject', NS, OBJ)
    expect(scaledObject()).toBeUndefined()
    const r = await runCli(['model', 'scale', MODEL, '--replicas', '2', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).result).toMatchObject({target: {kind: 'Deployment', name: OBJ}, after: {replicas: 2}})
    expect((api.store.get('apps/v1', 'Deployment', NS, OBJ) as any).spec.replicas).toBe(2)
    expect(api.requests.some((q) => q.method === 'PATCH' && q.path === `/apis/apps/v1/namespaces/${NS}/deployments/${OBJ}/scale`)).toBe(true)
    const bounds = await runCli(['model', 'scale', MODEL, '--min', '1'], {env})
    expect(bounds.code).toBe(2)
    expect(bounds.stderr).toMatch(/no autoscaler/)
  })
  it('deploy --idle-after 30m: ScaledObject at min 0 with cooldownPeriod 1800; status shows idle after, idle since, last cold start', async () => {
    const short = await runCli(['model', 'deploy', MODEL, '--idle-after', '30s'], {env})
    expect(short.code).toBe(2)
    expect(short.stderr).toMatch(/at least 60 s/)
    const r = await runCli(['model', 'deploy', MODEL, '--idle-after', '30m', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(scaledObject().spec).toMatchObject({minReplicaCount: 0, cooldownPeriod: 1800})
    expect(scaledObject().spec.triggers.map((t: any) => t.name)).toContain('activity')
    api.store.setStatus('keda.sh/v1alpha1', 'ScaledObject', NS, OBJ, {lastActiveTime: '2026-01-01T10:00:00Z', conditions: [{type: 'Ready', status: 'True'}, {type: 'Active', status: 'False'}]})
    const st = await runCli(['model', 'status', MODEL, '--json'], {env})
    expect(st.code, st.stderr).toBe(0)
    const s = JSON.parse(st.stdout).result.scaling
    expect(s).toMatchObject({autoscaler: 'ScaledObject', min: 0, idleAfterSeconds: 1800, active: false, idleSince: '2026-01-01T10:00:00Z'})
    expect(s.lastColdStart.seconds).toBeGreaterThanOrEqual(0)
    const text = await runCli(['model', 'status', MODEL], {env})
    expect(text.stdout).toMatch(/idle after:\s+30m00s/)
    expect(text.stdout).toMatch(/idle since:\s+2026-01-01T10:00:00Z/)
    expect(text.stdout).toMatch(/last cold start:\s+\S+ \(qwen2-5-coder-1-5b-/)
  })
})

describe('aip model scale with an HPA (no KEDA installed)', () => {
  let api2: KubeApiServer
  let env2: NodeJS.ProcessEnv
  beforeAll(async () => {
    api2 = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 50}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6.xlarge': 2}, {systemRootVolumeGiB: 100})})
    putModelNamespace(api2, NS)
    env2 = isolatedEnv({KUBECONFIG: api2.kubeconfigPath, AIP_BUCKET: 'weights'})
    const r = await runCli(['model', 'deploy', MODEL, '--json'], {env: env2})
    expect(r.code, r.stderr).toBe(0)
  })
  afterAll(async () => {
    await api2?.stop()
  })

  it('--min/--max set minReplicas/maxReplicas; min 0 and --replicas 0 are refused (an HPA keeps one replica)', async () => {
    const hpa = () => api2.store.get('autoscaling/v2', 'HorizontalPodAutoscaler', NS, OBJ) as any
    const metrics = JSON.stringify(hpa().spec.metrics)
    const r = await runCli(['model', 'scale', MODEL, '--min', '2', '--max', '5'], {env: env2})
    expect(r.code, r.stderr).toBe(0)
    expect(hpa().spec).toMatchObject({minReplicas: 2, maxReplicas: 5})
    expect(JSON.stringify(hpa().spec.metrics)).toBe(metrics)
    const zero = await runCli(['model', 'scale', MODEL, '--min', '0'], {env: env2})
    expect(zero.code).toBe(2)
    expect(zero.stderr).toMatch(/HorizontalPodAutoscaler, whose minReplicas is at least 1/)
    expect((await runCli(['model', 'scale', MODEL, '--replicas', '0'], {env: env2})).code).toBe(2)
    expect(hpa().spec).toMatchObject({minReplicas: 2, maxReplicas: 5})
  })
})
