/**
 * Faults and odd inputs a new user meets (issue #12): each ends in one error line, a `Fix:` line,
 * the documented exit code and no stack trace. Drives the built CLI as a subprocess.
 */
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type RequestListener} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {spawn} from 'node:child_process'

import {BIN, expectOneError, isolatedEnv, ROOT, runCli, type CliResult} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {putModelNamespace} from '../support/model-namespace.js'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {startOpenAIServer} from '../support/openai-server.js'
import {applyObjects, modelLabels} from '../../src/lib/kube/index.js'
import {client as teardownClient, MODEL, NS as TEARDOWN_NS, populate, startCluster} from '../lib/teardown/fixtures.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'aip-robust-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/** A loopback HTTP peer on port 0 answering with `handler`; closed after the file. */
async function peer(handler: RequestListener): Promise<string> {
  const server = createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  )
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
const closers: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of closers) await c()
})

function jsonAnswer(status: number, body: unknown): RequestListener {
  return (req, res) => {
    req.resume()
    res.writeHead(status, {'content-type': 'application/json'})
    res.end(JSON.stringify(body))
  }
}

/**
 * Runs the built CLI and calls `when` once stderr matches `pattern` (to interrupt it, or to take
 * its API server away mid-wait). Resolves with the output and exit code.
 */
function runWhile(args: string[], env: NodeJS.ProcessEnv, pattern: RegExp, when: (child: ReturnType<typeof spawn>) => void | Promise<void>, timeoutMs = 60_000): Promise<CliResult & {ms: number}> {
  return new Promise((resolve, reject) => {
    // ms: from the moment `when` fires (the interrupt or the outage) to the exit, so Node's start-up
    // and the steps before it (slow on a loaded machine) are not counted
    let t0 = Date.now()
    const child = spawn(process.execPath, [BIN, ...args], {cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    let fired = false
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
      if (!fired && pattern.test(stderr)) {
        fired = true
        t0 = Date.now()
        Promise.resolve(when(child)).catch(reject)
      }
    })
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({code, stdout, stderr, ms: Date.now() - t0})
    })
  })
}

describe('-o yaml output', () => {
  it('prints plain YAML without anchors or aliases, as kubectl does', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '-o', 'yaml'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('kind: Deployment')
    expect(r.stdout).not.toMatch(/[&*]a\d+\b/)
  })
})

describe('configuration and flags', () => {
  it('--timeout beyond what a timer can hold is a usage error (exit 2), not an immediate timeout', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--dry-run=client', '--timeout', '999999h'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expectOneError(r, 2, /--timeout "999999h" is longer than aip can wait/)
    expect(r.stderr).not.toContain('TimeoutOverflowWarning')
  })

  it('config timeout beyond what a timer can hold is a usage error naming where it came from (exit 2)', async () => {
    const r = await runCli(['model', 'list'], {env: isolatedEnv({AIP_TIMEOUT: '600000h'})})
    expectOneError(r, 2, /timeout from \$AIP_TIMEOUT "600000h" is longer than aip can wait/)
  })

  it('./aip.yaml that is a directory is a usage error (exit 2)', async () => {
    const cwd = tempDir()
    mkdirSync(join(cwd, 'aip.yaml'))
    const r = await runCli(['config', 'view'], {env: isolatedEnv(), cwd})
    expectOneError(r, 2, /config file .*aip\.yaml is not a file \(a directory\)/)
  })
})

describe('credentials inside endpoint URLs are refused (exit 2) and never echoed', () => {
  const cases: Array<[string, string[], NodeJS.ProcessEnv]> = [
    ['--prometheus', ['metrics', 'tail', '--once', '--prometheus', 'http://admin:s3cr3t-pw@127.0.0.1:9'], {}],
    ['HF_ENDPOINT', ['config', 'view'], {HF_ENDPOINT: 'https://user:s3cr3t-pw@hub.example.com'}],
    ['the S3 endpoint', ['config', 'get', 's3-endpoint'], {AWS_ENDPOINT_URL_S3: 'http://AKIA:s3cr3t-pw@127.0.0.1:9000'}],
    ['bench --url', ['model', 'bench', '--url', 'http://key:s3cr3t-pw@127.0.0.1:9', '--requests', '1'], {}],
  ]
  for (const [what, args, extra] of cases) {
    it(what, async () => {
      const r = await runCli(args, {env: isolatedEnv(extra)})
      expectOneError(r, 2, /carries a user name or password in the URL/)
      expect(r.stderr + r.stdout).not.toContain('s3cr3t-pw')
      expect(r.stderr).toMatch(/Fix: .*environment variables or Secrets/)
    })
  }
})

