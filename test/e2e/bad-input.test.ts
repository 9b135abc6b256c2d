/**
 * The bad-input sweep as a table (built CLI as a subprocess): each input ends in exactly one
 * `Error:` line naming the problem, a `Fix:` line, the documented exit code and no stack trace;
 * with --json the same exit code and the error envelope alone on stdout. Against the loopback API
 * server: a refused command leaves every object in place.
 */
import {mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {expectOneError as expectOneErrorLine, isolatedEnv, runCli, type CliResult} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {putModelNamespace} from '../support/model-namespace.js'

const tmp = mkdtempSync(join(tmpdir(), 'aip-badinput-'))
afterAll(() => rmSync(tmp, {recursive: true, force: true}))
// a kubeconfig whose API server refuses connections: a check that runs after connecting answers 5
const closedKubeconfig = join(tmp, 'closed.yaml')
writeFileSync(
  closedKubeconfig,
  'apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\ncurrent-context: c\nusers:\n- name: u\n  user: {token: not-printed-t0ken}\n',
)
mkdirSync(join(tmp, 'a-dir'))
symlinkSync('loop.yaml', join(tmp, 'loop.yaml')) // a symbolic link to itself

/** The shared check, and here also: no `[object Object]`, never the kubeconfig's token, nothing on stdout. */
function expectOneError(r: CliResult, code: number, message: RegExp): void {
  expectOneErrorLine(r, code, message)
  expect(r.stderr + r.stdout).not.toMatch(/\[object Object\]|not-printed-t0ken/)
  expect(r.stdout).toBe('')
}

function expectJsonError(r: CliResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code)
  const j = JSON.parse(r.stdout) as {status: string; error: {exitCode: number; message: string; fix?: string}}
  expect(j).toMatchObject({status: 'error', error: {exitCode: code}})
  expect(j.error.message).toMatch(message)
  expect(j.error.fix).toBeTruthy()
}

