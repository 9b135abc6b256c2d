/**
 * IAM and STS for bootstrap: the caller's account, roles with a trust policy and one inline policy
 * (created, or brought back to the wanted documents), and the cluster's OIDC provider for IRSA.
 * Every call is idempotent and, with `dryRun`, only reads: the result says what a real run would
 * do. Clients are passed in (aws-sdk-client-mock in tests); the SDKs are imported lazily.
 *
 * IAM returns policy documents URL-encoded (GetRole, GetRolePolicy: "URL-encoded compliant with
 * RFC 3986"), so they are decoded and compared as parsed JSON, never as text.
 */
import type {IAMClient} from '@aws-sdk/client-iam'
import type {STSClient} from '@aws-sdk/client-sts'

import {AipError, networkErrorCode, UnauthorizedError, UnreachableError} from '../errors.js'
import {checkAwsProfile} from './credentials.js'

export interface AwsClientOptions {
  region?: string
  profile?: string
}

export async function createIamClient(opts: AwsClientOptions): Promise<IAMClient> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  checkAwsProfile(opts.profile)
  const {IAMClient} = await import('@aws-sdk/client-iam')
  // IAM is global; the region only picks the signing endpoint (aws partition)
  return new IAMClient({region: opts.region ?? 'us-east-1', ...(opts.profile ? {profile: opts.profile} : {}), maxAttempts: 6})
}

export async function createStsClient(opts: AwsClientOptions): Promise<STSClient> {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'
  checkAwsProfile(opts.profile)
  const {STSClient} = await import('@aws-sdk/client-sts')
  return new STSClient({region: opts.region ?? 'us-east-1', ...(opts.profile ? {profile: opts.profile} : {}), maxAttempts: 4})
}

export type PolicyDocument = {Version: '2012-10-17'; Statement: Array<Record<string, unknown>>}

/** create/update/unchanged (dry run) or created/updated/unchanged (applied). */
export type Change = 'create' | 'update' | 'unchanged' | 'created' | 'updated'

export function change(kind: 'create' | 'update' | 'unchanged', dryRun: boolean): Change {
  if (kind === 'unchanged' || dryRun) return kind
  return kind === 'create' ? 'created' : 'updated'
}

function errName(err: unknown): string {
  return String((err as {name?: string})?.name ?? '')
}

/** Maps an IAM/STS failure to a typed error naming the permission. */
export function mapIamError(err: unknown, action: string): AipError {
  if (err instanceof AipError) return err
  const n = errName(err)
  const msg = (err as Error)?.message?.split('\n')[0] ?? String(err)
  if (n === 'CredentialsProviderError' || /Could not load credentials/i.test(msg)) {
    return new UnauthorizedError(`no usable AWS credentials: ${msg}`, {fix: 'set AWS_PROFILE (or --profile), or run `aws sso login`; check with `aws sts get-caller-identity`', cause: err})
  }
  if (/AccessDenied|UnauthorizedOperation|InvalidClientTokenId|ExpiredToken|SignatureDoesNotMatch/.test(n)) {
    return new UnauthorizedError(`AWS refused ${action} (${n}): ${msg}`, {fix: `the identity running aip needs ${action}; README "First deploy on a new AWS account" lists every permission bootstrap uses`, cause: err})
  }
  const net = networkErrorCode(err)
  if (net) return new UnreachableError(`cannot reach AWS for ${action} (${net})`, {fix: 'check the network or proxy and retry', cause: err})
  return new AipError('FAILED', `${action} failed${n ? ` (${n})` : ''}: ${msg}`, {fix: 'rerun with --verbose for details; bootstrap resumes where it stopped', cause: err})
}

export async function callerAccount(sts: STSClient): Promise<{account: string; arn: string}> {
  const {GetCallerIdentityCommand} = await import('@aws-sdk/client-sts')
  try {
    const out = await sts.send(new GetCallerIdentityCommand({}))
    return {account: out.Account!, arn: out.Arn ?? ''}
  } catch (error) {
    throw mapIamError(error, 'sts:GetCallerIdentity')
  }
}

/** Decodes IAM's URL-encoded policy text and parses it. */
export function decodePolicy(text: string | undefined): unknown {
  if (!text) return undefined
  let s = text
  try {
    s = decodeURIComponent(text)
  } catch {
    // already plain JSON
  }
  try {
    return JSON.parse(s)
  } catch {
    return undefined
  }
}

/** Order-insensitive comparison for single values vs one-element arrays, as IAM normalises them. */
export function samePolicy(a: unknown, b: unknown): boolean {
  const norm = (v: unknown): unknown => {
    if (Array.isArray(v)) {
      const items = v.map(norm)
      return items.length === 1 ? items[0] : items.map((x) => JSON.stringify(x)).sort()
    }
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1)).map(([k, x]) => [k, norm(x)]))
    return v
  }
  return JSON.stringify(norm(a)) === JSON.stringify(norm(b))
}

export interface RoleSpec {
  name: string
  description: string
  /** The trust policy, or a function of the role's current one (decoded; undefined when the role is new). */
  trust: PolicyDocument | ((current: unknown) => PolicyDocument)
  /** The role's one inline policy (aip owns it by name); none for a role with only managed policies. */
  policyName?: string
  policy?: PolicyDocument
  /** AWS managed policies to attach (AttachRolePolicy); others attached stay. */
  managedPolicyArns?: string[]
  tags?: Record<string, string>
}

export interface RoleResult {
  name: string
  arn: string
  /** the role itself (trust policy included) */
  action: Change
  /** its inline policy, or its managed policies' attachment */
  policyAction: Change
}

