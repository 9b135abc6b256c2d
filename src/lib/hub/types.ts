/** Hugging Face Hub data shapes, configuration and repo-id validation (no I/O). */
import type {Readable} from 'node:stream'

import {UsageError} from '../errors.js'
import {refuseUrlCredentials} from '../http/url.js'

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co'
export const COMMIT_SHA_RE = /^[0-9a-f]{40}$/
const REPO_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/

export interface HubConfig {
  endpoint: string
  token?: string
}

/** Endpoint: HF_ENDPOINT, else the `hf-endpoint` config value, else huggingface.co. Token: HF_TOKEN, else HUGGING_FACE_HUB_TOKEN. */
export function hubConfigFromEnv(env: NodeJS.ProcessEnv = process.env, configValue?: string): HubConfig {
  const endpoint = (env.HF_ENDPOINT || configValue || DEFAULT_HF_ENDPOINT).replace(/\/+$/, '')
  // a token belongs in HF_TOKEN, never in the URL (which ends up in manifests and messages)
  if (URL.canParse(endpoint)) refuseUrlCredentials(new URL(endpoint), env.HF_ENDPOINT ? 'HF_ENDPOINT' : 'hf-endpoint')
  const token = env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined
  return token ? {endpoint, token} : {endpoint}
}

export interface HubLfs {
  sha256: string
  size: number
  pointerSize?: number
}
export interface HubSibling {
  rfilename: string
  size?: number
  /** Git blob id (sha1 of the git object) when the Hub reports it. */
  blobId?: string
  lfs?: HubLfs
}
export interface HubModelInfo {
  id: string
  sha: string
  siblings: HubSibling[]
  gated?: false | 'auto' | 'manual' | boolean
  private?: boolean
}

export interface HubFile {
  /** The response body (web stream). Use `nodeStream()` for a Node Readable. */
  body: ReadableStream<Uint8Array>
  /** HTTP status of the final response (200, or 206 for a Range). */
  status: number
  /** Bytes this response carries. */
  length?: number
  /** Total size of the file (from Content-Range, or Content-Length on a 200). */
  totalSize?: number
  /** First byte offset served. */
  start: number
  etag?: string
  /** Commit the `resolve` answered for (x-repo-commit). */
  commit?: string
  nodeStream(): Readable
}

/** A file opened for streaming over node:http(s) (see HubClient.streamFile). */
export interface HubStream {
  /** The response body as a Node Readable of Buffers. */
  stream: Readable
  status: number
  length?: number
  totalSize?: number
  start: number
  etag?: string
  commit?: string
}

/** The parts of a response the error mapping reads (a fetch Response, or a node:http answer). */

export interface ErrorSource {
  status: number
  headers: {get(name: string): string | null}
  text(): Promise<string>
}

export interface SafetensorsTensor {
  dtype: string
  shape: number[]
  data_offsets?: [number, number]
}
export interface SafetensorsHeader {
  tensors: Record<string, SafetensorsTensor>
  metadata?: Record<string, string>
  /** Length of the JSON header in bytes (data starts at 8 + headerSize). */
  headerSize: number
}
export interface SafetensorsIndex {
  /** Shard file names, sorted, unique. */
  files: string[]
  weightMap?: Record<string, string>
  metadata?: Record<string, unknown>
}
export interface SafetensorsListing {
  files: Array<{path: string; tensors: Record<string, SafetensorsTensor>; metadata?: Record<string, string>}>
  /** Every tensor of every shard, with the shard it lives in. */
  tensors: Record<string, SafetensorsTensor & {file: string}>
  metadata?: Record<string, unknown>
}

export interface HubClientOptions {
  endpoint: string
  token?: string
  fetch?: typeof globalThis.fetch
  userAgent?: string
  /** Attempts for 429/5xx/connection resets (default 5). */
  retries?: number
  /** Upper bound on one wait between retries, ms (default 30000). */
  maxRetryWaitMs?: number
  /** Called before each retry (for progress output). */
  onRetry?: (info: {url: string; status?: number; attempt: number; waitMs: number; reason: string}) => void
}

export type Ctx = {
  repo: string
  revision?: string
  path?: string
  /** The origin of the file storage (CDN) that answered, when the answer came from there and not from the Hub. */
  storage?: string
}

export function validateRepoId(repo: string): void {
  if (!REPO_RE.test(repo)) throw new UsageError(`"${repo}" is not a Hugging Face repo id`, {fix: 'use ORG/NAME, e.g. Qwen/Qwen2.5-0.5B-Instruct'})
}
