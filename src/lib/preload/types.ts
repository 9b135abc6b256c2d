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
 * Hub connections open at once across all files (each large file is read as several ranges at
 * once). A CDN edge serves each connection at its own pace (a far or busy one ~10 MiB/s, the case
 * hf_transfer and the Xet client exist for), so the copy runs at about connections x that pace
 * until S3 or the link is the limit. The Hub's own clients open more: huggingface_hub runs
 * hf_transfer with max_files=HF_TRANSFER_CONCURRENCY=100 range requests of DOWNLOAD_CHUNK_SIZE=10 MiB
 * per file (huggingface_hub constants.py, file_download.py http_get), and the Xet client adapts
 * between 1 and HF_XET_CLIENT_AC_MAX_DOWNLOAD_CONCURRENCY=64 streams, starting at 4
 * (xet-core xet_runtime/src/config/groups/client.rs). 32 reach ~320 MiB/s at 10 MiB/s each, more than
 * one client's S3 upload takes (bench/preload.mjs), with ranges small enough (DEFAULT_RANGE_SIZE)
 * that they hold 64 MiB between them: the same default fits a laptop and the in-cluster Job.
 */
export const DEFAULT_CONNECTIONS = 32
/**
 * Bytes of one Hub range request. Smaller than a part so that many connections hold few bytes
 * (memory is what the in-order sha256 makes wait, see DEFAULT_CONCURRENCY); large enough that one
 * request's round trip is small next to its transfer (2 MiB at 10 MiB/s: 200 ms; the signed CDN URL
 * is reused, so a range costs no redirect).
 */
export const DEFAULT_RANGE_SIZE = 2 * MiB
/**
 * The memory budget in part-size units: bytes of parts and ranges held at once across all files
 * (a part's bytes from when its ranges start until it is both hashed in file order and uploaded).
 * 8 x 8 MiB = 64 MiB: the 32 default connections' 2 MiB ranges, which is more than the sink takes
 * here (~15 connections at 10 MiB/s fill it), and peak RSS under 300 MiB whatever the model size
 * (bench/preload.mjs: the CLI holds ~170-190 MiB besides, garbage included, at full speed; 12 x 8 MiB
 * reached 282 MiB and 16 x 8 MiB 290 MiB on a loaded machine, 8 x 8 MiB 248 MiB).
 */
export const DEFAULT_CONCURRENCY = 8

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
  /** The memory budget in parts (default 8): bytes held at once across all files are at most concurrency x partSize. */
  concurrency?: number
  /** Hub connections open at once across all files (default 32); ranges of one file are read in parallel. */
  connections?: number
  /** Bytes per Hub range request (default 2 MiB, at most the part size). */
  rangeSize?: number
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
  /** Budgets serve lower numbers first (unset: 0; the run leaves every file at 0, first come, first served). */
  priority?: number
  /** Unfinished multipart uploads of the key, newest first (undefined: the store cannot list them). */
  uploads?: Array<{uploadId: string; initiated?: Date}>
}
