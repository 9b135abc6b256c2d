import {
  type Cluster,
  AccessDeniedException,
  CreateClusterCommand,
  CreateNodegroupCommand,
  DeleteClusterCommand,
  DeleteNodegroupCommand,
  DescribeClusterCommand,
  DescribeNodegroupCommand,
  EKSClient,
  ResourceInUseException,
  ResourceNotFoundException,
  ThrottlingException,
} from '@aws-sdk/client-eks'
import {mockClient} from 'aws-sdk-client-mock'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {
  type CreateClusterSpec,
  deleteCluster,
  deleteNodegroup,
  describeCluster,
  type EksProgress,
  ensureCluster,
  mapEksError,
  waitForCluster,
} from '../../../src/lib/aws/eks.js'
import {AipError, NotFoundError, TimeoutError, UnauthorizedError, UnreachableError, UsageError} from '../../../src/lib/errors.js'

const eks = mockClient(EKSClient)
const client = new EKSClient({region: 'us-east-1', credentials: {accessKeyId: 'x', secretAccessKey: 'y'}})
const sleeps: number[] = []
const sleep = async (ms: number) => {
  sleeps.push(ms)
}
const fast = {sleep, pollMs: 10, timeoutMs: 60_000}

const active: Cluster = {name: 'aip', arn: 'arn:aws:eks:us-east-1:123:cluster/aip', status: 'ACTIVE', version: '1.31', endpoint: 'https://ABC.eks.amazonaws.com', certificateAuthority: {data: 'Q0E='}}
const meta = {$metadata: {}}
const notFound = () => new ResourceNotFoundException({message: 'No cluster found for name: aip.', $metadata: {}})

const spec: CreateClusterSpec = {
  name: 'aip',
  region: 'us-east-1',
  roleArn: 'arn:aws:iam::123:role/eks',
  subnetIds: ['subnet-a', 'subnet-b'],
  compute: 'nodegroups',
  publicAccessCidrs: ['203.0.113.7/32'],
  systemNodegroup: {name: 'aip-system', nodeRoleArn: 'arn:aws:iam::123:role/node', instanceTypes: ['m6i.large'], minSize: 1, desiredSize: 2, maxSize: 3},
}

beforeEach(() => {
  eks.reset()
  sleeps.length = 0
})
afterEach(() => eks.reset())

