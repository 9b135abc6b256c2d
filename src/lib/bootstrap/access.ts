/**
 * S3 access for the model pods, set up by `aip cluster bootstrap` on EKS:
 *  1. the weights bucket (created or adopted: src/lib/aws/bucket.ts);
 *  2. two IAM roles, least privilege, one per ServiceAccount privilege:
 *       aip-CLUSTER-model-server  s3:GetObject on BUCKET/PREFIX/*, s3:ListBucket  (vLLM, init containers)
 *       aip-CLUSTER-preload       + s3:PutObject, multipart upload/abort/list     (the preload Job)
 *     (s3:ListBucket on the bucket itself: without it S3 answers a HEAD of a missing key with 403
 *     instead of 404, and the in-pod scripts could not tell "not preloaded yet" from "denied");
 *     with --kms-key, kms:Decrypt (and kms:GenerateDataKey for the writer) on that key;
 *  3. EKS Pod Identity (default): the trust policy lets pods.eks.amazonaws.com assume the role
 *     (sts:AssumeRole + sts:TagSession) only for this account, this cluster and the aip
 *     ServiceAccount in the model and tenant namespaces (the session tags Pod Identity sets:
 *     https://docs.aws.amazon.com/eks/latest/userguide/pod-id-role.html), the eks-pod-identity-agent
 *     add-on (built into Auto Mode), and one association per namespace and ServiceAccount;
 *     or IRSA (--irsa): the cluster's OIDC provider, a web-identity trust limited to those
 *     ServiceAccounts, and the role ARN as the ServiceAccounts' eks.amazonaws.com/role-arn annotation.
 */
import type {EKSClient} from '@aws-sdk/client-eks'
import type {IAMClient} from '@aws-sdk/client-iam'
import type {S3Client} from '@aws-sdk/client-s3'

import {type BucketResult, ensureBucket} from '../aws/bucket.js'
import {decodePolicy, ensureOidcProvider, ensureRole, mapIamError, oidcProviderArn, type PolicyDocument, type RoleResult} from '../aws/iam.js'
import {type AddonResult, type AssociationResult, ensureEksAddon, ensurePodIdentityAssociation, POD_IDENTITY_AGENT} from '../aws/podidentity.js'
import {UsageError} from '../errors.js'
import {normalizePrefix} from '../preload/layout.js'
import {PRELOAD_SERVICE_ACCOUNT, SERVER_SERVICE_ACCOUNT} from '../render/common.js'

export type AccessMode = 'pod-identity' | 'irsa'

export interface AccessOptions {
  cluster: string
  region: string
  account: string
  /** false when a dry run would create the cluster: nothing to read from it yet. */
  clusterExists: boolean
  autoMode: boolean
  /** IRSA needs the cluster's OIDC issuer. */
  oidcIssuer?: string
  bucket: string
  prefix?: string
  /** SSE-KMS key ARN; null: SSE-S3; absent: keep the bucket's key where it has one (ensureBucket). */
  kmsKey?: string | null
  /** The model namespace and the tenant namespaces. */
  namespaces: string[]
  mode: AccessMode
  clients: {s3: S3Client; iam: IAMClient; eks: EKSClient}
  dryRun?: boolean
  signal?: AbortSignal
}

export interface AccessResult {
  mode: AccessMode
  bucket: BucketResult
  roles: Array<RoleResult & {serviceAccount: string; access: 'read' | 'read-write'}>
  podIdentityAgent?: AddonResult
  associations: AssociationResult[]
  oidcProvider?: {arn: string; action: string}
  /** IRSA: ServiceAccount name -> role ARN for its eks.amazonaws.com/role-arn annotation. */
  serviceAccountRoles: Record<string, string>
}

/** aip-CLUSTER-model-server / aip-CLUSTER-preload, within IAM's 64 characters. */
export function roleNames(cluster: string): {server: string; preload: string} {
  const slug = cluster.replace(/[^\w+=,.@-]/g, '-').slice(0, 64 - 'aip--model-server'.length)
  return {server: `aip-${slug}-model-server`, preload: `aip-${slug}-preload`}
}

/**
 * The access mode the model-server role trusts now, so a rerun without --irsa / --no-irsa keeps it:
 * IRSA where its trust names an OIDC provider (Principal.Federated), else Pod Identity; undefined
 * where the role does not exist yet (the first run).
 */
