/**
 * Where preloaded weights live in S3 (the Hugging Face cache layout, in a bucket):
 *
 *   s3://BUCKET/PREFIX/ORG--NAME/COMMIT/PATH               every file of the repo at that commit
 *   s3://BUCKET/PREFIX/ORG--NAME/COMMIT/.aip-preload.json  the marker, written last, only when every
 *                                                          file is verified (sha256 / size)
 *   s3://BUCKET/PREFIX/ORG--NAME/refs/REVISION             text: the commit sha a branch/tag resolved to
 *
 * A commit directory is immutable content, so reruns, resumes and several clusters can share it.
 * `model deploy` points vLLM (or the preload Job) at `uri` and checks the marker first.
 */
import type {S3Client} from '@aws-sdk/client-s3'

import {NotFoundError} from '../errors.js'

export const MARKER_NAME = '.aip-preload.json'
export const MARKER_SCHEMA = 'aip.dev/preload/v1'
const COMMIT = /^[0-9a-f]{40}$/

export interface PreloadMarkerFile {
  path: string
  size: number
  sha256: string
  lfs: boolean
}
export interface PreloadMarker {
  schema: typeof MARKER_SCHEMA
  repo: string
  revision: string
  commit: string
  files: PreloadMarkerFile[]
  totalBytes: number
  include: string[]
  exclude: string[]
  completedAt: string
  aipVersion: string
}

export interface WeightsLocationInput {
  bucket: string
  prefix?: string
  repo: string
  /** A 40-hex commit sha pins the location; a branch/tag needs `resolveWeightsLocation` (reads refs/). */
  revision?: string
}
export interface WeightsLocation {
  bucket: string
  /** Key prefix of the model (all commits): PREFIX/ORG--NAME */
  modelKey: string
  /** Key of the ref object for a branch/tag revision. */
  refKey?: string
  commit?: string
  /** Key prefix of the weights, ending with '/': PREFIX/ORG--NAME/COMMIT/ (when the commit is known). */
  keyPrefix?: string
  /** s3://BUCKET/PREFIX/ORG--NAME/COMMIT/ (when the commit is known): what vLLM loads. */
  uri?: string
  markerKey?: string
  markerUri?: string
}

export function normalizePrefix(prefix: string | undefined): string {
  return (prefix ?? 'models').replace(/^\/+|\/+$/g, '')
}

/** ORG/NAME -> ORG--NAME (as the Hugging Face cache names models). */
export function modelDirName(repo: string): string {
  return repo.replace(/\//g, '--')
}

export function weightsLocation(input: WeightsLocationInput): WeightsLocation {
  const prefix = normalizePrefix(input.prefix)
  const modelKey = `${prefix ? `${prefix}/` : ''}${modelDirName(input.repo)}`
  const rev = input.revision ?? 'main'
  const loc: WeightsLocation = {bucket: input.bucket, modelKey}
  if (COMMIT.test(rev)) return withCommit(loc, rev)
  loc.refKey = `${modelKey}/refs/${rev}`
  return loc
}

export function withCommit(loc: WeightsLocation, commit: string): WeightsLocation {
  const keyPrefix = `${loc.modelKey}/${commit}/`
  return {
    ...loc,
    commit,
    keyPrefix,
    uri: `s3://${loc.bucket}/${keyPrefix}`,
    markerKey: `${keyPrefix}${MARKER_NAME}`,
    markerUri: `s3://${loc.bucket}/${keyPrefix}${MARKER_NAME}`,
  }
}

async function getText(s3: S3Client, bucket: string, key: string): Promise<string | undefined> {
  const {GetObjectCommand} = await import('@aws-sdk/client-s3')
  try {
    const res = await s3.send(new GetObjectCommand({Bucket: bucket, Key: key}))
    return await res.Body!.transformToString('utf8')
  } catch (err) {
    const name = (err as {name?: string}).name
    if (name === 'NoSuchKey' || name === 'NotFound' || (err as {$metadata?: {httpStatusCode?: number}}).$metadata?.httpStatusCode === 404) {
      if (name === 'NoSuchBucket') throw err
      return undefined
    }
    throw err
  }
}

/** The marker at `key`, or undefined when there is none (the weights are not completely preloaded). */
export async function readPreloadMarker(s3: S3Client, bucket: string, key: string): Promise<PreloadMarker | undefined> {
  const text = await getText(s3, bucket, key)
  if (text === undefined) return undefined
  try {
    const m = JSON.parse(text) as PreloadMarker
    return m && m.schema === MARKER_SCHEMA && COMMIT.test(m.commit) && Array.isArray(m.files) ? m : undefined
  } catch {
    return undefined
  }
}

/**
 * The location of preloaded weights with their marker, following refs/REVISION for a branch/tag.
 * NotFoundError (exit 4) when the model was not (completely) preloaded.
 */
export async function resolveWeightsLocation(s3: S3Client, input: WeightsLocationInput): Promise<WeightsLocation & {marker: PreloadMarker}> {
  let loc = weightsLocation(input)
  const fix = `run \`aip model preload hf:${input.repo}${input.revision ? ` --revision ${input.revision}` : ''} --bucket ${input.bucket}\``
  if (!loc.commit) {
    const sha = (await getText(s3, input.bucket, loc.refKey!))?.trim()
    if (!sha || !COMMIT.test(sha)) throw new NotFoundError(`${input.repo}@${input.revision ?? 'main'} has not been preloaded to s3://${input.bucket}/${loc.modelKey}/`, {fix})
    loc = withCommit(loc, sha)
  }
  const marker = await readPreloadMarker(s3, input.bucket, loc.markerKey!)
  if (!marker) throw new NotFoundError(`no complete preload of ${input.repo}@${loc.commit} at ${loc.uri} (marker ${MARKER_NAME} missing)`, {fix})
  return {...loc, marker}
}