/**
 * Makes the role exist with exactly this trust policy and inline policy: CreateRole (or
 * UpdateAssumeRolePolicy when the trust differs), then PutRolePolicy when the inline policy is
 * missing or differs. Other policies a user attached are left alone.
 */
export async function ensureRole(iam: IAMClient, spec: RoleSpec, opts: {dryRun?: boolean; account: string}): Promise<RoleResult> {
  const sdk = await import('@aws-sdk/client-iam')
  const dryRun = Boolean(opts.dryRun)
  const arn = `arn:aws:iam::${opts.account}:role/${spec.name}`
  const call = async <T>(action: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn()
    } catch (error) {
      throw mapIamError(error, action)
    }
  }
  let role: {Arn?: string; AssumeRolePolicyDocument?: string} | undefined
  try {
    role = (await iam.send(new sdk.GetRoleCommand({RoleName: spec.name}))).Role
  } catch (error) {
    if (errName(error) !== 'NoSuchEntityException') throw mapIamError(error, 'iam:GetRole')
  }
  const trust = typeof spec.trust === 'function' ? spec.trust(decodePolicy(role?.AssumeRolePolicyDocument)) : spec.trust
  let action: Change
  if (!role) {
    action = change('create', dryRun)
    if (!dryRun) {
      await call('iam:CreateRole', () =>
        iam.send(
          new sdk.CreateRoleCommand({
            RoleName: spec.name,
            Description: spec.description,
            AssumeRolePolicyDocument: JSON.stringify(trust),
            Tags: Object.entries({'app.kubernetes.io/managed-by': 'aip', ...spec.tags}).map(([Key, Value]) => ({Key, Value})),
          }),
        ),
      )
    }
  } else if (samePolicy(decodePolicy(role.AssumeRolePolicyDocument), trust)) {
    action = 'unchanged'
  } else {
    action = change('update', dryRun)
    if (!dryRun) await call('iam:UpdateAssumeRolePolicy', () => iam.send(new sdk.UpdateAssumeRolePolicyCommand({RoleName: spec.name, PolicyDocument: JSON.stringify(trust)})))
  }

  if (!spec.policyName || !spec.policy) {
    const attached = new Set<string>()
    if (role) {
      let marker: string | undefined
      do {
        const page = await call('iam:ListAttachedRolePolicies', () => iam.send(new sdk.ListAttachedRolePoliciesCommand({RoleName: spec.name, Marker: marker})))
        for (const p of page.AttachedPolicies ?? []) if (p.PolicyArn) attached.add(p.PolicyArn)
        marker = page.IsTruncated ? page.Marker : undefined
      } while (marker)
    }
    const missing = (spec.managedPolicyArns ?? []).filter((a) => !attached.has(a))
    if (!dryRun) for (const PolicyArn of missing) await call('iam:AttachRolePolicy', () => iam.send(new sdk.AttachRolePolicyCommand({RoleName: spec.name, PolicyArn})))
    return {name: spec.name, arn: role?.Arn ?? arn, action, policyAction: missing.length ? change('create', dryRun) : 'unchanged'}
  }
  let current: unknown
  if (role) {
    try {
      current = decodePolicy((await iam.send(new sdk.GetRolePolicyCommand({RoleName: spec.name, PolicyName: spec.policyName}))).PolicyDocument)
    } catch (error) {
      if (errName(error) !== 'NoSuchEntityException') throw mapIamError(error, 'iam:GetRolePolicy')
    }
  }
  let policyAction: Change
  if (current !== undefined && samePolicy(current, spec.policy)) policyAction = 'unchanged'
  else {
    policyAction = change(current === undefined ? 'create' : 'update', dryRun)
    if (!dryRun) await call('iam:PutRolePolicy', () => iam.send(new sdk.PutRolePolicyCommand({RoleName: spec.name, PolicyName: spec.policyName, PolicyDocument: JSON.stringify(spec.policy)})))
  }
  return {name: spec.name, arn: role?.Arn ?? arn, action, policyAction}
}

/** issuer URL https://oidc.eks.REGION.amazonaws.com/id/XYZ -> the IAM provider ARN and the host/path IAM conditions use. */
export function oidcProviderArn(account: string, issuer: string): {arn: string; hostPath: string} {
  const hostPath = issuer.replace(/^https:\/\//, '').replace(/\/$/, '')
  return {arn: `arn:aws:iam::${account}:oidc-provider/${hostPath}`, hostPath}
}

/**
 * IRSA: the cluster's OIDC issuer registered as an IAM identity provider for sts.amazonaws.com.
 * The thumbprint is left to IAM (optional since 2023: IAM takes the issuer's top CA itself).
 */
export async function ensureOidcProvider(iam: IAMClient, issuer: string, opts: {dryRun?: boolean; account: string}): Promise<{arn: string; action: Change}> {
  const sdk = await import('@aws-sdk/client-iam')
  const {arn} = oidcProviderArn(opts.account, issuer)
  let list
  try {
    list = await iam.send(new sdk.ListOpenIDConnectProvidersCommand({}))
  } catch (error) {
    throw mapIamError(error, 'iam:ListOpenIDConnectProviders')
  }
  if ((list.OpenIDConnectProviderList ?? []).some((p) => p.Arn === arn)) return {arn, action: 'unchanged'}
  if (!opts.dryRun) {
    try {
      await iam.send(new sdk.CreateOpenIDConnectProviderCommand({Url: issuer, ClientIDList: ['sts.amazonaws.com'], Tags: [{Key: 'app.kubernetes.io/managed-by', Value: 'aip'}]}))
    } catch (error) {
      if (errName(error) !== 'EntityAlreadyExistsException') throw mapIamError(error, 'iam:CreateOpenIDConnectProvider')
    }
  }
  return {arn, action: change('create', Boolean(opts.dryRun))}
}