describe('describeCluster', () => {
  it('returns endpoint, CA and version of an active cluster', async () => {
    eks.on(DescribeClusterCommand, {name: 'aip'}).resolves({cluster: active, ...meta})
    const c = await describeCluster(client, 'aip', 'us-east-1', {sleep})
    expect(c).toMatchObject({name: 'aip', status: 'ACTIVE', version: '1.31', endpoint: active.endpoint, certificateAuthority: 'Q0E=', region: 'us-east-1'})
  })

  it('maps ResourceNotFound to NotFoundError (exit 4) suggesting --create', async () => {
    eks.on(DescribeClusterCommand).rejects(notFound())
    const err = await describeCluster(client, 'aip', 'eu-west-1', {sleep}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect((err as AipError).exitCode).toBe(4)
    expect((err as AipError).message).toContain('eu-west-1')
    expect((err as AipError).fix).toContain('--create')
  })

  it('maps AccessDenied to UnauthorizedError (exit 6) naming AWS_PROFILE and aws sso login', async () => {
    eks.on(DescribeClusterCommand).rejects(new AccessDeniedException({message: 'User is not authorized to perform eks:DescribeCluster', $metadata: {}}))
    const err = (await describeCluster(client, 'aip', 'us-east-1', {sleep}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect(err.exitCode).toBe(6)
    expect(err.fix).toMatch(/AWS_PROFILE/)
    expect(err.fix).toMatch(/aws sso login/)
  })

  it('maps UnrecognizedClient and missing credentials to UnauthorizedError', () => {
    const e1 = mapEksError(Object.assign(new Error('The security token included in the request is invalid.'), {name: 'UnrecognizedClientException'}), {cluster: 'aip', region: 'us-east-1'})
    expect(e1).toBeInstanceOf(UnauthorizedError)
    const e2 = mapEksError(Object.assign(new Error('Could not load credentials from any providers'), {name: 'CredentialsProviderError'}), {cluster: 'aip', region: 'us-east-1'})
    expect(e2).toBeInstanceOf(UnauthorizedError)
    expect(e2.exitCode).toBe(6)
  })

  it('maps an unknown region host (DNS failure) to UnreachableError naming --region', () => {
    const e = mapEksError(Object.assign(new Error('getaddrinfo ENOTFOUND eks.us-esat-1.amazonaws.com'), {code: 'ENOTFOUND'}), {cluster: 'aip', region: 'us-esat-1'})
    expect(e).toBeInstanceOf(UnreachableError)
    expect(e.message).toContain('us-esat-1')
    expect(e.fix).toContain('--region')
  })

  it('retries throttling with backoff, then succeeds', async () => {
    eks
      .on(DescribeClusterCommand)
      .rejectsOnce(new ThrottlingException({message: 'Rate exceeded', $metadata: {httpStatusCode: 429}}))
      .rejectsOnce(new ThrottlingException({message: 'Rate exceeded', $metadata: {httpStatusCode: 429}}))
      .resolves({cluster: active, ...meta})
    const c = await describeCluster(client, 'aip', 'us-east-1', {sleep})
    expect(c.status).toBe('ACTIVE')
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(3)
    expect(sleeps.length).toBe(2)
    expect(sleeps[1]!).toBeGreaterThan(sleeps[0]!)
  })

  it('gives up on endless throttling with UnreachableError', async () => {
    eks.on(DescribeClusterCommand).rejects(new ThrottlingException({message: 'Rate exceeded', $metadata: {httpStatusCode: 429}}))
    const err = await describeCluster(client, 'aip', 'us-east-1', {sleep}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnreachableError)
    expect(eks.commandCalls(DescribeClusterCommand).length).toBe(5)
  })
})

describe('ensureCluster', () => {
  it('without --create a missing cluster is NotFoundError suggesting --create, nothing created', async () => {
    eks.on(DescribeClusterCommand).rejects(notFound())
    const err = (await ensureCluster(client, 'aip', 'us-east-1', {...fast}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(NotFoundError)
    expect(err.fix).toContain('--create')
    expect(eks.commandCalls(CreateClusterCommand)).toHaveLength(0)
  })

  it('creates cluster and system node group, waiting CREATING -> ACTIVE with progress', async () => {
    eks
      .on(DescribeClusterCommand)
      .rejectsOnce(notFound())
      .resolvesOnce({cluster: {...active, status: 'CREATING', endpoint: undefined}, ...meta})
      .resolvesOnce({cluster: {...active, status: 'CREATING', endpoint: undefined}, ...meta})
      .resolves({cluster: active, ...meta})
    eks.on(CreateClusterCommand).resolves({cluster: {...active, status: 'CREATING'}, ...meta})
    eks
      .on(DescribeNodegroupCommand)
      .rejectsOnce(new ResourceNotFoundException({message: 'No node group found', $metadata: {}}))
      .resolvesOnce({nodegroup: {nodegroupName: 'aip-system', status: 'CREATING'}, ...meta})
      .resolves({nodegroup: {nodegroupName: 'aip-system', status: 'ACTIVE', instanceTypes: ['m6i.large'], scalingConfig: {desiredSize: 2, minSize: 1, maxSize: 3}}, ...meta})
    eks.on(CreateNodegroupCommand).resolves({...meta})
    const progress: EksProgress[] = []
    const r = await ensureCluster(client, 'aip', 'us-east-1', {...fast, create: true, spec, onProgress: (p) => progress.push(p)})
    expect(r.created).toBe(true)
    expect(r.nodegroupCreated).toBe(true)
    expect(r.cluster.status).toBe('ACTIVE')
    expect(r.nodegroup?.status).toBe('ACTIVE')
    const create = eks.commandCalls(CreateClusterCommand)[0]!.args[0].input
    expect(create).toMatchObject({name: 'aip', roleArn: spec.roleArn, resourcesVpcConfig: {subnetIds: spec.subnetIds}})
    const ng = eks.commandCalls(CreateNodegroupCommand)[0]!.args[0].input
    expect(ng).toMatchObject({clusterName: 'aip', nodegroupName: 'aip-system', nodeRole: spec.systemNodegroup!.nodeRoleArn, scalingConfig: {minSize: 1, desiredSize: 2, maxSize: 3}})
    const statuses = progress.filter((p) => p.resource === 'cluster').map((p) => p.status)
    expect(statuses).toContain('CREATING')
    expect(statuses.at(-1)).toBe('ACTIVE')
    expect(progress.filter((p) => p.resource === 'nodegroup').map((p) => p.status)).toEqual(['CREATING', 'ACTIVE'])
  })

  it('--create defaults to EKS Auto Mode: the CreateCluster shape AWS documents, no system node group; a GPU node group with the NVIDIA AMI and taint', async () => {
    eks.on(DescribeClusterCommand).rejectsOnce(notFound()).resolves({cluster: {...active, computeConfig: {enabled: true}}, ...meta})
    eks.on(CreateClusterCommand).resolves({cluster: {...active, status: 'CREATING'}, ...meta})
    eks
      .on(DescribeNodegroupCommand)
      .rejectsOnce(new ResourceNotFoundException({message: 'No node group found', $metadata: {}}))
      .resolves({nodegroup: {nodegroupName: 'aip-gpu-g6e-xlarge', status: 'ACTIVE'}, ...meta})
    eks.on(CreateNodegroupCommand).resolves({...meta})
    const auto: CreateClusterSpec = {...spec, compute: 'auto-mode', autoModeNodeRoleArn: 'arn:aws:iam::123:role/auto-node', systemNodegroup: undefined}
    const gpuNodegroup = {name: 'aip-gpu-g6e-xlarge', nodeRoleArn: 'arn:aws:iam::123:role/node', instanceTypes: ['g6e.xlarge'], minSize: 0, desiredSize: 0, maxSize: 2}
    const r = await ensureCluster(client, 'aip', 'us-east-1', {...fast, create: true, spec: auto, gpuNodegroup})
    expect(r.cluster.autoMode).toBe(true)
    // https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html: Auto Mode needs
    // computeConfig, storageConfig.blockStorage and kubernetesNetworkConfig.elasticLoadBalancing enabled together
    const create = eks.commandCalls(CreateClusterCommand)[0]!.args[0].input
    expect(create).toMatchObject({
      computeConfig: {enabled: true, nodePools: ['general-purpose', 'system'], nodeRoleArn: 'arn:aws:iam::123:role/auto-node'},
      storageConfig: {blockStorage: {enabled: true}},
      kubernetesNetworkConfig: {elasticLoadBalancing: {enabled: true}},
      bootstrapSelfManagedAddons: false,
      resourcesVpcConfig: {publicAccessCidrs: ['203.0.113.7/32'], endpointPublicAccess: true, endpointPrivateAccess: true},
      accessConfig: {authenticationMode: 'API_AND_CONFIG_MAP'},
    })
    const ngs = eks.commandCalls(CreateNodegroupCommand).map((c) => c.args[0].input)
    expect(ngs).toHaveLength(1)
    expect(ngs[0]).toMatchObject({nodegroupName: 'aip-gpu-g6e-xlarge', instanceTypes: ['g6e.xlarge'], amiType: 'AL2023_x86_64_NVIDIA', taints: [{key: 'nvidia.com/gpu', value: 'true', effect: 'NO_SCHEDULE'}], scalingConfig: {minSize: 0, desiredSize: 0, maxSize: 2}})
  })

  it('the create spec is checked before any call: public access CIDRs, the Auto Mode node role', async () => {
    eks.on(DescribeClusterCommand).rejects(notFound())
    const bad = async (s: Partial<CreateClusterSpec>) => (await ensureCluster(client, 'aip', 'us-east-1', {...fast, create: true, spec: {...spec, ...s} as CreateClusterSpec}).catch((e: unknown) => e)) as AipError
    expect((await bad({publicAccessCidrs: []})).fix).toContain('--public-access-cidrs')
    expect((await bad({publicAccessCidrs: ['1.2.3.4']})).message).toContain('not an IPv4 CIDR')
    expect((await bad({compute: 'auto-mode', autoModeNodeRoleArn: undefined})).fix).toContain('--node-role-arn')
    expect(eks.commandCalls(CreateClusterCommand)).toHaveLength(0)
  })

  it('ResourceInUse while creating (an interrupted earlier run) waits instead of failing', async () => {
    eks
      .on(DescribeClusterCommand)
      .rejectsOnce(notFound())
      .resolvesOnce({cluster: {...active, status: 'CREATING'}, ...meta})
      .resolves({cluster: active, ...meta})
    eks.on(CreateClusterCommand).rejects(new ResourceInUseException({message: 'Cluster already exists with name: aip', $metadata: {}}))
    eks.on(DescribeNodegroupCommand).resolves({nodegroup: {nodegroupName: 'aip-system', status: 'ACTIVE'}, ...meta})
    const r = await ensureCluster(client, 'aip', 'us-east-1', {...fast, create: true, spec})
    expect(r.created).toBe(false)
    expect(r.cluster.status).toBe('ACTIVE')
    expect(eks.commandCalls(CreateNodegroupCommand)).toHaveLength(0)
  })

  it('a FAILED cluster is an error naming the state', async () => {
    eks.on(DescribeClusterCommand).resolvesOnce({cluster: {...active, status: 'CREATING'}, ...meta}).resolves({cluster: {...active, status: 'FAILED'}, ...meta})
    const err = (await ensureCluster(client, 'aip', 'us-east-1', {...fast, create: true, spec}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(AipError)
    expect(err.exitCode).toBe(1)
    expect(err.message).toContain('FAILED')
  })

  it('a CREATE_FAILED node group is an error', async () => {
    eks.on(DescribeClusterCommand).resolves({cluster: active, ...meta})
    eks.on(DescribeNodegroupCommand).resolves({nodegroup: {nodegroupName: 'aip-system', status: 'CREATE_FAILED'}, ...meta})
    const err = (await ensureCluster(client, 'aip', 'us-east-1', {...fast, create: true, spec}).catch((e: unknown) => e)) as AipError
    expect(err.message).toMatch(/nodegroup "aip-system" is CREATE_FAILED/)
  })

  it('throttling while waiting backs off and keeps polling', async () => {
    const throttle = new ThrottlingException({message: 'Rate exceeded', $metadata: {httpStatusCode: 429}})
    const d = eks.on(DescribeClusterCommand).resolvesOnce({cluster: {...active, status: 'CREATING'}, ...meta})
    for (let i = 0; i < 6; i++) d.rejectsOnce(throttle)
    d.resolves({cluster: active, ...meta})
    const r = await waitForCluster(client, 'aip', 'us-east-1', 'ACTIVE', fast)
    expect(r.status).toBe('ACTIVE')
    expect(Math.max(...sleeps)).toBeGreaterThan(10)
  })

  it('times out with TimeoutError (exit 7) when the cluster stays CREATING', async () => {
    eks.on(DescribeClusterCommand).resolves({cluster: {...active, status: 'CREATING'}, ...meta})
    const err = (await waitForCluster(client, 'aip', 'us-east-1', 'ACTIVE', {sleep, pollMs: 1000, timeoutMs: 5000}).catch((e: unknown) => e)) as AipError
    expect(err).toBeInstanceOf(TimeoutError)
    expect(err.exitCode).toBe(7)
  })

  it('validates the create spec before calling AWS', async () => {
    eks.on(DescribeClusterCommand).rejects(notFound())
    const err = await ensureCluster(client, 'aip', 'us-east-1', {...fast, create: true, spec: {...spec, subnetIds: ['subnet-a']}}).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UsageError)
    expect((err as AipError).fix).toContain('--subnet')
    expect(eks.commandCalls(CreateClusterCommand)).toHaveLength(0)
  })
})

describe('delete', () => {
  it('deletes a node group and waits until it is gone; a missing one is fine', async () => {
    eks.on(DeleteNodegroupCommand).resolves({...meta})
    eks
      .on(DescribeNodegroupCommand)
      .resolvesOnce({nodegroup: {nodegroupName: 'ng', status: 'DELETING'}, ...meta})
      .rejects(new ResourceNotFoundException({message: 'gone', $metadata: {}}))
    await deleteNodegroup(client, 'aip', 'ng', 'us-east-1', fast)
    expect(eks.commandCalls(DescribeNodegroupCommand)).toHaveLength(2)
    eks.reset()
    eks.on(DeleteNodegroupCommand).rejects(new ResourceNotFoundException({message: 'gone', $metadata: {}}))
    await deleteNodegroup(client, 'aip', 'ng', 'us-east-1', fast)
  })

  it('deletes the cluster and waits for DescribeCluster to say not found', async () => {
    eks.on(DeleteClusterCommand).resolves({...meta})
    eks.on(DescribeClusterCommand).resolvesOnce({cluster: {...active, status: 'DELETING'}, ...meta}).rejects(notFound())
    await deleteCluster(client, 'aip', 'us-east-1', fast)
    expect(eks.commandCalls(DescribeClusterCommand)).toHaveLength(2)
  })
})
