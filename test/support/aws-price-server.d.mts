/** Types of aws-price-server.mjs: a loopback Price List Query API + EC2 spot price history (AWS_ENDPOINT_URL_PRICING / _EC2). */
export function ec2PriceListItem(p: {instanceType: string; region: string; usd: number; effectiveDate?: string; operatingSystem?: string; operation?: string; gpus?: number}): string
export interface AwsPriceServer {
  endpoint: string
  requests: Array<{api: 'pricing' | 'ec2'; region?: string; body: any}>
  deny(api: 'pricing' | 'ec2', code: string | undefined): void
  stop(): Promise<void>
}
export function startAwsPriceServer(opts?: {
  /** "region/instanceType" -> USD per hour */
  onDemand?: Record<string, number>
  spot?: Array<{region: string; zone: string; instanceType: string; usd: number; timestamp: string}>
}): Promise<AwsPriceServer>
