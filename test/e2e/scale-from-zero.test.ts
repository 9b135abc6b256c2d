/**
 * Scale from zero that wakes on a request (issue 17 item 1), with the built CLI and loopback peers:
 * the loopback API server (scheduler + kubelets with a 20 s simulated cold start), the KEDA HTTP
 * add-on's interceptor and a KEDA stand-in (keda-http.mjs), the loopback LiteLLM running the
 * gateway's real wake hook (the Python module `aip gateway install` puts in its ConfigMap), and the
 * loopback OpenAI server behind the model's Service.
 *
 *   client -> LiteLLM -> interceptor (holds) -> Service -> model pod
 *
 * Must show: a model at zero replicas answers a chat request after a 20 s cold start with no error
 * at the client; with a 5 s hold the client gets 503 and Retry-After.
 */
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {litellmConfig, renderLitellm} from '../../src/lib/gateway/render.js'
import {desiredFromDeployment, toLitellm} from '../../src/lib/gateway/registry.js'
import {interceptorUrl} from '../../src/lib/render/wake.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {HTTP_SCALED_OBJECT_CRD, type KedaHttp, startKedaHttp} from '../support/keda-http.mjs'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {type LiteLLMServer, startLiteLLM} from '../support/litellm-server.mjs'
import {putModelNamespace} from '../support/model-namespace.js'
import {type OpenAIServer, startOpenAIServer} from '../support/openai-server.mjs'

const NS = 'aip-models'
const MODEL = 'qwen2.5-coder-1.5b'
const OBJ = 'qwen2-5-coder-1-5b'
const COLD_START_MS = 20_000
let api: KubeApiServer
let env: NodeJS.ProcessEnv
let keda: KedaHttp
let litellm: LiteLLMServer
let openai: OpenAIServer

const deployment = () => api.store.get('apps/v1', 'Deployment', NS, OBJ) as any
const serverPods = () => api.store.list('v1', 'Pod', NS).filter((p: any) => p.metadata.labels?.['app.kubernetes.io/component'] === 'server')

/** The gateway registration aip makes for the live Deployment (registry.ts), put in LiteLLM's database. */
function register(): any {
  const d = toLitellm(desiredFromDeployment(deployment()))
  litellm.seedModel(d as any)
  litellm.syncAll()
  return d
}

/** Idle shutdown as KEDA does it after the cooldown: the Deployment to 0, its pods gone. */
async function scaleToZero(): Promise<void> {
  const r = await api.fetch(`/apis/apps/v1/namespaces/${NS}/deployments/${OBJ}/scale`, {method: 'PATCH', headers: {'content-type': 'application/merge-patch+json'}, body: JSON.stringify({spec: {replicas: 0}})})
  expect(r.status).toBe(200)
  await api.waitFor(() => serverPods().length === 0, 10_000)
}

async function chat(servedName: string): Promise<{status: number; retryAfter: string | null; body: any; ms: number}> {
  const t0 = Date.now()
  const r = await fetch(`${litellm.replicas[0]!.url}/v1/chat/completions`, {method: 'POST', headers: {authorization: `Bearer ${litellm.masterKey}`, 'content-type': 'application/json'}, body: JSON.stringify({model: servedName, messages: [{role: 'user', content: 'hello'}], max_tokens: 4})})
  return {status: r.status, retryAfter: r.headers.get('retry-after'), body: await r.json(), ms: Date.now() - t0}
}

