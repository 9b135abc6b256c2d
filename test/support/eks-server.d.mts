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
  /** EKS Auto Mode (computeConfig.enabled) */
  computeConfig?: {enabled: boolean}
}
export interface EksServer {
  endpoint: string
  clusters: Map<string, {name: string; status: string; computeConfig?: {enabled?: boolean; nodePools?: string[]; nodeRoleArn?: string}; resourcesVpcConfig?: Record<string, unknown>; nodegroups: Map<string, {status: string; amiType?: string; instanceTypes?: string[]; taints?: unknown[]}>}>
  requests: Array<{method: string; path: string; auth: boolean; body?: any}>
  associations(cluster: string): Array<{namespace: string; serviceAccount: string; roleArn: string; associationId: string}>
  addons(cluster: string): string[]
  fail(f: {status: number; type: string; message: string} | undefined): void
  stop(): Promise<void>
}
export function startEksServer(opts?: {clusters?: EksServerCluster[]; region?: string; transitions?: number; createdEndpoint?: string; createdCa?: string}): Promise<EksServer>
