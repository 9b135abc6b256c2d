import {HeadBucketCommand, PutObjectCommand, S3Client} from '@aws-sdk/client-s3'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {applyObjects, type KubeClient, modelLabels} from '../../src/lib/kube/index.js'
import {client, managedLeft, MODEL, NS, populate, startCluster, survivors} from '../lib/teardown/fixtures.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {type EksServer, startEksServer} from '../support/eks-server.mjs'
import type {KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {ptyMissingReason, runInPty} from '../support/pty.js'
import {S3RVER_CREDENTIALS, S3rverHandle} from '../support/s3rver.mjs'

let api: KubeApiServer
let c: KubeClient

beforeEach(async () => {
  api = await startCluster()
  c = await client(api)
  await populate(api, c)
  api.clearRequests()
})
afterEach(async () => {
  await api.stop()
})

const env = (extra: NodeJS.ProcessEnv = {}) => isolatedEnv({KUBECONFIG: api.kubeconfigPath, ...extra})

/** Runs the CLI on a pseudo-terminal, typing `answer` once the prompt shows. */
async function runOnTty(args: string[], answer: string): Promise<{code: number | null; out: string}> {
  const {CI: _ci, ...e} = env({TERM: 'dumb'})
  const term = runInPty(args, {env: e})
  try {
    await term.waitFor(/Type the cluster name/, 60_000)
    term.type(answer + '\r')
    return {code: await term.exited, out: term.output()}
  } finally {
    term.kill()
  }
}
const noPty = ptyMissingReason()

describe('aip teardown', () => {
  it('refuses without --yes when there is no TTY (exit 2, naming --yes), deleting nothing', async () => {
    const before = managedLeft(api).length
    const r = await runCli(['teardown'], {env: env()})
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/Error: refusing to delete without confirmation/)
    expect(r.stderr).toContain('--yes')
    // the plan was shown first
    expect(r.stdout).toContain('Teardown plan for aip')
    const j = await runCli(['teardown', '--json'], {env: env()})
    expect(j.code).toBe(2)
    expect(JSON.parse(j.stdout).error).toMatchObject({code: 'USAGE', exitCode: 2})
    expect(managedLeft(api).length).toBe(before)
    expect(api.requests.filter((q) => q.method === 'DELETE')).toEqual([])
  })

  it('--dry-run prints the ordered plan and deletes nothing', async () => {
    const r = await runCli(['teardown', '--dry-run'], {env: env({AIP_BUCKET: 'weights'})})
    expect(r.code, r.stderr).toBe(0)
    const order = ['Scale aip models to zero', 'Delete model workloads', 'Delete custom resources', 'Delete LoadBalancer Services', 'Delete namespaces']
    const idx = order.map((t) => r.stdout.indexOf(t))
    expect(idx.every((i) => i >= 0)).toBe(true)
    expect([...idx].sort((a, b) => a - b)).toEqual(idx)
    expect(r.stdout).toContain(`Deployment/${NS}/${MODEL}: replicas 1 -> 0`)
    expect(r.stdout).toContain('S3 bucket weights: holds model weights; never deleted unless named by --delete-bucket weights')
    expect(r.stdout).not.toContain('default/ingress')
    expect(api.requests.filter((q) => q.method === 'DELETE' || q.method === 'PATCH')).toEqual([])
  })

  it('--yes deletes everything aip manages, leaves the rest, and verifies the end state', async () => {
    const r = await runCli(['teardown', '--yes', '--json'], {env: env()})
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.status).toBe('ok')
    expect(out.result.result.verified).toBe(true)
    expect(out.result.plan.phases.map((p: {id: string}) => p.id)).toEqual(['scale-models', 'delete-workloads', 'delete-custom-resources', 'delete-load-balancers', 'delete-namespaces'])
    expect(managedLeft(api)).toEqual([])
    expect(survivors(api)).toBe(true)
    // a rerun has nothing to do
    const again = await runCli(['teardown', '--yes'], {env: env()})
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('nothing to delete')
  })

  it('a stuck finalizer: exit 7 naming the object; a rerun with --force-finalizers finishes', async () => {
    await applyObjects(c, [{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'held', namespace: NS, labels: modelLabels(MODEL), finalizers: ['example.com/never']}, data: {}}])
    api.stuckFinalizer('ConfigMap', 'example.com/never')
    const r = await runCli(['teardown', '--yes', '--timeout', '1s'], {env: env()})
    expect(r.code).toBe(7)
    expect(r.stderr).toContain(`ConfigMap/${NS}/held (finalizer example.com/never)`)
    expect(r.stderr).toContain('--force-finalizers')
    const f = await runCli(['teardown', '--yes', '--timeout', '2s', '--force-finalizers'], {env: env()})
    expect(f.code, f.stderr).toBe(0)
    expect(f.stderr).toContain('removed finalizers example.com/never')
    expect(managedLeft(api)).toEqual([])
    expect(survivors(api)).toBe(true)
  })

  it('--cluster deletes node groups then the cluster; --delete-bucket deletes only the bucket it names', async () => {
    const eks: EksServer = await startEksServer({clusters: [{name: 'aip', endpoint: api.url, nodegroups: ['aip-system', 'aip-gpu']}]})
    const s3 = await S3rverHandle.start({buckets: ['weights', 'scratch']})
    try {
      const s3c = new S3Client({region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true, credentials: S3RVER_CREDENTIALS})
      await s3c.send(new PutObjectCommand({Bucket: 'weights', Key: 'models/qwen3-8b/config.json', Body: '{}'}))
      await s3c.send(new PutObjectCommand({Bucket: 'scratch', Key: 'tmp/a', Body: 'a'}))
      const e = env({
        AIP_EKS_ENDPOINT: eks.endpoint,
        AIP_EKS_POLL_MS: '10',
        AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
        AWS_EC2_METADATA_DISABLED: 'true',
        AIP_S3_ENDPOINT: s3.endpoint,
        AIP_BUCKET: 'weights',
      })
      // a name that is not exact: refused before anything happens
      const typo = await runCli(['teardown', '--cluster', '--region', 'us-east-1', '--delete-bucket', 'weight', '--yes'], {env: e})
      expect(typo.code).toBe(4)
      expect(typo.stderr).toContain('did you mean --delete-bucket weights?')
      expect(eks.clusters.has('aip')).toBe(true)

      const r = await runCli(['teardown', '--cluster', '--region', 'us-east-1', '--delete-bucket', 'scratch', '--yes'], {env: e})
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toMatch(/Delete EKS node groups and wait\n\s+- Nodegroup aip-system/)
      expect(r.stdout).toContain('Delete the EKS cluster and wait')
      expect(r.stdout).toContain('Empty and delete the S3 bucket named by --delete-bucket')
      expect(eks.clusters.has('aip')).toBe(false)
      // node groups were deleted before the cluster
      const dels = eks.requests.filter((q) => q.method === 'DELETE').map((q) => q.path)
      expect(dels.at(-1)).toBe('/clusters/aip')
      expect(dels.slice(0, 2).sort()).toEqual(['/clusters/aip/node-groups/aip-gpu', '/clusters/aip/node-groups/aip-system'])
      // with --cluster every LoadBalancer Service goes (orphaned cloud LBs block VPC deletion)
      expect(api.store.get('v1', 'Service', 'default', 'ingress')).toBeUndefined()
      expect(managedLeft(api)).toEqual([])
      // the weights bucket is intact, the named one is gone
      await s3c.send(new HeadBucketCommand({Bucket: 'weights'}))
      const gone = await s3c.send(new HeadBucketCommand({Bucket: 'scratch'})).catch((err: unknown) => err)
      expect((gone as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode).toBe(404)
    } finally {
      await eks.stop()
      await s3.stop()
    }
  })

  it.skipIf(Boolean(noPty))(`on a terminal it asks for the cluster name: a wrong answer deletes nothing, the right one proceeds${noPty ? ` (skipped: ${noPty})` : ''}`, async () => {
    const wrong = await runOnTty(['teardown'], 'prod')
    expect(wrong.code).toBe(2)
    expect(wrong.out).toContain('"prod" is not the cluster name; nothing deleted')
    expect(api.requests.filter((q) => q.method === 'DELETE')).toEqual([])
    const right = await runOnTty(['teardown'], 'aip')
    expect(right.code, right.out).toBe(0)
    expect(right.out).toContain('teardown complete')
    expect(managedLeft(api)).toEqual([])
    expect(survivors(api)).toBe(true)
  })
})
