/**
 * The weights bucket: created or adopted by `aip cluster bootstrap`, then held to aip's settings:
 *  - Block Public Access, all four switches (PutPublicAccessBlock);
 *  - default encryption, SSE-S3 (AES256) or SSE-KMS with the given key and an S3 Bucket Key
 *    (PutBucketEncryption);
 *  - a lifecycle rule that aborts incomplete multipart uploads after 7 days (an interrupted preload
 *    leaves parts that are billed but invisible), merged into the bucket's other rules, because
 *    PutBucketLifecycleConfiguration replaces the whole configuration.
 * Each setting is read first and written only when it differs, so a second run changes nothing.
 * The bucket is never deleted here: teardown keeps it unless --delete-bucket names it.
 */
import type {S3Client} from '@aws-sdk/client-s3'

import {UsageError} from '../errors.js'
import {type Change, change} from './iam.js'
import {isNotImplemented, s3Status, toS3Error} from './s3.js'

export const ABORT_MPU_RULE_ID = 'aip-abort-incomplete-multipart-uploads'
export const ABORT_MPU_DAYS = 7

export interface BucketSpec {
  name: string
  region: string
  /**
   * KMS key ARN for SSE-KMS; null: SSE-S3. Absent: keep the bucket's SSE-KMS key where it has one
   * (a rerun without --kms-key never undoes an earlier --kms-key), else SSE-S3.
   */
  kmsKey?: string | null
  /** The account that must own the bucket (ExpectedBucketOwner on every call). */
  account?: string
}

export interface BucketResult {
  name: string
  region: string
  action: Change
  /** The SSE-KMS key the bucket encrypts with after this run (given, or kept); absent: SSE-S3. */
  kmsKey?: string
  /** 'unsupported': an S3-compatible store answered 501 NotImplemented for the setting (AWS S3 never does). */
  settings: Array<{setting: 'public-access-block' | 'encryption' | 'lifecycle'; action: Change | 'unsupported'; detail: string}>
}

/** `aip-prod` in account 123456789012, us-east-1 -> aip-prod-weights-123456789012-us-east-1 (at most 63 characters). */
export function defaultBucketName(cluster: string, account: string, region: string): string {
  const tail = `-weights-${account}-${region}`
  const slug = cluster.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '') || 'aip'
  return `${slug.slice(0, 63 - tail.length).replace(/-$/, '')}${tail}`
}

/** S3's naming rules for new general purpose buckets (adopting an existing one skips this). */
export function checkBucketName(name: string): void {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) || name.includes('..') || /^\d+\.\d+\.\d+\.\d+$/.test(name) || name.startsWith('xn--') || name.endsWith('-s3alias')) {
    throw new UsageError(`"${name}" is not a valid S3 bucket name`, {fix: 'bucket names are 3-63 lower-case letters, digits, "-" and ".", starting and ending with a letter or digit'})
  }
}

function errName(err: unknown): string {
  return String((err as {name?: string})?.name ?? '')
}

