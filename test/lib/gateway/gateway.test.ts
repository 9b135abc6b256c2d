import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {AipError} from '../../../src/lib/errors.js'
import {connectGateway, createKey, deregisterAll, deregisterModel, desiredModels, type GatewayConnection, installGateway, listKeys, modelId, reconcileGateway, registerDeployed, revokeKey} from '../../../src/lib/gateway/index.js'
import {createKubeClient, type KubeClient} from '../../../src/lib/kube/index.js'
import {NO_CAPABILITIES, prometheusUrlFromService, renderModel} from '../../../src/lib/render/index.js'
import {GATEWAY_NS, type GatewayPeers, startGatewayPeers} from '../../support/gateway.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipCluster} from '../../support/kube-apiserver/nodes.mjs'

let api: KubeApiServer
let client: KubeClient
let peers: GatewayPeers
let conn: GatewayConnection

function modelDeployment(name: string, namespace: string, servedName?: string) {
  const entry = {...getCatalogEntry(name), ...(servedName ? {servedModelName: servedName} : {})}
  return renderModel(entry, {namespace, gatewayNamespace: GATEWAY_NS, monitoringNamespace: 'monitoring', bucket: 'w', prefix: 'models', prometheusUrl: prometheusUrlFromService(undefined), capabilities: NO_CAPABILITIES}).deployment
}

async function failure(p: Promise<unknown>): Promise<AipError> {
  try {
    await p
  } catch (error) {
    return error as AipError
  }
  throw new Error('expected a failure')
}

const quick = {timeoutMs: 10_000, pollMs: 50}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise((r) => setTimeout(r, 20))
  }
}

beforeAll(async () => {
  // system nodes for the gateway's pods (the model servers are only registered here, never run)
  api = await startKubeApiServer({namespaces: ['default', 'kube-system', 'aip-models', 'team-b'], nodes: aipCluster([], {systemNodes: 2})})
  client = await createKubeClient({kubeconfig: api.kubeconfigPath})
  const r = await installGateway(client, {namespace: GATEWAY_NS, settings: {internal: true}, timeoutMs: 20_000})
  expect(r.ready).toEqual({ready: 2, desired: 2})
  const secret = api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!
  const masterKey = Buffer.from(secret.data['master-key'], 'base64').toString()
  expect(masterKey).toMatch(/^sk-[A-Za-z0-9_-]{40,}$/)
  peers = await startGatewayPeers(api, {masterKey})
  await peers.wirePods()
  // no --gateway-url and the NLB hostname is not resolvable here: admin calls go to replica 0 directly
  conn = await connectGateway({client, namespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url})
})

afterAll(async () => {
  await peers?.close()
  await api?.stop()
})

