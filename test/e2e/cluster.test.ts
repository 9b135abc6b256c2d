import {mkdtempSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {type EksServer, startEksServer} from '../support/eks-server.mjs'
import {type IamServer, startIamServer} from '../support/iam-server.mjs'
import {S3RVER_CREDENTIALS, S3rverHandle} from '../support/s3rver.mjs'
import {isolatedEnv, runCli} from '../support/cli.js'
import {writeFakeAws} from '../support/kube-apiserver/exec-credential.mjs'
import {type KubeApiServer, startKubeApiServer} from '../support/kube-apiserver/index.mjs'
import {aipGpuNode, systemNode} from '../support/kube-apiserver/nodes.mjs'

let api: KubeApiServer
let eks: EksServer
let iam: IamServer
let s3h: S3rverHandle
let fakeBin: string

const awsEnv = (extra: NodeJS.ProcessEnv = {}) =>
  isolatedEnv({
    PATH: `${fakeBin}:${process.env.PATH}`,
    AIP_EKS_ENDPOINT: eks.endpoint,
    // bootstrap's S3 access: IAM and STS (the SDK reads these), the bucket on s3rver
    AWS_ENDPOINT_URL_IAM: iam.endpoint,
    AWS_ENDPOINT_URL_STS: iam.endpoint,
    AIP_S3_ENDPOINT: s3h.endpoint,
    AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
    AIP_EKS_POLL_MS: '10',
    ...extra,
  })

const kubeEnv = (extra: NodeJS.ProcessEnv = {}) => isolatedEnv({KUBECONFIG: api.kubeconfigPath, ...extra})

beforeAll(async () => {
  api = await startKubeApiServer({nodes: [systemNode()]})
  // EKS hands out the endpoint and its CA; the token comes from `aws eks get-token` (the exec plugin)
  eks = await startEksServer({clusters: [{name: 'prod', endpoint: api.url, ca: api.caData, nodegroups: ['prod-system']}], createdEndpoint: api.url, createdCa: api.caData})
  const aws = writeFakeAws()
  api.addToken(aws.token, {name: 'arn:aws:sts::123456789012:assumed-role/dev/session', groups: ['system:masters']})
  fakeBin = aws.dir
  iam = await startIamServer()
  s3h = await S3rverHandle.start()
})
afterAll(async () => {
  await api.stop()
  await eks.stop()
  await iam.stop()
  await s3h.stop()
})

describe('aip cluster bootstrap', () => {
  it('--dry-run prints the plan and creates nothing', async () => {
    const r = await runCli(['cluster', 'bootstrap', '--skip-eks', '--dry-run', '--tenant', 'team-a=2'], {env: kubeEnv()})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('dry run: nothing changed')
    expect(r.stdout).toMatch(/Namespace\s+-\s+aip-models\s+create/)
    expect(r.stdout).toMatch(/ResourceQuota\s+team-a\s+aip-quota\s+create/)
    expect(api.store.get('v1', 'Namespace', undefined, 'aip-models')).toBeUndefined()
    const j = await runCli(['cluster', 'bootstrap', '--skip-eks', '--dry-run', '--json'], {env: kubeEnv()})
    const out = JSON.parse(j.stdout)
    expect(out.status).toBe('ok')
    expect(out.result.dryRun).toBe(true)
    expect(out.result.objects.find((o: {kind: string}) => o.kind === 'Namespace').action).toBe('create')
    expect(out.result.addons.map((a: {name: string}) => a.name)).toEqual(['keda', 'keda-http-add-on', 'prometheus-operator', 'nvidia-device-plugin', 'dcgm-exporter', 'karpenter'])
  })

  it('--skip-eks applies the platform base, and a rerun changes nothing', async () => {
    const r = await runCli(['cluster', 'bootstrap', '--skip-eks', '--tenant', 'team-a=2', '--json'], {env: kubeEnv()})
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout)
    expect(out.result.objects.every((o: {action: string}) => o.action === 'created')).toBe(true)
    const ns = api.store.get('v1', 'Namespace', undefined, 'aip-models')!
    expect(ns.metadata.labels!['pod-security.kubernetes.io/enforce']).toBe('restricted')
    expect(api.store.get('v1', 'ResourceQuota', 'team-a', 'aip-quota')!.spec.hard['requests.nvidia.com/gpu']).toBe('2')
    expect(api.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')).toBeUndefined() // no Karpenter CRDs
    const again = await runCli(['cluster', 'bootstrap', '--skip-eks', '--tenant', 'team-a=2', '--json'], {env: kubeEnv()})
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).result.objects.every((o: {action: string}) => o.action === 'unchanged')).toBe(true)
    // human output: the VPC CNI runs without its network policy agent here, and bootstrap says so on stderr
    api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'kube-system'}})
    api.store.put({apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: {name: 'aws-node', namespace: 'kube-system'}, spec: {selector: {matchLabels: {k: 'aws-node'}}, template: {metadata: {labels: {k: 'aws-node'}}, spec: {containers: [{name: 'aws-node', image: 'cni'}, {name: 'aws-eks-nodeagent', image: 'agent', args: ['--enable-network-policy=false']}]}}}})
    const human = await runCli(['cluster', 'bootstrap', '--skip-eks', '--tenant', 'team-a=2'], {env: kubeEnv()})
    expect(human.code, human.stderr).toBe(0)
    expect(human.stderr).toMatch(/Warning: NetworkPolicies are NOT enforced: the VPC CNI network policy agent is off/)
    expect(human.stderr).toMatch(/Fix: set enableNetworkPolicy=true on the vpc-cni add-on/)
    expect(human.stdout).toMatch(/Network policies: not-enforced/)
    api.store.remove('apps/v1', 'DaemonSet', 'kube-system', 'aws-node')
  })

  it('EKS mode: describes the cluster, merges a 0600 kubeconfig context with an exec plugin, applies the base', async () => {
    // a named profile with static keys (as ~/.aws/credentials holds them)
    const awsDir = mkdtempSync(join(tmpdir(), 'aip-aws-'))
    writeFileSync(join(awsDir, 'credentials'), `[dev]\naws_access_key_id = ${S3RVER_CREDENTIALS.accessKeyId}\naws_secret_access_key = ${S3RVER_CREDENTIALS.secretAccessKey}\n`)
    writeFileSync(join(awsDir, 'config'), '[profile dev]\nregion = us-east-1\n')
    const env = awsEnv({AWS_SHARED_CREDENTIALS_FILE: join(awsDir, 'credentials'), AWS_CONFIG_FILE: join(awsDir, 'config'), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: ''})
    const kubeDir = join(env.HOME!, '.kube')
    const {mkdirSync} = await import('node:fs')
    mkdirSync(kubeDir, {recursive: true})
    writeFileSync(join(kubeDir, 'config'), 'apiVersion: v1\nkind: Config\nclusters: [{name: other, cluster: {server: "https://10.0.0.1"}}]\ncontexts: [{name: other, context: {cluster: other, user: other}}]\nusers: [{name: other, user: {token: keep}}]\ncurrent-context: other\n')
    const r = await runCli(['cluster', 'bootstrap', '--name', 'prod', '--region', 'us-east-1', '--profile', 'dev'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/cluster:\s+prod \(us-east-1\): ACTIVE, Kubernetes 1\.31/)
    const path = join(kubeDir, 'config')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const kc = parse(readFileSync(path, 'utf8'))
    const arn = 'arn:aws:eks:us-east-1:123456789012:cluster/prod'
    expect(kc['current-context']).toBe(arn)
    expect(kc.contexts.map((c: {name: string}) => c.name)).toEqual(['other', arn])
    const user = kc.users.find((u: {name: string}) => u.name === arn).user
    expect(user.exec.args).toEqual(['--region', 'us-east-1', 'eks', 'get-token', '--cluster-name', 'prod', '--output', 'json', '--profile', 'dev'])
    expect(readFileSync(path, 'utf8')).not.toContain('k8s-aws-v1.fake')
    // the exec plugin was used to reach the API server
    expect(readFileSync(join(fakeBin, 'calls.log'), 'utf8')).toContain('eks get-token --cluster-name prod')

    const s = await runCli(['cluster', 'status', '--name', 'prod', '--region', 'us-east-1', '--profile', 'dev', '--json'], {env})
    expect(s.code, s.stderr).toBe(0)
    const st = JSON.parse(s.stdout).result
    expect(st.eks).toMatchObject({name: 'prod', status: 'ACTIVE', version: '1.31'})
    expect(st.eks.nodegroups.map((n: {name: string}) => n.name)).toEqual(['prod-system'])
  })

  it('EKS --dry-run: describes only; a missing cluster with --create is planned, nothing written', async () => {
    const env = awsEnv()
    const before = eks.requests.length
    const r = await runCli(['cluster', 'bootstrap', '--name', 'later', '--region', 'us-east-1', '--create', '--dry-run', '--role-arn', 'arn:aws:iam::1:role/eks', '--node-role-arn', 'arn:aws:iam::1:role/node', '--subnet', 'a', '--subnet', 'b', '--public-access-cidrs', '203.0.113.7/32'], {env})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('later (us-east-1): does not exist; would be created')
    expect(eks.requests.slice(before).every((q) => q.method === 'GET')).toBe(true)
    expect(eks.clusters.has('later')).toBe(false)
    const d = await runCli(['cluster', 'bootstrap', '--name', 'prod', '--region', 'us-east-1', '--dry-run', '--json'], {env})
    expect(d.code, d.stderr).toBe(0)
    expect(JSON.parse(d.stdout).result.kubeconfig.action).toBe('would-write')
    const {existsSync} = await import('node:fs')
    expect(existsSync(join(env.HOME!, '.kube', 'config'))).toBe(false)
  })

  it('--create --dry-run --json lists the Auto Mode cluster, bucket, IAM roles, Pod Identity associations and add-ons; writes nothing', async () => {
    const env = awsEnv()
    const before = {eks: eks.requests.length, iam: iam.requests.length}
    const r = await runCli(
      ['cluster', 'bootstrap', '--name', 'planned', '--region', 'us-east-1', '--create', '--dry-run', '--json', '--tenant', 'team-a=2', '--gpu', 'l40s', '--role-arn', 'arn:aws:iam::123456789012:role/eks', '--node-role-arn', 'arn:aws:iam::123456789012:role/node', '--subnet', 'subnet-a', '--subnet', 'subnet-b', '--public-access-cidrs', '203.0.113.7/32'],
      {env},
    )
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout).result
    expect(out.cluster).toMatchObject({name: 'planned', plannedCreate: true, autoMode: true})
    expect(out.access.bucket).toMatchObject({name: 'planned-weights-123456789012-us-east-1', action: 'create'})
    expect(out.access.roles.map((x: any) => [x.name, x.access, x.action])).toEqual([['aip-planned-model-server', 'read', 'create'], ['aip-planned-preload', 'read-write', 'create']])
    expect(out.access.podIdentityAgent).toEqual({name: 'eks-pod-identity-agent', action: 'built-in'}) // Auto Mode runs the agent
    expect(out.access.associations.map((x: any) => `${x.namespace}/${x.serviceAccount}:${x.action}`)).toEqual(['aip-models/aip-model-server:create', 'aip-models/aip-preload:create', 'team-a/aip-model-server:create', 'team-a/aip-preload:create'])
    expect(out.gpuPool.provisioner).toBe('auto-mode')
    expect(out.gpuPool.objects.map((o: any) => `${o.kind}/${o.name}:${o.action}`)).toEqual(['NodePool/aip-gpu:apply'])
    expect(out.objects.map((o: any) => o.kind)).toEqual(expect.arrayContaining(['Namespace', 'ServiceAccount', 'Role', 'ResourceQuota']))
    expect(out.addons).toEqual([]) // no cluster to detect them in yet
    // reads only
    expect(eks.requests.slice(before.eks).every((q) => q.method === 'GET')).toBe(true)
    expect(iam.requests.slice(before.iam).map((q) => q.action).every((a) => /^(Get|List)/.test(a))).toBe(true)
    expect(eks.clusters.has('planned')).toBe(false)
    // 0.0.0.0/0 is warned about
    const open = await runCli(['cluster', 'bootstrap', '--name', 'planned', '--region', 'us-east-1', '--create', '--dry-run', '--role-arn', 'arn:aws:iam::1:role/eks', '--node-role-arn', 'arn:aws:iam::1:role/node', '--subnet', 'a', '--subnet', 'b', '--public-access-cidrs', '0.0.0.0/0'], {env})
    expect(open.code, open.stderr).toBe(0)
    expect(open.stderr).toContain('0.0.0.0/0 opens the cluster API endpoint to the whole internet')
    // without the flag and without a way to learn the caller's address: the flag is required
    const none = await runCli(['cluster', 'bootstrap', '--name', 'planned', '--region', 'us-east-1', '--create', '--dry-run', '--role-arn', 'arn:aws:iam::1:role/eks', '--node-role-arn', 'arn:aws:iam::1:role/node', '--subnet', 'a', '--subnet', 'b'], {env: {...env, AIP_CHECKIP_URL: 'http://127.0.0.1:9/'}})
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('--public-access-cidrs')
  })

  it('a real run on an existing cluster sets up the bucket, roles, agent and associations, records the bucket; the second run changes nothing', async () => {
    const env = awsEnv()
    const first = await runCli(['cluster', 'bootstrap', '--name', 'prod', '--region', 'us-east-1', '--tenant', 'team-b=1', '--json'], {env})
    expect(first.code, first.stderr).toBe(0)
    const a = JSON.parse(first.stdout).result
    expect(a.access.bucket).toMatchObject({name: 'prod-weights-123456789012-us-east-1'})
    expect(a.access.podIdentityAgent.action).toMatch(/created|unchanged/)
    expect(eks.associations('prod').filter((x) => x.namespace !== 'kube-system').map((x) => `${x.namespace}/${x.serviceAccount}->${x.roleArn}`).sort()).toEqual(
      ['aip-models/aip-model-server->arn:aws:iam::123456789012:role/aip-prod-model-server', 'aip-models/aip-preload->arn:aws:iam::123456789012:role/aip-prod-preload', 'team-b/aip-model-server->arn:aws:iam::123456789012:role/aip-prod-model-server', 'team-b/aip-preload->arn:aws:iam::123456789012:role/aip-prod-preload'].sort(),
    )
    expect(JSON.parse(iam.roles.get('aip-prod-preload')!.trust).Statement[0].Principal).toEqual({Service: 'pods.eks.amazonaws.com'})
    // node groups: the EBS CSI driver add-on with its controller's Pod Identity role, and its StorageClass
    expect(eks.addons('prod')).toContain('aws-ebs-csi-driver')
    expect([...iam.roles.get('aip-prod-ebs-csi')!.attached!]).toEqual(['arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy'])
    expect(eks.associations('prod')).toContainEqual(expect.objectContaining({namespace: 'kube-system', serviceAccount: 'ebs-csi-controller-sa', roleArn: 'arn:aws:iam::123456789012:role/aip-prod-ebs-csi'}))
    expect(a.objects).toContainEqual(expect.objectContaining({kind: 'StorageClass', name: 'aip-ebs-gp3'}))
    expect(api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')!.provisioner).toBe('ebs.csi.aws.com')
    // vpc-cni is not an EKS add-on on this cluster (and aip did not create it): a warning, not a silent pass
    expect(a.networkPolicy).toMatchObject({state: 'unknown', action: 'none'})
    expect(a.warnings).toContainEqual(expect.objectContaining({step: 'netpol', fix: expect.stringContaining('aws eks create-addon --cluster-name prod')}))
    // and in the --json envelope's warnings, as every command's warnings are
    expect(JSON.parse(first.stdout).warnings.join('\n')).toContain('NetworkPolicies may NOT be enforced')
    expect(readFileSync(a.config.file, 'utf8')).toContain('bucket: prod-weights-123456789012-us-east-1')
    const eksWrites = eks.requests.length
    const iamWrites = iam.requests.filter((q) => !/^(Get|List)/.test(q.action)).length
    const second = await runCli(['cluster', 'bootstrap', '--name', 'prod', '--region', 'us-east-1', '--tenant', 'team-b=1', '--json'], {env})
    expect(second.code, second.stderr).toBe(0)
    const b = JSON.parse(second.stdout).result
    expect(eks.requests.slice(eksWrites).filter((q) => q.method !== 'GET')).toEqual([])
    expect(iam.requests.filter((q) => !/^(Get|List)/.test(q.action)).length).toBe(iamWrites)
    const e = b.storage.ebsCsi
    const actions = [b.access.bucket.action, ...b.access.bucket.settings.map((x: any) => x.action), ...b.access.roles.flatMap((x: any) => [x.action, x.policyAction]), b.access.podIdentityAgent.action, ...b.access.associations.map((x: any) => x.action), ...b.objects.map((o: any) => o.action), e.role.action, e.role.policyAction, e.association.action, e.addon.action, e.podIdentityAgent.action]
    expect(actions.filter((x) => !['unchanged', 'unsupported'].includes(x))).toEqual([])
  })

  it('--create creates the cluster and its system node group, waiting for ACTIVE', async () => {
    const env = awsEnv()
    const r = await runCli(
      ['cluster', 'bootstrap', '--name', 'fresh', '--region', 'us-east-1', '--create', '--compute', 'nodegroups', '--role-arn', 'arn:aws:iam::1:role/eks', '--node-role-arn', 'arn:aws:iam::1:role/node', '--subnet', 'subnet-a', '--subnet', 'subnet-b', '--public-access-cidrs', '203.0.113.7/32', '--json'],
      {env},
    )
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout).result
    expect(out.cluster).toMatchObject({name: 'fresh', status: 'ACTIVE', created: true})
    expect(eks.clusters.get('fresh')!.nodegroups.get('fresh-system')!.status).toBe('ACTIVE')
    // a cluster aip created: the managed vpc-cni add-on with its network policy agent on, and the EBS CSI driver
    expect(out.networkPolicy).toMatchObject({enforcer: 'vpc-cni', state: 'enforced', action: 'created'})
    const create = eks.requests.find((q) => q.method === 'POST' && q.path === '/clusters/fresh/addons' && q.body?.addonName === 'vpc-cni')!
    expect(JSON.parse(create.body.configurationValues)).toEqual({enableNetworkPolicy: 'true'})
    expect(eks.addons('fresh')).toEqual(expect.arrayContaining(['vpc-cni', 'aws-ebs-csi-driver', 'eks-pod-identity-agent']))
    expect(out.warnings).toEqual([])
    // a rerun: the value is there, nothing to update
    const writes = eks.requests.filter((q) => q.method !== 'GET').length
    const again = await runCli(['cluster', 'bootstrap', '--name', 'fresh', '--region', 'us-east-1', '--json'], {env})
    expect(again.code, again.stderr).toBe(0)
    expect(JSON.parse(again.stdout).result.networkPolicy).toMatchObject({state: 'enforced', action: 'unchanged'})
    expect(eks.requests.filter((q) => q.method !== 'GET').length).toBe(writes)
  })

  it('a cluster that does not exist: exit 4 suggesting --create (JSON error object with --json)', async () => {
    const r = await runCli(['cluster', 'bootstrap', '--name', 'nope', '--region', 'us-east-1'], {env: awsEnv()})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/Error: cluster "nope" not found in region us-east-1/)
    expect(r.stderr).toContain('--create')
    const j = await runCli(['cluster', 'bootstrap', '--name', 'nope', '--region', 'us-east-1', '--json'], {env: awsEnv()})
    expect(j.code).toBe(4)
    expect(JSON.parse(j.stdout).error).toMatchObject({code: 'NOT_FOUND', exitCode: 4})
  })

  it('missing AWS credentials and AccessDenied: exit 6 naming AWS_PROFILE / aws sso login', async () => {
    const env = awsEnv({AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent'})
    const r = await runCli(['cluster', 'bootstrap', '--name', 'prod', '--region', 'us-east-1', '--json'], {env})
    expect(r.code, r.stderr).toBe(6)
    const e = JSON.parse(r.stdout).error
    expect(e.code).toBe('UNAUTHORIZED')
    expect(e.fix).toMatch(/AWS_PROFILE/)
    expect(e.fix).toMatch(/aws sso login/)

    eks.fail({status: 403, type: 'AccessDeniedException', message: 'User: arn:aws:iam::1:user/x is not authorized to perform: eks:DescribeCluster'})
    try {
      const d = await runCli(['cluster', 'bootstrap', '--name', 'prod', '--region', 'us-east-1'], {env: awsEnv()})
      expect(d.code).toBe(6)
      expect(d.stderr.split('\n').find((l) => l.startsWith('Error:'))).toMatch(/^Error: AWS refused the request for cluster "prod" in us-east-1 \(AccessDeniedException\)/)
    } finally {
      eks.fail(undefined)
    }
  })

  it('no region: usage error (exit 2) naming --region and --skip-eks', async () => {
    const r = await runCli(['cluster', 'bootstrap', '--name', 'prod'], {env: isolatedEnv()})
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--region')
    expect(r.stderr).toContain('--skip-eks')
  })

  it('tenants from config (aip.yaml `tenants`), --tenant winning; a tenant given twice is an error', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'aip-tenants-'))
    writeFileSync(join(cwd, 'aip.yaml'), 'tenants: team-b=3, team-c\n')
    const r = await runCli(['cluster', 'bootstrap', '--skip-eks', '--gpu-quota', '2', '--json'], {env: kubeEnv(), cwd})
    expect(r.code, r.stderr).toBe(0)
    expect(api.store.get('v1', 'ResourceQuota', 'team-b', 'aip-quota')!.spec.hard['requests.nvidia.com/gpu']).toBe('3')
    expect(api.store.get('v1', 'ResourceQuota', 'team-c', 'aip-quota')!.spec.hard['requests.nvidia.com/gpu']).toBe('2')
    const flag = await runCli(['cluster', 'bootstrap', '--skip-eks', '--tenant', 'team-d=1', '--dry-run', '--json'], {env: kubeEnv(), cwd})
    const planned = JSON.parse(flag.stdout).result.objects.filter((o: {kind: string}) => o.kind === 'ResourceQuota').map((o: {namespace: string}) => o.namespace)
    expect(planned).toEqual(['team-d'])
    const twice = await runCli(['cluster', 'bootstrap', '--skip-eks', '--tenant', 'team-a=1', '--tenant', 'team-a=2'], {env: kubeEnv()})
    expect(twice.code).toBe(2)
    expect(twice.stderr).toContain('tenant "team-a" is given twice')
    const bad = await runCli(['config', 'set', 'tenants', 'Team_A=2'], {env: kubeEnv()})
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/tenants .*NAME\[=GPUS\]/)
  })

  it('--skip-eks without a kubeconfig: exit 4, and the fix does not send the user back to bootstrap', async () => {
    const r = await runCli(['cluster', 'bootstrap', '--skip-eks'], {env: isolatedEnv({KUBECONFIG: '/nonexistent/config'})})
    expect(r.code).toBe(4)
    expect(r.stderr).toMatch(/Error: kubeconfig \/nonexistent\/config not found\n\s+Fix: drop --skip-eks/)
  })

  it('bad --tenant: usage error (exit 2)', async () => {
    const r = await runCli(['cluster', 'bootstrap', '--skip-eks', '--tenant', 'Team_A'], {env: kubeEnv()})
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('invalid tenant name "Team_A"')
  })
})

