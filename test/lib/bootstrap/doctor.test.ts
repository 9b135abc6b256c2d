import {chmodSync, mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {DescribeClusterCommand, DescribePodIdentityAssociationCommand, EKSClient, ListPodIdentityAssociationsCommand} from '@aws-sdk/client-eks'
import {mockClient} from 'aws-sdk-client-mock'

import {runBootstrap} from '../../../src/lib/bootstrap/index.js'
import {runDoctor, which} from '../../../src/lib/bootstrap/doctor.js'
import {NotFoundError} from '../../../src/lib/errors.js'
import type {KubeClient} from '../../../src/lib/kube/index.js'
import {type KubeApiServer, startKubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {aipGpuNode} from '../../support/kube-apiserver/nodes.mjs'
import {client} from '../teardown/fixtures.js'

let api: KubeApiServer
let c: KubeClient
const bin = mkdtempSync(join(tmpdir(), 'aip-doctor-bin-'))
writeFileSync(join(bin, 'aws'), '#!/bin/sh\nexit 0\n')
chmodSync(join(bin, 'aws'), 0o755)

beforeEach(async () => {
  api = await startKubeApiServer()
  c = await client(api, 0)
})
afterEach(async () => {
  await api.stop()
})

const base = {modelNamespace: 'aip-models', monitoringNamespace: 'monitoring'}
const byName = (checks: Awaited<ReturnType<typeof runDoctor>>) => Object.fromEntries(checks.map((x) => [x.name, x]))

describe('doctor', () => {
  it('checks the runtime: Node 22 and 24 LTS pass, end-of-life Node 20 fails with the fix', async () => {
    for (const v of ['22.12.0', '24.11.1']) expect(byName(await runDoctor({...base, nodeVersion: v, kubeClient: async () => c, env: {PATH: bin}})).node).toMatchObject({status: 'ok'})
    expect(byName(await runDoctor({...base, nodeVersion: '20.19.5', kubeClient: async () => c, env: {PATH: bin}})).node).toMatchObject({status: 'fail', message: 'Node 20.19.5 is too old', fix: 'install Node 22 or 24 LTS'})
  })

  it('finds tools on PATH', () => {
    expect(which('aws', {PATH: bin})).toBe(join(bin, 'aws'))
    expect(which('helm', {PATH: bin})).toBeUndefined()
  })

  it('before bootstrap: platform missing and add-ons missing are warnings, not failures', async () => {
    const checks = byName(await runDoctor({...base, kubeClient: async () => c, env: {PATH: bin}}))
    expect(checks['aws CLI']!.status).toBe('ok')
    expect(checks.helm).toMatchObject({status: 'warn'})
    expect(checks['API server']).toMatchObject({status: 'ok', message: expect.stringContaining('v1.31.0')})
    expect(checks.platform).toMatchObject({status: 'warn', fix: 'run `aip cluster bootstrap`'})
    expect(checks['GPU nodes']!.status).toBe('warn')
    expect(Object.values(checks).some((x) => x.status === 'fail')).toBe(false)
  })

  it('after bootstrap the platform check passes; GPU nodes are counted', async () => {
    await runBootstrap({clusterName: 'aip', kubeconfig: {}, kubeClient: async () => c, platform: {...base, gatewayNamespace: 'aip-gateway', tenants: [], gpuLimit: 4}})
    api.addNode(aipGpuNode('g6e.12xlarge'))
    const checks = byName(await runDoctor({...base, kubeClient: async () => c, env: {PATH: bin}}))
    expect(checks.platform!.status).toBe('ok')
    expect(checks['GPU nodes']).toMatchObject({status: 'ok', message: '4 GPUs allocatable'})
  })

  it('network policies: a warning while nothing enforces them, ok once the VPC CNI agent runs with --enable-network-policy=true', async () => {
    await runBootstrap({clusterName: 'aip', kubeconfig: {}, kubeClient: async () => c, platform: {...base, gatewayNamespace: 'aip-gateway', tenants: [], gpuLimit: 4}})
    const awsNode = (on: boolean) => ({apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: {name: 'aws-node', namespace: 'kube-system'}, spec: {selector: {matchLabels: {k: 'a'}}, template: {metadata: {labels: {k: 'a'}}, spec: {containers: [{name: 'aws-node', image: 'cni'}, {name: 'aws-eks-nodeagent', image: 'agent', args: [`--enable-network-policy=${on}`]}]}}}})
    api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'kube-system'}})
    api.store.put(awsNode(false))
    const off = byName(await runDoctor({...base, kubeClient: async () => c, env: {PATH: bin}}))['network policies']!
    expect(off).toMatchObject({status: 'warn', message: expect.stringContaining('not enforced'), fix: expect.stringContaining('aip cluster bootstrap')})
    api.store.put(awsNode(true))
    expect(byName(await runDoctor({...base, kubeClient: async () => c, env: {PATH: bin}}))['network policies']).toMatchObject({status: 'ok'})
  })

  it('S3 access: the ServiceAccounts and their Pod Identity associations (wiring checked, no pod started); a missing association fails naming bootstrap', async () => {
    await runBootstrap({clusterName: 'aip', kubeconfig: {}, kubeClient: async () => c, platform: {...base, gatewayNamespace: 'aip-gateway', tenants: [], gpuLimit: 4}})
    const eks = new EKSClient({region: 'us-east-1', credentials: {accessKeyId: 'x', secretAccessKey: 'y'}})
    const m = mockClient(eks)
    m.on(DescribeClusterCommand).resolves({cluster: {name: 'aip', status: 'ACTIVE', version: '1.32'}})
    const assoc = [{namespace: 'aip-models', serviceAccount: 'aip-model-server', associationId: 'a-1', roleArn: 'arn:aws:iam::1:role/aip-aip-model-server'}]
    m.on(ListPodIdentityAssociationsCommand).callsFake(async (i) => ({associations: assoc.filter((a) => a.namespace === i.namespace).map(({roleArn: _r, ...a}) => a)}))
    m.on(DescribePodIdentityAssociationCommand).callsFake(async (i) => ({association: assoc.find((a) => a.associationId === i.associationId)}))
    const run = async () => byName(await runDoctor({...base, bucket: 'w', kubeClient: async () => c, env: {PATH: bin}, eks: {client: async () => eks, name: 'aip', region: 'us-east-1'}}))
    const missing = (await run())['S3 access']!
    expect(missing).toMatchObject({status: 'fail', fix: expect.stringContaining('aip cluster bootstrap')})
    expect(missing.message).toContain('no EKS Pod Identity association for aip-models/aip-preload')
    assoc.push({namespace: 'aip-models', serviceAccount: 'aip-preload', associationId: 'a-2', roleArn: 'arn:aws:iam::1:role/aip-aip-preload'})
    const ok = (await run())['S3 access']!
    expect(ok).toMatchObject({status: 'ok'})
    expect(ok.message).toBe('EKS Pod Identity: aip-model-server -> aip-aip-model-server, aip-preload -> aip-aip-preload (associations checked; no pod is started to read s3://w)')
    // without EKS (--skip-eks) it says it cannot tell
    expect((await runDoctor({...base, kubeClient: async () => c, env: {PATH: bin}})).find((x) => x.name === 'S3 access')!.status).toBe('warn')
  })

  it('an unreachable API server and a missing kubeconfig fail with their fixes', async () => {
    await api.goDown()
    const down = byName(await runDoctor({...base, kubeClient: async () => c, env: {PATH: bin}}))
    expect(down['API server']!.status).toBe('fail')
    await api.comeBack()
    const none = byName(
      await runDoctor({
        ...base,
        env: {PATH: bin},
        kubeClient: async () => {
          throw new NotFoundError('no kubeconfig found', {fix: 'run aip cluster bootstrap or set --kubeconfig'})
        },
      }),
    )
    expect(none.kubeconfig).toMatchObject({status: 'fail', fix: 'run aip cluster bootstrap or set --kubeconfig'})
    expect(none['API server']).toBeUndefined()
  })
})
