/**
 * s3rver (real S3 protocol) on loopback for tests, plus an S3 client pointed at it. The launcher is
 * plain JS (s3rver.mjs) so benchmarks use the same one.
 */
import type {S3Client} from '@aws-sdk/client-s3'

import {createS3Client} from '../../src/lib/aws/s3.js'
import {S3RVER_CREDENTIALS, S3rverHandle} from './s3rver.mjs'

export * from './s3rver.mjs'

/** The AWS env a spawned CLI needs to talk to s3rver. */
export function s3rverEnv(): NodeJS.ProcessEnv {
  return {AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1'}
}

/** A real SDK client for s3rver (the same factory the CLI uses), with s3rver's credentials. */
export async function s3rverClient(h: S3rverHandle, creds = S3RVER_CREDENTIALS): Promise<S3Client> {
  // explicit credentials: tests must not depend on the developer's AWS environment
  return await createS3Client({endpoint: h.endpoint, region: 'us-east-1', credentials: creds})
}

/** Every object in a bucket: key -> bytes. */
export async function bucketContents(client: S3Client, bucket: string): Promise<Map<string, Buffer>> {
  const {ListObjectsV2Command, GetObjectCommand} = await import('@aws-sdk/client-s3')
  const out = new Map<string, Buffer>()
  let token: string | undefined
  do {
    const page = await client.send(new ListObjectsV2Command({Bucket: bucket, ContinuationToken: token}))
    for (const o of page.Contents ?? []) {
      const obj = await client.send(new GetObjectCommand({Bucket: bucket, Key: o.Key!}))
      out.set(o.Key!, Buffer.from(await obj.Body!.transformToByteArray()))
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return out
}