describe('error bodies that are JSON objects are read for their message', () => {
  it('Prometheus {"status":"error","error":{...}}: the message, not "body.trim is not a function" (exit 1)', async () => {
    const url = await peer(jsonAnswer(500, {status: 'error', errorType: 'internal', error: {message: 'storage is read-only'}}))
    const r = await runCli(['metrics', 'tail', '--once', '--prometheus', url], {env: isolatedEnv()})
    expectOneError(r, 1, /Prometheus at .*: HTTP 500 storage is read-only/)
    expect(r.stderr).not.toContain('is not a function')
  })

  it('Prometheus 403 with a JSON body is exit 6 with its message', async () => {
    const url = await peer(jsonAnswer(403, {status: 'error', errorType: 'forbidden', error: 'tenant has no access'}))
    const r = await runCli(['metrics', 'tail', '--once', '--prometheus', url], {env: isolatedEnv()})
    expectOneError(r, 6, /HTTP 403 tenant has no access/)
  })

  it('a gateway 401 {"error":{"message":...}} is exit 6 with the message, not the raw JSON', async () => {
    const url = await peer(jsonAnswer(401, {error: {message: 'Authentication Error, Invalid proxy server token passed', type: 'auth_error', code: '401'}}))
    const r = await runCli(['model', 'bench', '--url', url, '--requests', '1'], {env: isolatedEnv()})
    expectOneError(r, 6, /HTTP 401 Authentication Error, Invalid proxy server token passed$/)
    expect(r.stderr).not.toContain('{"error"')
  })
})

describe('cluster commands without a kubeconfig', () => {
  it('metrics tail without --prometheus and without a kubeconfig is exit 4 like the other cluster commands', async () => {
    const r = await runCli(['metrics', 'tail', '--once'], {env: isolatedEnv()})
    expectOneError(r, 4, /no kubeconfig/)
    const list = await runCli(['model', 'status', 'qwen3-8b'], {env: isolatedEnv()})
    expect(list.code).toBe(4)
  })
})

describe('kubeconfig oddities each get their own message', () => {
  const kubeconfig = (server: string, current = 'dev'): string => `apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster:
    server: ${server}
    insecure-skip-tls-verify: true
users:
- name: dev
  user:
    token: not-a-secret
contexts:
- name: dev
  context:
    cluster: dev
    user: dev
current-context: ${current}
`
  const withFile = (text: string): NodeJS.ProcessEnv => {
    const path = join(tempDir(), 'config')
    writeFileSync(path, text)
    return isolatedEnv({KUBECONFIG: path})
  }

  it('an empty file: exit 2 saying it is empty', async () => {
    const r = await runCli(['model', 'list'], {env: withFile('\n# nothing yet\n')})
    expectOneError(r, 2, /kubeconfig .*config is empty$/)
    expect(r.stderr).not.toContain('Cannot read properties')
  })

  it('a server that is not a URL: exit 2 naming the cluster and the fix', async () => {
    const r = await runCli(['model', 'status', 'qwen3-8b'], {env: withFile(kubeconfig('api.example.com:6443'))})
    expectOneError(r, 2, /cluster "dev" in .* has server "api.example.com:6443", which is not a URL/)
    expect(r.stderr).toMatch(/Fix: .*kubectl config set-cluster dev --server https:\/\/HOST:PORT/)
  })

  it('a current-context that names a missing context: exit 2 naming it', async () => {
    const r = await runCli(['teardown', '--dry-run'], {env: withFile(kubeconfig('https://127.0.0.1:9', 'prod'))})
    expectOneError(r, 2, /names current-context "prod", but it has no context of that name; available: dev/)
  })

  it('a server that answers 404 to everything: exit 5, not "every model is not deployed"', async () => {
    const url = await peer((req, res) => {
      req.resume()
      res.writeHead(404, {'content-type': 'text/plain'})
      res.end('404 page not found\n')
    })
    const r = await runCli(['model', 'list'], {env: withFile(kubeconfig(url))})
    expectOneError(r, 5, /answered 404 for \/apis\/apps\/v1, which every Kubernetes API server serves: it is not a Kubernetes API server/)
    expect(r.stdout).not.toContain('not deployed')
  })
})