export async function currentAccessMode(iam: IAMClient, cluster: string): Promise<AccessMode | undefined> {
  const {GetRoleCommand} = await import('@aws-sdk/client-iam')
  let doc: string | undefined
  try {
    doc = (await iam.send(new GetRoleCommand({RoleName: roleNames(cluster).server}))).Role?.AssumeRolePolicyDocument
  } catch (error) {
    if ((error as {name?: string} | undefined)?.name === 'NoSuchEntityException') return undefined
    throw mapIamError(error, 'iam:GetRole')
  }
  const st = (decodePolicy(doc) as {Statement?: unknown} | undefined)?.Statement
  const federated = (Array.isArray(st) ? st : [st]).some((s) => JSON.stringify((s as {Principal?: {Federated?: unknown}} | undefined)?.Principal?.Federated ?? '').includes(':oidc-provider/'))
  return federated ? 'irsa' : 'pod-identity'
}

const KMS_KEY_ARN = /^arn:aws[\w-]*:kms:[a-z0-9-]+:\d{12}:key\/[\w-]+$/

export function checkKmsKey(kmsKey: string | null | undefined): void {
  // IAM authorises KMS use on the key ARN; an alias in a policy Resource grants nothing
  if (kmsKey && !KMS_KEY_ARN.test(kmsKey)) {
    throw new UsageError(`--kms-key must be a KMS key ARN (got "${kmsKey}")`, {fix: 'pass the key ARN, e.g. arn:aws:kms:us-east-1:123456789012:key/1234abcd-...; `aws kms describe-key --key-id alias/NAME` prints it'})
  }
}

/** The identity policies: read for servers, read-write for the preload Job, on BUCKET/PREFIX/* only. */
export function s3Policies(bucket: string, prefix: string | undefined, kmsKey?: string): {read: PolicyDocument; readWrite: PolicyDocument} {
  const p = normalizePrefix(prefix)
  const objects = `arn:aws:s3:::${bucket}/${p ? `${p}/` : ''}*`
  const bucketArn = `arn:aws:s3:::${bucket}`
  const kms = (actions: string[]) => (kmsKey ? [{Sid: 'WeightsKey', Effect: 'Allow', Action: actions, Resource: kmsKey}] : [])
  return {
    read: {
      Version: '2012-10-17',
      Statement: [
        {Sid: 'ListWeights', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArn},
        {Sid: 'ReadWeights', Effect: 'Allow', Action: ['s3:GetObject'], Resource: objects},
        ...kms(['kms:Decrypt']),
      ],
    },
    readWrite: {
      Version: '2012-10-17',
      Statement: [
        {Sid: 'ListWeights', Effect: 'Allow', Action: ['s3:ListBucket', 's3:ListBucketMultipartUploads'], Resource: bucketArn},
        {Sid: 'WriteWeights', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'], Resource: objects},
        ...kms(['kms:Decrypt', 'kms:GenerateDataKey']),
      ],
    },
  }
}

/**
 * The namespaces a role aip made already trusts for this ServiceAccount (its Pod Identity session-tag
 * condition, or its IRSA `sub` values). A bootstrap run names only the tenants it was given (--tenant
 * or config `tenants`); the trust keeps the earlier ones, whose namespaces, ServiceAccounts and
 * associations bootstrap never removes, so adding team-b (or a plain rerun) does not cut team-a's
 * pods off their weights. Removing a tenant's access is `aip teardown`'s (or IAM's) business.
 */
export function trustedNamespaces(current: unknown, serviceAccount: string): string[] {
  const statements = (current as {Statement?: unknown} | undefined)?.Statement
  const out: string[] = []
  const list = (v: unknown): string[] => (typeof v === 'string' ? [v] : Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [])
  for (const st of Array.isArray(statements) ? statements : [statements]) {
    const eq = (st as {Condition?: {StringEquals?: Record<string, unknown>}} | undefined)?.Condition?.StringEquals
    if (!eq) continue
    if (list(eq['aws:RequestTag/kubernetes-service-account']).includes(serviceAccount)) out.push(...list(eq['aws:RequestTag/kubernetes-namespace']))
    for (const [k, v] of Object.entries(eq)) {
      if (!k.endsWith(':sub')) continue
      for (const sub of list(v)) {
        const m = /^system:serviceaccount:([a-z0-9-]+):(.+)$/.exec(sub)
        if (m && m[2] === serviceAccount) out.push(m[1]!)
      }
    }
  }
  return out.filter((ns) => /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(ns))
}

/** Trust for EKS Pod Identity, limited by the session tags it sets to this cluster and ServiceAccount. */
export function podIdentityTrust(account: string, cluster: string, namespaces: string[], serviceAccount: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'EksPodIdentity',
        Effect: 'Allow',
        Principal: {Service: 'pods.eks.amazonaws.com'},
        Action: ['sts:AssumeRole', 'sts:TagSession'],
        Condition: {
          StringEquals: {
            'aws:SourceAccount': account,
            'aws:RequestTag/eks-cluster-name': cluster,
            'aws:RequestTag/kubernetes-namespace': [...namespaces].sort(),
            'aws:RequestTag/kubernetes-service-account': serviceAccount,
          },
        },
      },
    ],
  }
}

