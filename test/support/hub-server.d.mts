/** Types for hub-server.mjs (a loopback Hugging Face Hub for tests and benchmarks). */
export interface SeededSpec {
  size: number
  seed?: number
  /** Served as an LFS file (redirect + sha256 oid). Default: *.safetensors/*.bin/... or > 10 MiB. */
  lfs?: boolean
}
export type FileSpec = Buffer | string | SeededSpec

export interface HubFileRecord {
  path: string
  size: number
  sha256: string
  blobId: string
  lfs: boolean
  buffer?: Buffer
  seed?: number
}

export interface TensorSpec {
  name: string
  dtype: string
  shape: number[]
}

export declare function seededChunk(seed: number, offset: number, length: number): Buffer
export declare function seededBytes(size: number, seed: number): Buffer
export declare function makeSafetensors(tensors: TensorSpec[], opts?: {metadata?: Record<string, string>; seed?: number}): Buffer
export declare function buildFiles(files: Record<string, FileSpec>): Map<string, HubFileRecord>

export interface RequestRecord {
  method: string
  url: string
  range?: string
  auth: boolean
  file?: string
  content?: boolean
  /** A content request refused for its signature (expired or revoked URL). */
  refused?: boolean
}

export declare class HubServer {
  url: string
  requests: RequestRecord[]
  tokens: Set<string>
  static start(opts?: {tokens?: string[]; bytesPerSecondPerConnection?: number}): Promise<HubServer>
  stop(): Promise<void>
  addRepo(
    id: string,
    opts: {files: Record<string, FileSpec>; revision?: string; commit?: string; salt?: string; gated?: boolean; private?: boolean; allow?: string[]},
  ): {id: string; commit: string; files: Map<string, HubFileRecord>}
  repos: Map<string, {id: string; commits: Map<string, Map<string, HubFileRecord>>; refs: Map<string, string>; gated: boolean; private: boolean; allow: Set<string>}>
  faults: {rate429: number; retryAfter: string; drops: Map<string, {afterBytes: number; times: number}>; corrupt: Map<string, number>; bytesPerSec: number}
  clearFaults(): void
  rateLimitNext(n: number, retryAfter?: number): void
  dropConnection(path: string, afterBytes: number, times?: number): void
  corruptFile(path: string, offset?: number): void
  throttle(bytesPerSec: number): void
  contentRequests(path: string): RequestRecord[]
  /** The most content responses of `path` (of all files without one) served at the same time (since resetConcurrency). */
  rangeConcurrency(path?: string): number
  resetConcurrency(): void
  /** Lifetime of the signed content URLs `resolve` redirects to (X-Amz-Expires; default 3600). */
  cdnUrlTtlSeconds: number
  /** Every content URL handed out so far is refused from now on (403 AccessDenied). */
  revokeCdnUrls(): void
  /** TCP connections accepted so far. */
  connectionsOpened: number
  /** `resolve` requests for `path`. */
  resolveRequests(path: string): RequestRecord[]
}