describe('aip cluster status', () => {
  it('reports nodes by instance type with GPU capacity/allocatable, components and models', async () => {
    // with the system node registered at start: two GPU nodes of aip's NodePool (GPU feature discovery labels the product)
    api.addNode(aipGpuNode('g6e.xlarge'))
    api.addNode(aipGpuNode('g6e.xlarge'))
    const labels = {'app.kubernetes.io/managed-by': 'aip', 'app.kubernetes.io/name': 'qwen3-8b', 'aip.dev/model': 'qwen3-8b'}
    api.store.put({apiVersion: 'apps/v1', kind: 'Deployment', metadata: {name: 'qwen3-8b', namespace: 'aip-models', labels}, spec: {replicas: 0, selector: {matchLabels: {'aip.dev/model': 'qwen3-8b'}}, template: {metadata: {labels}, spec: {containers: [{name: 'v', image: 'x'}]}}}})
    const r = await runCli(['cluster', 'status', '--skip-eks', '--json'], {env: kubeEnv()})
    expect(r.code, r.stderr).toBe(0)
    const s = JSON.parse(r.stdout).result
    expect(s.nodes[0]).toMatchObject({instanceType: 'g6e.xlarge', nodes: 2, ready: 2, gpuCapacity: 2, gpuAllocatable: 2, gpuProduct: 'NVIDIA-L40S'})
    expect(s.totals).toMatchObject({nodes: 3, gpuCapacity: 2})
    expect(s.kubernetes.version).toBe('v1.31.0-aip-loopback')
    expect(s.platform).toContainEqual(expect.objectContaining({name: 'namespace aip-models', state: 'healthy'}))
    expect(s.platform).toContainEqual(expect.objectContaining({name: 'tenant team-a', state: 'healthy'}))
    expect(s.models).toEqual([{name: 'qwen3-8b', namespace: 'aip-models', desired: 0, ready: 0, state: 'scaled-to-zero'}])
    const h = await runCli(['cluster', 'status', '--skip-eks'], {env: kubeEnv()})
    expect(h.code).toBe(0)
    expect(h.stdout).toMatch(/g6e\.xlarge\s+2\/2\s+NVIDIA-L40S\s+2\s+2/)
    expect(h.stdout).toMatch(/qwen3-8b\s+aip-models\s+0\/0\s+scaled-to-zero/)
  })
})

describe('aip doctor', () => {
  it('passes with warnings against a reachable cluster; fails (exit 1) without a kubeconfig', async () => {
    const ok = await runCli(['doctor', '--skip-eks', '--json'], {env: kubeEnv({PATH: `${fakeBin}:${process.env.PATH}`})})
    expect(ok.code, ok.stderr).toBe(0)
    const j = JSON.parse(ok.stdout)
    expect(j.result.failed).toBe(0)
    expect(j.result.checks.find((c: {name: string}) => c.name === 'API server').status).toBe('ok')
    const bad = await runCli(['doctor', '--skip-eks'], {env: isolatedEnv()})
    expect(bad.code).toBe(1)
    expect(bad.stdout).toMatch(/kubeconfig\s+FAIL/)
    expect(bad.stderr).toMatch(/Error: 1 check failed \(first: kubeconfig: no kubeconfig found/)
  })
})
