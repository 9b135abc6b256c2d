/**
 * EKS: describe, create (cluster + system node group), wait, delete. The client is passed in, so
 * tests hand it an `aws-sdk-client-mock` or a client pointed at a loopback endpoint; commands build
 * the real one with `createEksClient` (the SDK is imported lazily: it costs ~125 ms at start-up).
 *
 * Waits are bounded polls that honour throttling (back off, keep polling) and the abort signal,
 * report every status change through `onProgress`, and fail fast on FAILED states.
 */
import type {Cluster, EKSClient, Nodegroup} from '@aws-sdk/client-eks'

import {AipError, InterruptedError, NotFoundError, TimeoutError, UnauthorizedError, UnreachableError, UsageError, networkErrorCode} from '../errors.js'
import {sleep as defaultSleep} from '../sleep.js'
import {checkAwsProfile} from './credentials.js'
import {httpTimeouts} from '../http/timeouts.js'

export interface EksClientOptions {
  region?: string
  profile?: string
  /** A non-AWS endpoint (e.g. a loopback test server); from $AIP_EKS_ENDPOINT in the commands. */
  endpoint?: string
}

/** Builds an EKS client; the SDK module is loaded only here. */
export async function createEksClient(opts: EksClientOptions): Promise<EKSClient> {
  if (!opts.region) {
    throw new UsageError('no AWS region set', {fix: 'pass --region (e.g. --region us-east-1), or set AWS_REGION or `aip config set region us-east-1`'})
  }
  checkAwsProfile(opts.profile)
  const {EKSClient} = await import('@aws-sdk/client-eks')
  return new EKSClient({
    region: opts.region,
    ...(opts.profile ? {profile: opts.profile} : {}),
    ...(opts.endpoint ? {endpoint: opts.endpoint} : {}),
    maxAttempts: 4,
    // the HTTP timeout policy (lib/http/timeouts.ts): socketTimeout is the idle bound
    requestHandler: {connectionTimeout: httpTimeouts().connectMs, socketTimeout: httpTimeouts().idleMs},
  })
}

export interface ClusterInfo {
  name: string
  arn: string
  region: string
  status: string
  version?: string
  platformVersion?: string
  endpoint?: string
  /** base64 PEM of the cluster CA (public data, not a secret). */
  certificateAuthority?: string
  createdAt?: string
  /** EKS Auto Mode (computeConfig.enabled): built-in node pools, Pod Identity agent, GPU drivers. */
  autoMode?: boolean
  /** OIDC issuer URL (IRSA). */
  oidcIssuer?: string
  subnetIds?: string[]
  /** Created by aip (its CreateCluster tag app.kubernetes.io/managed-by=aip). */
  managedByAip?: boolean
}

export interface NodegroupInfo {
  name: string
  status: string
  instanceTypes: string[]
  desiredSize?: number
  minSize?: number
  maxSize?: number
}