describe('gateway install', () => {
  it('keeps the generated Secrets on a rerun and never returns their values', async () => {
    const before = api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data
    const r = await installGateway(client, {namespace: GATEWAY_NS, settings: {internal: true}, wait: false})
    expect(r.secrets).toEqual([
      {name: 'litellm-master-key', action: 'kept'},
      {name: 'litellm-db', action: 'kept'},
    ])
    expect(api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data).toEqual(before)
    const text = JSON.stringify(r)
    for (const v of Object.values(before as Record<string, string>)) expect(text).not.toContain(Buffer.from(v, 'base64').toString())
    expect(r.objects.every((o) => o.action === 'unchanged')).toBe(true)
  })

  it('the master key comes from the Secret through the API server; a wrong one is exit 6, a dead URL exit 5 with the URL', async () => {
    const c = await connectGateway({client, namespace: GATEWAY_NS, url: peers.litellm.replicas[1]!.url})
    expect(Array.isArray(await c.admin.models())).toBe(true)
    const wrong = await connectGateway({client, namespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url, masterKey: 'sk-wrong'})
    const e6 = await failure(wrong.admin.models())
    expect(e6.exitCode).toBe(6)
    expect(e6.fix).toContain('AIP_GATEWAY_MASTER_KEY')
    const dead = await connectGateway({client, namespace: GATEWAY_NS, url: 'http://127.0.0.1:9'})
    const e5 = await failure(dead.admin.models())
    expect(e5.exitCode).toBe(5)
    expect(e5.message).toContain('http://127.0.0.1:9')
  })

  it('replicas through the pod proxy: an RBAC refusal is exit 6 naming pods/proxy, not a wrong master key', async () => {
    api.faults.forbid({verb: 'get', resource: 'pods', namespace: GATEWAY_NS})
    try {
      const reps = await conn.replicas()
      expect(reps.map((r) => r.pod)).toHaveLength(2)
      const e = await failure(reps[0]!.admin.models())
      expect(e.exitCode).toBe(6)
      expect(e.message).toContain('the API server refused to proxy')
      expect(e.fix).toContain('pods/proxy')
    } finally {
      api.faults.clear()
    }
  })

  it('no gateway in a namespace: exit 4 with the fix', async () => {
    const e = await failure(connectGateway({client, namespace: 'team-b'}))
    expect(e.exitCode).toBe(4)
    expect(e.fix).toContain('aip gateway install')
  })
})

describe('model registration, verified on every replica', () => {
  it('registers a deployed model with a deterministic id; each replica lists it (they diverge until they sync)', async () => {
    api.store.put(modelDeployment('qwen3-8b', 'aip-models'))
    peers.litellm.replicas[1]!.pauseSync()
    const pending = registerDeployed({client, gatewayNamespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url, timeoutMs: 10_000, pollMs: 50}, 'aip-models', 'qwen3-8b')
    // replica 0 takes the write; replica 1 has not loaded it from the database yet
    await until(() => peers.litellm.replicas[0]!.modelNames().includes('qwen3-8b'))
    await new Promise((r) => setTimeout(r, 300))
    expect(peers.litellm.replicas[1]!.modelNames()).not.toContain('qwen3-8b')
    peers.litellm.replicas[1]!.pauseSync(false)
    const r = await pending
    expect(r).toMatchObject({id: 'aip:aip-models:qwen3-8b', servedName: 'qwen3-8b', action: 'created'})
    expect((r as {replicas: string[]}).replicas).toHaveLength(2)
    for (const rep of peers.litellm.replicas) expect(rep.modelIds()).toContain(modelId('aip-models', 'qwen3-8b'))
    const dep = peers.litellm.db.models.get('aip:aip-models:qwen3-8b')!
    expect(dep.litellm_params).toEqual({model: 'hosted_vllm/qwen3-8b', api_base: 'http://qwen3-8b.aip-models.svc:8000/v1'})
    // idempotent
    const again = await registerDeployed({client, gatewayNamespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url, ...quick}, 'aip-models', 'qwen3-8b')
    expect(again).toMatchObject({action: 'unchanged'})
  })

  it('the same public name from another namespace is a conflict (exit 1), never an overwrite', async () => {
    api.store.put(modelDeployment('qwen3-8b', 'team-b'))
    const e = await failure(registerDeployed({client, gatewayNamespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url, ...quick}, 'team-b', 'qwen3-8b'))
    expect(e.exitCode).toBe(1)
    expect(e.message).toContain('already serves the model name "qwen3-8b" from model qwen3-8b in namespace aip-models')
    expect(peers.litellm.db.models.get('aip:aip-models:qwen3-8b')!.litellm_params.api_base).toBe('http://qwen3-8b.aip-models.svc:8000/v1')
    expect(peers.litellm.db.models.has('aip:team-b:qwen3-8b')).toBe(false)
    api.store.remove('apps/v1', 'Deployment', 'team-b', 'qwen3-8b')
  })

  it('a replica that never drops a deleted model fails the delete with its pod name (exit 7); once it syncs, a rerun passes', async () => {
    peers.litellm.replicas[1]!.pauseSync()
    const e = await failure(deregisterModel(conn, modelId('aip-models', 'qwen3-8b'), {timeoutMs: 600, pollMs: 50}))
    expect(e.exitCode).toBe(7)
    const pods = api.store.list('v1', 'Pod', GATEWAY_NS).map((p) => p.metadata.name).sort()
    expect(e.message).toContain(pods[1])
    expect(peers.litellm.replicas[1]!.modelNames()).toContain('qwen3-8b')
    peers.litellm.replicas[1]!.pauseSync(false)
    const r = await deregisterModel(conn, modelId('aip-models', 'qwen3-8b'), quick)
    expect(r.action).toBe('absent')
    for (const rep of peers.litellm.replicas) expect(rep.modelNames()).not.toContain('qwen3-8b')
  })
})

