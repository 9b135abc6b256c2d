/** `aip model bench` as a user runs it, against the loopback OpenAI-compatible server. */
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli} from '../support/cli.js'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {type OpenAIServer, startOpenAIServer} from '../support/openai-server.js'
import {putModelNamespace} from '../support/model-namespace.js'

describe('aip model bench', () => {
  let ok: OpenAIServer
  let failing: OpenAIServer
  let open: OpenAIServer
  const KEY = 'sk-test-abcdef123456'
  const env = isolatedEnv({AIP_API_KEY: KEY})

  beforeAll(async () => {
    ok = await startOpenAIServer({ttftMs: 60, itlMs: 10, tokens: 6, apiKey: KEY, plan: (i) => (i % 5 === 4 ? 'malformed' : 'ok')})
    failing = await startOpenAIServer({plan: () => 500, apiKey: KEY})
    open = await startOpenAIServer({ttftMs: 60, itlMs: 10, tokens: 6})
  })
  afterAll(async () => {
    await ok?.close()
    await failing?.close()
    await open?.close()
  })

  it('--json: the result with TTFT/ITL/latency distributions and errors by kind; the key is never printed', async () => {
    const before = ok.requests.length
    const r = await runCli(['model', 'bench', '--url', ok.url, '--requests', '10', '--concurrency', '2', '--max-tokens', '6', '--prompt-tokens', '32', '--json'], {env})
    expect(r.code).toBe(0)
    const j = JSON.parse(r.stdout)
    expect(j.status).toBe('ok')
    expect(j.result).toMatchObject({model: 'test-model', api: 'chat', stream: true, requests: 10, succeeded: 8, failed: 2, errors: {malformed_stream: 2}, outputTokens: 48})
    // the CLI sends before the server receives, and sees each chunk after the server wrote it
    // (both clocks monotonic): TTFT >= the server's 60 ms (less 1 ms of timer granularity), and per
    // request TTFT + its 5 gaps >= the server's receive-to-last-write, <= its latency; summed here
    // as mean x count. (One client-side gap has no lower bound: a late chunk shortens the next.)
    expect(j.result.ttft.min).toBeGreaterThanOrEqual(0.059)
    expect(j.result.interTokenLatency.count).toBe(8 * 5)
    const total = (d: {mean: number; count: number}) => d.mean * d.count
    const served = ok.requests.slice(before).filter((q) => q.outcome === 'ok')
    expect(served).toHaveLength(8)
    const streamed = total(j.result.ttft) + total(j.result.interTokenLatency)
    expect(streamed).toBeGreaterThanOrEqual(served.reduce((a, q) => a + (q.lastWrite! - q.recv), 0) / 1000 - 1e-6)
    expect(streamed).toBeLessThanOrEqual(total(j.result.latency) + 1e-6)
    expect(j.warnings[0]).toContain('2 of 10 requests failed')
    expect(r.stdout + r.stderr).not.toContain(KEY)
  })

  it('human output: a table of percentiles', async () => {
    const r = await runCli(['model', 'bench', '--url', ok.url, '--requests', '5', '--api', 'completions', '--no-stream'], {env})
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/REQUEST LATENCY|request latency/)
    expect(r.stdout).toMatch(/ttft\s+-/)
  })

  it('every request failing: exit 1 after the report, errors counted', async () => {
    const r = await runCli(['model', 'bench', '--url', failing.url, '--requests', '4', '--json'], {env})
    expect(r.code).toBe(1)
    const j = JSON.parse(r.stdout)
    expect(j.status).toBe('error')
    expect(j.result.errors).toEqual({http_500: 4})
    expect(j.error.message).toBe('all 4 requests failed (http_500: 4)')
  })

  it('bad input: unreachable URL 5, wrong key 6, unknown --model 4, no target 2, NAME without a cluster 5', async () => {
    expect((await runCli(['model', 'bench', '--url', 'http://127.0.0.1:9', '--requests', '1'], {env})).code).toBe(5)
    expect((await runCli(['model', 'bench', '--url', ok.url, '--requests', '1'], {env: isolatedEnv({AIP_API_KEY: 'wrong-key-000'})})).code).toBe(6)
    const unknown = await runCli(['model', 'bench', '--url', ok.url, '--model', 'nope', '--json'], {env})
    expect(unknown.code).toBe(4)
    expect(JSON.parse(unknown.stdout).error.fix).toContain('test-model')
    expect((await runCli(['model', 'bench'], {env})).code).toBe(2)
    expect((await runCli(['model', 'bench', '--url', ok.url, '--concurrency', '0'], {env})).code).toBe(2)
    const noCluster = await runCli(['model', 'bench', 'qwen3-8b'], {env})
    expect(noCluster.code).toBe(4) // no kubeconfig: not found, like every cluster command
    expect(noCluster.stderr).toContain('--url')
  })

  it('NAME: a model deployed by aip, through the API server\'s service proxy (its Service, port "http")', async () => {
    const api: KubeApiServer = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 20}, jobBehavior: {outcome: 'succeed', delayMs: 10}, nodes: aipCluster(['g6.xlarge'])})
    try {
      putModelNamespace(api, 'aip-models', {hfToken: 'hf_e2e'})
      const kenv = {...env, KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'}
      const deployed = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b', '--skip-fit', '--json'], {env: kenv})
      expect(deployed.code, deployed.stderr).toBe(0)
      const svc = api.store.get('v1', 'Service', 'aip-models', 'qwen2-5-coder-1-5b')!
      const port = svc.spec.ports.find((p: {name?: string}) => p.name === 'http')
      expect(port).toBeDefined()
      // before a backend is ready: the API server's 503 "no endpoints available"
      const noEndpoints = await runCli(['model', 'bench', 'qwen2.5-coder-1.5b', '--requests', '2', '--json'], {env: kenv})
      expect(noEndpoints.code).not.toBe(0)
      expect(JSON.parse(noEndpoints.stdout).status).toBe('error')
      api.setServiceBackend('aip-models', 'qwen2-5-coder-1-5b', 'http', open.url)
      api.clearRequests()
      const r = await runCli(['model', 'bench', 'qwen2.5-coder-1.5b', '--requests', '14', '--concurrency', '2', '--max-tokens', '6', '--prompt-tokens', '32', '--json'], {env: kenv})
      expect(r.code, r.stderr).toBe(0)
      const j = JSON.parse(r.stdout)
      expect(j.result).toMatchObject({requests: 14, stream: true})
      expect(j.result.succeeded + j.result.failed).toBe(14)
      expect(j.result.ttft.min).toBeGreaterThanOrEqual(0.059)
      const proxied = api.requests.filter((q) => q.path.startsWith('/api/v1/namespaces/aip-models/services/qwen2-5-coder-1-5b:http/proxy/'))
      expect(proxied.length).toBeGreaterThanOrEqual(14)
      expect(r.stdout + r.stderr).not.toContain(KEY)
      // the key is not sent through the proxy (the API server strips Authorization): said, not silent
      expect(j.warnings.join(' ')).toMatch(/not sent through the service proxy/)
      expect(open.requests.length).toBeGreaterThanOrEqual(14)
      expect(open.requests.filter((q) => q.auth)).toEqual([])
      // a model that is not deployed: exit 4 naming it
      const missing = await runCli(['model', 'bench', 'llama-guard-3-1b', '--requests', '1'], {env: kenv})
      expect(missing.code).toBe(4)
      expect(missing.stderr).toContain('not deployed')
    } finally {
      await api.stop()
    }
  })
})