export interface WaitOptions {
  /** Poll interval; default 15 s (EKS changes state over minutes). */
  pollMs?: number
  /** Overall limit; default 25 minutes. */
  timeoutMs?: number
  signal?: AbortSignal
  onProgress?: (event: EksProgress) => void
  /** Injected for tests: defaults to a real timer that stops on abort. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
}

export interface EksProgress {
  resource: 'cluster' | 'nodegroup'
  name: string
  status: string
  elapsedMs: number
  message?: string
}

export interface Ctx {
  cluster: string
  region: string
  nodegroup?: string
}

const CREDENTIAL_FIX = 'set credentials: `export AWS_PROFILE=NAME` (or --profile NAME), `aws sso login --profile NAME`, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY; check with `aws sts get-caller-identity`'

function errName(err: unknown): string {
  if (!err || typeof err !== 'object') return ''
  const e = err as {name?: string; Code?: string; code?: string}
  return e.name ?? e.Code ?? e.code ?? ''
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function isThrottle(err: unknown): boolean {
  const n = errName(err)
  const status = (err as {$metadata?: {httpStatusCode?: number}})?.$metadata?.httpStatusCode
  return /Throttl|TooManyRequests|RequestLimitExceeded|SlowDown/.test(n) || status === 429
}

function isTransient(err: unknown): boolean {
  const n = errName(err)
  // network failures: the SDK already retried them (maxAttempts); an unknown host (a typo in
  // --region) does not get better by retrying again
  return isThrottle(err) || n === 'ServiceUnavailableException' || n === 'ServerException'
}

/** Maps an SDK error to the typed error a user can act on. */
export function mapEksError(err: unknown, ctx: Ctx): AipError {
  if (err instanceof AipError) return err
  const n = errName(err)
  const msg = errMessage(err)
  const what = ctx.nodegroup ? `node group "${ctx.nodegroup}" of cluster "${ctx.cluster}"` : `cluster "${ctx.cluster}"`
  if (n === 'CredentialsProviderError' || n === 'TokenProviderError' || /Could not load credentials|credentials? (?:is|are) missing|Token is expired|SSO session/i.test(msg)) {
    return new UnauthorizedError(`no usable AWS credentials: ${msg.split('\n')[0]}`, {fix: CREDENTIAL_FIX, cause: err})
  }
  if (/AccessDenied|UnrecognizedClient|InvalidSignature|ExpiredToken|InvalidClientTokenId|NotAuthorized|SignatureDoesNotMatch|Forbidden/.test(n)) {
    return new UnauthorizedError(`AWS refused the request for ${what} in ${ctx.region} (${n}): ${msg.split('\n')[0]}`, {
      fix: `${CREDENTIAL_FIX}; the identity needs eks:DescribeCluster (and eks:CreateCluster/CreateNodegroup/Delete* for --create/teardown)`,
      cause: err,
    })
  }
  if (n === 'ResourceNotFoundException' || n === 'NotFoundException') {
    return new NotFoundError(`${what} not found in region ${ctx.region}`, {
      fix: ctx.nodegroup
        ? 'check the node group name with `aws eks list-nodegroups`'
        : `check --name and --region (clusters are regional; \`aws eks list-clusters --region ${ctx.region}\`), or create it with \`aip cluster bootstrap --create\``,
      cause: err,
    })
  }
  if (/Region is missing|Invalid region|invalid region/i.test(msg) || n === 'InvalidRegion') {
    return new UsageError(`invalid AWS region "${ctx.region}"`, {fix: 'pass a valid --region such as us-east-1 or eu-west-1', cause: err})
  }
  const net = networkErrorCode(err)
  if (net) {
    const dns = net === 'ENOTFOUND' || net === 'EAI_AGAIN'
    return new UnreachableError(`cannot reach EKS in region "${ctx.region}" (${net})`, {
      fix: dns ? `check --region "${ctx.region}" (a typo gives an unknown endpoint host) and your network` : 'check your network or proxy settings and retry',
      cause: err,
    })
  }
  if (n === 'InvalidParameterException' || n === 'InvalidRequestException' || n === 'UnsupportedAvailabilityZoneException') {
    return new UsageError(`EKS rejected the request for ${what}: ${msg.split('\n')[0]}`, {fix: 'correct the flag it names and rerun', cause: err})
  }
  if (n === 'ResourceLimitExceededException') {
    return new AipError('FAILED', `EKS limit reached creating ${what}: ${msg.split('\n')[0]}`, {fix: 'raise the service quota or delete unused clusters', cause: err})
  }
  if (isThrottle(err)) {
    return new UnreachableError(`EKS kept throttling requests for ${what}`, {fix: 'retry in a minute; another tool may be polling the same account', cause: err})
  }
  return new AipError('FAILED', `EKS error for ${what}${n ? ` (${n})` : ''}: ${msg.split('\n')[0]}`, {fix: 'rerun with --verbose for details', cause: err})
}


function toClusterInfo(c: Cluster, region: string): ClusterInfo {
  return {
    name: c.name ?? '',
    arn: c.arn ?? '',
    region,
    status: c.status ?? 'UNKNOWN',
    version: c.version,
    platformVersion: c.platformVersion,
    endpoint: c.endpoint,
    certificateAuthority: c.certificateAuthority?.data,
    createdAt: c.createdAt ? new Date(c.createdAt).toISOString() : undefined,
    autoMode: c.computeConfig?.enabled === true,
    oidcIssuer: c.identity?.oidc?.issuer,
    subnetIds: c.resourcesVpcConfig?.subnetIds,
    managedByAip: c.tags?.['app.kubernetes.io/managed-by'] === 'aip',
  }
}

function toNodegroupInfo(n: Nodegroup): NodegroupInfo {
  return {
    name: n.nodegroupName ?? '',
    status: n.status ?? 'UNKNOWN',
    instanceTypes: n.instanceTypes ?? [],
    desiredSize: n.scalingConfig?.desiredSize,
    minSize: n.scalingConfig?.minSize,
    maxSize: n.scalingConfig?.maxSize,
  }
}

/** Calls `fn`, retrying throttling/5xx/network errors a few times with backoff. */
export async function withRetry<T>(fn: () => Promise<T>, ctx: Ctx, opts: Pick<WaitOptions, 'signal' | 'sleep'> & {attempts?: number; baseMs?: number}): Promise<T> {
  const sleep = opts.sleep ?? defaultSleep
  const attempts = opts.attempts ?? 5
  let last: unknown
  for (let i = 0; i < attempts; i++) {
    try {
      return await fn()
    } catch (err) {
      last = err
      if (!isTransient(err) || i === attempts - 1) break
      await sleep(Math.min(30_000, (opts.baseMs ?? 1000) * 2 ** i), opts.signal)
    }
  }
  throw mapEksError(last, ctx)
}

export async function describeCluster(client: EKSClient, name: string, region: string, opts: Pick<WaitOptions, 'signal' | 'sleep'> = {}): Promise<ClusterInfo> {
  const {DescribeClusterCommand} = await import('@aws-sdk/client-eks')
  const out = await withRetry(() => client.send(new DescribeClusterCommand({name}), {abortSignal: opts.signal as never}), {cluster: name, region}, opts)
  if (!out.cluster) throw new NotFoundError(`cluster "${name}" not found in region ${region}`, {fix: 'check --name and --region, or use --create'})
  return toClusterInfo(out.cluster, region)
}

/** Describe, mapping "not found" to undefined. */
export async function findCluster(client: EKSClient, name: string, region: string, opts: Pick<WaitOptions, 'signal' | 'sleep'> = {}): Promise<ClusterInfo | undefined> {
  try {
    return await describeCluster(client, name, region, opts)
  } catch (err) {
    if (err instanceof NotFoundError) return undefined
    throw err
  }
}

export interface NodegroupSpec {
  name: string
  nodeRoleArn: string
  instanceTypes: string[]
  minSize: number
  desiredSize: number
  maxSize: number
}

export interface CreateClusterSpec {
  name: string
  region: string
  /** IAM role EKS assumes for the control plane. */
  roleArn: string
  subnetIds: string[]
  securityGroupIds?: string[]
  version?: string
  tags?: Record<string, string>
  /**
   * auto-mode (default): EKS Auto Mode (computeConfig with the built-in general-purpose and system
   * node pools, block storage, load balancing; the node role in `autoModeNodeRoleArn`); nodegroups:
   * a classic cluster with a managed system node group.
   */
  compute: 'auto-mode' | 'nodegroups'
  /** Auto Mode's node IAM role (computeConfig.nodeRoleArn). */
  autoModeNodeRoleArn?: string
  /** CIDRs allowed to reach the public endpoint (resourcesVpcConfig.publicAccessCidrs). */
  publicAccessCidrs: string[]
  systemNodegroup?: NodegroupSpec
  /** --gpu-nodegroup TYPE:MIN-MAX: a managed GPU node group (NVIDIA AMI, nvidia.com/gpu taint). */
  gpuNodegroup?: NodegroupSpec
}

const CIDR = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/

/** --public-access-cidrs: IPv4 CIDRs (what resourcesVpcConfig.publicAccessCidrs takes). */
export function validatePublicAccessCidrs(cidrs: readonly string[]): void {
  for (const c of cidrs) {
    const m = CIDR.exec(c)
    if (!m || m.slice(1, 5).some((o) => Number(o) > 255) || Number(m[5]) > 32) throw new UsageError(`--public-access-cidrs: "${c}" is not an IPv4 CIDR`, {fix: 'pass e.g. 203.0.113.7/32'})
  }
}

/** --kubernetes-version: MAJOR.MINOR as CreateCluster's `version` takes it (e.g. 1.33). */
export function validateKubernetesVersion(v: string | undefined): void {
  if (v !== undefined && !/^1\.\d{1,3}$/.test(v)) throw new UsageError(`--kubernetes-version "${v}" is not a Kubernetes minor version`, {fix: 'pass MAJOR.MINOR as EKS lists it (`aws eks describe-cluster-versions`), e.g. 1.33, or leave it out for the EKS default'})
}

/** Checks a create spec before any API call, naming the missing flag. */
export function validateCreateSpec(spec: Partial<CreateClusterSpec> & {name: string}): asserts spec is CreateClusterSpec {
  if (!spec.region) throw new UsageError('--create needs a region', {fix: 'pass --region'})
  if (!spec.roleArn) throw new UsageError('--create needs the cluster IAM role', {fix: 'pass --role-arn arn:aws:iam::ACCOUNT:role/NAME (a role trusted by eks.amazonaws.com; Auto Mode also needs sts:TagSession and the AmazonEKSCompute/BlockStorage/LoadBalancing/Networking policies)'})
  if (!spec.subnetIds || spec.subnetIds.length < 2) throw new UsageError('--create needs at least two subnets in different availability zones', {fix: 'pass --subnet subnet-aaa --subnet subnet-bbb'})
  if (!spec.publicAccessCidrs?.length) {
    throw new UsageError('--create needs the CIDRs allowed to reach the public endpoint, and your public address could not be found (https://checkip.amazonaws.com did not answer)', {
      fix: 'pass --public-access-cidrs YOUR.IP/32 (the address the EKS endpoint sees: `curl https://checkip.amazonaws.com` where you have internet), comma-separated for several',
    })
  }
  validatePublicAccessCidrs(spec.publicAccessCidrs)
  if (spec.compute === 'auto-mode' && !spec.autoModeNodeRoleArn) {
    throw new UsageError('--create (EKS Auto Mode) needs the node IAM role', {fix: 'pass --node-role-arn arn:aws:iam::ACCOUNT:role/NAME (trusted by ec2.amazonaws.com, with AmazonEKSWorkerNodeMinimalPolicy and AmazonEC2ContainerRegistryPullOnly)'})
  }
  if (spec.compute === 'nodegroups' && !spec.systemNodegroup?.nodeRoleArn) {
    throw new UsageError('--create needs the node IAM role for the system node group', {fix: 'pass --node-role-arn arn:aws:iam::ACCOUNT:role/NAME (a role trusted by ec2.amazonaws.com)'})
  }
  for (const ng of [spec.systemNodegroup, spec.gpuNodegroup]) {
    if (!ng) continue
    if (!ng.nodeRoleArn) throw new UsageError(`node group ${ng.name} needs a node IAM role`, {fix: 'pass --node-role-arn'})
    if (ng.minSize < 0 || ng.desiredSize < ng.minSize || ng.maxSize < ng.desiredSize || ng.maxSize < 1) {
      throw new UsageError(`node group ${ng.name} sizes must satisfy 0 <= min <= desired <= max, max >= 1 (got ${ng.minSize}/${ng.desiredSize}/${ng.maxSize})`, {fix: 'correct --system-nodes / --gpu-nodegroup TYPE:MIN-MAX'})
    }
  }
}

/** The CreateCluster request (request shape: https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html). */
export function createClusterInput(s: CreateClusterSpec): import('@aws-sdk/client-eks').CreateClusterRequest {
  const auto = s.compute === 'auto-mode'
  return {
    name: s.name,
    roleArn: s.roleArn,
    version: s.version,
    resourcesVpcConfig: {subnetIds: s.subnetIds, securityGroupIds: s.securityGroupIds, endpointPublicAccess: true, endpointPrivateAccess: true, publicAccessCidrs: s.publicAccessCidrs},
    // Auto Mode needs the API (access entries) authentication mode
    accessConfig: {authenticationMode: 'API_AND_CONFIG_MAP', bootstrapClusterCreatorAdminPermissions: true},
    ...(auto
      ? {
          // Auto Mode: computeConfig, storageConfig.blockStorage and
          // kubernetesNetworkConfig.elasticLoadBalancing all enabled together, no self-managed add-ons
          computeConfig: {enabled: true, nodePools: ['general-purpose', 'system'], nodeRoleArn: s.autoModeNodeRoleArn},
          storageConfig: {blockStorage: {enabled: true}},
          kubernetesNetworkConfig: {elasticLoadBalancing: {enabled: true}},
          bootstrapSelfManagedAddons: false,
        }
      : {}),
    tags: {'app.kubernetes.io/managed-by': 'aip', ...s.tags},
  }
}

/** CreateNodegroup for the system or the GPU node group. */
export function createNodegroupInput(cluster: string, subnets: string[], ng: NodegroupSpec, role: 'system' | 'gpu'): import('@aws-sdk/client-eks').CreateNodegroupRequest {
  return {
    clusterName: cluster,
    nodegroupName: ng.name,
    nodeRole: ng.nodeRoleArn,
    subnets,
    instanceTypes: ng.instanceTypes,
    scalingConfig: {minSize: ng.minSize, desiredSize: ng.desiredSize, maxSize: ng.maxSize},
    labels: {'aip.dev/node-role': role},
    ...(role === 'gpu'
      ? {
          // EKS-optimized AL2023 with the NVIDIA driver, container toolkit and device plugin
          amiType: 'AL2023_x86_64_NVIDIA' as const,
          // weights stream from S3, but the vLLM image alone is ~10 GB
          diskSize: 200,
          taints: [{key: 'nvidia.com/gpu', value: 'true', effect: 'NO_SCHEDULE' as const}],
        }
      : {}),
    tags: {'app.kubernetes.io/managed-by': 'aip'},
  }
}

export interface EnsureResult {
  cluster: ClusterInfo
  created: boolean
  nodegroupCreated: boolean
  /** The first node group ensured (system, else GPU). */
  nodegroup?: NodegroupInfo
  nodegroups: NodegroupInfo[]
}

/**
 * Makes the cluster exist and be ACTIVE. Without `create`, a missing cluster is NotFoundError
 * (exit 4) suggesting --create. With it: CreateCluster (EKS Auto Mode by default; ResourceInUse ->
 * someone, e.g. an earlier interrupted run, is creating it: wait instead), wait ACTIVE, then the
 * system node group (without Auto Mode) and the --gpu-nodegroup likewise.
 */
export async function ensureCluster(
  client: EKSClient,
  name: string,
  region: string,
  opts: WaitOptions & {create?: boolean; spec?: CreateClusterSpec; gpuNodegroup?: NodegroupSpec},
): Promise<EnsureResult> {
  const sdk = await import('@aws-sdk/client-eks')
  const ctx: Ctx = {cluster: name, region}
  let created = false
  let info = await findCluster(client, name, region, opts)
  if (!info) {
    if (!opts.create) {
      throw new NotFoundError(`cluster "${name}" not found in region ${region}`, {
        fix: `check --name/--region (\`aws eks list-clusters --region ${region}\`), or create it with \`aip cluster bootstrap --name ${name} --create ...\``,
      })
    }
    if (!opts.spec) throw new UsageError('--create needs the cluster settings', {fix: 'pass --role-arn, --subnet (twice) and --node-role-arn'})
    validateCreateSpec(opts.spec)
    const s = opts.spec
    try {
      await withRetry(() => client.send(new sdk.CreateClusterCommand(createClusterInput(s))), ctx, opts)
      created = true
    } catch (err) {
      // ResourceInUse: created meanwhile (or by an interrupted run): wait for it instead.
      if (!(err instanceof AipError && errName(err.cause) === 'ResourceInUseException')) throw err
    }
    opts.onProgress?.({resource: 'cluster', name, status: 'CREATING', elapsedMs: 0, message: created ? 'create requested' : 'already being created'})
  }
  info = await waitForCluster(client, name, region, 'ACTIVE', opts)

  // node groups: the system one of a --create without Auto Mode, and --gpu-nodegroup (also on an existing cluster)
  const wanted: Array<{ng: NodegroupSpec; role: 'system' | 'gpu'}> = []
  if (opts.create && opts.spec?.compute === 'nodegroups' && opts.spec.systemNodegroup) wanted.push({ng: opts.spec.systemNodegroup, role: 'system'})
  const gpu = opts.gpuNodegroup ?? opts.spec?.gpuNodegroup
  if (gpu) wanted.push({ng: gpu, role: 'gpu'})
  let nodegroupCreated = false
  const nodegroups: NodegroupInfo[] = []
  for (const {ng, role} of wanted) {
    let cur = await findNodegroup(client, name, ng.name, region, opts)
    if (!cur) {
      const subnets = opts.spec?.subnetIds ?? info.subnetIds ?? []
      try {
        await withRetry(() => client.send(new sdk.CreateNodegroupCommand(createNodegroupInput(name, subnets, ng, role))), {...ctx, nodegroup: ng.name}, opts)
        nodegroupCreated = true
      } catch (err) {
        if (!(err instanceof AipError && errName(err.cause) === 'ResourceInUseException')) throw err
      }
    }
    cur = await waitForNodegroup(client, name, ng.name, region, 'ACTIVE', opts)
    nodegroups.push(cur)
  }
  return {cluster: info, created, nodegroupCreated, nodegroup: nodegroups[0], nodegroups}
}

type Target = 'ACTIVE' | 'DELETED'

async function poll<T extends {status: string}>(
  resource: 'cluster' | 'nodegroup',
  label: string,
  get: () => Promise<T | undefined>,
  target: Target,
  failed: string[],
  ctx: Ctx,
  opts: WaitOptions,
): Promise<T | undefined> {
  const sleep = opts.sleep ?? defaultSleep
  const pollMs = opts.pollMs ?? 15_000
  const timeoutMs = opts.timeoutMs ?? 25 * 60_000
  const started = Date.now()
  let elapsed = 0
  let lastStatus = ''
  let throttles = 0
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason ?? new InterruptedError()
    let cur: T | undefined
    let wait = pollMs
    try {
      cur = await get()
      throttles = 0
      const status = cur?.status ?? 'DELETED'
      if (status !== lastStatus) {
        opts.onProgress?.({resource, name: label, status, elapsedMs: elapsed})
        lastStatus = status
      }
      if (target === 'DELETED' && !cur) return undefined
      if (target === 'ACTIVE' && !cur) throw mapEksError(Object.assign(new Error('gone'), {name: 'ResourceNotFoundException'}), ctx)
      if (cur && cur.status === target) return cur
      if (cur && failed.includes(cur.status)) {
        throw new AipError('FAILED', `${resource} "${label}" is ${cur.status}`, {
          fix:
            resource === 'cluster'
              ? `see the cluster's health in the EKS console or \`aws eks describe-cluster --name ${ctx.cluster} --region ${ctx.region}\`; delete it with \`aip teardown --cluster\` and retry`
              : `see \`aws eks describe-nodegroup --cluster-name ${ctx.cluster} --nodegroup-name ${label}\` (health.issues), fix the cause and rerun`,
          details: {resource, name: label, status: cur.status},
        })
      }
    } catch (err) {
      if (err instanceof AipError && !(err instanceof UnreachableError)) throw err
      // throttled or unreachable beyond withRetry: back off and keep polling within the deadline
      throttles++
      wait = Math.min(60_000, pollMs * 2 ** Math.min(throttles, 4))
      opts.onProgress?.({resource, name: label, status: lastStatus || 'UNKNOWN', elapsedMs: elapsed, message: `throttled/unreachable, backing off ${Math.round(wait / 1000)}s`})
      if (elapsed + wait > timeoutMs) throw err
    }
    // elapsed counts both real time and the slept intervals, so injected fast sleeps still bound the loop
    elapsed = Math.max(Date.now() - started, elapsed + wait)
    if (elapsed > timeoutMs) {
      throw new TimeoutError(`timed out after ${Math.round(timeoutMs / 60_000)}m waiting for ${resource} "${label}" to become ${target} (last status ${lastStatus || 'unknown'})`, {
        fix: 'rerun the same command: it resumes waiting (or raise --timeout)',
      })
    }
    await sleep(wait, opts.signal)
  }
}

