/**
 * Every configuration key aip knows, with its environment variable, default and validation.
 * Resolution order (first wins): flag > AIP_* env (then the ecosystem's own variable, e.g.
 * AWS_REGION, HF_ENDPOINT) > ./aip.yaml > ~/.config/aip/config.yaml > default.
 */
import {gpuNames} from '../gpufit/gpus.js'
import {isDns1123Label, SERVICE_REF} from '../names.js'
import {parseDuration} from './parse.js'

export type ConfigValue = string | number | boolean

export interface KeyDef {
  key: string
  description: string
  type: 'string' | 'number' | 'duration' | 'url'
  /** AIP_* variable first, then well-known ones of the ecosystem. */
  env: string[]
  default?: ConfigValue
  /** The command-line flag that sets it, where it is not --KEY (named in errors). */
  flag?: string
  /** Secret keys are never stored in config files and never printed. */
  secret?: boolean
  validate?: (v: ConfigValue) => string | undefined
}

const fraction = (v: ConfigValue) =>
  typeof v === 'number' && v > 0 && v <= 1 ? undefined : 'must be a number in (0, 1], e.g. 0.9'

const dnsLabel = (v: ConfigValue) =>
  isDns1123Label(String(v)) ? undefined : 'must be a Kubernetes namespace name: lowercase letters, digits and "-", at most 63, e.g. aip-models'