describe('interrupted and cut-off waits', () => {
  let api: KubeApiServer
  const NS = 'aip-models'
  const start = async (): Promise<NodeJS.ProcessEnv> => {
    // the scheduler needs nodes: a system node for the preload Job, an L4 node for the server
    api = await startKubeApiServer({deploymentBehavior: {mode: 'none'}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster(['g6.xlarge'])})
    putModelNamespace(api, NS, {hfToken: 'hf_e2e'})
    closers.push(() => api.stop())
    return isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
  }

  it('Ctrl-C during deploy --wait prints only "interrupted" (exit 130), not "did not become available"', async () => {
    const env = await start()
    const r = await runWhile(['model', 'deploy', 'qwen2.5-coder-1.5b', '--timeout', '60s'], env, /rollout deployment/, (child) => {
      setTimeout(() => child.kill('SIGINT'), 300)
    })
    expect(r.code, r.stderr).toBe(130)
    expect(r.stderr).not.toContain('did not become available')
    expect(r.stderr).toMatch(/^Error: interrupted$/m)
    expect(r.stderr).toMatch(/Fix: .*aip model status qwen2.5-coder-1.5b/)
  })

  /** The outage: reported on stderr as it happens, exit 5 past the bound (AIP_HTTP_TIMEOUT), no --force-finalizers. */
  function expectOutage(r: CliResult & {ms: number}, url: string): void {
    expectOneError(r, 5, /lost the API/)
    expect(r.stderr).toContain(`lost the API server at ${url} (ECONNREFUSED); retrying for up to 2s`)
    // said as it happened: before the error line
    expect(r.stderr.indexOf('lost the API server at')).toBeLessThan(r.stderr.indexOf('Error: '))
    expect(r.stderr).not.toContain('--force-finalizers')
    expect(r.stderr).not.toMatch(/timed out waiting|did not become available/)
    // past the 2 s outage bound, not the 5 m --timeout: a generous bound, only for that difference
    expect(r.ms).toBeLessThan(30_000)
  }

  it('the API server goes away during deploy --wait: reported as it happens, exit 5 past the bound', async () => {
    const env = await start()
    const r = await runWhile(['model', 'deploy', 'qwen2.5-coder-1.5b', '--timeout', '5m'], {...env, AIP_HTTP_TIMEOUT: '2s'}, /rollout deployment/, () => api.goDown())
    expectOutage(r, api.url)
    expect(r.stderr).toMatch(/Error: lost the API server at .* for \d+s while waiting for Deployment\/aip-models\/qwen2-5-coder-1-5b/)
  })

  it('an outage shorter than the bound: the wait resumes and says the API server is back', async () => {
    const env = await start()
    const name = 'qwen2-5-coder-1-5b'
    const r = await runWhile(['model', 'deploy', 'qwen2.5-coder-1.5b', '--timeout', '5m'], {...env, AIP_HTTP_TIMEOUT: '20s'}, /rollout deployment/, async () => {
      await api.goDown()
      await new Promise((res) => setTimeout(res, 1500))
      const dep = api.store.get('apps/v1', 'Deployment', NS, name)!
      api.store.setStatus('apps/v1', 'Deployment', NS, name, {observedGeneration: dep.metadata.generation, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1})
      await api.comeBack()
    })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toContain(`lost the API server at ${api.url}`)
    expect(r.stderr).toMatch(/the API server at .* answers again \(after \d+m?s\)/)
  })

  it('the API server goes away during model delete: exit 5 past the bound', async () => {
    const env = await start()
    const d = await runCli(['model', 'deploy', 'qwen2.5-coder-1.5b', '--no-wait'], {env})
    expect(d.code, d.stderr).toBe(0)
    // something holds the Deployment so the delete has to wait
    const dep = api.store.get('apps/v1', 'Deployment', NS, 'qwen2-5-coder-1-5b')!
    api.store.put({...dep, metadata: {...dep.metadata, finalizers: ['example.com/hold']}})
    api.stuckFinalizer('Deployment', 'example.com/hold')
    const r = await runWhile(['model', 'delete', 'qwen2.5-coder-1.5b', '--timeout', '5m'], {...env, AIP_HTTP_TIMEOUT: '2s'}, /wait until \d+ objects/, () => api.goDown())
    expectOutage(r, api.url)
  })

  it('the API server goes away during the teardown finalizer wait: exit 5, not a stuck finalizer', async () => {
    api = await startCluster()
    closers.push(() => api.stop())
    const c = await teardownClient(api)
    await populate(api, c)
    await applyObjects(c, [{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'held', namespace: TEARDOWN_NS, labels: modelLabels(MODEL), finalizers: ['example.com/never']}, data: {}}])
    api.stuckFinalizer('ConfigMap', 'example.com/never')
    const env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_HTTP_TIMEOUT: '2s'})
    const r = await runWhile(['teardown', '--yes', '--timeout', '5m'], env, /Namespace\/aip-models deleted, waiting for its content/, () => api.goDown())
    expectOutage(r, api.url)
    expect(r.stderr).toMatch(/Fix: .*rerun `aip teardown`: it continues where it stopped/)
  })
})