export async function waitForCluster(client: EKSClient, name: string, region: string, target: Target, opts: WaitOptions = {}): Promise<ClusterInfo> {
  const ctx = {cluster: name, region}
  const failed = target === 'ACTIVE' ? ['FAILED', 'DELETING'] : ['FAILED']
  const r = await poll('cluster', name, () => findCluster(client, name, region, {...opts}), target, failed, ctx, opts)
  return r ?? {name, arn: '', region, status: 'DELETED'}
}

export async function findNodegroup(client: EKSClient, cluster: string, nodegroup: string, region: string, opts: Pick<WaitOptions, 'signal' | 'sleep'> = {}): Promise<NodegroupInfo | undefined> {
  const {DescribeNodegroupCommand} = await import('@aws-sdk/client-eks')
  try {
    const out = await withRetry(() => client.send(new DescribeNodegroupCommand({clusterName: cluster, nodegroupName: nodegroup})), {cluster, region, nodegroup}, opts)
    return out.nodegroup ? toNodegroupInfo(out.nodegroup) : undefined
  } catch (err) {
    if (err instanceof NotFoundError) return undefined
    throw err
  }
}

export async function waitForNodegroup(client: EKSClient, cluster: string, nodegroup: string, region: string, target: Target, opts: WaitOptions = {}): Promise<NodegroupInfo> {
  const ctx = {cluster, region, nodegroup}
  const failed = target === 'ACTIVE' ? ['CREATE_FAILED', 'DEGRADED', 'DELETING'] : ['DELETE_FAILED']
  const r = await poll('nodegroup', nodegroup, () => findNodegroup(client, cluster, nodegroup, region, opts), target, failed, ctx, opts)
  return r ?? {name: nodegroup, status: 'DELETED', instanceTypes: []}
}

