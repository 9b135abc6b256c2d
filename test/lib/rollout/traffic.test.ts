/**
 * The gateway side of a rollout against two loopback LiteLLM replicas (shared database, each its own
 * router): weights on both registrations, verified on every replica; a reconcile during a rollout
 * keeps the split (the canary's share is on its Deployment); weight 0 leaves the stable alone with a
 * weight LiteLLM can still pick by.
 */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../../src/lib/catalog/index.js'
import {connectGateway, desiredModels, type GatewayConnection, installGateway, reconcileGateway} from '../../../src/lib/gateway/index.js'
import {createKubeClient, type KubeClient} from '../../../src/lib/kube/index.js'
import {NO_CAPABILITIES, prometheusUrlFromService, type RenderOptions, renderModel, renderTrack} from '../../../src/lib/render/index.js'
import {setWeight, trafficTarget} from '../../../src/lib/rollout/traffic.js'
import {GATEWAY_NS, type GatewayPeers, startGatewayPeers} from '../../support/gateway.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipCluster} from '../../support/kube-apiserver/nodes.mjs'

let api: KubeApiServer
let client: KubeClient
let peers: GatewayPeers
let conn: GatewayConnection
const NS = 'aip-models'
const opts: RenderOptions = {namespace: NS, gatewayNamespace: GATEWAY_NS, monitoringNamespace: 'monitoring', bucket: 'w', prefix: 'models', prometheusUrl: prometheusUrlFromService(undefined), capabilities: NO_CAPABILITIES}
const quick = {timeoutMs: 10_000, pollMs: 50}

beforeAll(async () => {
  api = await startKubeApiServer({namespaces: ['default', 'kube-system', NS], nodes: aipCluster([], {systemNodes: 2})})
  client = await createKubeClient({kubeconfig: api.kubeconfigPath})
  const r = await installGateway(client, {namespace: GATEWAY_NS, settings: {internal: true}, timeoutMs: 20_000})
  expect(r.ready).toEqual({ready: 2, desired: 2})
  const masterKey = Buffer.from(api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data['master-key'], 'base64').toString()
  peers = await startGatewayPeers(api, {masterKey, models: ['qwen3-8b']})
  await peers.wirePods()
  conn = await connectGateway({client, namespace: GATEWAY_NS, url: peers.litellm.replicas[0]!.url})
})

afterAll(async () => {
  await peers?.close()
  await api?.stop()
})

const perReplica = () => peers.litellm.replicas.map((r) => Object.fromEntries(r.modelIds().map((id) => [id, peers.litellm.db.models.get(id)?.litellm_params.weight])))

describe('rollout traffic through the gateway', () => {
  it('weights on both registrations, on every replica; reconcile keeps the split; 0 leaves the stable with weight 100', async () => {
    const entry = getCatalogEntry('qwen3-8b')
    const stable = api.store.put({...renderModel(entry, opts).deployment})
    const canary = api.store.put({...renderTrack(entry, {...opts, track: 'canary'}, 1).deployment})
    const t = trafficTarget(stable, canary)
    expect(t.canary.id).toBe('aip:aip-models:qwen3-8b@canary')
    await setWeight({client, gatewayNamespace: GATEWAY_NS, ...quick}, conn, t, 10, {name: 'qwen3-8b-canary', namespace: NS})
    const split = {'aip:aip-models:qwen3-8b': 90, 'aip:aip-models:qwen3-8b@canary': 10}
    expect(perReplica()).toEqual([split, split])
    expect(api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b-canary')!.metadata.annotations['aip.dev/gateway-weight']).toBe('10')
    // the cluster's truth carries the split: a reconcile (e.g. after a replica lost its router) restores it
    expect((await desiredModels(client)).map((d) => [d.id, d.weight])).toEqual([
      ['aip:aip-models:qwen3-8b', 90],
      ['aip:aip-models:qwen3-8b@canary', 10],
    ])
    peers.litellm.db.models.get('aip:aip-models:qwen3-8b@canary')!.litellm_params.weight = 50
    peers.litellm.syncAll()
    const rec = await reconcileGateway(client, conn, {...quick})
    expect(rec.conflicts).toEqual([])
    expect(perReplica()).toEqual([split, split])
    // requests split by weight (simple-shuffle): 400 picks at 10% fall in [15, 75] but by a 1e-6 chance
    peers.litellm.resetCounts()
    const ask = () => fetch(`${peers.litellm.replicas[0]!.url}/v1/chat/completions`, {method: 'POST', headers: {authorization: `Bearer ${peers.litellm.masterKey}`, 'content-type': 'application/json'}, body: JSON.stringify({model: 'qwen3-8b', messages: [{role: 'user', content: 'hi'}], max_tokens: 1})}).then((r) => r.text())
    for (let i = 0; i < 16; i++) await Promise.all(Array.from({length: 25}, ask))
    const c = peers.litellm.deploymentCounts()
    expect(c['aip:aip-models:qwen3-8b']! + c['aip:aip-models:qwen3-8b@canary']!).toBe(400)
    expect(c['aip:aip-models:qwen3-8b@canary']).toBeGreaterThan(15)
    expect(c['aip:aip-models:qwen3-8b@canary']).toBeLessThan(75)
    await setWeight({client, gatewayNamespace: GATEWAY_NS, ...quick}, conn, t, 0, {name: 'qwen3-8b-canary', namespace: NS})
    expect(perReplica()).toEqual([{'aip:aip-models:qwen3-8b': 100}, {'aip:aip-models:qwen3-8b': 100}])
    expect((await desiredModels(client)).map((d) => d.id)).toEqual(['aip:aip-models:qwen3-8b'])
  })
})