describe('one timeout policy for every HTTP peer', () => {
  /** Accepts connections and never answers. */
  const silent = (): Promise<string> => peer(() => undefined)

  it('a Hub that accepts and never answers: exit 5 "timed out after 1s" (AIP_HTTP_TIMEOUT), not a 5-minute wait', async () => {
    const url = await silent()
    const t0 = Date.now()
    const r = await runCli(['gpu-fit', 'acme/silent-model', '--gpu', 'l4'], {env: isolatedEnv({HF_ENDPOINT: url, AIP_HTTP_TIMEOUT: '1s'}), timeoutMs: 50_000})
    expectOneError(r, 5, new RegExp(`the Hugging Face Hub at ${url} timed out after 1s`))
    // after the 1 s bound, not a 5-minute wait (the message says which timer fired): generous, the
    // CLI's start-up on a loaded machine is in it
    expect(Date.now() - t0).toBeLessThan(40_000)
  })

  it('the same from config http-timeout in ./aip.yaml', async () => {
    const url = await silent()
    const cwd = tempDir()
    writeFileSync(join(cwd, 'aip.yaml'), 'http-timeout: 1s\n')
    const r = await runCli(['gpu-fit', 'acme/silent-model', '--gpu', 'l4'], {env: isolatedEnv({HF_ENDPOINT: url}), cwd, timeoutMs: 50_000})
    expectOneError(r, 5, /timed out after 1s/)
  })

  it('a Prometheus that never answers: exit 5 after the same bound', async () => {
    const url = await silent()
    const r = await runCli(['metrics', 'tail', '--once', '--prometheus', url], {env: isolatedEnv({AIP_HTTP_TIMEOUT: '1s'}), timeoutMs: 50_000})
    expectOneError(r, 5, /Prometheus at .* timed out after 1s/)
  })

  it('a gateway that never answers GET /v1/models: exit 5 after the same bound', async () => {
    const url = await silent()
    const r = await runCli(['model', 'bench', '--url', url, '--requests', '1'], {env: isolatedEnv({AIP_HTTP_TIMEOUT: '1s'}), timeoutMs: 50_000})
    expectOneError(r, 5, /timed out after 1s/)
  })

  it('an API server that accepts and never answers: exit 5 after the same bound', async () => {
    const url = await silent()
    const path = join(tempDir(), 'config')
    writeFileSync(path, `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${url}\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: t\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`)
    const r = await runCli(['model', 'list'], {env: isolatedEnv({KUBECONFIG: path, AIP_HTTP_TIMEOUT: '1s'}), timeoutMs: 50_000})
    expectOneError(r, 5, new RegExp(`the Kubernetes API at ${url} timed out after 1s`))
  })

  it('a Hub error body {"error":{"message":...}} is read for its message, not [object Object]', async () => {
    const url = await peer(jsonAnswer(400, {error: {message: 'mirror refuses this revision'}}))
    const r = await runCli(['gpu-fit', 'acme/some-model', '--gpu', 'l4'], {env: isolatedEnv({HF_ENDPOINT: url})})
    expectOneError(r, 1, /the Hub answered 400 for .*: mirror refuses this revision$/)
    expect(r.stderr).not.toContain('[object Object]')
  })
})

