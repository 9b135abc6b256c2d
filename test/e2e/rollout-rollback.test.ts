/**
 * The issue's last "must show": after a finished `aip model rollout`, `aip model rollback` serves the
 * previous revision again (built CLI; the loopback API server with GPU nodes, the loopback gateway
 * routing by weight, a real Prometheus scraping one loopback vLLM exporter per track for the gates).
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../src/lib/catalog/index.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {GATEWAY_NS} from '../support/gateway.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {type LiteLLMServer, startLiteLLM} from '../support/litellm-server.mjs'
import {putModelNamespace} from '../support/model-namespace.js'
import {type OpenAIServer, startOpenAIServer} from '../support/openai-server.js'
import {prometheusMissingReason, type PrometheusServer, startPrometheus} from '../support/prometheus.js'
import {startVllmExporter, type VllmExporter} from '../support/vllm-exporter.js'

const skip = prometheusMissingReason()
const NS = 'aip-models'
const REV_A = 'a'.repeat(40)
const STABLE_ID = `aip:${NS}:qwen3-8b`
const json = (s: string) => JSON.parse(s)

describe.skipIf(Boolean(skip))(`aip model rollback after a finished rollout (built CLI)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let api: KubeApiServer
  let litellm: LiteLLMServer
  let stableServer: OpenAIServer
  let canaryServer: OpenAIServer
  let exporters: VllmExporter[] = []
  let prom: PrometheusServer
  let env: NodeJS.ProcessEnv

  const dep = () => api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b')!
  const gatewayIds = () => Promise.all(litellm.replicas.map(async (r) => {
    const j = (await (await fetch(`${r.url}/model/info`, {headers: {authorization: `Bearer ${litellm.masterKey}`}})).json()) as {data: Array<{model_name: string; model_info: {id: string}}>}
    return j.data.filter((m) => m.model_name === 'qwen3-8b').map((m) => m.model_info.id)
  }))
  const chat = () => fetch(`${litellm.replicas[0]!.url}/v1/chat/completions`, {method: 'POST', headers: {authorization: `Bearer ${litellm.masterKey}`, 'content-type': 'application/json'}, body: JSON.stringify({model: 'qwen3-8b', messages: [{role: 'user', content: 'hi'}], max_tokens: 2})})

  beforeAll(async () => {
    // stable + canary + the stable's surge pod at promotion: three L40S nodes
    api = await startKubeApiServer({namespaces: ['default', 'kube-system', NS], deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, nodes: aipCluster({'g6e.xlarge': 3}, {systemNodes: 2, systemRootVolumeGiB: 100})})
    putModelNamespace(api, NS)
    const kenv = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
    const g = await runCli(['gateway', 'install', '--json'], {env: kenv})
    expect(g.code, g.stderr).toBe(0)
    const masterKey = Buffer.from(api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data['master-key'], 'base64').toString()
    stableServer = await startOpenAIServer({models: ['qwen3-8b'], ttftMs: 1, itlMs: 1, tokens: 2})
    canaryServer = await startOpenAIServer({models: ['qwen3-8b'], ttftMs: 1, itlMs: 1, tokens: 2})
    litellm = await startLiteLLM({masterKey, syncIntervalMs: 100, resolveApiBase: (b) => `${b.includes('-canary.') ? canaryServer.url : stableServer.url}/v1`})
    await api.waitFor((s) => s.list('v1', 'Pod', GATEWAY_NS).filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'litellm' && p.status?.podIP).length >= 2, 10_000)
    const pods = api.store.list('v1', 'Pod', GATEWAY_NS).filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'litellm').map((p) => p.metadata.name).sort()
    pods.forEach((name, i) => api.setPodBackend(GATEWAY_NS, name, 4000, litellm.replicas[i % 2]!.url))
    // the warm-up completion reaches the candidate through the API server's service proxy
    api.setServiceBackend(NS, 'qwen3-8b-canary', 'http', canaryServer.url)
    // healthy metrics for both tracks (pod names as ReplicaSets give them: the gates' pod label)
    for (const pod of ['qwen3-8b-7d9f6b5c4-x2k8p', 'qwen3-8b-canary-5c7d8f9b6-q4m2n']) {
      const ex = await startVllmExporter()
      ex.vllmPod({model: 'qwen3-8b', pod, namespace: NS})
      exporters.push(ex)
    }
    prom = await startPrometheus({targets: exporters.map((e) => e.target)})
    await prom.waitForTargetsUp()
    env = {...kenv, AIP_GATEWAY_URL: litellm.replicas[0]!.url, AIP_PROMETHEUS_URL: prom.url}
  }, 180_000)

  afterAll(async () => {
    await prom?.close()
    for (const e of exporters) await e.close()
    await litellm?.close()
    await stableServer?.close()
    await canaryServer?.close()
    await api?.stop()
  })

  it('deploy, a rollout to another revision promoted, then rollback: the previous revision serves again through the gateway', {timeout: 240_000}, async () => {
    const catalogRevision = getCatalogEntry('qwen3-8b').hf.revision
    const d = await runCli(['model', 'deploy', 'qwen3-8b'], {env, timeoutMs: 90_000})
    expect(d.code, d.stderr).toBe(0)
    const before = {template: dep().spec.template, annotations: dep().metadata.annotations['aip.dev/hf-revision']}
    const r = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_A, '--steps', '50,100', '--interval', '3s'], {env, timeoutMs: 180_000})
    expect(r.code, r.stderr).toBe(0)
    expect(dep().metadata.annotations['aip.dev/hf-revision']).toBe(REV_A)

    const back = await runCli(['model', 'rollback', 'qwen3-8b', '--yes', '--json'], {env, timeoutMs: 120_000})
    expect(back.code, back.stderr).toBe(0)
    expect(json(back.stdout).result).toMatchObject({from: 2, to: 1, revision: 3, waited: true})
    // the Deployment runs the first revision's pod template again, exactly
    expect(dep().metadata.annotations['aip.dev/hf-revision']).toBe(catalogRevision)
    expect(dep().spec.template).toEqual(before.template)
    expect(api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b-canary')).toBeUndefined()
    // one registration on every gateway replica, serving
    expect(await gatewayIds()).toEqual([[STABLE_ID], [STABLE_ID]])
    expect((await chat()).status).toBe(200)
    const h = await runCli(['model', 'history', 'qwen3-8b', '--json'], {env})
    expect(h.code, h.stderr).toBe(0)
    expect(json(h.stdout).result.revisions.map((x: {revision: number; source: string}) => `${x.revision}:${x.source}`)).toEqual(['3:rollback', '2:rollout', '1:deploy'])
  })
})
