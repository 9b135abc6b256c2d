/**
 * Bootstrap's AWS side (weights bucket, IAM roles, EKS Pod Identity / IRSA) with aws-sdk-client-mock
 * clients backed by a small in-memory account, so a second run sees what the first created. Request
 * shapes are the SDK's own input types (the AWS API models) and are checked against what AWS
 * documents: CreateBucket, PutPublicAccessBlock, PutBucketEncryption,
 * PutBucketLifecycleConfiguration, CreateRole, PutRolePolicy, CreatePodIdentityAssociation,
 * ListPodIdentityAssociations, CreateAddon.
 */
import {
  CreateAddonCommand,
  CreatePodIdentityAssociationCommand,
  DescribeAddonCommand,
  DescribeClusterCommand,
  DescribePodIdentityAssociationCommand,
  EKSClient,
  ListPodIdentityAssociationsCommand,
  ResourceNotFoundException,
  UpdatePodIdentityAssociationCommand,
} from '@aws-sdk/client-eks'
import {
  AttachRolePolicyCommand,
  CreateOpenIDConnectProviderCommand,
  CreateRoleCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  IAMClient,
  ListAttachedRolePoliciesCommand,
  ListOpenIDConnectProvidersCommand,
  NoSuchEntityException,
  PutRolePolicyCommand,
  UpdateAssumeRolePolicyCommand,
} from '@aws-sdk/client-iam'
import {
  CreateBucketCommand,
  GetBucketEncryptionCommand,
  GetBucketLifecycleConfigurationCommand,
  GetPublicAccessBlockCommand,
  HeadBucketCommand,
  type LifecycleRule,
  PutBucketEncryptionCommand,
  PutBucketLifecycleConfigurationCommand,
  PutPublicAccessBlockCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3'
import {GetCallerIdentityCommand, STSClient} from '@aws-sdk/client-sts'
import {mockClient} from 'aws-sdk-client-mock'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {defaultBucketName} from '../../../src/lib/aws/bucket.js'
import {type BootstrapOptions, runBootstrap} from '../../../src/lib/bootstrap/index.js'
import {AipError} from '../../../src/lib/errors.js'
import type {KubeClient} from '../../../src/lib/kube/index.js'
import {type KubeApiServer, startKubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {client} from '../teardown/fixtures.js'

const ACCOUNT = '123456789012'
const REGION = 'eu-west-1'
const creds = {accessKeyId: 'x', secretAccessKey: 'y'}
const s3 = new S3Client({region: REGION, credentials: creds})
const iam = new IAMClient({region: REGION, credentials: creds})
const sts = new STSClient({region: REGION, credentials: creds})
const eks = new EKSClient({region: REGION, credentials: creds})
const s3m = mockClient(s3)
const iamm = mockClient(iam)
const stsm = mockClient(sts)
const eksm = mockClient(eks)

let api: KubeApiServer
let c: KubeClient

/** An AWS account in memory: what the fakes answer follows what was written. */
interface Account {
  buckets: Map<string, {pab?: object; enc?: object; rules?: LifecycleRule[]}>
  roles: Map<string, {trust: string; policies: Map<string, string>; attached?: Set<string>}>
  oidc: Set<string>
  addons: Set<string>
  assoc: Array<{associationId: string; namespace: string; serviceAccount: string; roleArn: string}>
  autoMode: boolean
}
let acct: Account

const meta = {$metadata: {}}
const s3err = (name: string, status: number) => new S3ServiceException({name, $fault: 'client', $metadata: {httpStatusCode: status}, message: name})

function fakeAws() {
  acct = {buckets: new Map(), roles: new Map(), oidc: new Set(), addons: new Set(), assoc: [], autoMode: false}
  stsm.on(GetCallerIdentityCommand).resolves({Account: ACCOUNT, Arn: `arn:aws:iam::${ACCOUNT}:user/ops`, ...meta})
  const bucket = (name?: string) => {
    const b = acct.buckets.get(name ?? '')
    if (!b) throw s3err('NoSuchBucket', 404)
    return b
  }
  s3m.on(HeadBucketCommand).callsFake(async (i) => (bucket(i.Bucket), meta))
  s3m.on(CreateBucketCommand).callsFake(async (i) => (acct.buckets.set(i.Bucket!, {}), meta))
  s3m.on(GetPublicAccessBlockCommand).callsFake(async (i) => {
    const b = bucket(i.Bucket)
    if (!b.pab) throw s3err('NoSuchPublicAccessBlockConfiguration', 404)
    return {PublicAccessBlockConfiguration: b.pab, ...meta}
  })
  s3m.on(PutPublicAccessBlockCommand).callsFake(async (i) => ((bucket(i.Bucket).pab = i.PublicAccessBlockConfiguration), meta))
  s3m.on(GetBucketEncryptionCommand).callsFake(async (i) => {
    const b = bucket(i.Bucket)
    if (!b.enc) throw s3err('ServerSideEncryptionConfigurationNotFoundError', 404)
    return {ServerSideEncryptionConfiguration: b.enc, ...meta}
  })
  s3m.on(PutBucketEncryptionCommand).callsFake(async (i) => ((bucket(i.Bucket).enc = i.ServerSideEncryptionConfiguration), meta))
  s3m.on(GetBucketLifecycleConfigurationCommand).callsFake(async (i) => {
    const b = bucket(i.Bucket)
    if (!b.rules) throw s3err('NoSuchLifecycleConfiguration', 404)
    return {Rules: b.rules, ...meta}
  })
  s3m.on(PutBucketLifecycleConfigurationCommand).callsFake(async (i) => ((bucket(i.Bucket).rules = i.LifecycleConfiguration!.Rules), meta))

  const role = (name?: string) => {
    const r = acct.roles.get(name ?? '')
    if (!r) throw new NoSuchEntityException({message: `The role with name ${name} cannot be found.`, $metadata: {}})
    return r
  }
  // IAM answers policy documents URL-encoded
  iamm.on(GetRoleCommand).callsFake(async (i) => ({Role: {RoleName: i.RoleName, Arn: `arn:aws:iam::${ACCOUNT}:role/${i.RoleName}`, AssumeRolePolicyDocument: encodeURIComponent(role(i.RoleName).trust), Path: '/', RoleId: 'R', CreateDate: new Date()}, ...meta}))
  iamm.on(CreateRoleCommand).callsFake(async (i) => (acct.roles.set(i.RoleName!, {trust: i.AssumeRolePolicyDocument!, policies: new Map()}), {Role: {Arn: `arn:aws:iam::${ACCOUNT}:role/${i.RoleName}`}, ...meta}))
  iamm.on(UpdateAssumeRolePolicyCommand).callsFake(async (i) => ((role(i.RoleName).trust = i.PolicyDocument!), meta))
  iamm.on(GetRolePolicyCommand).callsFake(async (i) => {
    const p = role(i.RoleName).policies.get(i.PolicyName!)
    if (!p) throw new NoSuchEntityException({message: 'no policy', $metadata: {}})
    return {RoleName: i.RoleName, PolicyName: i.PolicyName, PolicyDocument: encodeURIComponent(p), ...meta}
  })
  iamm.on(PutRolePolicyCommand).callsFake(async (i) => (role(i.RoleName).policies.set(i.PolicyName!, i.PolicyDocument!), meta))
  iamm.on(ListAttachedRolePoliciesCommand).callsFake(async (i) => ({AttachedPolicies: [...(role(i.RoleName).attached ?? [])].map((PolicyArn) => ({PolicyArn, PolicyName: PolicyArn.split('/').pop()})), IsTruncated: false, ...meta}))
  iamm.on(AttachRolePolicyCommand).callsFake(async (i) => {
    const r = role(i.RoleName)
    ;(r.attached ??= new Set()).add(i.PolicyArn!)
    return meta
  })
  iamm.on(ListOpenIDConnectProvidersCommand).callsFake(async () => ({OpenIDConnectProviderList: [...acct.oidc].map((Arn) => ({Arn})), ...meta}))
  iamm.on(CreateOpenIDConnectProviderCommand).callsFake(async (i) => (acct.oidc.add(`arn:aws:iam::${ACCOUNT}:oidc-provider/${i.Url!.replace('https://', '')}`), meta))

  eksm.on(DescribeClusterCommand).callsFake(async () => ({
    cluster: {name: 'prod', arn: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/prod`, status: 'ACTIVE', version: '1.32', endpoint: api.url, certificateAuthority: {data: 'Q0E='}, computeConfig: {enabled: acct.autoMode}, identity: {oidc: {issuer: `https://oidc.eks.${REGION}.amazonaws.com/id/ABC123`}}},
    ...meta,
  }))
  eksm.on(DescribeAddonCommand).callsFake(async (i) => {
    if (!acct.addons.has(i.addonName!)) throw new ResourceNotFoundException({message: 'No addon', $metadata: {}})
    return {addon: {addonName: i.addonName, status: 'ACTIVE', addonVersion: 'v1.3.4-eksbuild.1'}, ...meta}
  })
  eksm.on(CreateAddonCommand).callsFake(async (i) => (acct.addons.add(i.addonName!), {addon: {addonName: i.addonName, status: 'CREATING'}, ...meta}))
  eksm.on(ListPodIdentityAssociationsCommand).callsFake(async (i) => ({
    associations: acct.assoc.filter((a) => (!i.namespace || a.namespace === i.namespace) && (!i.serviceAccount || a.serviceAccount === i.serviceAccount)).map(({roleArn: _r, ...a}) => ({...a, clusterName: i.clusterName})),
    ...meta,
  }))
  eksm.on(DescribePodIdentityAssociationCommand).callsFake(async (i) => ({association: acct.assoc.find((a) => a.associationId === i.associationId), ...meta}))
  eksm.on(CreatePodIdentityAssociationCommand).callsFake(async (i) => {
    const a = {associationId: `a-${acct.assoc.length + 1}`, namespace: i.namespace!, serviceAccount: i.serviceAccount!, roleArn: i.roleArn!}
    acct.assoc.push(a)
    return {association: a, ...meta}
  })
  eksm.on(UpdatePodIdentityAssociationCommand).callsFake(async (i) => ((acct.assoc.find((a) => a.associationId === i.associationId)!.roleArn = i.roleArn!), {association: {}, ...meta}))
}

/** Every call that writes something in AWS. */
function writes(): string[] {
  const names = /^(Create|Put|Update|Delete)/
  return [s3m, iamm, eksm].flatMap((m) => m.calls().map((x) => (x.args[0] as {constructor: {name: string}}).constructor.name)).filter((n) => names.test(n))
}
function resetCalls() {
  for (const m of [s3m, iamm, stsm, eksm]) m.resetHistory()
}

beforeEach(async () => {
  for (const m of [s3m, iamm, stsm, eksm]) m.reset()
  fakeAws()
  api = await startKubeApiServer()
  c = await client(api)
})
afterEach(async () => {
  await api.stop()
})

const recorded: Array<[string, string]> = []
const opts = (extra: Partial<BootstrapOptions> & {mode?: 'pod-identity' | 'irsa'; kmsKey?: string | null; bucket?: string} = {}): BootstrapOptions => {
  const {mode, kmsKey, bucket, ...rest} = extra
  return {
    clusterName: 'prod',
    region: REGION,
    eks: {client: eks, create: false, wait: {pollMs: 1, timeoutMs: 10_000}},
    kubeconfig: {path: `${api.kubeconfigPath}.eks`},
    kubeClient: async () => c,
    // mode omitted (as the CLI without --irsa/--no-irsa): the roles' current mode, else pod-identity
    access: {bucket, prefix: 'models', kmsKey, mode, clients: async () => ({s3, iam, sts})},
    recordConfig: (k, v) => (recorded.push([k, v]), '/home/u/.config/aip/config.yaml'),
    platform: {modelNamespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', tenants: [{name: 'team-a', gpus: 2}], gpuLimit: 8},
    ...rest,
  }
}

const bucketName = defaultBucketName('prod', ACCOUNT, REGION)

describe('bootstrap S3 access on EKS (bucket, IAM roles, Pod Identity)', () => {
  it('dry run lists the bucket, IAM roles, the agent add-on and every association it would create, and writes nothing', async () => {
    const r = await runBootstrap(opts({dryRun: true}))
    const a = r.access!
    expect(a.bucket).toMatchObject({name: 'prod-weights-123456789012-eu-west-1', action: 'create'})
    expect(a.bucket.settings.map((x) => [x.setting, x.action])).toEqual([['public-access-block', 'create'], ['encryption', 'create'], ['lifecycle', 'create']])
    expect(a.roles.map((x) => [x.name, x.serviceAccount, x.access, x.action, x.policyAction])).toEqual([
      ['aip-prod-model-server', 'aip-model-server', 'read', 'create', 'create'],
      ['aip-prod-preload', 'aip-preload', 'read-write', 'create', 'create'],
    ])
    expect(a.podIdentityAgent).toEqual({name: 'eks-pod-identity-agent', action: 'create'})
    expect(a.associations.map((x) => `${x.namespace}/${x.serviceAccount}->${x.roleArn}:${x.action}`)).toEqual([
      `aip-models/aip-model-server->arn:aws:iam::${ACCOUNT}:role/aip-prod-model-server:create`,
      `aip-models/aip-preload->arn:aws:iam::${ACCOUNT}:role/aip-prod-preload:create`,
      `team-a/aip-model-server->arn:aws:iam::${ACCOUNT}:role/aip-prod-model-server:create`,
      `team-a/aip-preload->arn:aws:iam::${ACCOUNT}:role/aip-prod-preload:create`,
    ])
    expect(writes()).toEqual([])
    expect(r.config).toBeUndefined()
    expect(api.store.get('v1', 'Namespace', undefined, 'aip-models')).toBeUndefined()
  })

  it('a real run creates them with the request shapes AWS documents; a second run changes nothing', async () => {
    recorded.length = 0
    const first = await runBootstrap(opts())
    expect(first.access!.bucket.action).toBe('created')
    // CreateBucket outside us-east-1 names its region
    expect(s3m.commandCalls(CreateBucketCommand)[0]!.args[0].input).toEqual({Bucket: bucketName, CreateBucketConfiguration: {LocationConstraint: REGION}, ObjectOwnership: 'BucketOwnerEnforced'})
    expect(s3m.commandCalls(PutPublicAccessBlockCommand)[0]!.args[0].input).toMatchObject({PublicAccessBlockConfiguration: {BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}, ExpectedBucketOwner: ACCOUNT})
    expect(s3m.commandCalls(PutBucketEncryptionCommand)[0]!.args[0].input.ServerSideEncryptionConfiguration).toEqual({Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'AES256'}, BucketKeyEnabled: false}]})
    expect(s3m.commandCalls(PutBucketLifecycleConfigurationCommand)[0]!.args[0].input.LifecycleConfiguration).toEqual({
      Rules: [{ID: 'aip-abort-incomplete-multipart-uploads', Status: 'Enabled', Filter: {Prefix: ''}, AbortIncompleteMultipartUpload: {DaysAfterInitiation: 7}}],
    })
    // trust: pods.eks.amazonaws.com with sts:AssumeRole + sts:TagSession, limited by Pod Identity's session tags
    const server = acct.roles.get('aip-prod-model-server')!
    expect(JSON.parse(server.trust)).toEqual({
      Version: '2012-10-17',
      Statement: [
        {
          Sid: 'EksPodIdentity',
          Effect: 'Allow',
          Principal: {Service: 'pods.eks.amazonaws.com'},
          Action: ['sts:AssumeRole', 'sts:TagSession'],
          Condition: {StringEquals: {'aws:SourceAccount': ACCOUNT, 'aws:RequestTag/eks-cluster-name': 'prod', 'aws:RequestTag/kubernetes-namespace': ['aip-models', 'team-a'], 'aws:RequestTag/kubernetes-service-account': 'aip-model-server'}},
        },
      ],
    })
    // least privilege: the server reads, the preload Job also writes, both only under the prefix
    const read = JSON.parse(server.policies.get('aip-weights')!)
    expect(read.Statement.flatMap((s: any) => s.Action).sort()).toEqual(['s3:GetObject', 's3:ListBucket'])
    expect(read.Statement.find((s: any) => s.Action.includes('s3:GetObject')).Resource).toBe(`arn:aws:s3:::${bucketName}/models/*`)
    const rw = JSON.parse(acct.roles.get('aip-prod-preload')!.policies.get('aip-weights')!)
    expect(rw.Statement.flatMap((s: any) => s.Action).sort()).toEqual(['s3:AbortMultipartUpload', 's3:GetObject', 's3:ListBucket', 's3:ListBucketMultipartUploads', 's3:ListMultipartUploadParts', 's3:PutObject'])
    expect(JSON.stringify(rw)).not.toMatch(/s3:\*|DeleteObject|"\*"/)
    // the agent add-on and one association per namespace and ServiceAccount
    expect(eksm.commandCalls(CreateAddonCommand)[0]!.args[0].input).toMatchObject({clusterName: 'prod', addonName: 'eks-pod-identity-agent'})
    expect(eksm.commandCalls(CreatePodIdentityAssociationCommand).map((x) => x.args[0].input)).toEqual(
      expect.arrayContaining([{clusterName: 'prod', namespace: 'team-a', serviceAccount: 'aip-preload', roleArn: `arn:aws:iam::${ACCOUNT}:role/aip-prod-preload`, tags: {'app.kubernetes.io/managed-by': 'aip'}}]),
    )
    // the model and tenant ServiceAccounts', and the EBS CSI controller's (storage.test: its own tests)
    expect(acct.assoc.filter((a) => a.namespace !== 'kube-system')).toHaveLength(4)
    // the ServiceAccounts the associations name exist in the cluster (Pod Identity needs no annotation)
    expect(api.store.get('v1', 'ServiceAccount', 'team-a', 'aip-preload')?.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBeUndefined()
    expect(recorded).toEqual([['bucket', bucketName]])
    expect(first.config).toEqual({file: '/home/u/.config/aip/config.yaml', keys: {bucket: bucketName}})

    resetCalls()
    const second = await runBootstrap(opts())
    expect(writes()).toEqual([])
    const a = second.access!
    expect([a.bucket.action, ...a.bucket.settings.map((x) => x.action), ...a.roles.flatMap((x) => [x.action, x.policyAction]), a.podIdentityAgent!.action, ...a.associations.map((x) => x.action)].every((x) => x === 'unchanged')).toBe(true)
    expect(second.objects.every((o) => o.action === 'unchanged')).toBe(true)
  })

  it('adopts an existing bucket: keeps its other lifecycle rules, fixes encryption; a moved association is updated', async () => {
    acct.buckets.set('team-weights', {pab: {BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}, rules: [{ID: 'expire-logs', Status: 'Enabled', Filter: {Prefix: 'logs/'}, Expiration: {Days: 30}}]})
    acct.assoc.push({associationId: 'a-old', namespace: 'aip-models', serviceAccount: 'aip-preload', roleArn: `arn:aws:iam::${ACCOUNT}:role/someone-else`})
    const r = await runBootstrap(opts({bucket: 'team-weights', kmsKey: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`}))
    expect(r.access!.bucket.action).toBe('unchanged')
    expect(s3m.commandCalls(CreateBucketCommand)).toHaveLength(0)
    expect(r.access!.bucket.settings.map((x) => [x.setting, x.action])).toEqual([['public-access-block', 'unchanged'], ['encryption', 'created'], ['lifecycle', 'created']])
    expect(acct.buckets.get('team-weights')!.rules!.map((x) => x.ID)).toEqual(['expire-logs', 'aip-abort-incomplete-multipart-uploads'])
    expect(acct.buckets.get('team-weights')!.enc).toEqual({Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms', KMSMasterKeyID: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`}, BucketKeyEnabled: true}]})
    // with a KMS key the roles may use it: decrypt to read, generate data keys to write
    expect(acct.roles.get('aip-prod-preload')!.policies.get('aip-weights')).toContain('kms:GenerateDataKey')
    expect(acct.roles.get('aip-prod-model-server')!.policies.get('aip-weights')).not.toContain('kms:GenerateDataKey')
    expect(eksm.commandCalls(UpdatePodIdentityAssociationCommand)[0]!.args[0].input).toEqual({clusterName: 'prod', associationId: 'a-old', roleArn: `arn:aws:iam::${ACCOUNT}:role/aip-prod-preload`})
    expect(r.access!.associations.find((x) => x.associationId === 'a-old')!.action).toBe('updated')
  })

  it('a rerun without --kms-key keeps the SSE-KMS key an earlier run set (bucket and role policies); --kms-key none goes back to SSE-S3', async () => {
    const key = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`
    const kmsEnc = {Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'aws:kms', KMSMasterKeyID: key}, BucketKeyEnabled: true}]}
    await runBootstrap(opts({bucket: 'team-weights', kmsKey: key}))
    expect(acct.buckets.get('team-weights')!.enc).toEqual(kmsEnc)
    resetCalls()
    const plain = await runBootstrap(opts({bucket: 'team-weights'}))
    expect(s3m.commandCalls(PutBucketEncryptionCommand)).toHaveLength(0)
    expect(acct.buckets.get('team-weights')!.enc).toEqual(kmsEnc)
    expect(plain.access!.bucket.kmsKey).toBe(key)
    expect(plain.access!.bucket.settings.find((x) => x.setting === 'encryption')).toMatchObject({action: 'unchanged', detail: expect.stringContaining('kept: --kms-key omitted')})
    expect(plain.access!.roles.map((r) => r.policyAction)).toEqual(['unchanged', 'unchanged'])
    expect(acct.roles.get('aip-prod-model-server')!.policies.get('aip-weights')).toContain('kms:Decrypt')

    const sse = await runBootstrap(opts({bucket: 'team-weights', kmsKey: null}))
    expect(acct.buckets.get('team-weights')!.enc).toEqual({Rules: [{ApplyServerSideEncryptionByDefault: {SSEAlgorithm: 'AES256'}, BucketKeyEnabled: false}]})
    expect(sse.access!.bucket.kmsKey).toBeUndefined()
    expect(acct.roles.get('aip-prod-model-server')!.policies.get('aip-weights')).not.toContain('kms:')
  })

  it('EKS Auto Mode: the Pod Identity agent is built in (no add-on call)', async () => {
    acct.autoMode = true
    api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
    api.registerCrd({group: 'eks.amazonaws.com', version: 'v1', kind: 'NodeClass', namespaced: false})
    const r = await runBootstrap(opts())
    expect(r.gpuPool.provisioner).toBe('auto-mode')
    expect(api.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')!.spec.template.spec.nodeClassRef.group).toBe('eks.amazonaws.com')
    expect(r.access!.podIdentityAgent).toEqual({name: 'eks-pod-identity-agent', action: 'built-in'})
    expect(eksm.commandCalls(CreateAddonCommand)).toHaveLength(0)
    expect(eksm.commandCalls(DescribeAddonCommand)).toHaveLength(0)
  })

  it('--irsa: the OIDC provider, a web-identity trust for the ServiceAccounts, and their role annotations; no associations', async () => {
    const r = await runBootstrap(opts({mode: 'irsa'}))
    const issuer = `oidc.eks.${REGION}.amazonaws.com/id/ABC123`
    expect(r.access!.oidcProvider).toEqual({arn: `arn:aws:iam::${ACCOUNT}:oidc-provider/${issuer}`, action: 'created'})
    expect(iamm.commandCalls(CreateOpenIDConnectProviderCommand)[0]!.args[0].input).toMatchObject({Url: `https://${issuer}`, ClientIDList: ['sts.amazonaws.com']})
    const trust = JSON.parse(acct.roles.get('aip-prod-preload')!.trust).Statement[0]
    expect(trust).toMatchObject({Principal: {Federated: `arn:aws:iam::${ACCOUNT}:oidc-provider/${issuer}`}, Action: 'sts:AssumeRoleWithWebIdentity'})
    expect(trust.Condition.StringEquals).toEqual({[`${issuer}:aud`]: 'sts.amazonaws.com', [`${issuer}:sub`]: ['system:serviceaccount:aip-models:aip-preload', 'system:serviceaccount:team-a:aip-preload']})
    expect(r.access!.associations).toEqual([])
    // only the EBS CSI controller's (it always gets its role through Pod Identity)
    expect(eksm.commandCalls(CreatePodIdentityAssociationCommand).map((x) => `${x.args[0].input.namespace}/${x.args[0].input.serviceAccount}`)).toEqual(['kube-system/ebs-csi-controller-sa'])
    for (const ns of ['aip-models', 'team-a']) {
      expect(api.store.get('v1', 'ServiceAccount', ns, 'aip-model-server')!.metadata.annotations!['eks.amazonaws.com/role-arn']).toBe(`arn:aws:iam::${ACCOUNT}:role/aip-prod-model-server`)
    }
    resetCalls()
    const again = await runBootstrap(opts({mode: 'irsa'}))
    expect(writes()).toEqual([])
    expect(again.access!.oidcProvider!.action).toBe('unchanged')
    expect(again.objects.every((o) => o.action === 'unchanged')).toBe(true)
  })

  it('a rerun without --irsa keeps IRSA (no trust rewrite, no associations, annotations stay); --no-irsa switches to Pod Identity', async () => {
    await runBootstrap(opts({mode: 'irsa'}))
    const trust = acct.roles.get('aip-prod-model-server')!.trust
    resetCalls()
    const plain = await runBootstrap(opts())
    expect(writes()).toEqual([])
    expect(plain.access!.mode).toBe('irsa')
    expect(acct.roles.get('aip-prod-model-server')!.trust).toBe(trust)
    expect(eksm.commandCalls(CreatePodIdentityAssociationCommand)).toHaveLength(0)
    expect(api.store.get('v1', 'ServiceAccount', 'aip-models', 'aip-model-server')!.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(`arn:aws:iam::${ACCOUNT}:role/aip-prod-model-server`)

    const pod = await runBootstrap(opts({mode: 'pod-identity'}))
    expect(pod.access!.mode).toBe('pod-identity')
    expect(JSON.parse(acct.roles.get('aip-prod-model-server')!.trust).Statement[0].Principal).toEqual({Service: 'pods.eks.amazonaws.com'})
    expect(eksm.commandCalls(CreatePodIdentityAssociationCommand).length).toBeGreaterThan(0)
    expect(api.store.get('v1', 'ServiceAccount', 'aip-models', 'aip-model-server')!.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBeUndefined()
  })

  it('AccessDenied on iam:CreateRole is exit 6 naming the permission; a KMS alias is a usage error before any call', async () => {
    iamm.on(CreateRoleCommand).rejects(Object.assign(new Error('User is not authorized to perform: iam:CreateRole'), {name: 'AccessDenied', $metadata: {httpStatusCode: 403}}))
    const err = (await runBootstrap(opts()).catch((e: unknown) => e)) as AipError
    expect(err.exitCode).toBe(6)
    expect(err.message).toContain('iam:CreateRole')
    expect(err.fix).toContain('First deploy on a new AWS account')
    resetCalls()
    const kms = (await runBootstrap(opts({kmsKey: 'alias/weights'})).catch((e: unknown) => e)) as AipError
    expect(kms.exitCode).toBe(2)
    expect(kms.fix).toContain('key ARN')
    expect(writes()).toEqual([])
  })
})

describe('a later bootstrap never takes S3 access away from a tenant an earlier one set up', () => {
  const tenants = (...names: string[]) => ({platform: {...opts().platform, tenants: names.map((name) => ({name, gpus: 1}))}})
  const trustedNamespaces = (role: string, mode: 'pod-identity' | 'irsa') => {
    const cond = JSON.parse(acct.roles.get(role)!.trust).Statement[0].Condition.StringEquals
    if (mode === 'pod-identity') return cond['aws:RequestTag/kubernetes-namespace']
    return (Object.entries(cond).find(([k]) => k.endsWith(':sub'))![1] as string[]).map((s) => s.split(':')[2])
  }

  for (const mode of ['pod-identity', 'irsa'] as const) {
    it(`${mode}: adding team-b keeps team-a in both roles' trust; a plain rerun (no --tenant) keeps both and changes nothing`, async () => {
      await runBootstrap({...opts({mode}), ...tenants('team-a')})
      expect(trustedNamespaces('aip-prod-preload', mode)).toEqual(['aip-models', 'team-a'])
      await runBootstrap({...opts({mode}), ...tenants('team-b')})
      for (const role of ['aip-prod-model-server', 'aip-prod-preload']) expect(trustedNamespaces(role, mode)).toEqual(['aip-models', 'team-a', 'team-b'])
      resetCalls()
      const plain = await runBootstrap({...opts({mode}), ...tenants()})
      expect(writes()).toEqual([])
      expect(plain.access!.roles.map((r) => r.action)).toEqual(['unchanged', 'unchanged'])
      expect(trustedNamespaces('aip-prod-model-server', mode)).toEqual(['aip-models', 'team-a', 'team-b'])
    })
  }
})

describe('EBS CSI driver on a managed-node-group cluster (else the gateway database PVC stays Pending)', () => {
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/aip-prod-ebs-csi`
  const ebsWrites = () => writes().filter((n) => !/Bucket|PublicAccess/.test(n))

  it('a real run: a Pod Identity role with AmazonEBSCSIDriverPolicy, its association, then the add-on; StorageClass aip-ebs-gp3 on ebs.csi.aws.com; a rerun changes nothing', async () => {
    const r = await runBootstrap(opts())
    expect(r.storage!.driver).toBe('ebs-csi')
    const role = acct.roles.get('aip-prod-ebs-csi')!
    expect(JSON.parse(role.trust).Statement[0]).toMatchObject({
      Principal: {Service: 'pods.eks.amazonaws.com'},
      Action: ['sts:AssumeRole', 'sts:TagSession'],
      Condition: {StringEquals: {'aws:SourceAccount': ACCOUNT, 'aws:RequestTag/eks-cluster-name': 'prod', 'aws:RequestTag/kubernetes-namespace': ['kube-system'], 'aws:RequestTag/kubernetes-service-account': 'ebs-csi-controller-sa'}},
    })
    expect(iamm.commandCalls(AttachRolePolicyCommand).map((x) => x.args[0].input)).toEqual([{RoleName: 'aip-prod-ebs-csi', PolicyArn: 'arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy'}])
    expect(acct.assoc).toContainEqual(expect.objectContaining({namespace: 'kube-system', serviceAccount: 'ebs-csi-controller-sa', roleArn}))
    expect(acct.addons.has('aws-ebs-csi-driver')).toBe(true)
    // the association exists before the add-on's controller starts
    const order = eksm.calls().map((x) => (x.args[0] as {constructor: {name: string}; input: {serviceAccount?: string; addonName?: string}}))
    const assocAt = order.findIndex((x) => x.constructor.name === 'CreatePodIdentityAssociationCommand' && x.input.serviceAccount === 'ebs-csi-controller-sa')
    const addonAt = order.findIndex((x) => x.constructor.name === 'CreateAddonCommand' && x.input.addonName === 'aws-ebs-csi-driver')
    expect(assocAt).toBeGreaterThanOrEqual(0)
    expect(addonAt).toBeGreaterThan(assocAt)
    const sc = api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')!
    expect(sc).toMatchObject({provisioner: 'ebs.csi.aws.com', volumeBindingMode: 'WaitForFirstConsumer', parameters: {type: 'gp3', encrypted: 'true'}})
    expect(sc.metadata.annotations!['storageclass.kubernetes.io/is-default-class']).toBe('true')
    expect(r.warnings.filter((w) => w.step === 'storage')).toEqual([])

    resetCalls()
    const again = await runBootstrap(opts())
    expect(ebsWrites()).toEqual([])
    expect(again.storage!.ebsCsi).toMatchObject({role: {action: 'unchanged', policyAction: 'unchanged'}, association: {action: 'unchanged'}, addon: {action: 'unchanged'}})
    expect(again.objects.find((o) => o.name === 'aip-ebs-gp3')!.action).toBe('unchanged')
  })

  it('a role that exists without the policy gets it attached; dry run reads only', async () => {
    acct.roles.set('aip-prod-ebs-csi', {trust: '{}', policies: new Map()})
    const dry = await runBootstrap(opts({dryRun: true}))
    expect(dry.storage!.ebsCsi).toMatchObject({role: {action: 'update', policyAction: 'create'}, association: {action: 'create'}, addon: {action: 'create'}})
    expect(writes()).toEqual([])
    expect(api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')).toBeUndefined()
    const r = await runBootstrap(opts())
    expect(r.storage!.ebsCsi!.role).toMatchObject({action: 'updated', policyAction: 'created'})
    expect([...acct.roles.get('aip-prod-ebs-csi')!.attached!]).toEqual(['arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy'])
  })

  it('EKS Auto Mode has its EBS driver built in: no role, no add-on, its own StorageClass', async () => {
    acct.autoMode = true
    const r = await runBootstrap(opts())
    expect(r.storage).toEqual({driver: 'auto-mode'})
    expect(acct.roles.has('aip-prod-ebs-csi')).toBe(false)
    expect(acct.addons.has('aws-ebs-csi-driver')).toBe(false)
  })

  it('--skip-access: no driver is installed and the run says so; a driver the user installed gets the StorageClass', async () => {
    const r = await runBootstrap(opts({access: undefined}))
    expect(r.storage).toEqual({driver: 'none'})
    expect(r.warnings).toContainEqual(expect.objectContaining({step: 'storage', message: expect.stringContaining('no EBS CSI driver')}))
    expect(api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')).toBeUndefined()
    api.store.put({apiVersion: 'storage.k8s.io/v1', kind: 'CSIDriver', metadata: {name: 'ebs.csi.aws.com'}, spec: {attachRequired: true}})
    const again = await runBootstrap(opts({access: undefined}))
    expect(again.storage!.driver).toBe('ebs-csi')
    expect(again.warnings.filter((w) => w.step === 'storage')).toEqual([])
    expect(api.store.get('storage.k8s.io/v1', 'StorageClass', undefined, 'aip-ebs-gp3')!.provisioner).toBe('ebs.csi.aws.com')
  })
})

describe('NetworkPolicy enforcement through runBootstrap on EKS', () => {
  it('an existing cluster aip did not create, vpc-cni not an EKS add-on: warned, nothing created', async () => {
    const r = await runBootstrap(opts())
    expect(r.networkPolicy!.action).toBe('none')
    expect(r.warnings).toContainEqual(expect.objectContaining({step: 'netpol'}))
    expect(eksm.commandCalls(CreateAddonCommand).map((x) => x.args[0].input.addonName)).not.toContain('vpc-cni')
  })

  it('a rerun on a cluster an earlier aip run created (its managed-by tag) takes vpc-cni over with enableNetworkPolicy', async () => {
    eksm.on(DescribeClusterCommand).callsFake(async () => ({
      cluster: {name: 'prod', arn: `arn:aws:eks:${REGION}:${ACCOUNT}:cluster/prod`, status: 'ACTIVE', version: '1.32', endpoint: api.url, certificateAuthority: {data: 'Q0E='}, computeConfig: {enabled: false}, tags: {'app.kubernetes.io/managed-by': 'aip'}},
      ...meta,
    }))
    const r = await runBootstrap(opts())
    expect(r.networkPolicy).toMatchObject({enforcer: 'vpc-cni', state: 'enforced', action: 'created'})
    const create = eksm.commandCalls(CreateAddonCommand).find((x) => x.args[0].input.addonName === 'vpc-cni')!.args[0].input
    expect(JSON.parse(create.configurationValues!)).toEqual({enableNetworkPolicy: 'true'})
    expect(r.warnings.filter((w) => w.step === 'netpol')).toEqual([])
  })
})
