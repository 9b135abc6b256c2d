/**
 * The whole platform lifecycle as an operator runs it, every step the built CLI against loopback
 * peers: bootstrap the platform, preload weights into the bucket, deploy a model, read its serving
 * metrics, tear everything down. Ends with no aip-managed object in the cluster and the weights
 * bucket intact.
 */
import {CreateBucketCommand, type S3Client} from '@aws-sdk/client-s3'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli} from '../support/cli.js'
import {HubServer} from '../support/hub-server.js'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipCluster} from '../support/kube-apiserver/nodes.mjs'
import {prometheusMissingReason, type PrometheusServer, startPrometheus} from '../support/prometheus.js'
import {bucketContents, S3rverHandle, s3rverClient, s3rverEnv} from '../support/s3rver.js'
import {startVllmExporter, type VllmExporter} from '../support/vllm-exporter.js'
import {getCatalogEntry} from '../../src/lib/catalog/index.js'

const MODEL = 'qwen2.5-coder-1.5b'
const OBJ = 'qwen2-5-coder-1-5b'
const NS = 'aip-models'
const promSkip = prometheusMissingReason()

describe('lifecycle: bootstrap -> preload -> deploy -> metrics -> teardown', () => {
  let api: KubeApiServer
  let hub: HubServer
  let s3h: S3rverHandle
  let s3: S3Client
  let ex: VllmExporter | undefined
  let prom: PrometheusServer | undefined
  let env: NodeJS.ProcessEnv

  beforeAll(async () => {
    api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 50}, jobBehavior: {outcome: 'succeed', delayMs: 20}, lbCleanupDelayMs: 50, nodes: aipCluster(['g6.xlarge', 'g6e.xlarge'], {systemRootVolumeGiB: 100})})
    api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
    api.clearFinalizerAfter('ScaledObject', 'finalizer.keda.sh', 50)
    hub = await HubServer.start()
    // the catalog pins a commit: serve the repo at that commit (and as main)
    const pinned = getCatalogEntry('qwen2.5-coder-1.5b').hf.revision
    hub.addRepo('Qwen/Qwen2.5-Coder-1.5B', {commit: pinned, files: {'config.json': '{"model_type":"qwen2"}', 'model.safetensors': {size: 3 * 1024 * 1024, seed: 7}, 'tokenizer.json': '{}'}})
    s3h = await S3rverHandle.start()
    s3 = await s3rverClient(s3h)
    await s3.send(new CreateBucketCommand({Bucket: 'weights'}))
    env = isolatedEnv({KUBECONFIG: api.kubeconfigPath, HF_ENDPOINT: hub.url, AIP_BUCKET: 'weights', AIP_S3_ENDPOINT: s3h.endpoint, ...s3rverEnv()})
    if (!promSkip) {
      ex = await startVllmExporter()
      prom = await startPrometheus({targets: [ex.target]})
      await prom.waitForTargetsUp()
    }
  })
  afterAll(async () => {
    await prom?.close()
    await ex?.close()
    await hub?.stop()
    await s3h?.stop()
    await api?.stop()
  })

  it('runs end to end and leaves nothing aip-managed behind', async () => {
    const boot = await runCli(['cluster', 'bootstrap', '--skip-eks', '--tenant', 'team-a=1'], {env})
    expect(boot.code, boot.stderr).toBe(0)
    expect(api.store.get('v1', 'Namespace', undefined, NS)).toBeDefined()

    const pre = await runCli(['model', 'preload', MODEL, '--part-size', '5MiB'], {env})
    expect(pre.code, pre.stderr).toBe(0)
    const weightsBefore = await bucketContents(s3, 'weights')
    expect([...weightsBefore.keys()].some((k) => k.endsWith('model.safetensors'))).toBe(true)

    const dep = await runCli(['model', 'deploy', MODEL, '--json'], {env})
    expect(dep.code, dep.stderr).toBe(0)
    expect(JSON.parse(dep.stdout).result.rollout.available).toBe(1)
    expect(api.store.get('apps/v1', 'Deployment', NS, OBJ)).toBeDefined()

    const st = await runCli(['cluster', 'status', '--skip-eks', '--json'], {env})
    expect(st.code, st.stderr).toBe(0)
    expect(JSON.parse(st.stdout).result.models).toContainEqual(expect.objectContaining({name: MODEL, namespace: NS, ready: 1}))

    if (ex && prom) {
      ex.vllmPod({model: MODEL, pod: `${OBJ}-1`, namespace: NS, generationPerSecond: 80, kvUsage: 0.3})
      await ex.waitForScrapes(4)
      const m = await runCli(['metrics', 'tail', '--prometheus', prom.url, '--window', '5s', '--once', '--json'], {env})
      expect(m.code, m.stderr).toBe(0)
      expect(JSON.parse(m.stdout).result.models).toContain(MODEL)
    }

    const refused = await runCli(['teardown'], {env})
    expect(refused.code).toBe(2)
    expect(api.store.get('apps/v1', 'Deployment', NS, OBJ)).toBeDefined()

    const down = await runCli(['teardown', '--yes', '--json'], {env})
    expect(down.code, down.stderr).toBe(0)
    const out = JSON.parse(down.stdout).result
    expect(out.result.verified).toBe(true)
    expect(out.plan.kept).toContainEqual(expect.objectContaining({what: 'S3 bucket weights'}))

    const left = api.store.all().filter((o) => o.metadata.labels?.['app.kubernetes.io/managed-by'] === 'aip')
    expect(left.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([])
    expect(api.store.get('v1', 'Namespace', undefined, NS)).toBeUndefined()
    expect(api.store.get('v1', 'Namespace', undefined, 'team-a')).toBeUndefined()
    // the weights bucket: untouched, byte for byte
    const weightsAfter = await bucketContents(s3, 'weights')
    expect([...weightsAfter.keys()].sort()).toEqual([...weightsBefore.keys()].sort())
    for (const [k, v] of weightsBefore) expect(weightsAfter.get(k)!.equals(v)).toBe(true)
  })
})
