/** Types of iam-server.mjs: a loopback IAM + STS Query endpoint (AWS_ENDPOINT_URL_IAM / _STS). */
export interface IamServer {
  endpoint: string
  account: string
  roles: Map<string, {trust: string; policies: Map<string, string>; created: string; attached?: Set<string>}>
  oidc: Set<string>
  requests: Array<{action: string; params: Record<string, string>; auth: boolean}>
  deny(action: string | undefined): void
  stop(): Promise<void>
}
export function startIamServer(opts?: {account?: string}): Promise<IamServer>
