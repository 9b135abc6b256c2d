/** Types for s3rver.mjs: s3rver on loopback with ListMultipartUploads/ListParts/AbortMultipartUpload added. */
export declare const S3RVER_CREDENTIALS: {accessKeyId: string; secretAccessKey: string}
export declare class S3rverHandle {
  endpoint: string
  directory: string
  /** Keep the directory on stop(). */
  keep?: boolean
  deny: Set<string>
  static start(opts?: {buckets?: string[]; directory?: string; deny?: string[]}): Promise<S3rverHandle>
  stop(): Promise<void>
  /** The next `n` matching requests answer 500 InternalError (after reading their body). */
  failNext(n: number, match?: {method?: string; part?: boolean; key?: string}): {n: number; seen: number; failed: number; lastBodyBytes?: number}
  /** The next `n` matching requests (`query`: a query parameter they carry, e.g. uploadId) are carried out but their answers lost (the connection is cut). */
  loseNextAnswer(n: number, match?: {method?: string; query?: string; key?: string}): {n: number; seen: number; lost: number}
  pendingUploads(bucket: string): Promise<Array<{key: string; uploadId: string; parts: number}>>
}
