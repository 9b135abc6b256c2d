/**
 * S3 client factory from configuration (region, profile, endpoint), and the mapping of S3 failures
 * to aip's typed errors. The SDK is imported lazily (about 160 ms at start-up).
 *
 * With a custom endpoint (`--s3-endpoint`, MinIO, s3rver...) the client uses path-style addressing,
 * and checksums are computed only when an operation requires them: newer SDKs otherwise send
 * aws-chunked bodies with trailing CRC32 checksums, which some S3-compatible stores (s3rver) store
 * verbatim. aip verifies content itself (sha256 of every file against the Hub's LFS oid), so it uses
 * WHEN_REQUIRED everywhere, which also keeps multipart uploads free of per-part checksum bookkeeping.
 */
import type {S3Client} from '@aws-sdk/client-s3'

import {checkAwsProfile} from './credentials.js'
import {AipError, networkErrorCode, NotFoundError, UnauthorizedError, UnreachableError, UsageError} from '../errors.js'
import {formatTimeout, httpTimeouts} from '../http/timeouts.js'

export interface S3ClientOptions {
  region?: string
  profile?: string
  /** An S3-compatible endpoint URL; implies path-style addressing unless forcePathStyle is false. */
  endpoint?: string
  forcePathStyle?: boolean
  /** Parallel sockets to S3 (default 64). */
  maxSockets?: number
  /** SDK attempts per request (default 4). */
  maxAttempts?: number
  /** Explicit credentials (tests); otherwise the SDK's default chain (env, profile, SSO, IMDS...). */
  credentials?: {accessKeyId: string; secretAccessKey: string; sessionToken?: string}
}

export async function createS3Client(opts: S3ClientOptions = {}): Promise<S3Client> {
  const [{S3Client}, http, https] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('node:http'),
    import('node:https'),
  ])
  if (!opts.credentials) checkAwsProfile(opts.profile)
  const maxSockets = opts.maxSockets ?? 64
  return new S3Client({
    // A custom endpoint needs some region for signing; us-east-1 is what S3-compatible stores expect.
    region: opts.region ?? (opts.endpoint ? 'us-east-1' : undefined),
    ...(opts.profile ? {profile: opts.profile} : {}),
    ...(opts.credentials ? {credentials: opts.credentials} : {}),
    ...(opts.endpoint ? {endpoint: opts.endpoint, forcePathStyle: opts.forcePathStyle ?? true} : opts.forcePathStyle !== undefined ? {forcePathStyle: opts.forcePathStyle} : {}),
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: opts.maxAttempts ?? 4,
    requestHandler: {
      httpAgent: new http.Agent({keepAlive: true, maxSockets}),
      httpsAgent: new https.Agent({keepAlive: true, maxSockets}),
      // the HTTP timeout policy (lib/http/timeouts.ts): socketTimeout is the idle bound (smithy's
      // requestTimeout bounds a whole request and only warns by default: a long part upload is fine)
      socketTimeout: httpTimeouts().idleMs,
      connectionTimeout: httpTimeouts().connectMs,
    },
  })
}

/** s3://bucket/key */
export function s3Uri(bucket: string, key = ''): string {
  return `s3://${bucket}/${key}`
}

function errName(err: unknown): string {
  return String((err as {name?: string; Code?: string})?.name ?? (err as {Code?: string})?.Code ?? '')
}
export function s3Status(err: unknown): number | undefined {
  return (err as {$metadata?: {httpStatusCode?: number}})?.$metadata?.httpStatusCode
}

/** True for "not implemented by this S3-compatible store" answers. */
export function isNotImplemented(err: unknown): boolean {
  const n = errName(err)
  const s = s3Status(err)
  return n === 'NotImplemented' || n === 'MethodNotAllowed' || s === 501 || s === 405
}

export function isNoSuchKey(err: unknown): boolean {
  const n = errName(err)
  return n === 'NoSuchKey' || n === 'NotFound' || (s3Status(err) === 404 && n !== 'NoSuchBucket')
}

/**
 * Maps an S3/SDK failure to a typed error: NoSuchBucket -> NotFound (4); AccessDenied, bad keys,
 * missing credentials -> Unauthorized (6); connection failures -> Unreachable (5); else FAILED (1).
 */
export function toS3Error(err: unknown, ctx: {bucket: string; key?: string; endpoint?: string; action?: string}): AipError {
  if (err instanceof AipError) return err
  const name = errName(err)
  const status = s3Status(err)
  const what = ctx.key ? `s3://${ctx.bucket}/${ctx.key}` : `bucket ${ctx.bucket}`
  const action = ctx.action ? `${ctx.action} ` : ''
  if (name === 'NoSuchBucket' || (status === 404 && !ctx.key)) {
    return new NotFoundError(`S3 bucket ${ctx.bucket} does not exist${ctx.endpoint ? ` at ${ctx.endpoint}` : ''}`, {
      fix: `create it (aws s3 mb s3://${ctx.bucket}) or pass --bucket / set \`aip config set bucket NAME\``,
      cause: err,
    })
  }
  // the SDK's own checks before any request: not something a rerun fixes
  const sdkMsg = String((err as Error)?.message ?? '')
  if (/Region is missing/i.test(sdkMsg)) {
    return new UsageError('no AWS region for S3', {fix: 'pass --region or set AWS_REGION (config region), or --s3-endpoint for an S3-compatible store', cause: err})
  }
  if (/Bucket name shouldn't contain/i.test(sdkMsg)) {
    return new UsageError(`"${ctx.bucket}" is not an S3 bucket name`, {fix: 'pass the bucket name alone, e.g. my-weights', cause: err})
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(String((err as Error)?.message))) {
    return new UnauthorizedError('no AWS credentials found', {fix: 'set AWS_PROFILE (or --profile) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws sso login`', cause: err})
  }
  if (
    status === 403 ||
    status === 401 ||
    ['AccessDenied', 'Forbidden', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken', 'AllAccessDisabled'].includes(name)
  ) {
    return new UnauthorizedError(`access denied to ${what}${name && name !== 'Forbidden' ? ` (${name})` : ''}`, {
      fix: `use credentials allowed to ${action || 'read and write '}${what} (s3:GetObject, s3:PutObject, s3:ListBucket, s3:ListBucketMultipartUploads, s3:AbortMultipartUpload)`,
      cause: err,
    })
  }
  if (name === 'TimeoutError') {
    // the SDK's connectionTimeout / requestTimeout (socket idle) of the timeout policy
    return new UnreachableError(`S3${ctx.endpoint ? ` at ${ctx.endpoint}` : ''} did not answer: timed out after ${formatTimeout(httpTimeouts().idleMs)} (${action}${what})`.replace(' ()', ''), {
      fix: 'check the network, --region and --s3-endpoint, or raise http-timeout (AIP_HTTP_TIMEOUT)',
      cause: err,
    })
  }
  const net = networkErrorCode(err)
  if (net) {
    return new UnreachableError(`cannot reach S3${ctx.endpoint ? ` at ${ctx.endpoint}` : ''} (${net})`, {fix: 'check the network, --region and --s3-endpoint', cause: err})
  }
  const msg = (err as Error)?.message || name || String(err)
  return new AipError('FAILED', `S3 ${action}${what} failed: ${msg}`, {fix: 'retry; rerun resumes where it stopped', cause: err})
}