beforeAll(async () => {
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 50}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6.xlarge': 2}, {systemRootVolumeGiB: 100})})
  putModelNamespace(api, NS)
  api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
  api.registerCrd(HTTP_SCALED_OBJECT_CRD)
  keda = await startKedaHttp(api)
  // the gateway's config as `aip gateway install` renders it: the wake hook module and callbacks
  const cm = renderLitellm({namespace: 'aip-gateway', exposure: {kind: 'loadbalancer', internal: true}}).find((o) => o.kind === 'ConfigMap') as any
  const cfg = litellmConfig() as any
  const dir = mkdtempSync(join(process.env.TMPDIR ?? tmpdir(), 'litellm-config-'))
  for (const [file, text] of Object.entries(cm.data as Record<string, string>)) writeFileSync(join(dir, file), text)
  openai = await startOpenAIServer({models: ['Qwen/Qwen2.5-Coder-1.5B-Instruct', MODEL, 'qwen2.5-coder-1.5b-instruct'], ttftMs: 5, itlMs: 1, tokens: 4})
  litellm = await startLiteLLM({
    replicas: 1,
    numRetries: cfg.router_settings.num_retries,
    failureHook: {dir, callback: cfg.litellm_settings.callbacks[0]},
    // the interceptor's in-cluster URL lands on the loopback interceptor
    resolveApiBase: (b) => (b.startsWith(interceptorUrl()) ? `${keda.proxyUrl}${b.slice(interceptorUrl().length)}` : b),
  })
  env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
})

afterAll(async () => {
  await litellm?.close()
  await keda?.close()
  await openai?.close()
  await api?.stop()
})