// A bucket name, not a URL or a path. The naming rules are the store's to enforce: legacy us-east-1
// buckets may hold capitals and underscores, and S3-compatible stores differ.
export const bucketNameProblem = (v: ConfigValue): string | undefined => {
  const s = String(v)
  if (/^s3:\/\//i.test(s)) return `must be the bucket name alone, e.g. ${s.replace(/^s3:\/\//i, '').split('/')[0]} (the key prefix is \`prefix\`)`
  return s.length > 0 && !/[/\s]/.test(s) ? undefined : 'must be a bucket name (no "/" or spaces), e.g. my-weights; the key prefix is `prefix`'
}
// A region code: us-east-1, eu-central-2, us-gov-west-1, or an S3-compatible store's own ("auto")
const region = (v: ConfigValue) =>
  /^[a-z0-9]+(-[a-z0-9]+)*$/.test(String(v)) ? undefined : 'must be a region code, e.g. us-east-1'

// Tenants as cluster bootstrap takes them: NAME[=GPUS], comma-separated
const tenantList = (v: ConfigValue) =>
  String(v)
    .split(',')
    .map((t) => t.trim())
    .every((t) => {
      const [name = '', gpus, ...rest] = t.split('=')
      return isDns1123Label(name) && (gpus === undefined || /^\d+$/.test(gpus)) && rest.length === 0
    })
    ? undefined
    : 'must be tenants as NAME[=GPUS], comma-separated, e.g. team-a=4,team-b=2'

// EKS CreateCluster `name`: 1-100 characters, pattern ^[0-9A-Za-z][A-Za-z0-9\-_]*
// (https://docs.aws.amazon.com/eks/latest/APIReference/API_CreateCluster.html)
const eksClusterName = (v: ConfigValue) =>
  /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/.test(String(v)) ? undefined : 'must be an EKS cluster name: letters, digits, "-" and "_", starting with a letter or digit, at most 100, e.g. aip'
// The S3 key prefix: leading and trailing "/" are dropped (src/lib/preload/layout.ts normalizePrefix);
// the parts between must be real path segments, as the in-pod download scripts use them as paths
const keyPrefix = (v: ConfigValue) => {
  const parts = String(v).replace(/^\/+|\/+$/g, '')
  if (parts === '') return undefined
  return parts.split('/').every((p) => p !== '' && p !== '.' && p !== '..' && !/[\s\u0000-\u001f\\]/.test(p))
    ? undefined
    : 'must be an S3 key prefix such as models or team-a/models (no empty, "." or ".." parts, no spaces)'
}
// The GPU types gpu-fit and deploys know (src/lib/gpufit/gpus.ts); `model deploy` still checks its own catalog list
const gpuType = (v: ConfigValue) => {
  const names = gpuNames()
  return names.includes(String(v)) ? undefined : `must be a known GPU type: ${names.join(', ')}`
}
const serviceRef = (v: ConfigValue) => (SERVICE_REF.test(String(v).trim()) ? undefined : 'must be a service as NAMESPACE/NAME:PORT, e.g. monitoring/prometheus-operated:9090')

// http-timeout bounds every request, a TLS handshake included: under a second nothing answers in time
const atLeastOneSecond = (v: ConfigValue) => (parseDuration(String(v)) < 1000 ? 'must be at least 1s (it bounds every HTTP request; the default is 30s)' : undefined)

export const CONFIG_KEYS: readonly KeyDef[] = [
  {key: 'cluster', description: 'EKS cluster name', type: 'string', env: ['AIP_CLUSTER'], default: 'aip', flag: 'name', validate: eksClusterName},
  {key: 'region', description: 'AWS region', type: 'string', env: ['AIP_REGION', 'AWS_REGION', 'AWS_DEFAULT_REGION'], validate: region},
  {key: 'profile', description: 'AWS shared-config profile', type: 'string', env: ['AIP_PROFILE', 'AWS_PROFILE']},
  {key: 'kubeconfig', description: 'path to the kubeconfig file', type: 'string', env: ['AIP_KUBECONFIG', 'KUBECONFIG']},
  {key: 'context', description: 'kubeconfig context', type: 'string', env: ['AIP_CONTEXT']},
  {key: 'namespace', description: 'namespace for model workloads', type: 'string', env: ['AIP_NAMESPACE'], default: 'aip-models', validate: dnsLabel},
  {key: 'gateway-namespace', description: 'namespace allowed to call model endpoints', type: 'string', env: ['AIP_GATEWAY_NAMESPACE'], default: 'aip-gateway', validate: dnsLabel},
  {key: 'gateway-url', description: 'gateway (LiteLLM) base URL for admin calls, e.g. a port-forward (default: its load balancer / route address)', type: 'url', env: ['AIP_GATEWAY_URL']},
  {key: 'monitoring-namespace', description: 'namespace where Prometheus runs', type: 'string', env: ['AIP_MONITORING_NAMESPACE'], default: 'monitoring', validate: dnsLabel},
  {key: 'bucket', description: 'S3 bucket that holds model weights', type: 'string', env: ['AIP_BUCKET'], validate: bucketNameProblem},
  {key: 'prefix', description: 'S3 key prefix under which models are stored', type: 'string', env: ['AIP_PREFIX'], default: 'models', validate: keyPrefix},
  {key: 's3-endpoint', description: 'S3-compatible endpoint URL (default: AWS)', type: 'url', env: ['AIP_S3_ENDPOINT', 'AWS_ENDPOINT_URL_S3']},
  {key: 'hf-endpoint', description: 'Hugging Face Hub URL', type: 'url', env: ['AIP_HF_ENDPOINT', 'HF_ENDPOINT'], default: 'https://huggingface.co'},
  {key: 'prometheus-url', description: 'Prometheus base URL (default: reach it through the cluster)', type: 'url', env: ['AIP_PROMETHEUS_URL'], flag: 'prometheus'},
  {key: 'prices', description: 'where `aip cost` takes instance prices: auto (cached AWS prices, AWS when credentials are configured, else the built-in table), aws, built-in, or a price table FILE', type: 'string', env: ['AIP_PRICES'], default: 'auto'},
  {key: 'prometheus-service', description: 'Prometheus service as NAMESPACE/NAME:PORT for in-cluster access', type: 'string', env: ['AIP_PROMETHEUS_SERVICE'], default: 'monitoring/prometheus-operated:9090', validate: serviceRef},
  {key: 'tenants', description: 'tenant namespaces for cluster bootstrap, NAME[=GPUS] comma-separated (--tenant wins)', type: 'string', env: ['AIP_TENANTS'], validate: tenantList},
  {key: 'preload-image', description: 'image of the preload Job (python3; default a pinned python slim image)', type: 'string', env: ['AIP_PRELOAD_IMAGE']},
  {key: 'gpu', description: 'default GPU type for gpu-fit and deploys', type: 'string', env: ['AIP_GPU'], validate: gpuType},
  {key: 'gpu-memory-utilization', description: 'fraction of GPU memory vLLM may use', type: 'number', env: ['AIP_GPU_MEMORY_UTILIZATION'], default: 0.9, validate: fraction},
  {key: 'timeout', description: 'default wait timeout (e.g. 15m)', type: 'duration', env: ['AIP_TIMEOUT'], default: '15m'},
  {key: 'http-timeout', description: 'how long any HTTP peer (API server, Hub, S3, Prometheus, gateway) may stay silent, and an API server unreachable during a wait, before aip gives up (exit 5)', type: 'duration', env: ['AIP_HTTP_TIMEOUT'], default: '30s', validate: atLeastOneSecond},
]

export const KEY_NAMES = CONFIG_KEYS.map((k) => k.key)

export function keyDef(key: string): KeyDef | undefined {
  return CONFIG_KEYS.find((k) => k.key === key)
}
