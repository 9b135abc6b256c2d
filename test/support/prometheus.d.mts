export interface PromSeries {
  labels: Record<string, string>
  value: number
}
export interface PrometheusServer {
  url: string
  port: number
  dir: string
  query(expr: string): Promise<PromSeries[]>
  waitForTargetsUp(timeoutMs?: number): Promise<void>
  close(): Promise<void>
}
export declare function prometheusBinary(): string | undefined
export declare function prometheusMissingReason(): string | undefined
export declare function startPrometheus(opts: {targets: string[]; scrapeInterval?: string; startupTimeoutMs?: number; backfill?: string; retention?: string}): Promise<PrometheusServer>