describe('model bench as a CI SLO gate', () => {
  it('--max-error-rate: 25% errors against a 10% limit is exit 1 naming the numbers, after the report', async () => {
    const srv = await startOpenAIServer({ttftMs: 20, itlMs: 2, tokens: 4, plan: (i) => (i % 4 === 3 ? 500 : 'ok')})
    closers.push(() => srv.close())
    const r = await runCli(['model', 'bench', '--url', srv.url, '--requests', '20', '--concurrency', '4', '--max-tokens', '4', '--max-error-rate', '10%'], {env: isolatedEnv()})
    expectOneError(r, 1, /^Error: SLO breached: error rate 25\.0% > 10\.0% \(5 of 20 failed\)$/)
    expect(r.stdout).toContain('15 ok, 5 failed of 20')
    const j = await runCli(['model', 'bench', '--url', srv.url, '--requests', '20', '--concurrency', '4', '--max-tokens', '4', '--max-error-rate', '0.3', '--json'], {env: isolatedEnv()})
    expect(j.code, j.stderr).toBe(0)
    expect(JSON.parse(j.stdout).result.slo).toMatchObject({maxErrorRate: 0.3, passed: true, breaches: []})
  })

  it('--max-ttft-p95: a slow first token is exit 1 with the measured p95; both breaches are named together', async () => {
    const srv = await startOpenAIServer({ttftMs: 80, itlMs: 2, tokens: 4, plan: (i) => (i === 0 ? 500 : 'ok')})
    closers.push(() => srv.close())
    const r = await runCli(['model', 'bench', '--url', srv.url, '--requests', '8', '--concurrency', '2', '--max-tokens', '4', '--max-ttft-p95', '20ms', '--max-error-rate', '0', '--json'], {env: isolatedEnv()})
    expect(r.code, r.stderr).toBe(1)
    const out = JSON.parse(r.stdout)
    expect(out.error.message).toMatch(/^SLO breached: error rate 12\.5% > 0\.0% \(1 of 8 failed\); ttft p95 \d+ms > 20ms$/)
    expect(out.result.slo.breaches.map((b: {objective: string}) => b.objective)).toEqual(['error-rate', 'ttft-p95'])
    expect(out.result.slo.breaches[1].actual).toBeGreaterThanOrEqual(0.08)
    const ok = await runCli(['model', 'bench', '--url', srv.url, '--requests', '4', '--max-tokens', '4', '--max-ttft-p95', '5s'], {env: isolatedEnv()})
    expect(ok.code, ok.stderr).toBe(0)
  })

  it('bad gate values are usage errors (exit 2) before any request', async () => {
    expectOneError(await runCli(['model', 'bench', '--url', 'http://127.0.0.1:9', '--max-error-rate', '150%'], {env: isolatedEnv()}), 2, /invalid --max-error-rate "150%"/)
    expectOneError(await runCli(['model', 'bench', '--url', 'http://127.0.0.1:9', '--max-ttft-p95', '1s', '--no-stream'], {env: isolatedEnv()}), 2, /--max-ttft-p95 needs streamed responses/)
  })
})

