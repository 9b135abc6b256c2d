// The built CLI: revision history and rollback. Deploy qwen3-8b, redeploy it with another Hub
// revision, roll back: the Deployment's spec is the first one's again, the gateway still serves the
// model under the same id, the history holds three revisions; --to; the refusals and exit codes.
import {spawn} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {getCatalogEntry} from '../../src/lib/catalog/index.js'
import {BIN, isolatedEnv, runCli} from '../support/cli.js'
import {type GatewayPeers, startGatewayPeers} from '../support/gateway.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {putModelNamespace} from '../support/model-namespace.js'

const NS = 'aip-models'
const OTHER = '0123456789abcdef0123456789abcdef01234567'
let api: KubeApiServer
let peers: GatewayPeers
let env: NodeJS.ProcessEnv
let masterKey: string

const json = (s: string) => JSON.parse(s)
/** What aip sets on the Deployment: labels, selector, strategy and the whole pod template. */
const owned = () => {
  const d = api.store.get('apps/v1', 'Deployment', NS, 'qwen3-8b')!
  return {labels: d.metadata.labels, selector: d.spec.selector, strategy: d.spec.strategy, template: d.spec.template}
}
const historyOf = async (name: string) => {
  const r = await runCli(['model', 'history', name, '--json'], {env})
  expect(r.code, r.stderr).toBe(0)
  return json(r.stdout).result.revisions as Array<{revision: number; source: string; restoredFrom?: number; summary: {hfRevision: string}; changes: string[]}>
}
const chat = () =>
  fetch(`${peers.litellm.replicas[1]!.url}/v1/chat/completions`, {method: 'POST', headers: {authorization: `Bearer ${masterKey}`, 'content-type': 'application/json'}, body: JSON.stringify({model: 'qwen3-8b', messages: [{role: 'user', content: 'hi'}], max_tokens: 2})})

beforeAll(async () => {
  // system nodes for the gateway and the preload Jobs; L40S for qwen3-8b, L4 for qwen2.5-coder-1.5b
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6e.xlarge': 2, 'g6.xlarge': 1}, {systemNodes: 2, systemRootVolumeGiB: 100})})
  putModelNamespace(api, NS)
  const kenv = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
  const g = await runCli(['gateway', 'install', '--json'], {env: kenv})
  expect(g.code, g.stderr).toBe(0)
  masterKey = Buffer.from(api.store.get('v1', 'Secret', 'aip-gateway', 'litellm-master-key')!.data['master-key'], 'base64').toString()
  peers = await startGatewayPeers(api, {masterKey})
  await peers.wirePods()
  env = {...kenv, AIP_GATEWAY_URL: peers.litellm.replicas[0]!.url}
})

afterAll(async () => {
  await peers?.close()
  await api?.stop()
})

