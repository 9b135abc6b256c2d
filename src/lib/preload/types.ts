/** The preload's options, events and results (the NDJSON events are documented in the README). */
import type {S3Client} from '@aws-sdk/client-s3'

import type {HubClient, HubSibling} from '../hub/index.js'

export const MiB = 1024 * 1024
// 8 MiB: the AWS CLI's multipart_chunksize; 8 in flight keep peak RSS near 220 MiB (bench/preload.mjs)
export const DEFAULT_PART_SIZE = 8 * MiB
export const MIN_PART_SIZE = 5 * MiB
/** LFS files up to this size (at the default part size or larger) go up as one streaming PutObject. */
export const SINGLE_PUT_MAX = 64 * MiB
export const MAX_PARTS = 10_000
/**
 * Hub connections open at once across all files (each large file is read as several part-aligned
 * ranges at once). A CDN edge serves each connection at its own pace (a far or busy one ~10 MiB/s,
 * the case hf_transfer and the Xet client exist for); 10 of them (~100 MiB/s at 10 MiB/s each) match
 * what S3 takes from one client here (bench/preload.mjs, throttled scenario) without being a burden
 * on the Hub, and fit a laptop's and the in-cluster Job's memory (see DEFAULT_CONCURRENCY).
 */
export const DEFAULT_CONNECTIONS = 10
/**
 * Part buffers held at once across all files (a range being read holds one, a part going up too):
 * 10 x 8 MiB keeps peak RSS under 300 MiB whatever the model size (12 reached 288 MiB with the
 * 4 GiB repo of bench/preload.mjs).
 */
export const DEFAULT_CONCURRENCY = 10

export interface PreloadOptions {
  repo: string
  /** Branch, tag or commit (default main). */
  revision?: string
  bucket: string
  prefix?: string
  include?: string[]
  exclude?: string[]
  /** Re-upload everything (aborting unfinished uploads, ignoring complete objects). */
  force?: boolean
  /** Part size in bytes (default 8 MiB, at least 5 MiB; raised for files over 10000 parts). */
  partSize?: number
  /** Part buffers held at once across all files (default 10, at least `connections`): memory is about concurrency x partSize. */
  concurrency?: number
  /** Hub connections open at once across all files (default 10); parts of one file are read in parallel. */
  connections?: number
  /**
   * LFS files of at most this many bytes go up as one streaming PutObject instead of a multipart
   * upload (default 64 MiB when partSize is at least the 8 MiB default, else partSize: a smaller
   * explicit part size asks for multipart granularity).
   */
  singlePutMax?: number
  /** Files transferred at once (default 4). */
  fileConcurrency?: number
  sse?: 'AES256' | 'aws:kms'
  sseKmsKeyId?: string
  storageClass?: string
  /** Attempts to resume a dropped Hub stream (default 5), and per-part upload retries (default 3). */
  streamRetries?: number
  partRetries?: number
  signal?: AbortSignal
  onEvent?: (e: PreloadEvent) => void
  aipVersion?: string
  /** For messages only. */
  s3Endpoint?: string
  /** Test hook: called after each part is uploaded. */
  afterPart?: (info: {path: string; partNumber: number}) => void | Promise<void>
}

export interface PreloadDeps {
  hub: HubClient
  s3: S3Client
}

export interface PreloadFileResult {
  path: string
  key: string
  size: number
  sha256: string
  lfs: boolean
  status: 'uploaded' | 'skipped' | 'resumed'
  /** Bytes not uploaded again thanks to parts of an unfinished upload. */
  resumedBytes: number
}

export interface PreloadResult {
  repo: string
  revision: string
  commit: string
  bucket: string
  uri: string
  markerUri: string
  files: PreloadFileResult[]
  totalBytes: number
  uploadedBytes: number
  skippedBytes: number
  resumedBytes: number
  durationMs: number
  bytesPerSecond: number
  notes: string[]
}

/** NDJSON events (documented in the README): one JSON object per line on stdout with --json. */
export type PreloadEvent =
  | {event: 'plan'; repo: string; revision: string; commit: string; uri: string; files: number; bytes: number; skipFiles: number; skipBytes: number; partSize: number}
  | {event: 'file-skip'; path: string; size: number; reason: 'complete'}
  | {event: 'file-start'; path: string; size: number; key: string; multipart: boolean; resumeParts: number}
  | {event: 'part'; path: string; partNumber: number; bytes: number; reused: boolean}
  | {event: 'file-done'; path: string; size: number; sha256: string; status: 'uploaded' | 'resumed'; resumedBytes: number}
  | {event: 'retry'; path?: string; what: 'hub-stream' | 'part' | 'hub-request'; attempt: number; offset?: number; partNumber?: number; reason: string}
  | {event: 'abort-upload'; path: string; uploadId: string; reason: string}
  | {event: 'marker'; uri: string}
  | {event: 'progress'; bytes: number; totalBytes: number; filesDone: number; files: number}

/** One selected file, its S3 key, and whether a verified object already stands there. */
export interface Planned {
  sib: HubSibling & {size: number}
  key: string
  status?: 'skip'
  sha256?: string
  /** Unfinished multipart uploads of the key, newest first (undefined: the store cannot list them). */
  uploads?: Array<{uploadId: string; initiated?: Date}>
}
