import {spawn} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIN, isolatedEnv, runCli} from '../support/cli.js'
import {GATEWAY_NS, type GatewayPeers, startGatewayPeers} from '../support/gateway.js'
import {startLiteLLM} from '../support/litellm-server.mjs'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {putModelNamespace} from '../support/model-namespace.js'

let api: KubeApiServer
let peers: GatewayPeers
let env: NodeJS.ProcessEnv
let masterKey: string

const json = (s: string) => JSON.parse(s)
const onEveryReplica = (name: string) => peers.litellm.replicas.map((r) => r.modelNames().includes(name))

beforeAll(async () => {
  // system nodes for the gateway (and the preload Jobs' scratch disk); L40S for qwen3-8b, L4 for qwen2.5-coder-1.5b
  api = await startKubeApiServer({namespaces: ['default', 'kube-system', 'aip-models', 'team-b'], deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, nodes: aipCluster({'g6e.xlarge': 2, 'g6.xlarge': 1}, {systemNodes: 2, systemRootVolumeGiB: 100})})
  // what `aip cluster bootstrap` leaves in the model namespaces (the ServiceAccounts model deploy checks)
  for (const ns of ['aip-models', 'team-b']) putModelNamespace(api, ns)
  const kenv = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
  const r = await runCli(['gateway', 'install', '--json'], {env: kenv})
  expect(r.code, r.stderr).toBe(0)
  const out = json(r.stdout).result
  expect(out.ready).toEqual({ready: 2, desired: 2})
  expect(out.secrets).toEqual([
    {name: 'litellm-master-key', action: 'created'},
    {name: 'litellm-db', action: 'created'},
  ])
  masterKey = Buffer.from(api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data['master-key'], 'base64').toString()
  expect(r.stdout + r.stderr).not.toContain(masterKey)
  peers = await startGatewayPeers(api, {masterKey})
  await peers.wirePods()
  // the NLB's hostname does not resolve here: admin calls go to a replica as through a port-forward
  env = {...kenv, AIP_GATEWAY_URL: peers.litellm.replicas[0]!.url}
})

afterAll(async () => {
  await peers?.close()
  await api?.stop()
})