describe('aip model history / rollback (built CLI)', () => {
  let specA: ReturnType<typeof owned>
  let specB: ReturnType<typeof owned>
  const catalogRevision = getCatalogEntry('qwen3-8b').hf.revision

  it('deploy, then a redeploy with another --revision: two revisions; a rerun records none', async () => {
    const a = await runCli(['model', 'deploy', 'qwen3-8b'], {env})
    expect(a.code, a.stderr).toBe(0)
    specA = owned()
    // a rollback with one revision: nothing to go back to (exit 1, with the fix)
    const one = await runCli(['model', 'rollback', 'qwen3-8b', '--yes'], {env})
    expect(one.code).toBe(1)
    expect(one.stderr).toContain('nothing to roll back to: qwen3-8b has only revision 1')
    expect(one.stderr).toMatch(/Fix: .*deploy another version first/)

    const b = await runCli(['model', 'deploy', 'qwen3-8b', '--revision', OTHER], {env})
    expect(b.code, b.stderr).toBe(0)
    specB = owned()
    expect(specB.template).not.toEqual(specA.template)
    const again = await runCli(['model', 'deploy', 'qwen3-8b', '--revision', OTHER, '--json'], {env})
    expect(again.code, again.stderr).toBe(0)
    expect(json(again.stdout).result.history).toEqual({revision: 2, recorded: false})
    // dry runs record nothing
    expect((await runCli(['model', 'deploy', 'qwen3-8b', '--dry-run=server'], {env})).code).toBe(0)
    expect((await runCli(['model', 'deploy', 'qwen3-8b', '-o', 'yaml'], {env})).code).toBe(0)

    const h = await historyOf('qwen3-8b')
    expect(h.map((r) => [r.revision, r.source, r.summary.hfRevision])).toEqual([
      [2, 'deploy', OTHER],
      [1, 'deploy', catalogRevision],
    ])
    expect(h[0].changes).toEqual([`hf revision: ${catalogRevision.slice(0, 12)} -> ${OTHER.slice(0, 12)}`])
    const t = await runCli(['model', 'history', 'qwen3-8b'], {env})
    expect(t.code, t.stderr).toBe(0)
    expect(t.stdout).toMatch(/^REVISION\s+RECORDED\s+SOURCE\s+CHANGE/m)
    expect(t.stdout).toMatch(new RegExp(`^2\\s+\\S+\\s+deploy\\s+hf revision: ${catalogRevision.slice(0, 12)} -> ${OTHER.slice(0, 12)}`, 'm'))
    // kubectl's spelling works too
    expect((await runCli(['model', 'rollout', 'history', 'qwen3-8b'], {env})).stdout).toBe(t.stdout)
  })

  it('without a terminal a rollback needs --yes (exit 2); --dry-run prints the plan; neither changes anything', async () => {
    const n = await runCli(['model', 'rollback', 'qwen3-8b'], {env})
    expect(n.code).toBe(2)
    expect(n.stderr).toContain('needs confirmation')
    const d = await runCli(['model', 'rollback', 'qwen3-8b', '--dry-run'], {env})
    expect(d.code, d.stderr).toBe(0)
    expect(d.stderr).toContain('would roll back qwen3-8b in aip-models: revision 2 -> revision 1')
    expect(d.stdout).toMatch(/^Deployment\s+qwen3-8b\s+update$/m)
    expect(d.stdout).toMatch(/^Job\s+qwen3-8b-preload-[0-9a-f]{8}\s+delete$/m)
    expect(owned()).toEqual(specB)
    expect((await historyOf('qwen3-8b')).length).toBe(2)
  })

  it('model rollback restores the previous Deployment spec exactly; the gateway still serves; three revisions', async () => {
    const r = await runCli(['model', 'rollback', 'qwen3-8b', '--yes'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('qwen3-8b rolled back from revision 2 to revision 1 (recorded as revision 3); serving at')
    expect(r.stdout).toContain('gateway: "qwen3-8b"')
    expect(owned()).toEqual(specA)
    expect(peers.litellm.db.models.get('aip:aip-models:qwen3-8b')!.litellm_params).toEqual({model: 'hosted_vllm/qwen3-8b', api_base: 'http://qwen3-8b.aip-models.svc:8000/v1'})
    for (const rep of peers.litellm.replicas) expect(rep.modelNames()).toContain('qwen3-8b')
    expect((await chat()).status).toBe(200)
    const h = await historyOf('qwen3-8b')
    expect(h.map((x) => [x.revision, x.source, x.restoredFrom ?? null])).toEqual([
      [3, 'rollback', 1],
      [2, 'deploy', null],
      [1, 'deploy', null],
    ])
    // the preload Job of revision 2 went (revision 1 does not have it)
    const jobs = api.store.list('batch/v1', 'Job', NS).filter((j) => !j.metadata.deletionTimestamp).map((j) => j.metadata.annotations?.['aip.dev/hf-revision'])
    expect(jobs).toEqual([catalogRevision])
  })

  it('--to N: to a listed revision (--json); an unknown one is exit 4 listing the numbers', async () => {
    const r = await runCli(['model', 'rollback', 'qwen3-8b', '--to', '2', '--yes', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(json(r.stdout).result).toMatchObject({model: 'qwen3-8b', from: 3, to: 2, revision: 4, waited: true, fit: {checked: true, fits: true}})
    expect(owned()).toEqual(specB)
    expect((await chat()).status).toBe(200)
    const bad = await runCli(['model', 'rollback', 'qwen3-8b', '--to', '9', '--yes'], {env})
    expect(bad.code).toBe(4)
    expect(bad.stderr).toContain('qwen3-8b has no revision 9 (available: 1, 2, 3, 4)')
    const badJson = await runCli(['model', 'rollback', 'qwen3-8b', '--to', '9', '--json'], {env})
    expect(badJson.code).toBe(4)
    expect(json(badJson.stdout).error.details.available).toEqual([4, 3, 2, 1])
  })

  it('refusals: a model that is not deployed (exit 4); a rollout in progress (exit 1)', async () => {
    const n = await runCli(['model', 'rollback', 'qwen3-8', '--yes'], {env})
    expect(n.code).toBe(4)
    expect(n.stderr).toContain('model "qwen3-8" is not deployed in namespace aip-models')
    expect(n.stderr).toContain('did you mean "qwen3-8b"?')
    api.store.put({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'aip-rollout-qwen3-8b', namespace: NS}, data: {'state.json': JSON.stringify({version: 1, model: 'qwen3-8b', phase: 'shifting', weight: 50})}})
    const busy = await runCli(['model', 'rollback', 'qwen3-8b', '--yes'], {env})
    expect(busy.code).toBe(1)
    expect(busy.stderr).toContain('a rollout of qwen3-8b is in progress')
    api.store.remove('v1', 'ConfigMap', NS, 'aip-rollout-qwen3-8b')
    expect(owned()).toEqual(specB)
  })

  it('Ctrl-C while it waits: exit 130; the rollback is applied and recorded; the message says how to follow it', async () => {
    // the restored pods never become ready (not "ready after 8 s"): under load the interrupt could
    // otherwise land after the rollback finished
    api.setDeploymentBehavior(NS, 'qwen3-8b', {mode: 'none'})
    try {
      const child = spawn(process.execPath, [BIN, 'model', 'rollback', 'qwen3-8b', '--yes'], {env, stdio: ['ignore', 'pipe', 'pipe']})
      let stderr = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
      const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
      // applied (revision 1's spec) and recorded (revision 5), then waiting for the slow pod
      await api.waitFor((s) => Boolean(s.get('v1', 'ConfigMap', NS, 'aip-history-qwen3-8b')?.data?.['revision-5.json']), 30_000)
      expect(owned()).toEqual(specA)
      // interrupt once it waits for the rollout (its step is printed), not after a fixed sleep
      for (let i = 0; i < 3000 && !/rollout deployment/.test(stderr); i++) await new Promise((r) => setTimeout(r, 20))
      child.kill('SIGINT')
      expect(await exited, stderr).toBe(130)
      expect(stderr).toContain('revision 3 is applied and recorded as revision 5 and keeps rolling out: follow with `aip model status qwen3-8b` (another `model rollback` now would return to revision 4)')
      expect((await historyOf('qwen3-8b'))[0]).toMatchObject({revision: 5, source: 'rollback', restoredFrom: 3})
    } finally {
      api.setDeploymentBehavior(NS, 'qwen3-8b', {mode: 'ready', readyDelayMs: 30})
    }
  })

  it('model list shows models, not their history; model delete removes the history; history then says not deployed (exit 4)', async () => {
    const l = await runCli(['model', 'list', '--json'], {env})
    expect(l.code, l.stderr).toBe(0)
    const deployed = (json(l.stdout).result.models as Array<{name: string; deployed?: boolean}>).filter((m) => m.deployed).map((m) => m.name)
    expect(deployed).toEqual(['qwen3-8b'])
    expect(l.stdout).not.toContain('aip-history')
    const d = await runCli(['model', 'delete', 'qwen3-8b'], {env})
    expect(d.code, d.stderr).toBe(0)
    expect(d.stdout).toMatch(/^ConfigMap\s+aip-history-qwen3-8b\s+deleted$/m)
    expect(api.store.get('v1', 'ConfigMap', NS, 'aip-history-qwen3-8b')).toBeUndefined()
    const h = await runCli(['model', 'history', 'qwen3-8b'], {env})
    expect(h.code).toBe(4)
    expect(h.stderr).toContain('is not deployed')
  })
})
