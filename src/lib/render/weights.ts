/**
 * Where a model's weights are in S3: the layout `aip model preload` writes (src/lib/preload/layout.ts),
 * so the server, the in-cluster preload Job and the CLI preload agree:
 *
 *   s3://BUCKET/PREFIX/ORG--NAME/COMMIT/...               files at a commit
 *   s3://BUCKET/PREFIX/ORG--NAME/COMMIT/.aip-preload.json the marker, written last
 *   s3://BUCKET/PREFIX/ORG--NAME/refs/REVISION            the commit a branch/tag resolved to
 *
 * A pinned revision (40-hex sha) renders a fixed path; a branch is resolved in the pod at start
 * (refs/REVISION), because nothing at render time may contact S3 or the Hub.
 */
import {MARKER_NAME, MARKER_SCHEMA, weightsLocation as preloadLocation} from '../preload/layout.js'

export {MARKER_NAME, MARKER_SCHEMA}

export interface WeightsLocationInput {
  bucket: string
  prefix: string
  repo: string
  revision: string
}

export interface WeightsLocation {
  bucket: string
  /** PREFIX/ORG--NAME (every commit of the model) */
  modelKey: string
  revision: string
  pinned: boolean
  /** Set when pinned: PREFIX/ORG--NAME/COMMIT/ */
  keyPrefix?: string
  /** Set when pinned: s3://BUCKET/PREFIX/ORG--NAME/COMMIT/ (what vLLM loads) */
  uri?: string
  /** Set when pinned: the marker's key. */
  markerKey?: string
  /** Set for a branch/tag: the key holding the commit it resolved to. */
  refKey?: string
  /** For display: the uri, or s3://BUCKET/PREFIX/ORG--NAME/<REVISION> for a branch. */
  display: string
}

export function weightsLocation(input: WeightsLocationInput): WeightsLocation {
  const l = preloadLocation({bucket: input.bucket, prefix: input.prefix, repo: input.repo, revision: input.revision})
  const pinned = Boolean(l.commit)
  return {
    bucket: input.bucket,
    modelKey: l.modelKey,
    revision: input.revision,
    pinned,
    ...(pinned ? {keyPrefix: l.keyPrefix, uri: l.uri, markerKey: l.markerKey} : {refKey: l.refKey}),
    display: pinned ? l.uri! : `s3://${input.bucket}/${l.modelKey}/@${input.revision}`,
  }
}

/** What the in-pod scripts need to find one model's (or adapter's) weights. */
export function weightsRef(loc: WeightsLocation, extra: Record<string, string> = {}): Record<string, string> {
  return {modelKey: loc.modelKey, revision: loc.revision, ...extra}
}