export async function listNodegroups(client: EKSClient, cluster: string, region: string, opts: Pick<WaitOptions, 'signal' | 'sleep'> = {}): Promise<NodegroupInfo[]> {
  const {ListNodegroupsCommand} = await import('@aws-sdk/client-eks')
  const names: string[] = []
  let nextToken: string | undefined
  do {
    const out = await withRetry(() => client.send(new ListNodegroupsCommand({clusterName: cluster, nextToken})), {cluster, region}, opts)
    names.push(...(out.nodegroups ?? []))
    nextToken = out.nextToken
  } while (nextToken)
  const out: NodegroupInfo[] = []
  for (const n of names) {
    const ng = await findNodegroup(client, cluster, n, region, opts)
    if (ng) out.push(ng)
  }
  return out
}

/** Deletes a node group (idempotent: already deleting or gone is fine) and waits until it is gone. */
export async function deleteNodegroup(client: EKSClient, cluster: string, nodegroup: string, region: string, opts: WaitOptions = {}): Promise<void> {
  const {DeleteNodegroupCommand} = await import('@aws-sdk/client-eks')
  const ctx = {cluster, region, nodegroup}
  try {
    await withRetry(() => client.send(new DeleteNodegroupCommand({clusterName: cluster, nodegroupName: nodegroup})), ctx, opts)
  } catch (err) {
    if (err instanceof NotFoundError) return
    if (!(err instanceof AipError && errName(err.cause) === 'ResourceInUseException')) throw err
  }
  await waitForNodegroup(client, cluster, nodegroup, region, 'DELETED', opts)
}

/** Deletes the cluster (idempotent) and waits until DescribeCluster says it is gone. */
export async function deleteCluster(client: EKSClient, name: string, region: string, opts: WaitOptions = {}): Promise<void> {
  const {DeleteClusterCommand} = await import('@aws-sdk/client-eks')
  const ctx = {cluster: name, region}
  try {
    await withRetry(() => client.send(new DeleteClusterCommand({name})), ctx, opts)
  } catch (err) {
    if (err instanceof NotFoundError) return
    if (!(err instanceof AipError && errName(err.cause) === 'ResourceInUseException')) throw err
  }
  await waitForCluster(client, name, region, 'DELETED', opts)
}