describe('a replica holding a model the database lost', () => {
  it('reconcile plans to write it again, and registering adds it back instead of calling it unchanged', async () => {
    const id = modelId('aip-models', 'qwen3-8b')
    peers.litellm.seedModel({model_name: 'qwen3-8b', litellm_params: {model: 'hosted_vllm/qwen3-8b', api_base: 'http://qwen3-8b.aip-models.svc:8000/v1'}, model_info: {id}})
    peers.litellm.replicas[1]!.syncNow()
    peers.litellm.replicas[1]!.pauseSync()
    peers.litellm.db.models.delete(id)
    peers.litellm.replicas[0]!.syncNow()
    try {
      const pods = (await conn.replicas()).map((r) => r.pod)
      const plan = await reconcileGateway(client, conn, {dryRun: true})
      expect(plan.actions).toEqual([expect.objectContaining({action: 'update-stale', servedName: 'qwen3-8b', detail: `not served by ${pods[0]}`})])
      const r = await registerDeployed({client, gatewayNamespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url, ...quick}, 'aip-models', 'qwen3-8b')
      expect(r).toMatchObject({action: 'created'})
      expect(peers.litellm.db.models.has(id)).toBe(true)
      for (const rep of peers.litellm.replicas) expect(rep.modelIds()).toContain(id)
    } finally {
      peers.litellm.replicas[1]!.pauseSync(false)
    }
    await deregisterModel(conn, id, quick)
  })
})

describe('reconcile', () => {
  it('plans exactly the orphans and the missing model, applies them, then is in sync', async () => {
    // two orphans (registered by aip, nothing deployed) and one hand-made model (left alone)
    for (const n of ['old-a', 'old-b']) peers.litellm.seedModel({model_name: n, litellm_params: {model: `hosted_vllm/${n}`, api_base: `http://${n}.aip-models.svc:8000/v1`}, model_info: {id: modelId('aip-models', n)}})
    peers.litellm.seedModel({model_name: 'external-gpt', litellm_params: {model: 'openai/gpt-4o'}, model_info: {id: 'hand-made-1'}})
    peers.litellm.syncAll()
    expect((await desiredModels(client)).map((d) => d.id)).toEqual(['aip:aip-models:qwen3-8b'])
    const plan = await reconcileGateway(client, conn, {dryRun: true})
    expect(plan.actions.map((a) => [a.action, a.servedName])).toEqual([
      ['delete-orphan', 'old-a'],
      ['delete-orphan', 'old-b'],
      ['add-missing', 'qwen3-8b'],
    ])
    expect(plan.foreign).toEqual(['external-gpt (hand-made-1)'])
    expect(peers.litellm.db.models.size).toBe(3) // the dry run changed nothing
    const done = await reconcileGateway(client, conn, quick)
    expect(done.applied).toHaveLength(3)
    for (const rep of peers.litellm.replicas) expect(rep.modelNames().sort()).toEqual(['external-gpt', 'qwen3-8b'])
    const again = await reconcileGateway(client, conn, {dryRun: true})
    expect(again.inSync).toBe(true)
  })

  it('stale api_base is updated; keys naming removed models are reported and pruned', async () => {
    const id = modelId('aip-models', 'qwen3-8b')
    peers.litellm.db.models.get(id)!.litellm_params.api_base = 'http://old.aip-models.svc:8000/v1'
    peers.litellm.syncAll()
    const k = await createKey(conn, {team: 'team-a', models: ['qwen3-8b', 'old-a'], alias: 'team-a-ci'})
    const plan = await reconcileGateway(client, conn, {dryRun: true})
    expect(plan.actions).toEqual([expect.objectContaining({action: 'update-stale', servedName: 'qwen3-8b', detail: 'api_base http://old.aip-models.svc:8000/v1 -> http://qwen3-8b.aip-models.svc:8000/v1'})])
    expect(plan.keys).toEqual([{key: 'team-a-ci', team: 'team-a', removed: ['old-a'], remaining: ['qwen3-8b']}])
    const done = await reconcileGateway(client, conn, {...quick, pruneKeys: true})
    expect(done.keys[0]!.result).toBe('pruned')
    expect(k.hash).toHaveLength(12)
    expect([...peers.litellm.db.keys.values()].find((x) => x.token.startsWith(k.hash))!.models).toEqual(['qwen3-8b'])
    expect((await reconcileGateway(client, conn, {dryRun: true})).inSync).toBe(true)
  })
})

