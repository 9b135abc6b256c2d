/**
 * Faults and odd inputs a new user meets (issue #12): each ends in one error line, a `Fix:` line,
 * the documented exit code and no stack trace. Drives the built CLI as a subprocess.
 */
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer, type RequestListener} from 'node:http'
import type {AddressInfo} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {spawn} from 'node:child_process'

import {BIN, isolatedEnv, ROOT, runCli, type CliResult} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {putModelNamespace} from '../support/model-namespace.js'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'

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
    const t0 = Date.now()
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

/** One `Error:` line, one `Fix:` line, no stack trace. */
function expectOneError(r: CliResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code)
  const lines = r.stderr.trim().split('\n')
  const err = lines.filter((l) => l.startsWith('Error: '))
  expect(err, r.stderr).toHaveLength(1)
  expect(err[0]).toMatch(message)
  expect(lines.filter((l) => /^\s+Fix: /.test(l)), r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
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
})