describe('aip gateway + model lifecycle (built CLI; two LiteLLM replicas sharing a database)', () => {
  it('gateway install -o yaml renders without a cluster, and never a Secret value', async () => {
    const r = await runCli(['gateway', 'install', '-o', 'yaml', '--internal'], {env: isolatedEnv()})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('service.beta.kubernetes.io/aws-load-balancer-scheme: internal')
    expect(r.stdout).not.toMatch(/kind: Secret/)
    expect(r.stdout).not.toMatch(/sk-[A-Za-z0-9_-]{20,}/)
  })

  it('model deploy registers the model once ready; every replica serves it; gateway status lists it', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('gateway: "qwen3-8b" created, served by 2 replica(s)')
    expect(onEveryReplica('qwen3-8b')).toEqual([true, true])
    expect(peers.litellm.db.models.get('aip:aip-models:qwen3-8b')!.litellm_params).toEqual({model: 'hosted_vllm/qwen3-8b', api_base: 'http://qwen3-8b.aip-models.svc:8000/v1'})
    const s = await runCli(['gateway', 'status', '--json'], {env})
    expect(s.code, s.stderr).toBe(0)
    const st = json(s.stdout).result
    expect(st.replicas).toMatchObject({desired: 2, ready: 2})
    expect(st.models).toEqual([expect.objectContaining({name: 'qwen3-8b', id: 'aip:aip-models:qwen3-8b', replicas: 2, of: 2})])
    expect(s.stdout).not.toContain(masterKey)
  })

  it('model delete deregisters first; the model is gone from every replica', async () => {
    const r = await runCli(['model', 'delete', 'qwen3-8b'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/gateway: deregistered; gone from 2 replica\(s\)/)
    expect(onEveryReplica('qwen3-8b')).toEqual([false, false])
    expect(peers.litellm.db.models.size).toBe(0)
  })

  it('a CLI killed between apply and registration: the rerun converges', async () => {
    api.setDeploymentBehavior('aip-models', 'qwen3-8b', {mode: 'ready', readyDelayMs: 4000})
    const child = spawn(process.execPath, [BIN, 'model', 'deploy', 'qwen3-8b'], {env, stdio: 'ignore'})
    await api.waitFor((s) => Boolean(s.get('apps/v1', 'Deployment', 'aip-models', 'qwen3-8b')), 30_000)
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    expect(onEveryReplica('qwen3-8b')).toEqual([false, false])
    const check = await runCli(['gateway', 'reconcile', '--dry-run', '--check'], {env})
    expect(check.code).toBe(1)
    expect(check.stdout).toMatch(/would add\s+missing\s+qwen3-8b\s+aip-models\/qwen3-8b/)
    api.setDeploymentBehavior('aip-models', 'qwen3-8b', {mode: 'ready', readyDelayMs: 30})
    const again = await runCli(['model', 'deploy', 'qwen3-8b'], {env, timeoutMs: 90_000})
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain('gateway: "qwen3-8b" created, served by 2 replica(s)')
    expect(onEveryReplica('qwen3-8b')).toEqual([true, true])
  })

  it('reconcile --dry-run with 2 orphans and 1 missing prints exactly those 3 actions; after the run --check exits 0', async () => {
    for (const n of ['old-a', 'old-b']) peers.litellm.seedModel({model_name: n, litellm_params: {model: `hosted_vllm/${n}`, api_base: `http://${n}.aip-models.svc:8000/v1`}, model_info: {id: `aip:aip-models:${n}`}})
    peers.litellm.syncAll()
    const dep = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b', '--no-gateway'], {env})
    expect(dep.code, dep.stderr).toBe(0)
    const plan = await runCli(['gateway', 'reconcile', '--dry-run'], {env})
    expect(plan.code, plan.stderr).toBe(0)
    const rows = plan.stdout.split('\n').filter((l) => /^would /.test(l))
    expect(rows).toHaveLength(3)
    expect(rows[0]).toMatch(/^would delete\s+orphan\s+old-a\s+aip-models\/old-a/)
    expect(rows[1]).toMatch(/^would delete\s+orphan\s+old-b\s+aip-models\/old-b/)
    expect(rows[2]).toMatch(/^would add\s+missing\s+qwen2\.5-coder-1\.5b\s+aip-models\/qwen2\.5-coder-1\.5b/)
    const run = await runCli(['gateway', 'reconcile'], {env})
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toContain('done: 3 change(s) applied and verified on every replica')
    for (const r of peers.litellm.replicas) expect(r.modelNames().sort()).toEqual(['qwen2.5-coder-1.5b', 'qwen3-8b'])
    const check = await runCli(['gateway', 'reconcile', '--check', '--json'], {env})
    expect(check.code, check.stderr).toBe(0)
    expect(json(check.stdout).result.inSync).toBe(true)
  })

  let key = ''
  const callAs = (k: string, model: string) =>
    fetch(`${peers.litellm.replicas[1]!.url}/v1/chat/completions`, {method: 'POST', headers: {authorization: `Bearer ${k}`, 'content-type': 'application/json'}, body: JSON.stringify({model, messages: [{role: 'user', content: 'hi'}], max_tokens: 2})})

  it('a team-a key for qwen3-8b calls it through the gateway and is refused for another model; key list never prints a key', async () => {
    const c = await runCli(['key', 'create', '--team', 'team-a', '--models', 'qwen3-8b', '--budget', '20', '--rpm', '100', '--expires', '30d', '--alias', 'team-a-app'], {env})
    expect(c.code, c.stderr).toBe(0)
    key = c.stdout.trim()
    expect(key).toMatch(/^sk-\S+$/) // alone on stdout, once
    expect(c.stderr).not.toContain(key)
    expect((await callAs(key, 'qwen3-8b')).status).toBe(200)
    const refused = await callAs(key, 'qwen2.5-coder-1.5b')
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as any).error.type).toBe('key_model_access_denied')
    for (const args of [['key', 'list'], ['key', 'list', '--team', 'team-a', '--json']]) {
      const l = await runCli(args, {env})
      expect(l.code, l.stderr).toBe(0)
      expect(l.stdout + l.stderr).not.toContain(key)
      expect(l.stdout).toContain('team-a-app')
    }
  })

  it('key create --json; model bench through the gateway with the key; key revoke needs --yes, then the key is refused', async () => {
    const cj = await runCli(['key', 'create', '--team', 'team-b', '--json'], {env})
    expect(cj.code, cj.stderr).toBe(0)
    const created = json(cj.stdout).result
    expect(created).toMatchObject({team: 'team-b', teamCreated: true, models: []})
    expect(created.key).toMatch(/^sk-/)
    const b = await runCli(['model', 'bench', 'qwen3-8b', '--via', 'gateway', '--requests', '4', '--concurrency', '2', '--max-tokens', '2', '--prompt-tokens', '8', '--json'], {env: {...env, AIP_API_KEY: key}})
    expect(b.code, b.stderr).toBe(0)
    expect(json(b.stdout).result).toMatchObject({succeeded: 4, failed: 0, model: 'qwen3-8b', target: peers.litellm.replicas[0]!.url})
    expect(b.stdout + b.stderr).not.toContain(key)
    const noYes = await runCli(['key', 'revoke', 'team-a-app'], {env})
    expect(noYes.code).toBe(2)
    const rv = await runCli(['key', 'revoke', 'team-a-app', '--yes'], {env})
    expect(rv.code, rv.stderr).toBe(0)
    expect((await callAs(key, 'qwen3-8b')).status).toBe(401)
  })

  it('bad input: unreachable gateway exit 5 with the URL; wrong master key exit 6; a name served from another namespace exit 1', async () => {
    const dead = await runCli(['gateway', 'reconcile'], {env: {...env, AIP_GATEWAY_URL: 'http://127.0.0.1:9'}})
    expect(dead.code).toBe(5)
    expect(dead.stderr).toContain('http://127.0.0.1:9')
    expect(dead.stderr).toContain('Fix:')
    // model delete deregisters first: an unreachable gateway stops it before anything is deleted
    const del = await runCli(['model', 'delete', 'qwen3-8b'], {env: {...env, AIP_GATEWAY_URL: 'http://127.0.0.1:9'}})
    expect(del.code).toBe(5)
    expect(del.stderr).toContain('http://127.0.0.1:9')
    expect(del.stderr).toContain('qwen3-8b was not deleted')
    expect(del.stderr).toContain('--no-gateway')
    expect(api.store.get('apps/v1', 'Deployment', 'aip-models', 'qwen3-8b')).toBeDefined()
    const noKey = await runCli(['model', 'bench', 'qwen3-8b', '--requests', '1'], {env})
    expect(noKey.code).toBe(6)
    expect(noKey.stderr).toContain('AIP_API_KEY')
    const wrong = await runCli(['key', 'list'], {env: {...env, AIP_GATEWAY_MASTER_KEY: 'sk-not-the-key'}})
    expect(wrong.code).toBe(6)
    expect(wrong.stderr).toMatch(/rejected the master key/)
    expect(wrong.stderr).not.toContain('sk-not-the-key')
    const conflict = await runCli(['model', 'deploy', 'qwen3-8b', '-n', 'team-b'], {env})
    expect(conflict.code).toBe(1)
    expect(conflict.stderr).toContain('the gateway already serves the model name "qwen3-8b" from model qwen3-8b in namespace aip-models')
    // found before anything was applied: the cluster is unchanged
    expect(api.store.list('apps/v1', 'Deployment', 'team-b')).toEqual([])
    expect(peers.litellm.db.models.get('aip:aip-models:qwen3-8b')!.litellm_params.api_base).toBe('http://qwen3-8b.aip-models.svc:8000/v1')
    expect(peers.litellm.db.models.has('aip:team-b:qwen3-8b')).toBe(false)
  })
})

