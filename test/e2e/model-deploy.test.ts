import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {parse, parseAllDocuments, stringify} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, ROOT, runCli} from '../support/cli.js'
import {HubServer} from '../support/hub-server.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {ptyMissingReason, runInPty} from '../support/pty.js'
import {putModelNamespace} from '../support/model-namespace.js'

const NS = 'aip-models'
let api: KubeApiServer
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  // L4 nodes of aip's NodePool (no L40S: qwen3-8b cannot schedule) and a default system node
  // (m6i.large, 20 GiB root disk): the preload Job streams, it needs no scratch disk
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 50}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6.xlarge': 2})})
  putModelNamespace(api, NS, {hfToken: 'hf_e2e'})
  api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
  env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
})
afterAll(async () => {
  await api.stop()
})

function json(stdout: string): any {
  return JSON.parse(stdout)
}

describe('aip model deploy | list | status | delete (built CLI against the loopback API server)', () => {
  it('a gated model without the HF token Secret fails before applying, naming `aip secret set hf-token`, which writes it without echoing it', async () => {
    const ns = 'team-s'
    putModelNamespace(api, ns)
    const TOKEN = 'hf_SecretE2EtokenZZZZZZZZZZZZ'
    const r = await runCli(['model', 'deploy', 'llama-3.1-8b-instruct', '-n', ns, '--json'], {env})
    expect(r.code, r.stdout + r.stderr).toBe(2)
    const e = json(r.stdout).error
    expect(e.message).toContain('is gated on the Hub (meta-llama/Llama-3.1-8B-Instruct) and the Secret team-s/aip-hf-token holding its token does not exist')
    expect(e.fix).toContain('aip secret set hf-token -n team-s')
    expect(api.store.all().filter((o: any) => o.metadata.namespace === ns && !['ServiceAccount'].includes(o.kind))).toEqual([])
    // no $HF_TOKEN and no terminal: exit 2 naming the variable
    const none = await runCli(['secret', 'set', 'hf-token', '-n', ns], {env})
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('HF_TOKEN')
    // from $HF_TOKEN: written, never printed
    const set = await runCli(['secret', 'set', 'hf-token', '-n', ns, '--json'], {env: {...env, HF_TOKEN: TOKEN}})
    expect(set.code, set.stderr).toBe(0)
    expect(json(set.stdout).result).toEqual({secret: 'aip-hf-token', namespace: ns, key: 'token', action: 'created'})
    expect(set.stdout + set.stderr).not.toContain(TOKEN)
    expect(Buffer.from(api.store.get('v1', 'Secret', ns, 'aip-hf-token')!.data.token, 'base64').toString()).toBe(TOKEN)
    // --stdin replaces it; the same value again is unchanged
    const piped = await runCli(['secret', 'set', 'hf-token', '-n', ns, '--stdin'], {env, input: `${TOKEN}2\n`})
    expect(piped.code, piped.stderr).toBe(0)
    expect(piped.stdout).toContain('Secret team-s/aip-hf-token (key token) configured')
    expect(piped.stdout + piped.stderr).not.toContain(TOKEN)
    // now the deploy applies
    const ok = await runCli(['model', 'deploy', 'llama-3.1-8b-instruct', '-n', ns, '--no-wait', '--json'], {env})
    expect(ok.code, ok.stderr).toBe(0)
    expect(api.store.get('apps/v1', 'Deployment', ns, 'llama-3-1-8b-instruct')).toBeDefined()
  })

  it('deploys a catalog model, waits for the rollout, prints only JSON with --json', async () => {
    const r = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    const out = json(r.stdout)
    expect(out.status).toBe('ok')
    expect(out.command).toBe('model:deploy')
    expect(out.result.mode).toBe('apply')
    expect(out.result.rollout.available).toBe(1)
    expect(out.result.endpoint).toBe('http://qwen2-5-coder-1-5b.aip-models.svc:8000/v1')
    expect(out.result.objects.map((o: any) => o.kind)).toContain('ScaledObject')
    expect(out.warnings.some((w: string) => w.includes('ServiceMonitor'))).toBe(true)
    expect(api.store.get('apps/v1', 'Deployment', NS, 'qwen2-5-coder-1-5b')).toBeDefined()
  })

  it('a rerun converges: every object unchanged; progress as plain lines on stderr without a TTY', async () => {
    const r = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b'], {env})
    expect(r.code, r.stderr).toBe(0)
    const rows = r.stdout.split('\n').filter((l) => /^(ServiceAccount|NetworkPolicy|Job|Service|Deployment|PodDisruptionBudget|ScaledObject)\s/.test(l))
    expect(rows.length).toBe(7) // no ServiceAccount: the shared ones are bootstrap's
    expect(rows.every((l) => /\sunchanged$/.test(l))).toBe(true)
    expect(r.stdout).toContain('is serving at http://qwen2-5-coder-1-5b.aip-models.svc:8000/v1')
    expect(r.stderr).toContain('✔ gpu-fit: fits on 1x l4')
    expect(r.stderr).toMatch(/✔ qwen2-5-coder-1-5b: 1\/1 replicas available/)
    expect(r.stderr).not.toMatch(/\u001b\[/)
  })

  it.skipIf(Boolean(ptyMissingReason()))('on a terminal: listr2 progress per object and for the rollout, then the summary table', async () => {
    // long enough that the rollout step sees it unready even on a slow machine (apply + preload first)
    api.setDeploymentBehavior(NS, 'llama-guard-3-1b', {mode: 'ready', readyDelayMs: 2000})
    const {CI: _ci, NO_COLOR: _nc, ...ttyEnv} = env
    const term = runInPty(['model', 'deploy', 'llama-guard-3-1b'], {env: ttyEnv})
    try {
      expect(await term.exited).toBe(0)
      const out = term.output()
      // tasks: the gpu-fit gate, one line per object as it is applied, the rollout with its progress
      expect(out).toMatch(/\x1b\[32m✔\x1b\[39m gpu-fit: llama-guard-3-1b on 1x \S+/)
      // (the renderer redraws on a timer, so it shows the latest object at each tick, not every one)
      expect(out).toMatch(new RegExp(`› (ServiceAccount|NetworkPolicy|Job|Service|Deployment|PodDisruptionBudget|ScaledObject)/${NS}/llama-guard-3-1b\\S* created`))
      expect(out).toMatch(/✔\x1b\[39m applied \d+ objects: \d+ created/)
      expect(out).toMatch(/› 0\/1 ready, 0 available/)
      expect(out).toMatch(/✔\x1b\[39m llama-guard-3-1b: 1\/1 replicas available; serving at http:\/\/llama-guard-3-1b\.aip-models\.svc:8000\/v1/)
      // redrawn in place: a spinner, lines cleared and the cursor moved up, the cursor hidden then shown
      expect(out).toMatch(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]/)
      expect(out).toContain('\x1b[1A\x1b[2K')
      expect(out).toMatch(/\x1b\[\?25l[\s\S]*\x1b\[\?25h$/)
      // then the summary on stdout
      expect(out).toMatch(/KIND\s+NAME\s+ACTION/)
      expect(out).toMatch(/llama-guard-3-1b is serving at http:\/\/llama-guard-3-1b\.aip-models\.svc:8000\/v1/)
    } finally {
      term.kill()
      const del = await runCli(['model', 'delete', 'llama-guard-3-1b', '--json'], {env})
      expect(del.code, del.stderr).toBe(0)
    }
  })

  it('list and status show the deployed model', async () => {
    const l = await runCli(['model', 'list', '--json'], {env})
    expect(l.code, l.stderr).toBe(0)
    const row = json(l.stdout).result.models.find((m: any) => m.name === 'qwen2.5-coder-1.5b')
    expect(row).toMatchObject({deployed: true, status: 'Ready', ready: 1, desired: 1})
    const s = await runCli(['model', 'status', 'qwen2.5-coder-1.5b'], {env})
    expect(s.code, s.stderr).toBe(0)
    expect(s.stdout).toMatch(/status:\s+Ready/)
    expect(s.stdout).toMatch(/Deployment\s+qwen2-5-coder-1-5b\s+Ready/)
    expect(s.stdout).toContain('Pods:')
  })

  it('-o yaml prints the rendered objects only (no cluster needed)', async () => {
    const r = await runCli(['model', 'deploy', 'llama-3.1-8b-instruct', '-o', 'yaml'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expect(r.code, r.stderr).toBe(0)
    const docs = parseAllDocuments(r.stdout).map((d) => d.toJS())
    expect(docs.map((d) => d.kind)).toEqual(['NetworkPolicy', 'NetworkPolicy', 'Job', 'Service', 'Deployment', 'PodDisruptionBudget', 'ScaledObject', 'ServiceMonitor', 'PrometheusRule'])
    expect(docs.every((d) => d.metadata.labels['aip.dev/model'] === 'llama-3.1-8b-instruct')).toBe(true)
  })

  it('--template deploys a custom entry; a broken one names path and reason (exit 2, JSON error)', async () => {
    const doc = parse(readFileSync(join(ROOT, 'templates', 'models', 'llama-guard-3-1b.yaml'), 'utf8'))
    const dir = mkdtempSync(join(tmpdir(), 'aip-e2e-'))
    doc.name = 'my-guard'
    doc.servedModelName = 'my-guard'
    const good = join(dir, 'my-guard.yaml')
    writeFileSync(good, stringify(doc))
    const ok = await runCli(['model', 'deploy', '--template', good, '--no-wait', '--json'], {env})
    expect(ok.code, ok.stderr).toBe(0)
    expect(json(ok.stdout).result.waited).toBe(false)
    doc.gpu.count = 'two'
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, stringify(doc))
    const r = await runCli(['model', 'deploy', '-f', bad, '--json'], {env})
    expect(r.code).toBe(2)
    const e = json(r.stdout)
    expect(e.status).toBe('error')
    expect(e.error.message).toContain(bad)
    expect(e.error.message).toContain('gpu.count: Expected number, received string')
  })

  it('hf:ORG/REPO: config.json from the Hub, revision pinned to the commit, flags for the rest', async () => {
    const hub = await HubServer.start()
    try {
      const cfg = {architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2, vocab_size: 151936, max_position_embeddings: 32768, tie_word_embeddings: true, torch_dtype: 'bfloat16'}
      const {commit} = hub.addRepo('Qwen/Qwen2.5-0.5B-Instruct', {files: {'config.json': JSON.stringify(cfg)}})
      const r = await runCli(['model', 'deploy', 'hf:Qwen/Qwen2.5-0.5B-Instruct', '--gpu', 'l4', '--max-model-len', '8192', '--max-num-seqs', '16', '--no-wait', '--json'], {env: {...env, HF_ENDPOINT: hub.url}})
      expect(r.code, r.stderr).toBe(0)
      const out = json(r.stdout).result
      expect(out.model).toBe('qwen2.5-0.5b-instruct')
      expect(out.hf).toEqual({repo: 'Qwen/Qwen2.5-0.5B-Instruct', revision: commit, pinned: true})
      const dep = api.store.get('apps/v1', 'Deployment', NS, 'qwen2-5-0-5b-instruct')!
      expect(dep.spec.template.spec.containers[0].args[0]).toBe(`s3://weights/models/Qwen--Qwen2.5-0.5B-Instruct/${commit}/`)
      const missing = await runCli(['model', 'deploy', 'hf:nobody/nothing', '--gpu', 'l4'], {env: {...env, HF_ENDPOINT: hub.url}})
      expect(missing.code).toBe(4)
    } finally {
      await hub.stop()
    }
  })

  it('unknown model: exit 4 with the closest names', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8'], {env})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/model "qwen3-8" is not in the catalog/)
    expect(r.stderr).toMatch(/did you mean "qwen3-8b"/)
    expect(r.stderr.trim().split('\n').length).toBe(2)
  })

  it('does not fit: exit 3 with the NOT_FIT error object', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--gpu', 'l4', '--max-model-len', '40960', '--json'], {env})
    expect(r.code).toBe(3)
    expect(json(r.stdout).error.code).toBe('NOT_FIT')
  })

  it('no kubeconfig: exit 4; unreachable cluster: exit 5; RBAC 403: exit 6', async () => {
    const none = await runCli(['model', 'deploy', 'qwen3-8b'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expect(none.code).toBe(4)
    const dir = mkdtempSync(join(tmpdir(), 'aip-kc-'))
    const kc = join(dir, 'config')
    writeFileSync(kc, readFileSync(api.kubeconfigPath, 'utf8').replace(api.url, 'https://127.0.0.1:9'))
    const down = await runCli(['model', 'status', 'qwen3-8b'], {env: isolatedEnv({KUBECONFIG: kc})})
    expect(down.code).toBe(5)
    api.faults.forbid({verb: 'patch', resource: 'deployments', namespace: NS})
    try {
      const forbidden = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b', '--json'], {env})
      expect(forbidden.code).toBe(6)
      expect(json(forbidden.stdout).error.message).toMatch(/deployments/)
    } finally {
      api.faults.clear()
    }
  })

  it('a conflict with another field manager: exit 1 and the fix names --force-conflicts', async () => {
    const svc = api.store.get('v1', 'Service', NS, 'qwen2-5-coder-1-5b')!
    const res = await api.fetch(`/api/v1/namespaces/${NS}/services/qwen2-5-coder-1-5b?fieldManager=helm&force=true`, {
      method: 'PATCH',
      headers: {'content-type': 'application/apply-patch+yaml'},
      body: JSON.stringify({apiVersion: 'v1', kind: 'Service', metadata: {name: svc.metadata.name, namespace: NS}, spec: {ports: [{name: 'http', port: 8000, targetPort: 9000, protocol: 'TCP'}]}}),
    })
    expect(res.status).toBe(200)
    const r = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b'], {env})
    expect(r.code).toBe(1)
    // ports merge by port+protocol: the conflict names the keyed field, as kube-apiserver does
    expect(r.stderr).toContain('.spec.ports[port=8000,protocol="TCP"].targetPort')
    expect(r.stderr).toContain('--force-conflicts')
    const forced = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b', '--force-conflicts', '--no-wait'], {env})
    expect(forced.code, forced.stderr).toBe(0)
  })

  it('a stalled rollout: exit 7 with the cause from pod status and events', async () => {
    // the cluster has L4 nodes only: the scheduler finds no L40S for qwen3-8b
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--timeout', '2s'], {env})
    expect(r.code).toBe(7)
    expect(r.stderr).toMatch(/timed out waiting for deployment aip-models\/qwen3-8b: pod qwen3-8b-\S+ is Pending, FailedScheduling: 0\/3 nodes are available: 3 node\(s\) didn't match Pod's node affinity\/selector\. preemption: 0\/3 nodes are available: 3 Preemption is not helpful for scheduling\./)
    expect(r.stderr).toMatch(/Fix: no node has the GPU type the model selects/)
  })

  it('delete removes everything and waits; then status is not-found (exit 4)', async () => {
    const r = await runCli(['model', 'delete', 'qwen2.5-coder-1.5b', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    const out = json(r.stdout).result
    expect(out.waited).toBe(true)
    expect(out.weightsKept).toBe(true)
    expect(api.store.all().filter((o: any) => o.metadata.labels?.['aip.dev/model'] === 'qwen2.5-coder-1.5b')).toEqual([])
    const s = await runCli(['model', 'status', 'qwen2.5-coder-1.5b'], {env})
    expect(s.code).toBe(4)
  })
})