describe('keys', () => {
  it('a team key limited to qwen3-8b calls it through the gateway and is refused (401) for another model', async () => {
    const k = await createKey(conn, {team: 'team-a', models: ['qwen3-8b'], budget: 10, rpm: 60, expires: '30d', alias: 'team-a-app'})
    expect(k.key).toMatch(/^sk-/)
    expect(k.teamCreated).toBe(false) // made by the previous test
    const call = (model: string) =>
      fetch(`${peers.litellm.replicas[1]!.url}/v1/chat/completions`, {method: 'POST', headers: {authorization: `Bearer ${k.key}`, 'content-type': 'application/json'}, body: JSON.stringify({model, messages: [{role: 'user', content: 'hi'}], max_tokens: 2})})
    const ok = await call('qwen3-8b')
    expect(ok.status).toBe(200)
    expect(((await ok.json()) as any).choices[0].message.content).toBeTruthy()
    expect(peers.openai.requests.at(-1)!.body.model).toBe('qwen3-8b')
    const refused = await call('llama-3.1-8b-instruct')
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as any).error).toMatchObject({type: 'key_model_access_denied', code: '401'})
    const rows = await listKeys(conn, {team: 'team-a'})
    expect(rows.map((r) => r.alias).sort()).toEqual(['team-a-app', 'team-a-ci'])
    expect(JSON.stringify(rows)).not.toContain(k.key)
    const revoked = await revokeKey(conn, 'team-a-app')
    expect(revoked.alias).toBe('team-a-app')
    expect((await call('qwen3-8b')).status).toBe(401)
    const e = await failure(revokeKey(conn, 'team-a-app'))
    expect(e.exitCode).toBe(4)
  })

  it('bad input: team name and expiry are usage errors', async () => {
    expect((await failure(createKey(conn, {team: 'Team A'}))).exitCode).toBe(2)
    expect((await failure(createKey(conn, {team: 'team-a', expires: 'forever'}))).exitCode).toBe(2)
  })
})

describe('teardown', () => {
  it('deregisterAll removes every registration aip made, on every replica, and leaves the others', async () => {
    const r = await deregisterAll({client, gatewayNamespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url, ...quick})
    expect(Array.isArray(r) && r.map((x) => x.id)).toEqual(['aip:aip-models:qwen3-8b'])
    for (const rep of peers.litellm.replicas) expect(rep.modelNames()).toEqual(['external-gpt'])
    expect(await deregisterAll({client, gatewayNamespace: 'team-b'})).toEqual({skipped: 'no gateway installed in team-b'})
  })
})
