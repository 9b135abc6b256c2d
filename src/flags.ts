import * as Flags from '@oclif/core/flags'

/** Flags that several commands share, named as kubectl, helm and eksctl name them. */
export const kubeFlags = {
  kubeconfig: Flags.string({description: 'path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)', helpGroup: 'KUBERNETES'}),
  context: Flags.string({description: 'kubeconfig context to use', helpGroup: 'KUBERNETES'}),
  namespace: Flags.string({char: 'n', description: 'namespace for model workloads (default: aip-models)', helpGroup: 'KUBERNETES'}),
}

export const awsFlags = {
  region: Flags.string({description: 'AWS region (default: $AWS_REGION)', helpGroup: 'AWS'}),
  profile: Flags.string({description: 'AWS profile (default: $AWS_PROFILE)', helpGroup: 'AWS'}),
}

export const waitFlags = {
  wait: Flags.boolean({description: 'wait until the operation has completed', default: true, allowNo: true}),
  timeout: Flags.string({description: 'how long to wait, e.g. 90s, 10m, 1h (default: 15m)'}),
}

export const yesFlag = {
  yes: Flags.boolean({char: 'y', description: 'answer yes to confirmations (required without a TTY)', default: false}),
}

/** How commands reach the gateway's admin API (LiteLLM). The master key: AIP_GATEWAY_MASTER_KEY or the Secret. */
export const gatewayFlags = {
  'gateway-url': Flags.string({description: 'gateway base URL (e.g. http://127.0.0.1:4000 with kubectl port-forward -n aip-gateway svc/litellm 4000:4000); default: its load balancer address', helpGroup: 'GATEWAY'}),
}