describe('model deploy reports every missing prerequisite at once', () => {
  it('no kubeconfig and no bucket: one error naming both, with both fixes (exit of the first: 4)', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b'], {env: isolatedEnv()})
    expectOneError(r, 4, /cannot deploy qwen3-8b: 2 prerequisites are missing: \(1\) no kubeconfig found .*; \(2\) no S3 bucket for model weights is configured$/)
    expect(r.stderr).toMatch(/Fix: \(1\) run aip cluster bootstrap or set --kubeconfig; \(2\) set one: aip config set bucket NAME/)
  })

  it('a gated model without the token Secret and no bucket: both named; with them it deploys', async () => {
    const api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 20}})
    closers.push(() => api.stop())
    putModelNamespace(api, 'aip-models')
    const env = isolatedEnv({KUBECONFIG: api.kubeconfigPath})
    const r = await runCli(['model', 'deploy', 'llama-guard-3-1b', '--no-wait'], {env})
    expectOneError(r, 2, /2 prerequisites are missing: \(1\) no S3 bucket .*; \(2\) llama-guard-3-1b is gated on the Hub \(meta-llama\/Llama-Guard-3-1B\) and the Secret aip-models\/aip-hf-token holding its token does not exist$/)
    expect(r.stderr).toContain('aip secret set hf-token -n aip-models')
    expect(api.requests.filter((q) => q.method !== 'GET')).toEqual([])
    api.store.put({apiVersion: 'v1', kind: 'Secret', metadata: {name: 'aip-hf-token', namespace: 'aip-models'}, data: {token: Buffer.from('hf_x').toString('base64')}})
    const ok = await runCli(['model', 'deploy', 'llama-guard-3-1b', '--no-wait'], {env: {...env, AIP_BUCKET: 'weights'}})
    expect(ok.code, ok.stderr).toBe(0)
  })

  it('one missing prerequisite keeps its own message and exit code', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '-o', 'yaml'], {env: isolatedEnv()})
    expectOneError(r, 2, /^Error: no S3 bucket for model weights is configured$/)
  })
})

describe('gpu-fit suggestions', () => {
  it('are real flags that agree with the table, and each one fits when rerun', async () => {
    const r = await runCli(['gpu-fit', 'llama-3.1-8b-instruct', '--gpu', 'l4'], {env: isolatedEnv()})
    expectOneError(r, 3, /does not fit on l4 x1/)
    const fix = /Fix: (.*)$/m.exec(r.stderr)![1]!
    const len = /--max-model-len (\d+) fits \(MAX CTX (\d+), rounded down\)/.exec(fix)
    expect(len, fix).not.toBeNull()
    // the table's MAX CTX @1 SEQ for l4 at TP 1
    const row = /^l4\s+1\s+no\s+\S+ \S+\s+\S+ \S+\s+(\d+)\s/m.exec(r.stdout)
    expect(row?.[1], r.stdout).toBe(len![2])
    for (const alt of fix.split('; or ')) {
      const flags = alt.replace(/ fits.*$/, '').split(' ')
      expect(flags[0]).toMatch(/^--[a-z-]+$/)
      const again = await runCli(['gpu-fit', 'llama-3.1-8b-instruct', ...(flags[0] === '--gpu' ? [] : ['--gpu', 'l4']), ...flags], {env: isolatedEnv()})
      expect(again.code, `${alt}: ${again.stderr}`).toBe(0)
    }
  })
})

describe('help examples', () => {
  it('name real catalog models wherever they name a catalog model', () => {
    const catalog = new Set(readdirSync(join(ROOT, 'templates', 'models')).filter((f) => f.endsWith('.yaml')).map((f) => f.replace(/\.yaml$/, '')))
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {examples?: string[]}>}
    const checked: string[] = []
    for (const [id, cmd] of Object.entries(manifest.commands)) {
      if (!['model:deploy', 'model:preload', 'model:status', 'model:delete', 'model:bench', 'gpu-fit', 'metrics:tail'].includes(id)) continue
      for (const ex of cmd.examples ?? []) {
        const words = ex.replace(/^.*?<%= config.bin %> /, '').split(/\s+/)
        const n = id.split(':').length
        const arg = words[n]
        // a catalog name: not a flag, hf:ORG/REPO, ORG/NAME, a path or a URL
        if (!arg || /^(-|hf:|\.|\/|http)/.test(arg) || arg.includes('/')) continue
        checked.push(`${id} ${arg}`)
        expect(catalog.has(arg), `example of ${id}: "${ex}" names ${arg}, which is not in the catalog`).toBe(true)
      }
    }
    expect(checked.some((c) => c.startsWith('model:preload '))).toBe(true)
  })
})
