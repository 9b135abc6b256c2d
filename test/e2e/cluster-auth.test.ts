// The built CLI against a loopback EKS cluster that checks who is calling and schedules for real:
// `aip cluster bootstrap` writes a kubeconfig whose only credential is the `aws eks get-token` exec
// plugin (a test `aws` on PATH), every later command authenticates through it, a deploy on a
// cluster without a GPU node stops on FailedScheduling, and a read-only user gets exit 6.
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {isolatedEnv, runCli} from '../support/cli.js'
import {type EksServer, startEksServer} from '../support/eks-server.mjs'
import {writeFakeAws} from '../support/kube-apiserver/exec-credential.mjs'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipGpuNode, systemNode} from '../support/kube-apiserver/nodes.mjs'

const NS = 'aip-models'
let api: KubeApiServer
let eks: EksServer
let aws: ReturnType<typeof writeFakeAws>
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  // an EKS cluster with its system node group only (m6i.large, the EKS default 20 GiB root disk: the preload Job streams)
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: [systemNode()]})
  eks = await startEksServer({clusters: [{name: 'prod', endpoint: api.url, ca: api.caData, nodegroups: ['prod-system']}]})
  aws = writeFakeAws({token: 'k8s-aws-v1.aHR0cHM6Ly9zdHMudXMtZWFzdC0xLmFtYXpvbmF3cy5jb20v'})
  // the IAM principal's access entry: cluster admin
  api.addToken(aws.token, {name: 'arn:aws:sts::123456789012:assumed-role/dev/session', groups: ['system:masters']})
  env = isolatedEnv({PATH: `${aws.dir}:${process.env.PATH}`, AIP_EKS_ENDPOINT: eks.endpoint, AWS_ACCESS_KEY_ID: 'AKIDTEST', AWS_SECRET_ACCESS_KEY: 'secret-test', AWS_EC2_METADATA_DISABLED: 'true', AIP_EKS_POLL_MS: '10', AIP_BUCKET: 'weights'})
  // S3 access (bucket, IAM, Pod Identity) is test/e2e/cluster.test.ts's subject: left out here
  const r = await runCli(['cluster', 'bootstrap', '--name', 'prod', '--region', 'us-east-1', '--skip-access'], {env})
  expect(r.code, r.stderr).toBe(0)
})
afterAll(async () => {
  await api.stop()
  await eks.stop()
  aws.cleanup()
})

describe('the kubeconfig aip cluster bootstrap writes, used by the built CLI', () => {
  it('holds the cluster CA and an exec plugin, no token; the plugin is what authenticates', () => {
    const kc = parse(readFileSync(join(env.HOME!, '.kube', 'config'), 'utf8'))
    const cluster = kc.clusters[0].cluster
    expect(cluster).toEqual({server: api.url, 'certificate-authority-data': api.caData})
    const user = kc.users[0].user
    expect(user.token).toBeUndefined()
    expect(user.exec).toMatchObject({apiVersion: 'client.authentication.k8s.io/v1beta1', command: 'aws', args: ['--region', 'us-east-1', 'eks', 'get-token', '--cluster-name', 'prod', '--output', 'json']})
    expect(aws.calls().some((c) => c.includes('eks get-token --cluster-name prod'))).toBe(true)
  })

  it('a deploy on a cluster without a GPU node stops on FailedScheduling (exit 7) with the scheduler message and a fix', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--timeout', '3s'], {env})
    expect(r.code, r.stderr).toBe(7)
    expect(r.stderr).toMatch(
      /Error: timed out waiting for deployment aip-models\/qwen3-8b: pod qwen3-8b-\S+ is Pending, FailedScheduling: 0\/1 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector\. preemption: 0\/1 nodes are available: 1 Preemption is not helpful for scheduling\./,
    )
    expect(r.stderr).toMatch(/Fix: no node has the GPU type the model selects/)
    const s = await runCli(['model', 'status', 'qwen3-8b', '--json'], {env})
    expect(s.code, s.stderr).toBe(0)
    expect(JSON.parse(s.stdout).result.diagnosis).toMatchObject({reason: 'Unschedulable'})
  })

  it('once Karpenter registers an L40S node of aip\'s NodePool the same deploy converges (exit 0)', async () => {
    api.addNode(aipGpuNode('g6e.xlarge'))
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--json'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(JSON.parse(r.stdout).result.rollout).toMatchObject({desired: 1, available: 1})
    const pod = api.store.list('v1', 'Pod', NS).find((p) => p.metadata.name.startsWith('qwen3-8b-') && p.status?.phase === 'Running')!
    expect(api.store.get('v1', 'Node', undefined, pod.spec.nodeName)!.metadata.labels['node.kubernetes.io/instance-type']).toBe('g6e.xlarge')
  })

  it('a token the cluster does not know: exit 6 naming Unauthorized', async () => {
    const stranger = writeFakeAws({token: 'k8s-aws-v1.someone-else'})
    try {
      const r = await runCli(['model', 'status', 'qwen3-8b'], {env: {...env, PATH: `${stranger.dir}:${process.env.PATH}`}})
      expect(r.code).toBe(6)
      expect(r.stderr).toMatch(/401|Unauthorized/)
      expect(r.stderr).not.toContain('k8s-aws-v1.someone-else')
      expect(stranger.calls().length).toBeGreaterThan(0)
    } finally {
      stranger.cleanup()
    }
  })

  it('a read-only user: status works, deploy is exit 6 with the RBAC message', async () => {
    const ro = api.addUser({name: 'auditor', clusterRoles: ['view']})
    const roEnv = {...env, KUBECONFIG: ro.kubeconfigPath}
    const s = await runCli(['model', 'status', 'qwen3-8b', '--json'], {env: roEnv})
    expect(s.code, s.stderr).toBe(0)
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--json'], {env: roEnv})
    expect(r.code).toBe(6)
    expect(JSON.parse(r.stdout).error.message).toMatch(/forbidden: User "auditor" cannot patch resource "\w+" in API group "[\w.]*" in the namespace "aip-models"/)
  })
})
