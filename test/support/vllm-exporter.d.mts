export type Labels = Record<string, string>
export type Value = number | (() => number)

export declare const TTFT_BUCKETS: number[]
export declare const ITL_BUCKETS: number[]
export declare const E2E_BUCKETS: number[]

/** Prometheus's histogram_quantile (v2.42) on NON-cumulative counts (last entry = +Inf bucket). */
export declare function promHistogramQuantile(q: number, bounds: number[], counts: number[]): number

export interface VllmPodOptions {
  model: string
  pod?: string
  namespace?: string
  /** Non-cumulative per-second counts over TTFT_BUCKETS (+Inf last). */
  ttftPerSecond?: number[]
  itlPerSecond?: number[]
  e2ePerSecond?: number[]
  generationPerSecond?: number
  promptPerSecond?: number
  running?: Value
  waiting?: Value
  kvUsage?: Value
  /** finished_reason -> requests per second (default {stop: 3, length: 1}). */
  finishedPerSecond?: Record<string, number>
  /** Only the deprecated names (gpu_cache_usage_perc, time_per_output_token_seconds). */
  legacy?: boolean
}

export interface DcgmGpuOptions {
  pod: string
  namespace: string
  gpu?: number
  util: Value
  fbUsedMiB: Value
  fbFreeMiB: Value
}

export interface VllmExporter {
  port: number
  /** host:port for a scrape config */
  target: string
  url: string
  readonly scrapes: number
  waitForScrapes(n?: number): Promise<void>
  render(): string
  set(name: string, labels: Labels, value: Value): void
  counterRate(name: string, labels: Labels, perSecond: number): void
  histogram(name: string, labels: Labels, bounds: number[], counts: number[], sum?: number): void
  histogramRate(name: string, labels: Labels, bounds: number[], perSecond: number[], sumPerSecond?: number): void
  remove(name: string, labels?: Labels): void
  clear(): void
  vllmPod(o: VllmPodOptions): Labels
  dcgmGpu(o: DcgmGpuOptions): void
  close(): Promise<void>
}

export declare function startVllmExporter(): Promise<VllmExporter>