// [what, args, exit code, message, extra env]
const offline: Array<[string, string[], number, RegExp, NodeJS.ProcessEnv?]> = [
  ['an empty model NAME (it selected every model)', ['model', 'delete', ''], 2, /model NAME is empty/],
  ['a model NAME no model can have', ['model', 'status', 'Bad_Name'], 2, /"Bad_Name" is not a model name/],
  ['a model NAME past 40 characters', ['model', 'history', 'm'.repeat(41)], 2, /41 characters long/],
  ['model bench with an empty NAME', ['model', 'bench', ''], 2, /model NAME is empty/],
  ['an empty --gpu is not "no --gpu"', ['gpu-fit', 'qwen3-8b', '--gpu', ''], 2, /--gpu is empty/],
  ['an empty --namespace', ['model', 'list', '-n', ''], 2, /--namespace is empty/],
  ['an empty --timeout', ['model', 'deploy', 'qwen3-8b', '--dry-run=client', '--timeout', ''], 2, /--timeout is empty/, {AIP_BUCKET: 'weights'}],
  ['an empty --name', ['model', 'deploy', 'qwen3-8b', '--dry-run=client', '--name', ''], 2, /--name is empty/, {AIP_BUCKET: 'weights'}],
  ['config set with an empty VALUE', ['config', 'set', 'prefix', ''], 2, /VALUE is empty/],
  ['gpu-fit --gpu with --gpu-memory (the gate used the memory and named the GPU)', ['gpu-fit', 'qwen3-8b', '--gpu', 'h100', '--gpu-memory', '24GiB'], 2, /--gpu=h100 cannot also be provided when using --gpu-memory/],
  ['gpu-fit a/b/c', ['gpu-fit', 'a/b/c'], 2, /"a\/b\/c" is not a Hugging Face repo id, a catalog name or a path/],
  ['gateway install --storage-size 10XB (a dry run accepted it)', ['gateway', 'install', '--storage-size', '10XB', '--dry-run'], 2, /--storage-size "10XB" is not a size/],
  ['gateway install --tenant A_B', ['gateway', 'install', '--tenant', 'A_B', '--dry-run'], 2, /invalid tenant "A_B"/],
  ['gateway install --certificate-arn that is no ARN', ['gateway', 'install', '--certificate-arn', 'nope'], 2, /--certificate-arn "nope" is not an ACM certificate ARN/],
  ['gateway install --hostname given as a URL', ['gateway', 'install', '--hostname', 'https://llm.example.com'], 2, /--hostname "https:\/\/llm.example.com" is not a DNS hostname/],
  ['cluster bootstrap --public-access-cidrs /99, before any AWS call', ['cluster', 'bootstrap', '--region', 'us-east-1', '--public-access-cidrs', '1.2.3.4/99'], 2, /"1.2.3.4\/99" is not an IPv4 CIDR/],
  ['cluster bootstrap --kubernetes-version latest, before any AWS call', ['cluster', 'bootstrap', '--region', 'us-east-1', '--create', '--kubernetes-version', 'latest'], 2, /--kubernetes-version "latest" is not a Kubernetes minor version/],
  ['gpu-fit "org/my model"', ['gpu-fit', 'org/my model'], 2, /is not a Hugging Face repo id/],
  ['config set gpu to an unknown GPU', ['config', 'set', 'gpu', 'h1000'], 2, /gpu from the command line must be a known GPU type/],
  ['config set cluster to a name EKS refuses', ['config', 'set', 'cluster', 'my cluster!'], 2, /must be an EKS cluster name/],
  ['config set prefix with ".."', ['config', 'set', 'prefix', '/../x'], 2, /must be an S3 key prefix/],
  ['config set prometheus-service not NAMESPACE/NAME:PORT', ['config', 'set', 'prometheus-service', 'a/b/c'], 2, /NAMESPACE\/NAME:PORT/],
  ['$AIP_GPU unknown', ['config', 'view'], 2, /gpu from \$AIP_GPU must be a known GPU type/, {AIP_GPU: 'zz'}],
  ['teardown --name EKS refuses, named as --name', ['teardown', '--yes', '--name', 'my cluster!'], 2, /cluster from --name must be an EKS cluster name/, {KUBECONFIG: closedKubeconfig}],
  ['teardown --delete-bucket s3://x before the plan', ['teardown', '--yes', '--delete-bucket', 's3://x/y'], 2, /--delete-bucket "s3:\/\/x\/y" must be the bucket name alone/, {KUBECONFIG: closedKubeconfig}],
  ['cluster bootstrap --bucket s3://x (was accepted)', ['cluster', 'bootstrap', '--skip-eks', '--dry-run', '--bucket', 's3://x'], 2, /--bucket "s3:\/\/x" must be the bucket name alone/, {KUBECONFIG: closedKubeconfig}],
  ['an AWS profile no shared file defines (was exit 6 "Could not load credentials")', ['cluster', 'status', '--profile', 'nope', '--region', 'us-east-1'], 2, /AWS profile "nope" is not defined in/, {KUBECONFIG: closedKubeconfig}],
  ['metrics tail --prometheus named as --prometheus', ['metrics', 'tail', '--prometheus', 'nope'], 2, /prometheus-url from --prometheus is not an http\(s\) URL/],
  ['--template a directory (was EISDIR, exit 1)', ['model', 'deploy', '--template', join(tmp, 'a-dir'), '--dry-run=client'], 2, /is a directory/, {AIP_BUCKET: 'weights'}],
  ['--kubeconfig a directory (was "not found")', ['model', 'list', '--kubeconfig', join(tmp, 'a-dir')], 2, /is a directory, not a file/],
  ['--kubeconfig naming a missing file is not the catalog', ['model', 'list', '--kubeconfig', join(tmp, 'missing')], 4, /kubeconfig .*missing not found/],
  ['key create --team checked before connecting', ['key', 'create', '--team', 'Team_A'], 2, /invalid team "Team_A"/, {KUBECONFIG: closedKubeconfig}],
  ['key create --expires 0d', ['key', 'create', '--team', 't', '--expires', '0d'], 2, /invalid --expires "0d"/, {KUBECONFIG: closedKubeconfig}],
  ['key create --models with no name (meant every model)', ['key', 'create', '--team', 't', '--models', ','], 2, /--models names no model/, {KUBECONFIG: closedKubeconfig}],
  ['key list --team', ['key', 'list', '--team', 'A_B'], 2, /invalid team "A_B"/, {KUBECONFIG: closedKubeconfig}],
  ['preload --storage-class GLACIER (never readable at once)', ['model', 'preload', 'qwen3-8b', '--storage-class', 'GLACIER'], 2, /--storage-class=GLACIER to be one of/, {AIP_BUCKET: 'weights'}],
  ['a kubeconfig that is a symbolic link loop (was Node ELOOP, exit 1)', ['model', 'list', '--kubeconfig', join(tmp, 'loop.yaml')], 2, /too many levels of symbolic links/],
  ['an argument a command does not take', ['config', 'view', 'x'], 2, /unexpected argument "x": "aip config view" takes none/],
  ['a missing required flag, without oclif\'s header', ['key', 'create'], 2, /^(Error: )?Missing required flag team$/],
]

