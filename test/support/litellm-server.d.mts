/** Types of the loopback LiteLLM proxy (litellm-server.mjs). */
export interface LiteLLMOptions {
  /** default: a random sk- key */
  masterKey?: string
  /** proxy replicas sharing one database (default 2) */
  replicas?: number
  /** how often each replica reloads its router from the database (default 200 ms; LiteLLM: 10 s) */
  syncIntervalMs?: number
  /** maps a model's litellm_params.api_base (an in-cluster URL) to a loopback URL */
  resolveApiBase?: (apiBase: string) => string
  /** router_settings.num_retries: a failed provider call (5xx, 408, 429, connection) is retried this often (default 0) */
  numRetries?: number
  /** litellm_settings.callbacks: a module in `dir` whose `callback` (module.attribute) has async_post_call_failure_hook */
  failureHook?: {dir: string; callback: string; python?: string}
}

export interface Deployment {
  model_name: string
  litellm_params: Record<string, any> & {model: string; api_base?: string}
  model_info: Record<string, any> & {id: string}
}

export interface KeyRecord {
  token: string
  key_name: string
  key_alias: string | null
  team_id: string | null
  models: string[]
  max_budget: number | null
  rpm_limit: number | null
  expires: string | null
  metadata: Record<string, any>
  spend: number
}

export interface LiteLLMReplica {
  readonly url: string
  readonly port: number
  readonly requests: Array<{method: string; path: string}>
  modelNames(): string[]
  modelIds(): string[]
  syncNow(): void
  pauseSync(on?: boolean): void
  goDown(): Promise<void>
  comeBack(): Promise<void>
}

export interface LiteLLMServer {
  masterKey: string
  db: {models: Map<string, Deployment>; keys: Map<string, KeyRecord>; teams: Map<string, Record<string, any>>}
  log: Array<{replica: number; method: string; path: string}>
  replicas: LiteLLMReplica[]
  seedModel(dep: Omit<Deployment, 'model_info'> & {model_info?: Partial<Deployment['model_info']>}): string
  syncAll(): void
  /** requests the OpenAI routes sent to each deployment id (weighted pick as LiteLLM's simple-shuffle), over all replicas */
  deploymentCounts(): Record<string, number>
  resetCounts(): void
  close(): Promise<void>
}

export declare function startLiteLLM(opts?: LiteLLMOptions): Promise<LiteLLMServer>
