// The real kubectl against the loopback API server's transport, auth and scheduler: what a user of
// an EKS cluster sees (verified TLS, Unauthorized, Forbidden, FailedScheduling, Terminating).
import {execFile} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {promisify} from 'node:util'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {stringify} from 'yaml'

import {aipGpuNode, systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {startKubeApiServer, type KubeApiServer} from './helpers.js'

const run = promisify(execFile)
const hasKubectl = await run('kubectl', ['version', '--client']).then(
  () => true,
  () => false,
)

describe.skipIf(!hasKubectl)('kubectl against the loopback cluster: auth and scheduling', () => {
  let api: KubeApiServer
  let dir: string
  const kubectl = async (kubeconfig: string, ...args: string[]) => {
    try {
      const p = run('kubectl', args, {env: {...process.env, KUBECONFIG: kubeconfig}, timeout: 30_000})
      p.child.stdin?.end() // no terminal: kubectl cannot prompt for credentials
      const r = await p
      return {code: 0, out: r.stdout + r.stderr}
    } catch (error: any) {
      return {code: error.code as number, out: `${error.stdout ?? ''}${error.stderr ?? ''}`}
    }
  }
  const admin = (...args: string[]) => kubectl(api.kubeconfigPath, ...args)
  const file = (name: string, obj: unknown) => {
    const p = join(dir, name)
    writeFileSync(p, stringify(obj))
    return p
  }
  const gpuPod = (name: string, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {name, namespace: 'ml'},
    spec: {
      tolerations: [{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}],
      containers: [{name: 'vllm', image: 'vllm/vllm-openai:v0.8.5', resources: {requests: {cpu: '3', memory: '24Gi', 'nvidia.com/gpu': '1'}, limits: {'nvidia.com/gpu': '1'}}}],
      ...extra,
    },
  })

  beforeAll(async () => {
    api = await startKubeApiServer({nodes: [systemNode({name: 'ip-10-0-1-10.ec2.internal'})], kubelet: {pullMs: 20, startMs: 20}})
    dir = mkdtempSync(join(tmpdir(), 'aip-kubectl-cluster-'))
    expect((await admin('create', 'namespace', 'ml')).code).toBe(0)
  })
  afterAll(async () => {
    await api.stop()
    rmSync(dir, {recursive: true, force: true})
  })

  it('verifies the server certificate against the kubeconfig CA (no --insecure-skip-tls-verify)', async () => {
    const r = await admin('get', 'namespaces', '-o', 'name')
    expect(r.code, r.out).toBe(0)
    expect(r.out).toContain('namespace/ml')
    const other = await kubectl(api.kubeconfigPath, '--certificate-authority', '/etc/ssl/certs/ca-certificates.crt', 'get', 'namespaces')
    expect(other.code).not.toBe(0)
    expect(other.out).toMatch(/certificate signed by unknown authority|x509/)
  })

  it('401: a wrong token -> "You must be logged in to the server (Unauthorized)"; no token -> kubectl asks for credentials', async () => {
    const wrong = await kubectl(api.writeKubeconfig(join(dir, 'kc-wrong'), {token: 'wrong-token'}), 'get', 'pods', '-n', 'ml')
    expect(wrong.code).not.toBe(0)
    expect(wrong.out).toContain('error: You must be logged in to the server (Unauthorized)')
    const kc = api.writeKubeconfig(join(dir, 'kc-none'), {token: 'x'})
    writeFileSync(kc, readFileSync(kc, 'utf8').replace(/^ {4}token: .*$/m, '    {}'))
    // client-go answers a 401 to a user without credentials by prompting for basic auth (stdin is closed here)
    const none = await kubectl(kc, 'get', 'pods', '-n', 'ml')
    expect(none.code).not.toBe(0)
    expect(none.out).toContain('Please enter Username')
  })

  it('403: a read-only token reads, and its writes are Forbidden with the real message', async () => {
    const ro = api.addUser({name: 'viewer', clusterRoles: ['view']})
    expect((await kubectl(ro.kubeconfigPath, 'get', 'pods', '-n', 'ml')).code).toBe(0)
    const create = await kubectl(ro.kubeconfigPath, '-n', 'ml', 'create', 'deployment', 'x', '--image=nginx')
    expect(create.code).not.toBe(0)
    expect(create.out).toContain('error: failed to create deployment: deployments.apps is forbidden: User "viewer" cannot create resource "deployments" in API group "apps" in the namespace "ml"')
    const apply = await kubectl(ro.kubeconfigPath, 'apply', '--server-side', '--validate=false', '-f', file('cm.yaml', {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'c', namespace: 'ml'}, data: {a: '1'}}))
    expect(apply.code).not.toBe(0)
    expect(apply.out).toContain('configmaps "c" is forbidden: User "viewer" cannot patch resource "configmaps" in API group "" in the namespace "ml"')
    const can = await kubectl(ro.kubeconfigPath, 'get', 'secrets', '-n', 'ml')
    expect(can.out).toContain('Error from server (Forbidden): secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "ml"')
  })

  it('a GPU pod is Pending with FailedScheduling until a GPU node registers, then runs', async () => {
    const applied = await admin('apply', '--validate=false', '-f', file('gpu.yaml', gpuPod('gpu')))
    expect(applied.code, applied.out).toBe(0)
    let describe = ''
    for (let i = 0; i < 100 && !describe.includes('FailedScheduling'); i++) describe = (await admin('-n', 'ml', 'describe', 'pod', 'gpu')).out
    expect(describe).toMatch(/Status:\s+Pending/)
    expect(describe).toMatch(/Warning\s+FailedScheduling\s+.*default-scheduler\s+0\/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Insufficient nvidia\.com\/gpu\. preemption: 0\/1 nodes are available: 1 No preemption victims found for incoming pod\./)
    const events = await admin('-n', 'ml', 'get', 'events', '--field-selector', 'reason=FailedScheduling', '-o', 'jsonpath={.items[*].involvedObject.name}')
    expect(events.out).toContain('gpu')
    // a GPU node registers (kubelets create their own Node objects): the scheduler retries the pod
    const created = await admin('create', '--validate=false', '-f', file('node.yaml', aipGpuNode('g6e.xlarge', {name: 'ip-10-0-2-20.ec2.internal'})))
    expect(created.code, created.out).toBe(0)
    const wait = await admin('-n', 'ml', 'wait', '--for=condition=Ready', 'pod/gpu', '--timeout=20s')
    expect(wait.code, wait.out).toBe(0)
    const placed = await admin('-n', 'ml', 'get', 'pod', 'gpu', '-o', 'jsonpath={.status.phase} {.spec.nodeName}')
    expect(placed.out).toBe('Running ip-10-0-2-20.ec2.internal')
    const after = await admin('-n', 'ml', 'describe', 'pod', 'gpu')
    expect(after.out).toMatch(/Normal\s+Scheduled\s+.*Successfully assigned ml\/gpu to ip-10-0-2-20\.ec2\.internal/)
    expect(after.out).toMatch(/Normal\s+Pulled\s+.*Successfully pulled image "vllm\/vllm-openai:v0\.8\.5"/)
    expect(after.out).toMatch(/Normal\s+Started\s+.*Started container vllm/)
  })

  it('a pod with a wrong nodeSelector stays Pending on a cluster with a GPU node', async () => {
    await admin('create', '--validate=false', '-f', file('node2.yaml', aipGpuNode('g6e.xlarge', {name: 'ip-10-0-2-21.ec2.internal'})))
    expect((await admin('apply', '--validate=false', '-f', file('typo.yaml', gpuPod('typo', {nodeSelector: {'node.kubernetes.io/instance-type': 'g6e.xlarg'}})))).code).toBe(0)
    let out = ''
    for (let i = 0; i < 100 && !out.includes('FailedScheduling'); i++) out = (await admin('-n', 'ml', 'describe', 'pod', 'typo')).out
    expect(out).toMatch(/FailedScheduling\s+.*0\/3 nodes are available: 3 node\(s\) didn't match Pod's node affinity\/selector\. preemption: 0\/3 nodes are available: 3 Preemption is not helpful for scheduling\./)
    await new Promise((r) => setTimeout(r, 200))
    expect((await admin('-n', 'ml', 'get', 'pod', 'typo', '-o', 'jsonpath={.status.phase}/{.spec.nodeName}')).out).toBe('Pending/')
  })

  it('kubectl delete goes through Terminating for the grace period', async () => {
    const r = await admin('-n', 'ml', 'delete', 'pod', 'gpu', '--wait=false')
    expect(r.out).toContain('pod "gpu" deleted')
    const ts = await admin('-n', 'ml', 'get', 'pod', 'gpu', '-o', 'jsonpath={.metadata.deletionGracePeriodSeconds}')
    // the default 30 s grace runs 30 ms here (timeScaleMs 1): it may already be gone
    expect(['30', '']).toContain(ts.out.replace(/Error from server \(NotFound\).*\n?/, ''))
    expect((await admin('-n', 'ml', 'wait', '--for=delete', 'pod/gpu', '--timeout=20s')).code).toBe(0)
  })
})
