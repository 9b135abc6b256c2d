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
    const applied = await kubectl('apply', '--server-side', '-f', join(dir, 'd.yaml'))
    expect(applied.out).toContain('deployment.apps/web serverside-applied')
    const rollout = await kubectl('-n', 'kc', 'rollout', 'status', 'deploy/web', '--timeout=20s')
    expect(rollout).toMatchObject({code: 0})
    expect(rollout.out).toContain('deployment "web" successfully rolled out')
    expect((await kubectl('-n', 'kc', 'scale', 'deploy/web', '--replicas=1')).code).toBe(0)
    writeFileSync(join(dir, 'd.yaml'), manifest(3))
    const conflict = await kubectl('apply', '--server-side', '-f', join(dir, 'd.yaml'))
    expect(conflict.code).not.toBe(0)
    expect(conflict.out).toContain('Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas')
    expect((await kubectl('apply', '--server-side', '--force-conflicts', '-f', join(dir, 'd.yaml'))).code).toBe(0)
    const pods = await kubectl('-n', 'kc', 'get', 'pods', '-l', 'app in (web)', '-o', 'name')
    expect(pods.out.trim().split('\n').length).toBeGreaterThanOrEqual(1)
    const del = await kubectl('delete', 'namespace', 'kc', '--wait=true', '--timeout=20s')
    expect(del.code).toBe(0)
    expect(api.store.get('v1', 'Namespace', undefined, 'kc')).toBeUndefined()
    expect(api.store.all().filter((o) => o.metadata.namespace === 'kc')).toEqual([])
  })

  it('apply validates against the server (OpenAPI v3, fieldValidation=Strict) without --validate=false: 422 and 400 in the real words', async () => {
    expect((await kubectl('create', 'namespace', 'val')).code).toBe(0)
    const dep = (sel: string, extra = '') => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: val\nspec:\n${sel}  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx:1.27}]\n${extra}`
    writeFileSync(join(dir, 'nosel.yaml'), dep(''))
    const nosel = await kubectl('apply', '-f', join(dir, 'nosel.yaml'))
    expect(nosel.code).not.toBe(0)
    expect(nosel.out).toContain('The Deployment "web" is invalid: \n* spec.selector: Required value')
    expect(nosel.out).toContain('* spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`')
    writeFileSync(join(dir, 'unknown.yaml'), dep('  selector: {matchLabels: {app: web}}\n', '      foo: 1\n'))
    const unknown = await kubectl('apply', '-f', join(dir, 'unknown.yaml'))
    expect(unknown.code).not.toBe(0)
    expect(unknown.out).toContain('Error from server (BadRequest): error when creating')
    expect(unknown.out).toContain('strict decoding error: unknown field "spec.template.spec.foo"')
    writeFileSync(join(dir, 'ok.yaml'), dep('  selector: {matchLabels: {app: web}}\n'))
    const ok = await kubectl('apply', '-f', join(dir, 'ok.yaml'))
    expect(ok).toMatchObject({code: 0})
    expect(ok.out).toContain('deployment.apps/web created')
    expect((await kubectl('apply', '-f', join(dir, 'ok.yaml'))).out).toContain('deployment.apps/web unchanged')
  })

  it('a changed Job template is 422 field is immutable; delete --dry-run=server stores nothing; get all lists the workloads', async () => {
    const job = (image: string) => `apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: val\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: ${image}}]\n`
    writeFileSync(join(dir, 'job.yaml'), job('busybox:1.36'))
    expect((await kubectl('apply', '-f', join(dir, 'job.yaml'))).code).toBe(0)
    writeFileSync(join(dir, 'job.yaml'), job('busybox:1.37'))
    const changed = await kubectl('apply', '-f', join(dir, 'job.yaml'))
    expect(changed.code).not.toBe(0)
    expect(changed.out).toMatch(/The Job "once" is invalid: spec\.template: Invalid value: .*"image":"busybox:1\.37".*: field is immutable/)
    // server-side apply: the image is owned by the client-side apply (a conflict on the keyed path
    // first); forced, the merged object still changes the template: 422
    const conflict = await kubectl('apply', '--server-side', '-f', join(dir, 'job.yaml'))
    expect(conflict.code).not.toBe(0)
    expect(conflict.out).toContain('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using batch/v1: .spec.template.spec.containers[name="c"].image')
    const ssa = await kubectl('apply', '--server-side', '--force-conflicts', '-f', join(dir, 'job.yaml'))
    expect(ssa.code).not.toBe(0)
    expect(ssa.out).toContain('spec.template: Invalid value')
    const dry = await kubectl('-n', 'val', 'delete', 'deployment', 'web', '--dry-run=server')
    expect(dry).toMatchObject({code: 0})
    expect(dry.out).toContain('deployment.apps "web" deleted (server dry run)')
    expect(api.store.get('apps/v1', 'Deployment', 'val', 'web')).toBeDefined()
    await api.waitFor((s) => s.list('v1', 'Pod', 'val').some((p) => p.metadata.name.startsWith('web-')))
    const all = await kubectl('-n', 'val', 'get', 'all')
    expect(all).toMatchObject({code: 0})
    expect(all.out).toMatch(/^deployment\.apps\/web\s/m)
    expect(all.out).toMatch(/^replicaset\.apps\/web-[a-z0-9]+\s/m)
    expect(all.out).toMatch(/^pod\/web-[a-z0-9]+-[a-z0-9]+\s/m)
    expect(all.out).toMatch(/^job\.batch\/once\s/m)
    expect(all.out).not.toContain('configmap')
    const chunked = await kubectl('-n', 'val', 'get', 'pods', '--chunk-size=1', '-o', 'name')
    expect(chunked).toMatchObject({code: 0})
  })
})