export async function ensureBucket(s3: S3Client, spec: BucketSpec, opts: {dryRun?: boolean} = {}): Promise<BucketResult> {
  const sdk = await import('@aws-sdk/client-s3')
  const dryRun = Boolean(opts.dryRun)
  const Bucket = spec.name
  const owner = spec.account ? {ExpectedBucketOwner: spec.account} : {}
  const fail = (action: string) => (err: unknown) => {
    throw toS3Error(err, {bucket: Bucket, action})
  }
  const write = async (action: string, fn: () => Promise<unknown>) => {
    try {
      await fn()
    } catch (error) {
      fail(action)(error)
    }
  }
  const result: BucketResult = {name: Bucket, region: spec.region, action: 'unchanged', settings: []}

  let exists = true
  try {
    await s3.send(new sdk.HeadBucketCommand({Bucket, ...owner}))
  } catch (error) {
    const status = s3Status(error)
    if (status === 404 || errName(error) === 'NotFound' || errName(error) === 'NoSuchBucket') exists = false
    else if (status === 403) {
      throw toS3Error(error, {bucket: Bucket, action: 'use (it exists in another account, or the identity lacks s3:ListBucket on it)'})
    } else if (status === 301) {
      throw new UsageError(`bucket ${Bucket} exists in another region than ${spec.region}`, {fix: `pass --region of the bucket, or another --bucket`, cause: error})
    } else fail('check')(error)
  }
  if (!exists) {
    checkBucketName(Bucket)
    result.action = change('create', dryRun)
    if (!dryRun) {
      try {
        await s3.send(
          new sdk.CreateBucketCommand({
            Bucket,
            // us-east-1 is the default location and must not be named (InvalidLocationConstraint)
            ...(spec.region === 'us-east-1' ? {} : {CreateBucketConfiguration: {LocationConstraint: spec.region as never}}),
            ObjectOwnership: 'BucketOwnerEnforced',
          }),
        )
      } catch (error) {
        // BucketAlreadyOwnedByYou: a concurrent or interrupted run created it
        if (errName(error) === 'BucketAlreadyExists') {
          throw new UsageError(`bucket name ${Bucket} is taken by another AWS account (names are global)`, {fix: 'pass another --bucket', cause: error})
        }
        if (errName(error) !== 'BucketAlreadyOwnedByYou') fail('create')(error)
      }
      // a new bucket already has S3's defaults (Block Public Access on, SSE-S3 since 2023): read them
      exists = true
    }
  }
  // A bucket that does not exist yet (dry run) has none of the settings.
  const UNSUPPORTED = Symbol('unsupported')
  const read = async <T>(fn: () => Promise<T>, missing: string[]): Promise<T | undefined | typeof UNSUPPORTED> => {
    if (!exists) return undefined
    try {
      return await fn()
    } catch (error) {
      if (missing.includes(errName(error)) || missing.includes((error as {Code?: string}).Code ?? '')) return undefined
      if (isNotImplemented(error)) return UNSUPPORTED
      return fail('read the settings of')(error) as never
    }
  }
  const unsupported = (setting: BucketResult['settings'][number]['setting'], what: string) =>
    result.settings.push({setting, action: 'unsupported', detail: `${what}: not supported by this S3-compatible store`})

  // Block Public Access
  const pab = {BlockPublicAcls: true, IgnorePublicAcls: true, BlockPublicPolicy: true, RestrictPublicBuckets: true}
  const pabRead = await read(() => s3.send(new sdk.GetPublicAccessBlockCommand({Bucket, ...owner})), ['NoSuchPublicAccessBlockConfiguration'])
  if (pabRead === UNSUPPORTED) unsupported('public-access-block', 'Block Public Access')
  else {
    const curPab = pabRead
    const pabOk = curPab?.PublicAccessBlockConfiguration && Object.entries(pab).every(([k, v]) => curPab.PublicAccessBlockConfiguration![k as keyof typeof pab] === v)
    const pabAction: Change = pabOk ? 'unchanged' : change(curPab ? 'update' : 'create', dryRun)
    if (!pabOk && !dryRun) await write('block public access on', () => s3.send(new sdk.PutPublicAccessBlockCommand({Bucket, PublicAccessBlockConfiguration: pab, ...owner})))
    result.settings.push({setting: 'public-access-block', action: pabAction, detail: 'all four Block Public Access settings on'})
  }

  // Default encryption
  const encRead = await read(() => s3.send(new sdk.GetBucketEncryptionCommand({Bucket, ...owner})), ['ServerSideEncryptionConfigurationNotFoundError'])
  if (encRead === UNSUPPORTED) {
    unsupported('encryption', 'default encryption')
    if (spec.kmsKey) result.kmsKey = spec.kmsKey
  } else {
    const curEnc = encRead
    const rule = curEnc?.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault
    // --kms-key omitted: the key an earlier run (or the owner) set stays
    const kept = spec.kmsKey === undefined && rule?.SSEAlgorithm === 'aws:kms' && rule.KMSMasterKeyID ? rule.KMSMasterKeyID : undefined
    const kmsKey = spec.kmsKey ?? kept
    if (kmsKey) result.kmsKey = kmsKey
    const wantAlg = kmsKey ? 'aws:kms' : 'AES256'
    const encOk = rule?.SSEAlgorithm === wantAlg && (!kmsKey || rule.KMSMasterKeyID === kmsKey)
    const encAction: Change = encOk ? 'unchanged' : change(curEnc ? 'update' : 'create', dryRun)
    if (!encOk && !dryRun) {
      await write('set default encryption on', () =>
        s3.send(
          new sdk.PutBucketEncryptionCommand({
            Bucket,
            ...owner,
            ServerSideEncryptionConfiguration: {
              Rules: [{ApplyServerSideEncryptionByDefault: kmsKey ? {SSEAlgorithm: 'aws:kms', KMSMasterKeyID: kmsKey} : {SSEAlgorithm: 'AES256'}, BucketKeyEnabled: Boolean(kmsKey)}],
            },
          }),
        ),
      )
  }
  result.settings.push({setting: 'encryption', action: encAction, detail: kmsKey ? `SSE-KMS with ${kmsKey} (S3 Bucket Key${kept ? '; kept: --kms-key omitted' : ''})` : 'SSE-S3 (AES256)'})
  }

  // Lifecycle: abort incomplete multipart uploads (merged with the bucket's other rules)
  const lcRead = await read(() => s3.send(new sdk.GetBucketLifecycleConfigurationCommand({Bucket, ...owner})), ['NoSuchLifecycleConfiguration'])
  if (lcRead === UNSUPPORTED) {
    unsupported('lifecycle', 'the abort-incomplete-multipart-uploads rule')
    return result
  }
  const curLc = lcRead
  const rules = curLc?.Rules ?? []
  const ours = rules.find((r) => r.ID === ABORT_MPU_RULE_ID)
  const lcOk = ours?.Status === 'Enabled' && ours.AbortIncompleteMultipartUpload?.DaysAfterInitiation === ABORT_MPU_DAYS
  const lcAction: Change = lcOk ? 'unchanged' : change(ours ? 'update' : 'create', dryRun)
  if (!lcOk && !dryRun) {
    const mine = {ID: ABORT_MPU_RULE_ID, Status: 'Enabled' as const, Filter: {Prefix: ''}, AbortIncompleteMultipartUpload: {DaysAfterInitiation: ABORT_MPU_DAYS}}
    await write('set the lifecycle rule on', () => s3.send(new sdk.PutBucketLifecycleConfigurationCommand({Bucket, ...owner, LifecycleConfiguration: {Rules: [...rules.filter((r) => r.ID !== ABORT_MPU_RULE_ID), mine]}})))
  }
  result.settings.push({setting: 'lifecycle', action: lcAction, detail: `abort incomplete multipart uploads after ${ABORT_MPU_DAYS} days (rule ${ABORT_MPU_RULE_ID})`})
  return result
}
