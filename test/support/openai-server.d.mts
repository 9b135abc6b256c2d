export type Outcome = 'ok' | 'malformed' | 'truncated' | 'hang' | number

export interface OpenAIServerOptions {
  /** Delay before the first content chunk (ms). */
  ttftMs?: number
  /** Delay between content chunks (ms). */
  itlMs?: number
  /** Completion tokens per response (capped by max_tokens). */
  tokens?: number
  tokensPerChunk?: number
  models?: string[]
  /** Send usage (non-stream) and the usage chunk when stream_options.include_usage. */
  usage?: boolean
  /** Require `Authorization: Bearer <apiKey>`. */
  apiKey?: string
  plan?: (i: number, body: Record<string, unknown>) => Outcome
  errorDelayMs?: number
}

export interface RecordedRequest {
  i: number
  path: string
  body: Record<string, any>
  auth: boolean
  recv: number
  firstWrite?: number
  lastWrite?: number
  outcome: Outcome
  tokens: number
}

export interface OpenAIServer {
  port: number
  url: string
  config: Required<Pick<OpenAIServerOptions, 'ttftMs' | 'itlMs' | 'tokens' | 'models' | 'usage' | 'tokensPerChunk'>> & OpenAIServerOptions
  requests: RecordedRequest[]
  readonly connections: number
  close(): Promise<void>
}

export declare function startOpenAIServer(opts?: OpenAIServerOptions): Promise<OpenAIServer>

export interface SpawnedOpenAIServer {
  port: number
  url: string
  pid: number
  config: OpenAIServer['config']
  /** Server-side records, times converted to this process's performance.now() clock. */
  requests(): Promise<RecordedRequest[]>
  close(): Promise<void>
}

/** The same server in a child process (JSON options only, no `plan`). */
export declare function spawnOpenAIServer(opts?: Omit<OpenAIServerOptions, 'plan'>): Promise<SpawnedOpenAIServer>
