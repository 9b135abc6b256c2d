/**
 * `aip model rollout | rollout status | promote` as a user runs them (the built CLI, spawned) against
 * the loopback API server (nodes with GPUs, a real scheduler), the loopback gateway (two LiteLLM
 * replicas sharing a database, routing by weight as LiteLLM's simple-shuffle does) and a real
 * Prometheus scraping two loopback vLLM exporters, one per track, whose error rate the test sets.
 */
import {spawn} from 'node:child_process'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {BIN, isolatedEnv, runCli} from '../support/cli.js'
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
const REV_B = 'b'.repeat(40)
const REV_C = 'c'.repeat(40)
const REV_D = 'd'.repeat(40)
const REV_E = 'e'.repeat(40)
const REV_F = 'f'.repeat(40)
const STABLE_ID = `aip:${NS}:qwen3-8b`
const CANARY_ID = `aip:${NS}:qwen3-8b@canary`
// pod names as a ReplicaSet gives them (<deployment>-<pod-template-hash>-<5 chars>): the scrape's pod label
const STABLE_POD = 'qwen3-8b-7d9f6b5c4-x2k8p'
const CANARY_POD = 'qwen3-8b-canary-5c7d8f9b6-q4m2n'
const json = (s: string) => JSON.parse(s)

describe.skipIf(Boolean(skip))(`aip model rollout (built CLI; gateway, scheduler, Prometheus)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let api: KubeApiServer
  let litellm: LiteLLMServer
  let stableServer: OpenAIServer
  let canaryServer: OpenAIServer
  let exStable: VllmExporter
  let exCanary: VllmExporter
  let prom: PrometheusServer
  let env: NodeJS.ProcessEnv
  const interval = '4s'

  const dep = (name: string) => api.store.get('apps/v1', 'Deployment', NS, name)
  /** what each replica's own router serves for the name (its /model/info), id -> weight */
  const routerWeights = () =>
    Promise.all(
      litellm.replicas.map(async (r) => {
        const j = (await (await fetch(`${r.url}/model/info`, {headers: {authorization: `Bearer ${litellm.masterKey}`}})).json()) as {data: Array<{model_name: string; litellm_params: {weight?: number}; model_info: {id: string}}>}
        return Object.fromEntries(j.data.filter((m) => m.model_name === 'qwen3-8b').map((m) => [m.model_info.id, m.litellm_params.weight ?? null]))
      }),
    )
  const state = () => {
    const cm = api.store.get('v1', 'ConfigMap', NS, 'aip-rollout-qwen3-8b')
    return cm ? json(cm.data['state.json']) : undefined
  }
  const ask = (n: number) =>
    Promise.all(
      Array.from({length: n}, () =>
        fetch(`${litellm.replicas[n % 2]!.url}/v1/chat/completions`, {method: 'POST', headers: {authorization: `Bearer ${litellm.masterKey}`, 'content-type': 'application/json'}, body: JSON.stringify({model: 'qwen3-8b', messages: [{role: 'user', content: 'hi'}], max_tokens: 2})}).then((r) => r.text()),
      ),
    )
  /** Sends `n` requests through the gateway while the canary's share is `weight`; returns the canary's fraction. */
  const split = async (n: number): Promise<number> => {
    litellm.resetCounts()
    for (let i = 0; i < n; i += 25) await ask(Math.min(25, n - i))
    const c = litellm.deploymentCounts()
    return (c[CANARY_ID] ?? 0) / ((c[CANARY_ID] ?? 0) + (c[STABLE_ID] ?? 0))
  }
  const canaryOn = async (w: number) => (await routerWeights()).every((r) => r[CANARY_ID] === w && r[STABLE_ID] === 100 - w)
  /** `aip model rollout qwen3-8b ARGS` running in the background: its exit code, and what it has written so far. */
  const rolloutInBackground = (args: string[]) => {
    const child = spawn(process.execPath, [BIN, 'model', 'rollout', 'qwen3-8b', ...args], {env, stdio: ['ignore', 'pipe', 'pipe']})
    const out = {stdout: '', stderr: ''}
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out.stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out.stderr += d))
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)))
    return {child, out, exited}
  }

  beforeAll(async () => {
    // qwen3-8b fits one L40S (g6e.xlarge): stable + canary + the stable's surge pod at promotion = 3 GPU nodes
    api = await startKubeApiServer({namespaces: ['default', 'kube-system', NS], deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, nodes: aipCluster({'g6e.xlarge': 3}, {systemNodes: 2, systemRootVolumeGiB: 100})})
    putModelNamespace(api, NS)
    const kenv = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
    const r = await runCli(['gateway', 'install', '--json'], {env: kenv})
    expect(r.code, r.stderr).toBe(0)
    const masterKey = Buffer.from(api.store.get('v1', 'Secret', GATEWAY_NS, 'litellm-master-key')!.data['master-key'], 'base64').toString()
    stableServer = await startOpenAIServer({models: ['qwen3-8b'], ttftMs: 1, itlMs: 1, tokens: 2})
    canaryServer = await startOpenAIServer({models: ['qwen3-8b'], ttftMs: 1, itlMs: 1, tokens: 2})
    // the stable's and the canary's in-cluster api_base land on their own loopback servers
    litellm = await startLiteLLM({masterKey, syncIntervalMs: 100, resolveApiBase: (b) => `${b.includes('-canary.') ? canaryServer.url : stableServer.url}/v1`})
    await api.waitFor((s) => s.list('v1', 'Pod', GATEWAY_NS).filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'litellm' && p.status?.podIP).length >= 2, 10_000)
    const pods = api.store
      .list('v1', 'Pod', GATEWAY_NS)
      .filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'litellm')
      .map((p) => p.metadata.name)
      .sort()
    pods.forEach((name, i) => api.setPodBackend(GATEWAY_NS, name, 4000, litellm.replicas[i % 2]!.url))
    // the warm-up completion reaches the candidate through the API server's service proxy
    api.setServiceBackend(NS, 'qwen3-8b-canary', 'http', canaryServer.url)
    exStable = await startVllmExporter()
    exCanary = await startVllmExporter()
    exStable.vllmPod({model: 'qwen3-8b', pod: STABLE_POD, namespace: NS})
    exCanary.vllmPod({model: 'qwen3-8b', pod: CANARY_POD, namespace: NS})
    prom = await startPrometheus({targets: [exStable.target, exCanary.target]})
    await prom.waitForTargetsUp()
    env = {...kenv, AIP_GATEWAY_URL: litellm.replicas[0]!.url, AIP_PROMETHEUS_URL: prom.url}
    const d = await runCli(['model', 'deploy', 'qwen3-8b'], {env, timeoutMs: 90_000})
    expect(d.code, d.stderr).toBe(0)
    expect(d.stdout).toContain('gateway: "qwen3-8b" created, served by 2 replica(s)')
  }, 180_000)

  afterAll(async () => {
    await prom?.close()
    await exStable?.close()
    await exCanary?.close()
    await litellm?.close()
    await stableServer?.close()
    await canaryServer?.close()
    await api?.stop()
  })

  it('--dry-run prints the plan (steps, changes, GPU headroom) and changes nothing', async () => {
    const before = JSON.stringify(api.store.list('apps/v1', 'Deployment', NS))
    const rv = api.store.resourceVersion()
    const r = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_A, '--dry-run', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    const out = json(r.stdout).result
    expect(out).toMatchObject({phase: 'planned', mode: 'canary', plan: '0 -> 10 -> 50 -> 100 -> promote', capacity: {fits: true, needGpus: 1}})
    expect(out.changes).toEqual([`hf revision: b968826d9c46 -> aaaaaaaaaaaa`])
    const h = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_A, '--dry-run'], {env})
    expect(h.code, h.stderr).toBe(0)
    expect(h.stdout).toContain('steps:   0 -> 10 -> 50 -> 100 -> promote')
    expect(h.stdout).toContain('nothing was changed (--dry-run)')
    expect(api.store.resourceVersion()).toBe(rv)
    expect(JSON.stringify(api.store.list('apps/v1', 'Deployment', NS))).toBe(before)
    expect(state()).toBeUndefined()
  })

  it('a surge that does not fit: a clear error with the numbers and --surge 0 as the fix; nothing changed', async () => {
    api.store.put({apiVersion: 'v1', kind: 'ResourceQuota', metadata: {name: 'gpus', namespace: NS}, spec: {hard: {'requests.nvidia.com/gpu': '1'}}, status: {hard: {'requests.nvidia.com/gpu': '1'}, used: {'requests.nvidia.com/gpu': '1'}}})
    try {
      const r = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_A], {env})
      expect(r.code).toBe(1)
      expect(r.stderr).toContain('ResourceQuota aip-models/gpus allows 1 GPUs and 1 are in use: 0 free, the candidate needs 1 (1 x 1)')
      expect(r.stderr).toMatch(/--surge 0/)
      expect(dep('qwen3-8b-canary')).toBeUndefined()
      expect(state()).toBeUndefined()
    } finally {
      api.store.remove('v1', 'ResourceQuota', NS, 'gpus')
    }
    // no node of the candidate's GPU type and no NodePool to launch one
    const h = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_A, '--gpu', 'h100', '--json'], {env})
    expect(h.code).toBe(1)
    const err = json(h.stdout)
    expect(err.error.message).toMatch(/the nodes have room for 0 more replica\(s\) of 1 GPU\(s\) \(0 node\(s\) of p5\./)
    expect(err.error.fix).toMatch(/--surge 0/)
    expect(dep('qwen3-8b-canary')).toBeUndefined()
  })

  it('a healthy rollout to another revision passes 10 -> 50 -> 100 with the stable untouched, then the candidate is the stable', {timeout: 180_000}, async () => {
    const stableBefore = dep('qwen3-8b')!
    const specBefore = JSON.stringify(stableBefore.spec)
    const genBefore = stableBefore.metadata.generation
    const seen: Record<number, number> = {}
    let stableTouched = false
    const {child, out: run, exited} = rolloutInBackground(['--revision', REV_A, '--steps', '10,50,100', '--interval', interval, '--max-error-rate', '0.02', '--max-ttft-p95', '2s', '--json'])
    let done = false
    void exited.then(() => (done = true))
    // the gateway's database holds the canary at share w (what the replicas load every 100 ms)
    const dbOn = (w: number) => litellm.db.models.get(CANARY_ID)?.litellm_params.weight === w && litellm.db.models.get(STABLE_ID)?.litellm_params.weight === 100 - w
    /**
     * Runs `sample` at the canary share w with the rollout process stopped (SIGSTOP), so the weights
     * cannot move on while it samples, however slow the machine (200 requests against a 4 s step
     * could straddle two shares). Undefined when the rollout ended or moved past w before the stop.
     */
    const atShare = async <T,>(w: number, sample: () => Promise<T>): Promise<T | undefined> => {
      while (!done && !dbOn(w)) await new Promise((r) => setTimeout(r, 25))
      if (done) return undefined
      child.kill('SIGSTOP')
      try {
        if (!dbOn(w)) return undefined
        // the replicas load the database's weights on their own (every 100 ms); the bound only turns a hang into a failure
        for (const end = Date.now() + 30_000; !(await canaryOn(w)); await new Promise((r) => setTimeout(r, 25))) if (Date.now() > end) throw new Error(`the gateway replicas never served the canary at ${w}%`)
        return await sample()
      } finally {
        child.kill('SIGCONT')
      }
    }
    // at each share, requests through the gateway split by the weights, and the stable is as it was
    for (const w of [10, 50]) {
      const got = await atShare(w, async () => {
        if (state()?.phase !== 'promoting' && (JSON.stringify(dep('qwen3-8b')!.spec) !== specBefore || dep('qwen3-8b')!.metadata.generation !== genBefore)) stableTouched = true
        return split(200)
      })
      if (got !== undefined) seen[w] = got
    }
    const all = await atShare(100, async () => {
      if (JSON.stringify(dep('qwen3-8b')!.spec) !== specBefore) stableTouched = true
      return split(50)
    })
    if (all !== undefined) seen[100] = all
    const code = await exited
    expect(code, run.stderr).toBe(0)
    expect(stableTouched).toBe(false)
    // binomial(200, 0.1) and (200, 0.5): far outside these bounds only by a 1e-6 chance
    expect(seen[10]).toBeGreaterThan(0.02)
    expect(seen[10]).toBeLessThan(0.25)
    expect(seen[50]).toBeGreaterThan(0.3)
    expect(seen[50]).toBeLessThan(0.7)
    expect(seen[100]).toBe(1)
    const out = json(run.stdout).result
    expect(out.phase).toBe('promoted')
    expect(out.gates.map((g: {weight: number; verdict: string}) => `${g.weight}:${g.verdict}`)).toEqual(['0:baseline', '10:pass', '50:pass', '100:pass'])
    for (const g of out.gates.slice(1)) {
      expect(g.candidate).toMatchObject({state: 'ok', errorRate: 0})
      expect(g.candidate.ttftP95).toBeGreaterThan(0.25)
      expect(g.candidate.ttftP95).toBeLessThan(0.5)
      expect(g.stable.state).toBe('ok')
    }
    // the candidate is the stable: new revision on the stable's own Deployment, canary objects gone
    const after = dep('qwen3-8b')!
    expect(after.metadata.annotations['aip.dev/hf-revision']).toBe(REV_A)
    expect(after.metadata.generation).toBeGreaterThan(genBefore)
    expect(dep('qwen3-8b-canary')).toBeUndefined()
    expect(api.store.get('v1', 'Service', NS, 'qwen3-8b-canary')).toBeUndefined()
    // one registration for the name again, on every replica, serving everything
    expect(await routerWeights()).toEqual([{[STABLE_ID]: 100}, {[STABLE_ID]: 100}])
    expect(await split(20)).toBe(0)
    const st = await runCli(['model', 'rollout', 'status', 'qwen3-8b'], {env})
    expect(st.code, st.stderr).toBe(0)
    expect(st.stdout).toMatch(/phase:\s+promoted/)
    expect(st.stdout).toContain(`done: qwen3-8b runs the candidate's spec (hf revision: b968826d9c46 -> aaaaaaaaaaaa)`)
    // the promoted spec is the newest revision of the model's history, recorded as a rollout
    const hist = api.store.get('v1', 'ConfigMap', NS, 'aip-history-qwen3-8b')!
    const revs = Object.entries(hist.data as Record<string, string>).filter(([k]) => /^revision-\d+\.json$/.test(k)).map(([, v]) => json(v)).sort((a, b) => b.revision - a.revision)
    expect(revs[0]).toMatchObject({source: 'rollout', summary: {hfRevision: REV_A}})
    expect(revs[1]).toMatchObject({source: 'deploy', summary: {hfRevision: 'b968826d9c46dd6066d109eabc6255188de91218'}})
    const ms = await runCli(['model', 'status', 'qwen3-8b', '--json'], {env})
    expect(json(ms.stdout).result).toMatchObject({status: 'Ready', revision: REV_A})
  })

  it('10% errors injected on the candidate at 50% abort at the next gate: exit 1, all traffic on the stable, candidate at 0 replicas', {timeout: 180_000}, async () => {
    const stableSpec = JSON.stringify(dep('qwen3-8b')!.spec)
    const {out: run, exited} = rolloutInBackground(['--revision', REV_B, '--interval', interval, '--max-error-rate', '2%'])
    let done = false
    void exited.then(() => (done = true))
    while (!done && !(await canaryOn(50))) await new Promise((r) => setTimeout(r, 25))
    // stop + length finish at 4/s: an `abort` series at 4/9 per second is 10% of the finished requests
    exCanary.counterRate('vllm:request_success_total', {model_name: 'qwen3-8b', pod: CANARY_POD, namespace: NS, finished_reason: 'abort'}, 4 / 9)
    try {
      const code = await exited
      expect(code, run.stderr).toBe(1)
      expect(run.stderr).toMatch(/rollout of qwen3-8b aborted: the candidate breached its limits at 50%: error rate \d+\.\d% > 2\.0%/)
      expect(await routerWeights()).toEqual([{[STABLE_ID]: 100}, {[STABLE_ID]: 100}])
      expect(dep('qwen3-8b-canary')!.spec.replicas).toBe(0)
      expect(JSON.stringify(dep('qwen3-8b')!.spec)).toBe(stableSpec)
      const s = state()
      expect(s).toMatchObject({phase: 'aborted', weight: 0})
      const g = s.gates.at(-1)
      expect(g).toMatchObject({weight: 50, verdict: 'breach'})
      expect(g.candidate.errorRate).toBeGreaterThan(0.03)
      const st = await runCli(['model', 'rollout', 'status', 'qwen3-8b', '--json'], {env})
      expect(st.code, st.stderr).toBe(0)
      const out = json(st.stdout).result
      expect(out.phase).toBe('aborted')
      expect(out.explanation).toMatch(/^aborted at 50%: the candidate breached its limits at 50%: error rate \d+\.\d% > 2\.0%/)
      expect(out.breaches[0]).toMatchObject({metric: 'errorRate', limit: 0.02})
      expect(out.gateway).toMatchObject({stable: 100, replicas: 2, agree: true})
      expect(out.gateway.canary).toBeUndefined()
      // the model keeps serving through the gateway, all on the stable
      expect(await split(20)).toBe(0)
    } finally {
      exCanary.remove('vllm:request_success_total', {model_name: 'qwen3-8b', pod: CANARY_POD, namespace: NS, finished_reason: 'abort'})
    }
  })

  it('Ctrl-C leaves a state status explains; other flags are refused; the same flags resume to the end', {timeout: 180_000}, async () => {
    const args = ['model', 'rollout', 'qwen3-8b', '--revision', REV_C, '--interval', interval]
    const {child, out: run, exited} = rolloutInBackground(args.slice(3))
    while (!(await canaryOn(10))) await new Promise((r) => setTimeout(r, 25))
    child.kill('SIGINT')
    expect(await exited, run.stderr).toBe(130)
    expect(state()).toMatchObject({phase: 'shifting', weight: 10})
    const st = await runCli(['model', 'rollout', 'status', 'qwen3-8b'], {env})
    expect(st.code, st.stderr).toBe(0)
    expect(st.stdout).toMatch(/phase:\s+shifting/)
    expect(st.stdout).toMatch(/candidate serves 10% of "qwen3-8b".*rerun it with the same flags to resume/)
    // the stable belongs to the rollout until it ends: a deploy is refused, the cluster unchanged
    const deploy = await runCli(['model', 'deploy', 'qwen3-8b', '--revision', REV_A], {env})
    expect(deploy.code).toBe(2)
    expect(deploy.stderr).toContain('a rollout of qwen3-8b is in progress (shifting, candidate at 10%): a deploy would change the stable under it')
    const other = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_A, '--interval', interval], {env})
    expect(other.code).toBe(2)
    expect(other.stderr).toMatch(/a rollout of qwen3-8b is already in progress \(shifting, candidate at 10%/)
    expect(other.stderr).toMatch(/aip model promote qwen3-8b.*--abort/)
    const again = await runCli(args, {env, timeoutMs: 150_000})
    expect(again.code, again.stderr).toBe(0)
    expect(again.stderr).toContain('resume the rollout of qwen3-8b: shifting, candidate at 10%')
    expect(dep('qwen3-8b')!.metadata.annotations['aip.dev/hf-revision']).toBe(REV_C)
    expect(dep('qwen3-8b-canary')).toBeUndefined()
    expect(await routerWeights()).toEqual([{[STABLE_ID]: 100}, {[STABLE_ID]: 100}])
  })

  it('model promote from another terminal skips the remaining steps; the rollout that was running stops and says so', {timeout: 180_000}, async () => {
    const {out: run, exited} = rolloutInBackground(['--revision', REV_D, '--interval', '8s'])
    while (!(await canaryOn(10))) await new Promise((r) => setTimeout(r, 25))
    const p = await runCli(['model', 'promote', 'qwen3-8b', '--json'], {env, timeoutMs: 120_000})
    expect(p.code, p.stderr).toBe(0)
    const out = json(p.stdout).result
    expect(out).toMatchObject({phase: 'promoted', weight: 100})
    expect(out.gates.map((g: {weight: number}) => g.weight)).toEqual([0]) // only the baseline: no gate ran after 10%
    expect(await exited, run.stderr).toBe(0)
    expect(run.stderr).toMatch(/the rollout of qwen3-8b (was|is being) promoted by another command \(aip model promote\); this one stops here/)
    expect(dep('qwen3-8b')!.metadata.annotations['aip.dev/hf-revision']).toBe(REV_D)
    expect(dep('qwen3-8b-canary')).toBeUndefined()
    expect(await routerWeights()).toEqual([{[STABLE_ID]: 100}, {[STABLE_ID]: 100}])
    const again = await runCli(['model', 'promote', 'qwen3-8b'], {env})
    expect(again.code).toBe(2)
    expect(again.stderr).toContain('no rollout of qwen3-8b is in progress (the last one is promoted)')
  })

  it('a rollout CLI suspended while the replicas catch up (a laptop asleep), promoted from another terminal: resumed, it stops saying so instead of timing out on the gateway', async () => {
    const lagging = litellm.replicas[1]!
    lagging.pauseSync()
    let paused = true
    try {
      const {child, out: run, exited} = rolloutInBackground(['--revision', REV_B, '--interval', '8s'])
      // the CLI wrote the stable's 90% to the gateway's database and waits for the lagging replica to load it
      while (litellm.db.models.get(STABLE_ID)?.litellm_params.weight !== 90) await new Promise((r) => setTimeout(r, 25))
      child.kill('SIGSTOP')
      try {
        lagging.pauseSync(false)
        paused = false
        const p = await runCli(['model', 'promote', 'qwen3-8b', '--json'], {env, timeoutMs: 120_000})
        expect(p.code, p.stderr).toBe(0)
        expect(json(p.stdout).result).toMatchObject({phase: 'promoted', weight: 100})
      } finally {
        child.kill('SIGCONT')
      }
      // resumed, the wait for 90% (which promote replaced) sees the rollout taken over: exit 0, said
      expect(await exited, run.stderr).toBe(0)
      expect(run.stderr).toMatch(/the rollout of qwen3-8b (was|is being) promoted by another command \(aip model promote\); this one stops here/)
      expect(run.stderr).not.toContain('not on every gateway replica')
      expect(dep('qwen3-8b')!.metadata.annotations['aip.dev/hf-revision']).toBe(REV_B)
      expect(await routerWeights()).toEqual([{[STABLE_ID]: 100}, {[STABLE_ID]: 100}])
    } finally {
      if (paused) lagging.pauseSync(false)
    }
  })

  it('--abort from another terminal: traffic back to the stable, the candidate at 0; the running rollout exits 1 saying so', {timeout: 180_000}, async () => {
    const {out: run, exited} = rolloutInBackground(['--revision', REV_A, '--interval', '8s'])
    while (!(await canaryOn(10))) await new Promise((r) => setTimeout(r, 25))
    const a = await runCli(['model', 'rollout', 'qwen3-8b', '--abort', '--json'], {env, timeoutMs: 60_000})
    expect(a.code, a.stderr).toBe(0)
    expect(json(a.stdout).result).toMatchObject({phase: 'aborted', reason: 'aborted by an operator (--abort)', weight: 0})
    expect(await routerWeights()).toEqual([{[STABLE_ID]: 100}, {[STABLE_ID]: 100}])
    expect(dep('qwen3-8b-canary')!.spec.replicas).toBe(0)
    expect(await exited, run.stderr).toBe(1)
    expect(run.stderr).toMatch(/rollout of qwen3-8b aborted by another command: aborted by an operator \(--abort\)/)
    const again = await runCli(['model', 'rollout', 'qwen3-8b', '--abort'], {env})
    expect(again.code).toBe(2)
  })

  it('--surge 0 replaces in place with no second copy and gates it; a breach rolls the stable back to its previous spec', {timeout: 180_000}, async () => {
    const r = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_E, '--surge', '0', '--interval', interval, '--json'], {env, timeoutMs: 120_000})
    expect(r.code, r.stderr).toBe(0)
    const out = json(r.stdout).result
    expect(out).toMatchObject({phase: 'promoted', mode: 'in-place'})
    expect(out.gates.map((g: {weight: number; verdict: string}) => `${g.weight}:${g.verdict}`)).toEqual(['100:pass'])
    expect(dep('qwen3-8b')!.metadata.annotations['aip.dev/hf-revision']).toBe(REV_E)
    expect(dep('qwen3-8b-canary')).toBeUndefined()
    // 10% errors on the stable's pods: the gate after the rolling update aborts and the previous spec comes back
    exStable.counterRate('vllm:request_success_total', {model_name: 'qwen3-8b', pod: STABLE_POD, namespace: NS, finished_reason: 'abort'}, 4 / 9)
    try {
      const b = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_F, '--surge', '0', '--interval', interval], {env, timeoutMs: 120_000})
      expect(b.code, b.stderr).toBe(1)
      expect(b.stderr).toMatch(/rollout of qwen3-8b aborted: the new spec breached its limits: error rate \d+\.\d% > 2\.0%/)
      expect(dep('qwen3-8b')!.metadata.annotations['aip.dev/hf-revision']).toBe(REV_E)
      expect(state()).toMatchObject({phase: 'aborted', mode: 'in-place'})
    } finally {
      exStable.remove('vllm:request_success_total', {model_name: 'qwen3-8b', pod: STABLE_POD, namespace: NS, finished_reason: 'abort'})
    }
  })

  it('no data for the candidate (no finished requests in two windows) is its own condition: an abort, never a pass', {timeout: 180_000}, async () => {
    exCanary.clear()
    try {
      const r = await runCli(['model', 'rollout', 'qwen3-8b', '--revision', REV_A, '--interval', interval, '--json'], {env, timeoutMs: 150_000})
      expect(r.code, r.stderr).toBe(1)
      const err = json(r.stdout).error
      expect(err.message).toBe(`rollout of qwen3-8b aborted: no data for the candidate at 10% over two intervals of 4s (no finished requests)`)
      const report = err.details.rollout
      expect(report.phase).toBe('aborted')
      expect(report.gates.at(-1)).toMatchObject({weight: 10, verdict: 'no-data', candidate: {state: 'no-data', errorRate: null}, stable: {state: 'ok'}})
      expect(await routerWeights()).toEqual([{[STABLE_ID]: 100}, {[STABLE_ID]: 100}])
      expect(dep('qwen3-8b-canary')!.spec.replicas).toBe(0)
    } finally {
      exCanary.vllmPod({model: 'qwen3-8b', pod: CANARY_POD, namespace: NS})
    }
  })
})
