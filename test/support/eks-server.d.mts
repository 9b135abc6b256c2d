/** Types of eks-server.mjs: a loopback EKS REST endpoint for e2e tests (AIP_EKS_ENDPOINT). */
export interface EksServerCluster {
  name: string
  /** the Kubernetes API URL DescribeCluster reports (e.g. the loopback API server's url) */
  endpoint: string
  version?: string
  status?: string
  /** base64 CA bundle */
  ca?: string
  nodegroups?: string[]
}
export interface EksServer {
  endpoint: string
  clusters: Map<string, {name: string; status: string; nodegroups: Map<string, {status: string}>}>
  requests: Array<{method: string; path: string; auth: boolean}>
  fail(f: {status: number; type: string; message: string} | undefined): void
  stop(): Promise<void>
}
export function startEksServer(opts?: {clusters?: EksServerCluster[]; region?: string; transitions?: number; createdEndpoint?: string; createdCa?: string}): Promise<EksServer>
