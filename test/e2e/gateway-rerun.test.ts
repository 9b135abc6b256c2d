import {createHash} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli} from '../support/cli.js'
import {GATEWAY_NS, type GatewayPeers, startGatewayPeers} from '../support/gateway.js'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'

// `aip gateway install` and `aip cluster bootstrap --gateway` rerun on an installed gateway: an
// omitted flag keeps what the cluster has (exposure, TLS, replicas, database, storage), the master
// key Secret is never touched, keys issued before still work; a given flag changes only its field.

const json = (s: string) => JSON.parse(s)
const ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/abc'
type Decision = {setting: string; action: string; value: unknown; previous?: unknown}
const settings = (result: {settings?: Decision[]}) => Object.fromEntries((result.settings ?? []).map((d) => [d.setting, d]))
const changed = (result: {settings?: Decision[]}) => (result.settings ?? []).filter((d) => d.action === 'changed').map((d) => d.setting)

/** What a rerun must leave alone, read from the objects (the Secret as uid, resourceVersion and a hash: never its values). */
function snapshot(api: KubeApiServer) {
  const svc = api.store.get('v1', 'Service', GATEWAY_NS, 'litellm')!
  const dep = api.store.get('apps/v1', 'Deployment', GATEWAY_NS, 'litellm')!
  const sts = api.store.get('apps/v1', 'StatefulSet', GATEWAY_NS, 'litellm-db')
  const gw = api.store.get('gateway.networking.k8s.io/v1', 'Gateway', GATEWAY_NS, 'litellm')
  const route = api.store.get('gateway.networking.k8s.io/v1', 'HTTPRoute', GATEWAY_NS, 'litellm')
  const secret = api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!
  const c = dep.spec.template.spec.containers[0]
  return {
    service: {type: svc.spec.type, annotations: svc.metadata.annotations ?? {}, ports: svc.spec.ports.map((p: {name: string; port: number}) => `${p.name}:${p.port}`)},
    deployment: {replicas: dep.spec.replicas, image: c.image, resources: c.resources, db: c.env.find((e: {name: string}) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef},
    postgres: sts ? sts.spec.volumeClaimTemplates[0].spec : null,
    gateway: gw ? {class: gw.spec.gatewayClassName, listeners: gw.spec.listeners} : null,
    route: route ? {hostnames: route.spec.hostnames} : null,
    masterKey: {uid: secret.metadata.uid, resourceVersion: secret.metadata.resourceVersion, hash: createHash('sha256').update(JSON.stringify(secret.data)).digest('hex')},
    dbSecret: api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-db')?.metadata.uid ?? null,
  }
}

describe('gateway rerun: NLB internal + TLS, 3 replicas, 20Gi Postgres', () => {
  let api: KubeApiServer
  let peers: GatewayPeers
  let env: NodeJS.ProcessEnv
  let first: ReturnType<typeof snapshot>
  let key = ''
  let model = ''
  const install = (...args: string[]) => runCli(['gateway', 'install', ...args], {env, timeoutMs: 90_000})
  const authenticates = async (k: string) => (await fetch(`${peers.litellm.replicas[1]!.url}/v1/models`, {headers: {authorization: `Bearer ${k}`}})).status

  beforeAll(async () => {
    api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, nodes: aipCluster([], {systemNodes: 3})})
    env = isolatedEnv({KUBECONFIG: api.kubeconfigPath})
    const r = await install('--internal', '--certificate-arn', ARN, '--replicas', '3', '--storage-size', '20Gi', '--json')
    expect(r.code, r.stderr).toBe(0)
    first = snapshot(api)
    expect(first.service.annotations['service.beta.kubernetes.io/aws-load-balancer-scheme']).toBe('internal')
    expect(first.deployment.replicas).toBe(3)
    const masterKey = Buffer.from(api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data['master-key'], 'base64').toString()
    peers = await startGatewayPeers(api, {masterKey})
    await peers.wirePods()
    // admin calls go to a replica as through a port-forward; the master key is read from the Secret
    env = {...env, AIP_GATEWAY_URL: peers.litellm.replicas[0]!.url}
    const k = await runCli(['key', 'create', '--team', 'team-a', '--alias', 'team-a-ci', '--budget', '50'], {env})
    expect(k.code, k.stderr).toBe(0)
    key = k.stdout.trim()
    expect(await authenticates(key)).toBe(200)
    // a model registered before (as model deploy does): a rerun must not touch registrations
    peers.litellm.seedModel({model_name: 'qwen3-8b', litellm_params: {model: 'hosted_vllm/qwen3-8b', api_base: 'http://qwen3-8b.aip-models.svc:8000/v1'}, model_info: {id: 'aip:aip-models:qwen3-8b'}})
    peers.litellm.syncAll()
    model = JSON.stringify(peers.litellm.db.models.get('aip:aip-models:qwen3-8b'))
  })

  afterAll(async () => {
    await peers?.close()
    await api?.stop()
  })

  /** The key and team made before still work, and the CLI still gets in with the Secret's master key. */
  async function keysStillValid() {
    expect(await authenticates(key)).toBe(200)
    const l = await runCli(['key', 'list', '--json'], {env})
    expect(l.code, l.stderr).toBe(0)
    expect(json(l.stdout).result.keys).toEqual([expect.objectContaining({alias: 'team-a-ci', team: 'team-a', budget: 50})])
    expect(l.stdout + l.stderr).not.toContain(key)
    expect(JSON.stringify(peers.litellm.db.models.get('aip:aip-models:qwen3-8b'))).toBe(model)
    expect(peers.litellm.db.models.size).toBe(1)
  }

  it('a plain `gateway install` rerun changes nothing: exposure, TLS, replicas, storage, master key', async () => {
    const r = await install('--json')
    expect(r.code, r.stderr).toBe(0)
    expect(snapshot(api)).toEqual(first)
    const out = json(r.stdout).result
    expect(out.secrets).toEqual([
      {name: 'litellm-master-key', action: 'kept'},
      {name: 'litellm-db', action: 'kept'},
    ])
    expect(out.objects.every((o: {action: string}) => o.action === 'unchanged')).toBe(true)
    expect(settings(out)).toMatchObject({internal: {action: 'kept', value: true}, 'certificate-arn': {action: 'kept', value: ARN}, replicas: {action: 'kept', value: 3}, 'storage-size': {action: 'kept', value: '20Gi'}, 'gateway-class': {action: 'kept', value: null}})
    await keysStillValid()
  })

  it('`cluster bootstrap --gateway` rerun keeps the gateway as installed', async () => {
    const r = await runCli(['cluster', 'bootstrap', '--skip-eks', '--gateway', '--json'], {env, timeoutMs: 90_000})
    expect(r.code, r.stderr).toBe(0)
    expect(snapshot(api)).toEqual(first)
    const g = json(r.stdout).result.gateway
    expect(changed(g)).toEqual([])
    expect(settings(g)).toMatchObject({internal: {action: 'kept', value: true}, replicas: {action: 'kept', value: 3}})
    // the human output names what it keeps, --dry-run too
    const text = await runCli(['cluster', 'bootstrap', '--skip-eks', '--gateway', '--dry-run'], {env, timeoutMs: 90_000})
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/Gateway settings/)
    expect(text.stdout).toMatch(/internal\s+true\s+kept \(flag omitted\)/)
    expect(text.stdout).toMatch(/certificate-arn\s+arn:aws:acm:\S+\s+kept \(flag omitted\)/)
    expect(snapshot(api)).toEqual(first)
    await keysStillValid()
  })

  it('--dry-run shows old -> new and writes nothing; the run then changes only --replicas', async () => {
    const plan = await install('--replicas', '4', '--dry-run')
    expect(plan.code, plan.stderr).toBe(0)
    expect(plan.stdout).toMatch(/replicas\s+3 -> 4\s+changed/)
    expect(plan.stdout).toMatch(/internal\s+true\s+kept \(flag omitted\)/)
    expect(snapshot(api)).toEqual(first)

    // teams are not settings: naming tenants again finds their teams (budgets and keys untouched)
    const r = await install('--replicas', '4', '--tenant', 'team-a', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(changed(json(r.stdout).result)).toEqual(['replicas'])
    expect(json(r.stdout).result.teams).toEqual([{team: 'team-a', action: 'exists'}])
    const now = snapshot(api)
    expect(now.deployment.replicas).toBe(4)
    expect({...now, deployment: {...now.deployment, replicas: 3}}).toEqual(first)
    await keysStillValid()
  })

  it('going back to a default takes the flag: --no-internal makes it internet-facing, TLS stays', async () => {
    const r = await install('--no-internal', '--json')
    expect(r.code, r.stderr).toBe(0)
    expect(settings(json(r.stdout).result).internal).toMatchObject({action: 'changed', previous: true, value: false})
    const now = snapshot(api)
    expect(now.service.annotations['service.beta.kubernetes.io/aws-load-balancer-scheme']).toBe('internet-facing')
    expect(now.service.annotations['service.beta.kubernetes.io/aws-load-balancer-ssl-cert']).toBe(ARN)
    expect(now.masterKey).toEqual(first.masterKey)
    // internet-facing with TLS: no warning; without TLS (here a dry run) plain HTTP is warned about
    expect(json(r.stdout).warnings).toEqual([])
    const plain = await install('--certificate-arn', 'none', '--dry-run', '--json')
    expect(plain.code, plain.stderr).toBe(0)
    expect(json(plain.stdout).warnings).toEqual([expect.stringMatching(/^the gateway is internet-facing over plain HTTP \(port 80\): API keys and prompts cross the internet unencrypted\nFix: --certificate-arn ARN/)])
    const human = await install('--certificate-arn', 'none', '--dry-run')
    expect(human.code, human.stderr).toBe(0)
    expect(human.stderr).toMatch(/Warning: the gateway is internet-facing over plain HTTP[^\n]*\nFix: --certificate-arn ARN \(an ACM certificate: TLS on 443\), or --internal/)
    expect(snapshot(api).service.annotations['service.beta.kubernetes.io/aws-load-balancer-ssl-cert']).toBe(ARN)
  })

  it('a database volume of another size is refused before anything is applied (a StatefulSet\'s volumeClaimTemplates are immutable)', async () => {
    const before = snapshot(api)
    const r = await install('--storage-size', '50Gi', '--replicas', '2')
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--storage-size 50Gi/)
    expect(r.stderr).toMatch(/Fix:/)
    expect(snapshot(api)).toEqual(before)
  })
})