describe('bad input (offline or before any request)', () => {
  for (const [what, args, code, message, extra] of offline) {
    it(`${what}: exit ${code}, one error line, also as JSON`, async () => {
      expectOneError(await runCli(args, {env: isolatedEnv(extra)}), code, message)
      expectJsonError(await runCli([...args, '--json'], {env: isolatedEnv(extra)}), code, message)
    })
  }

  it('usage errors name the command\'s own --help', async () => {
    const r = await runCli(['model', 'rollout', 'status', 'qwen3-8b', '--bogus'], {env: isolatedEnv()})
    expectOneError(r, 2, /Nonexistent flag: --bogus/)
    expect(r.stderr).toMatch(/Fix: see `aip model rollout status --help`/)
  })

  it('a mistyped command with --json prints the JSON envelope on stdout, nothing on stderr', async () => {
    const r = await runCli(['nope', '--json'], {env: isolatedEnv()})
    expectJsonError(r, 2, /"nope" is not an aip command/)
    expect(r.stderr).toBe('')
  })

  it('model deploy passes on what the gpu-fit gate could not model', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--dry-run=client', '--quantization', 'bogus'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stderr).toMatch(/Warning: gpu-fit: --quantization bogus is not modelled/)
  })

  it('config set that is refused leaves the config file as it was', async () => {
    const env = isolatedEnv()
    expect((await runCli(['config', 'set', 'region', 'eu-west-1'], {env})).code).toBe(0)
    const file = join(env.XDG_CONFIG_HOME!, 'aip', 'config.yaml')
    const before = readFileSync(file, 'utf8')
    for (const [k, v] of [['gpu', 'h1000'], ['prefix', 'a//b'], ['cluster', 'x y']] as const) expect((await runCli(['config', 'set', k, v], {env})).code).toBe(2)
    expect(readFileSync(file, 'utf8')).toBe(before)
  })
})

describe('bad input against a cluster: nothing is deleted', () => {
  const NS = 'aip-models'
  let api: KubeApiServer
  let env: NodeJS.ProcessEnv
  const deployments = () => api.store.list('apps/v1', 'Deployment', NS).map((d: {metadata: {name: string}}) => d.metadata.name)

  beforeAll(async () => {
    api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 20}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6.xlarge': 2}, {systemRootVolumeGiB: 100})})
    putModelNamespace(api, NS)
    env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
    for (const m of ['qwen2.5-coder-1.5b', 'qwen3-8b']) {
      const r = await runCli(['model', 'deploy', m, '--no-wait', '--skip-fit'], {env})
      expect(r.code, r.stderr).toBe(0)
    }
  }, 120_000)
  afterAll(async () => {
    await api?.stop()
  })

  it('model delete "" (and --dry-run) is refused and every model stays', async () => {
    const before = deployments()
    expect(before).toHaveLength(2)
    for (const args of [['model', 'delete', ''], ['model', 'delete', '', '--dry-run'], ['model', 'scale', '', '--replicas', '0'], ['model', 'delete', 'Qwen2.5-Coder-1.5B']]) {
      const r = await runCli(args, {env})
      expectOneError(r, 2, /model NAME is empty|is not a model name/)
    }
    expect(deployments()).toEqual(before)
  })

  it('model status "" is refused (it showed every object of the namespace)', async () => {
    expectOneError(await runCli(['model', 'status', ''], {env}), 2, /model NAME is empty/)
  })

  it('teardown --yes with a malformed --delete-bucket deletes nothing', async () => {
    const before = deployments()
    expectOneError(await runCli(['teardown', '--yes', '--delete-bucket', 's3://weights'], {env}), 2, /--delete-bucket "s3:\/\/weights" must be the bucket name alone/)
    expectOneError(await runCli(['teardown', '--yes', '--delete-bucket', ''], {env}), 2, /--delete-bucket is empty/)
    expect(deployments()).toEqual(before)
    expect(api.store.get('v1', 'Namespace', undefined, NS)).toBeTruthy()
  })
})
