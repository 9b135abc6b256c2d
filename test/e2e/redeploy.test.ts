// The built CLI against the stricter loopback API server: `--diff` (it failed in the bundle only,
// with `stringify is not a function`), and a redeploy that changes the preload Job's pod template
// (another --bucket), which kube-apiserver refuses under the same Job name (spec.template is
// immutable): aip names the Job from a hash of its template, so the redeploy converges.
import {parse} from 'yaml'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {applyObjects, createKubeClient} from '../../src/lib/kube/index.js'
import {isolatedEnv, runCli} from '../support/cli.js'
import {startKubeApiServer, type KubeApiServer} from '../support/kube-apiserver/index.mjs'
import {putModelNamespace} from '../support/model-namespace.js'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'

const NS = 'aip-models'
let api: KubeApiServer
let env: NodeJS.ProcessEnv

beforeAll(async () => {
  // an L40S node for qwen3-8b and a default system node (m6i.large, 20 GiB: the preload Job streams)
  api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 30}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6e.xlarge': 1})})
  putModelNamespace(api, NS)
  api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
  env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'})
})
afterAll(async () => {
  await api.stop()
})

const rows = (stdout: string) => Object.fromEntries(stdout.split('\n').filter((l) => /^(ServiceAccount|NetworkPolicy|Job|Service|Deployment|PodDisruptionBudget|ScaledObject)\s/.test(l)).map((l) => {
  const [kind, name, action] = l.trim().split(/\s+/)
  return [`${kind}/${name}`, action]
}))
const jobNames = () => api.store.list('batch/v1', 'Job', NS).map((j) => j.metadata.name).sort()

describe('aip model deploy --diff and redeploys (built CLI)', () => {
  it('--diff before anything exists: every object as a creation, nothing stored', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--diff'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).not.toContain('is not a function')
    expect(r.stdout).toMatch(/^diff -u -N LIVE\/apps\.v1\.Deployment\.aip-models\.qwen3-8b MERGED\/apps\.v1\.Deployment\.aip-models\.qwen3-8b$/m)
    expect(r.stdout).toMatch(/^\+\+\+ MERGED\/batch\.v1\.Job\.aip-models\.qwen3-8b-preload-[0-9a-f]{8}$/m)
    // the merged side is the server's dry-run result: server defaults are in it
    expect(r.stdout).toMatch(/^\+ +terminationMessagePath: \/dev\/termination-log$/m)
    expect(api.store.list('apps/v1', 'Deployment', NS)).toEqual([])
  })

  it('deploys; then --diff shows no changes (defaults on both sides)', async () => {
    const d = await runCli(['model', 'deploy', 'qwen3-8b'], {env})
    expect(d.code, d.stderr).toBe(0)
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--diff'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('no changes')
    expect(r.stdout).not.toMatch(/^diff -u/m)
  })

  it('the same Job name with another template is refused as kube-apiserver refuses it (422, field is immutable)', async () => {
    const [name] = jobNames()
    const y = await runCli(['model', 'deploy', 'qwen3-8b', '--bucket', 'other-bucket', '-o', 'yaml'], {env})
    expect(y.code, y.stderr).toBe(0)
    const job = y.stdout.split(/^---$/m).map((d) => parse(d)).find((o) => o?.kind === 'Job')
    expect(job.metadata.name).not.toBe(name)
    // through the kubeconfig the CLI uses (whatever its transport and credentials)
    const client = await createKubeClient({kubeconfig: api.kubeconfigPath})
    const err: any = await applyObjects(client, [{...job, metadata: {...job.metadata, name}}]).catch((e: unknown) => e)
    expect(err?.status).toBe(422)
    expect(err.message).toMatch(new RegExp(`Job\\.batch "${name}" is invalid: spec\\.template: Invalid value: .*: field is immutable`))
  })

  it('a redeploy with another --bucket converges: a new preload Job, the Deployment configured; a rerun is unchanged', async () => {
    const before = jobNames()
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--bucket', 'other-bucket'], {env})
    expect(r.code, r.stderr).toBe(0)
    const after = jobNames()
    expect(after.length).toBe(before.length + 1)
    const added = after.find((n) => !before.includes(n))!
    expect(rows(r.stdout)).toMatchObject({[`Job/${added}`]: 'created', 'Deployment/qwen3-8b': 'configured', 'Service/qwen3-8b': 'unchanged'})
    const env2 = api.store.get('batch/v1', 'Job', NS, added)!.spec.template.spec.containers[0].env
    expect(env2.find((e: any) => e.name === 'AIP_BUCKET').value).toBe('other-bucket')
    const again = await runCli(['model', 'deploy', 'qwen3-8b', '--bucket', 'other-bucket'], {env})
    expect(again.code, again.stderr).toBe(0)
    const rr = rows(again.stdout)
    expect(Object.keys(rr).length).toBe(7) // no ServiceAccount: the shared ones are bootstrap's
    expect(Object.values(rr).every((a) => a === 'unchanged')).toBe(true)
  })
})
