import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {bucketNameProblem} from './lib/config/keys.js'
import {UsageError} from './lib/errors.js'
import {modelNameProblem} from './lib/names.js'

/**
 * The NAME argument of the commands that act on a deployed model. Checked before anything reaches
 * the cluster: an empty name would select by the label aip.dev/model alone, i.e. every model in
 * the namespace, and a name no model can have is a typo to report as one (exit 2), not a
 * "not deployed" from the API server.
 */
async function parseModelName(input: string): Promise<string> {
  const problem = modelNameProblem(input)
  if (problem) throw new UsageError(input === '' ? 'model NAME is empty' : `"${input}" ${problem}`, {fix: 'pass the name `aip model list` shows, e.g. qwen3-8b'})
  return input
}

export function modelNameArg(description = 'model name (aip model list)') {
  return Args.string({description, required: true, parse: parseModelName})
}

/** The same, for a command where NAME is one of two ways to name the target (model bench). */
export function optionalModelNameArg(description: string) {
  return Args.string({description, parse: parseModelName})
}

/**
 * A flag or argument given as an empty string (`--bucket ""`, `--gpu "$UNSET_VAR"`): aip would
 * otherwise read it as "not given" and fall back to the default or the configuration, which is
 * rarely what the caller meant (a CI variable that was never set). Returns the usage error, or
 * undefined when every value is non-empty.
 */
export function emptyValueError(flags: Record<string, unknown>, args: Record<string, unknown>): UsageError | undefined {
  for (const [name, v] of Object.entries(flags)) {
    if (v === '' || (Array.isArray(v) && v.includes(''))) {
      return new UsageError(`--${name} is empty`, {fix: `give --${name} a value, or leave the flag out for the default`})
    }
  }
  for (const [name, v] of Object.entries(args)) {
    if (v === '') return new UsageError(`${name.toUpperCase()} is empty`, {fix: `give ${name.toUpperCase()} a value (see --help)`})
  }
  return undefined
}

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

/** vLLM and model settings that `model deploy` and `model rollout` share (one definition). */
export const vllmFlags = {
  gpu: Flags.string({description: 'GPU type: l4, a10g, l40s, a100-40gb, a100-80gb, h100, h200, b200', helpGroup: 'MODEL'}),
  gpus: Flags.integer({description: 'GPUs per replica (tensor-parallel size)', aliases: ['tp'], min: 1, max: 8, helpGroup: 'MODEL'}),
  'max-model-len': Flags.integer({description: 'vLLM --max-model-len (context length)', min: 1, helpGroup: 'MODEL'}),
  'max-num-seqs': Flags.integer({description: 'vLLM --max-num-seqs (concurrent sequences per replica)', min: 1, helpGroup: 'MODEL'}),
  revision: Flags.string({description: 'Hub revision: a commit sha (recommended) or branch', helpGroup: 'MODEL'}),
  image: Flags.string({description: 'vLLM image with a pinned tag', helpGroup: 'MODEL'}),
  dtype: Flags.string({description: 'vLLM --dtype', options: ['auto', 'bfloat16', 'float16', 'float32', 'half'], helpGroup: 'MODEL'}),
  quantization: Flags.string({description: 'vLLM --quantization (e.g. awq, gptq, fp8)', helpGroup: 'MODEL'}),
  'kv-cache-dtype': Flags.string({description: 'vLLM --kv-cache-dtype', options: ['auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2'], helpGroup: 'MODEL'}),
  'tool-call-parser': Flags.string({description: 'vLLM --tool-call-parser (enables auto tool choice)', helpGroup: 'MODEL'}),
}

/** Where the weights live in S3 (`model deploy`, `model rollout`). */
export const storageFlags = {
  bucket: Flags.string({description: 'S3 bucket holding the weights (config: bucket)', helpGroup: 'STORAGE'}),
  prefix: Flags.string({description: 'S3 key prefix (config: prefix, default models)', helpGroup: 'STORAGE'}),
}

/** A flag naming an S3 bucket (teardown --delete-bucket, bootstrap --bucket): the same rule as config `bucket`, checked before anything runs. */
export function bucketFlag(opts: {description: string; helpGroup?: string}) {
  return Flags.string({
    ...opts,
    parse: async (input: string, ctx) => {
      const problem = input === '' ? undefined : bucketNameProblem(input)
      if (problem) throw new UsageError(`--${ctx.token?.flag ?? 'bucket'} "${input}" ${problem}`, {fix: 'pass the bucket name alone, e.g. my-scratch-weights'})
      return input
    },
  })
}