describe('aip cluster bootstrap --gateway', () => {
  it('installs the gateway after the platform; tenants become gateway teams', async () => {
    const api2 = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, nodes: aipCluster([], {systemNodes: 2})})
    const lite = await startLiteLLM({replicas: 1})
    try {
      const e = isolatedEnv({KUBECONFIG: api2.kubeconfigPath, AIP_GATEWAY_URL: lite.replicas[0]!.url, AIP_GATEWAY_MASTER_KEY: lite.masterKey})
      const r = await runCli(['cluster', 'bootstrap', '--skip-eks', '--gateway', '--tenant', 'team-a=2', '--tenant', 'team-b', '--json'], {env: e, timeoutMs: 90_000})
      expect(r.code, r.stderr).toBe(0)
      const g = json(r.stdout).result.gateway
      expect(g.ready).toEqual({ready: 2, desired: 2})
      expect(g.teams).toEqual([
        {team: 'team-a', action: 'created'},
        {team: 'team-b', action: 'created'},
      ])
      expect([...lite.db.teams.keys()].sort()).toEqual(['team-a', 'team-b'])
      expect(api2.store.get('v1', 'Namespace', undefined, 'aip-gateway')!.metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted')
      expect(api2.store.get('v1', 'Namespace', undefined, 'team-a')).toBeDefined()
      const secretKey = Buffer.from(api2.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data['master-key'], 'base64').toString()
      expect(r.stdout + r.stderr).not.toContain(secretKey)
      expect(r.stdout + r.stderr).not.toContain(lite.masterKey)
    } finally {
      await lite.close()
      await api2.stop()
    }
  })
})