describe('scale from zero (KEDA HTTP add-on + gateway wake hook)', () => {
  it('deploy --idle-after renders the wake path: HTTPScaledObject with the hold, external-push trigger, gateway through the interceptor', async () => {
    const r = await runCli(['model', 'deploy', MODEL, '--idle-after', '10m', '--hold-timeout', '60s', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.result.wake).toMatchObject({holdSeconds: 60, source: 'flag'})
    const hso = api.store.get('http.keda.sh/v1alpha1', 'HTTPScaledObject', NS, `${OBJ}-wake`) as any
    expect(hso.metadata.annotations['httpscaledobject.keda.sh/skip-scaledobject-creation']).toBe('true')
    expect(hso.spec).toMatchObject({hosts: [`${OBJ}.${NS}.svc`], scaleTargetRef: {kind: 'Deployment', name: OBJ, service: OBJ, port: 8000}, replicas: {min: 0}, scaledownPeriod: 600, timeouts: {conditionWait: '60s'}})
    const so = api.store.get('keda.sh/v1alpha1', 'ScaledObject', NS, OBJ) as any
    expect(so.spec.minReplicaCount).toBe(0)
    expect(so.spec.triggers).toContainEqual({type: 'external-push', name: 'wake-on-request', metadata: {scalerAddress: 'keda-add-ons-http-external-scaler.keda:9090', httpScaledObject: `${OBJ}-wake`}})
    const reg = toLitellm(desiredFromDeployment(deployment()))
    expect(reg.litellm_params).toMatchObject({api_base: 'http://keda-add-ons-http-interceptor-proxy.keda.svc:8080/v1', extra_headers: {Host: `${OBJ}.${NS}.svc`}})
    expect(reg.model_info).toMatchObject({aip_wake: true, aip_hold_seconds: 60})
    const np = api.store.get('networking.k8s.io/v1', 'NetworkPolicy', NS, OBJ) as any
    expect(JSON.stringify(np.spec.ingress)).toContain('"kubernetes.io/metadata.name":"keda"')
  })

  it('a chat request to the model at zero replicas is held through a 20 s cold start and answered 200; the start is recorded', async () => {
    api.setServiceBackend(NS, OBJ, 'http', openai.url)
    const reg = register()
    api.setDeploymentBehavior(NS, OBJ, {mode: 'ready', readyDelayMs: COLD_START_MS})
    await scaleToZero()
    const r = await chat(reg.model_name)
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.choices[0].message.content.length).toBeGreaterThan(0)
    expect(r.ms).toBeGreaterThanOrEqual(COLD_START_MS - 1000)
    expect(keda.scaled).toContainEqual(expect.objectContaining({namespace: NS, name: OBJ, replicas: 1}))
    expect(keda.log.at(-1)).toMatchObject({key: `${NS}/${OBJ}-wake`, status: 200})
    // model status sees the start and records it on the Deployment (the next deploy's hold)
    const st = await runCli(['model', 'status', MODEL, '--json'], {env})
    expect(st.code, st.stderr).toBe(0)
    const seconds = JSON.parse(st.stdout).result.scaling.lastColdStart.seconds
    expect(seconds).toBeGreaterThanOrEqual(19)
    expect(deployment().metadata.annotations['aip.dev/last-cold-start-seconds']).toBe(String(seconds))
    const human = await runCli(['model', 'status', MODEL], {env})
    expect(human.stdout).toMatch(new RegExp(`wake on request:\\s+held up to 60s at the KEDA HTTP interceptor \\(${OBJ}-wake\\), then 503 \\+ Retry-After; recorded cold start ${seconds}s`))
  })

  it('with a 5 s hold the client gets 503 with Retry-After (the interceptor times out; the gateway hook answers)', async () => {
    const d = await runCli(['model', 'deploy', MODEL, '--idle-after', '10m', '--hold-timeout', '5s', '--json'], {env})
    expect(d.code, d.stderr).toBe(0)
    const out = JSON.parse(d.stdout)
    const wake = out.result.wake
    expect(wake).toMatchObject({holdSeconds: 5, source: 'flag'})
    expect(wake.measuredSeconds).toBeGreaterThanOrEqual(19)
    expect(JSON.stringify(out.warnings ?? []) + d.stderr).toContain('--hold-timeout 5s is shorter than the expected cold start')
    expect((api.store.get('http.keda.sh/v1alpha1', 'HTTPScaledObject', NS, `${OBJ}-wake`) as any).spec.timeouts.conditionWait).toBe('5s')
    const reg = register()
    // the woken pod never becomes ready here (not "ready after 20 s"): the 503 must come from the
    // hold running out, whatever the machine's speed; a client held until ready would never return
    api.setDeploymentBehavior(NS, OBJ, {mode: 'none'})
    await scaleToZero()
    const r = await chat(reg.model_name)
    expect(r.status, JSON.stringify(r.body)).toBe(503)
    expect(r.retryAfter).toBe(String(wake.retryAfterSeconds))
    expect(Number(r.retryAfter)).toBeGreaterThan(0)
    expect(r.body.error.message).toContain('not ready within its hold of 5s')
    // the interceptor held each attempt 5 s and answered 504 (LiteLLM retried once: num_retries 1)
    const held = keda.log.filter((l) => l.key === `${NS}/${OBJ}-wake` && l.status === 504)
    expect(held.length).toBe(2)
    for (const h of held) expect(h.heldMs).toBeGreaterThanOrEqual(4900)
    // answered while the model is still cold (its pod not ready), not after the cold start
    expect(serverPods().some((p: any) => p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'))).toBe(false)
  })

  it('model scale re-applies the hold from the recorded cold start (raised to measured x 1.5, never lowered)', async () => {
    const recorded = Number(deployment().metadata.annotations['aip.dev/last-cold-start-seconds'])
    const r = await runCli(['model', 'scale', MODEL, '--max', '3', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    const want = Math.ceil(recorded * 1.5)
    expect(JSON.parse(r.stdout).result.hold).toMatchObject({seconds: want, raisedFrom: 5, measuredColdStartSeconds: recorded})
    const hso = api.store.get('http.keda.sh/v1alpha1', 'HTTPScaledObject', NS, `${OBJ}-wake`) as any
    expect(hso.spec.timeouts.conditionWait).toBe(`${want}s`)
    expect(hso.spec.scaleTargetRef).toMatchObject({service: OBJ, port: 8000})
    const again = await runCli(['model', 'scale', MODEL, '--max', '3', '--json'], {env})
    expect(JSON.parse(again.stdout).result.hold).toEqual({seconds: want, measuredColdStartSeconds: recorded})
  })
})