/** Trust for IRSA: the cluster's OIDC provider, only for this ServiceAccount in these namespaces. */
export function irsaTrust(account: string, issuer: string, namespaces: string[], serviceAccount: string): PolicyDocument {
  const {arn, hostPath} = oidcProviderArn(account, issuer)
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Irsa',
        Effect: 'Allow',
        Principal: {Federated: arn},
        Action: 'sts:AssumeRoleWithWebIdentity',
        Condition: {
          StringEquals: {
            [`${hostPath}:aud`]: 'sts.amazonaws.com',
            [`${hostPath}:sub`]: [...namespaces].sort().map((ns) => `system:serviceaccount:${ns}:${serviceAccount}`),
          },
        },
      },
    ],
  }
}

export async function ensureAccess(opts: AccessOptions): Promise<AccessResult> {
  checkKmsKey(opts.kmsKey)
  const dryRun = Boolean(opts.dryRun)
  const {s3, iam, eks} = opts.clients
  const bucket = await ensureBucket(s3, {name: opts.bucket, region: opts.region, kmsKey: opts.kmsKey, account: opts.account}, {dryRun})

  let oidcProvider: AccessResult['oidcProvider']
  let issuer = opts.oidcIssuer
  if (opts.mode === 'irsa') {
    if (!issuer) {
      if (opts.clusterExists) throw new UsageError(`cluster ${opts.cluster} has no OIDC issuer for IRSA`, {fix: 'drop --irsa to use EKS Pod Identity'})
      // a dry run of --create: the issuer exists only once the cluster does
      issuer = `https://oidc.eks.${opts.region}.amazonaws.com/id/PENDING`
      oidcProvider = {arn: oidcProviderArn(opts.account, issuer).arn, action: 'create'}
    } else {
      oidcProvider = await ensureOidcProvider(iam, issuer, {dryRun, account: opts.account})
    }
  }

  const names = roleNames(opts.cluster)
  // the key the bucket encrypts with: given, or kept from an earlier run (a key id or alias set by
  // hand grants nothing as a policy Resource, so only a key ARN is named)
  const policyKey = bucket.kmsKey && KMS_KEY_ARN.test(bucket.kmsKey) ? bucket.kmsKey : undefined
  const policies = s3Policies(opts.bucket, opts.prefix, policyKey)
  // the namespaces of this run plus those the role already trusts for the ServiceAccount (see trustedNamespaces)
  const trust = (sa: string) => (current: unknown) => {
    const namespaces = [...new Set([...opts.namespaces, ...trustedNamespaces(current, sa)])]
    return opts.mode === 'irsa' ? irsaTrust(opts.account, issuer!, namespaces, sa) : podIdentityTrust(opts.account, opts.cluster, namespaces, sa)
  }
  const specs = [
    {serviceAccount: SERVER_SERVICE_ACCOUNT, access: 'read' as const, name: names.server, policy: policies.read, what: 'model servers: read the weights'},
    {serviceAccount: PRELOAD_SERVICE_ACCOUNT, access: 'read-write' as const, name: names.preload, policy: policies.readWrite, what: 'the preload Job: write the weights'},
  ]
  const roles: AccessResult['roles'] = []
  for (const s of specs) {
    const r = await ensureRole(
      iam,
      {name: s.name, description: `aip ${opts.cluster}: ${s.what} in s3://${opts.bucket}/${normalizePrefix(opts.prefix)}/`, trust: trust(s.serviceAccount), policyName: 'aip-weights', policy: s.policy, tags: {'aip.dev/cluster': opts.cluster}},
      {dryRun, account: opts.account},
    )
    roles.push({...r, serviceAccount: s.serviceAccount, access: s.access})
  }

  const result: AccessResult = {mode: opts.mode, bucket, roles, associations: [], serviceAccountRoles: {}, ...(oidcProvider ? {oidcProvider} : {})}
  if (opts.mode === 'irsa') {
    for (const r of roles) result.serviceAccountRoles[r.serviceAccount] = r.arn
    return result
  }
  result.podIdentityAgent = opts.autoMode
    ? {name: POD_IDENTITY_AGENT, action: 'built-in'}
    : opts.clusterExists
      ? await ensureEksAddon(eks, opts.cluster, opts.region, POD_IDENTITY_AGENT, {dryRun, signal: opts.signal})
      : {name: POD_IDENTITY_AGENT, action: dryRun ? 'create' : 'created'}
  for (const ns of opts.namespaces) {
    for (const r of roles) {
      result.associations.push(await ensurePodIdentityAssociation(eks, opts.cluster, opts.region, {namespace: ns, serviceAccount: r.serviceAccount, roleArn: r.arn}, {dryRun, clusterExists: opts.clusterExists, signal: opts.signal}))
    }
  }
  return result
}
