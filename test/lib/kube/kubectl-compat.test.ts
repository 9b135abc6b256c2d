// When kubectl is installed, the loopback server must satisfy it too: the strongest check that it
// speaks kube-apiserver's protocol (discovery, SSA, watch-based rollout status, scale, namespace
// deletion with --wait, conflicts with the real kubectl error text).
import {execFile} from 'node:child_process'
import {mkdtempSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {startKubeApiServer, type KubeApiServer} from './helpers.js'

const run = promisify(execFile)
const hasKubectl = await run('kubectl', ['version', '--client']).then(
  () => true,
  () => false,
)

describe.skipIf(!hasKubectl)('kubectl against the loopback API server', () => {
  let api: KubeApiServer
  let dir: string
  const kubectl = async (...args: string[]) => {
    try {
      const r = await run('kubectl', args, {env: {...process.env, KUBECONFIG: api.kubeconfigPath}, timeout: 30_000})
      return {code: 0, out: r.stdout + r.stderr}
    } catch (error: any) {
      return {code: error.code as number, out: `${error.stdout ?? ''}${error.stderr ?? ''}`}
    }
  }
  beforeAll(async () => {
    api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: 100}, nodes: [systemNode()]})
    dir = mkdtempSync(join(tmpdir(), 'aip-kubectl-'))
  })
  afterAll(async () => {
    await api.stop()
  })

  it('apply --server-side, rollout status, scale, conflict, delete namespace --wait', async () => {
    expect((await kubectl('create', 'namespace', 'kc')).code).toBe(0)
    const manifest = (replicas: number) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: kc\nspec:\n  replicas: ${replicas}\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx}]\n`
    writeFileSync(join(dir, 'd.yaml'), manifest(2))
    const applied = await kubectl('apply', '--server-side', '--validate=false', '-f', join(dir, 'd.yaml'))
    expect(applied.out).toContain('deployment.apps/web serverside-applied')
    const rollout = await kubectl('-n', 'kc', 'rollout', 'status', 'deploy/web', '--timeout=20s')
    expect(rollout).toMatchObject({code: 0})
    expect(rollout.out).toContain('deployment "web" successfully rolled out')
    expect((await kubectl('-n', 'kc', 'scale', 'deploy/web', '--replicas=1')).code).toBe(0)
    writeFileSync(join(dir, 'd.yaml'), manifest(3))
    const conflict = await kubectl('apply', '--server-side', '--validate=false', '-f', join(dir, 'd.yaml'))
    expect(conflict.code).not.toBe(0)
    expect(conflict.out).toContain('Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas')
    expect((await kubectl('apply', '--server-side', '--force-conflicts', '--validate=false', '-f', join(dir, 'd.yaml'))).code).toBe(0)
    const pods = await kubectl('-n', 'kc', 'get', 'pods', '-l', 'app in (web)', '-o', 'name')
    expect(pods.out.trim().split('\n').length).toBeGreaterThanOrEqual(1)
    const del = await kubectl('delete', 'namespace', 'kc', '--wait=true', '--timeout=20s')
    expect(del.code).toBe(0)
    expect(api.store.get('v1', 'Namespace', undefined, 'kc')).toBeUndefined()
    expect(api.store.all().filter((o) => o.metadata.namespace === 'kc')).toEqual([])
  })
})