describe('gateway rerun: Gateway API + external database', () => {
  let api: KubeApiServer
  let env: NodeJS.ProcessEnv
  let first: ReturnType<typeof snapshot>

  beforeAll(async () => {
    api = await startKubeApiServer({namespaces: ['default', 'kube-system', GATEWAY_NS], deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, nodes: aipCluster([], {systemNodes: 2})})
    api.registerCrd({group: 'gateway.networking.k8s.io', version: 'v1', kind: 'Gateway'})
    api.registerCrd({group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute'})
    api.store.put({apiVersion: 'v1', kind: 'Secret', metadata: {name: 'litellm-rds', namespace: GATEWAY_NS}, type: 'Opaque', data: {url: Buffer.from('postgresql://u:p@rds.example:5432/litellm').toString('base64')}})
    env = isolatedEnv({KUBECONFIG: api.kubeconfigPath})
    const r = await runCli(['gateway', 'install', '--gateway-class', 'aws-alb', '--hostname', 'llm.example.com', '--tls-secret', 'llm-tls', '--database-url-secret', 'litellm-rds:url', '--json'], {env, timeoutMs: 90_000})
    expect(r.code, r.stderr).toBe(0)
    first = snapshot(api)
    expect(first.service.type).toBe('ClusterIP')
    expect(first.postgres).toBeNull()
    expect(first.deployment.db).toEqual({name: 'litellm-rds', key: 'url'})
  })

  afterAll(async () => {
    await api?.stop()
  })

  it('plain reruns of both commands keep the Gateway, the hostname, the TLS Secret and the external database', async () => {
    for (const args of [['gateway', 'install', '--json'], ['cluster', 'bootstrap', '--skip-eks', '--gateway', '--json']]) {
      const r = await runCli(args, {env, timeoutMs: 90_000})
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      const now = snapshot(api)
      expect(now).toEqual(first)
      expect(api.store.get('apps/v1', 'StatefulSet', GATEWAY_NS, 'litellm-db')).toBeUndefined()
      const out = json(r.stdout).result
      const g = out.gateway ?? out
      expect(settings(g)).toMatchObject({'gateway-class': {action: 'kept', value: 'aws-alb'}, hostname: {action: 'kept', value: 'llm.example.com'}, 'tls-secret': {action: 'kept', value: 'llm-tls'}, 'database-url-secret': {action: 'kept', value: 'litellm-rds:url'}})
    }
  })

  it('--gateway-class none goes back to the LoadBalancer Service and removes the Gateway and HTTPRoute; the database stays external', async () => {
    const r = await runCli(['gateway', 'install', '--gateway-class', 'none', '--internal', '--json'], {env, timeoutMs: 90_000})
    expect(r.code, r.stderr).toBe(0)
    const now = snapshot(api)
    expect(now.service.type).toBe('LoadBalancer')
    expect(now.service.annotations['service.beta.kubernetes.io/aws-load-balancer-scheme']).toBe('internal')
    expect(now.gateway).toBeNull()
    expect(now.route).toBeNull()
    expect(now.deployment.db).toEqual({name: 'litellm-rds', key: 'url'})
    expect(now.masterKey).toEqual(first.masterKey)
    expect(changed(json(r.stdout).result).sort()).toEqual(['gateway-class'])
  })
})
