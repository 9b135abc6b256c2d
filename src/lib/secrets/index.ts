/**
 * Secrets aip's workloads reference but never inline: today the Hugging Face token that the preload
 * Job of a gated model reads (Secret `aip-hf-token`, key `token`, in the model's namespace). The
 * value is written with server-side apply and never printed, logged or returned.
 */
import {NotFoundError, UsageError} from '../errors.js'
import type {KubeClient} from '../kube/index.js'
import {COMPONENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PART_OF_LABEL} from '../kube/labels.js'
import {DEFAULT_HF_TOKEN_SECRET} from '../render/common.js'

/** Secrets `aip secret set` knows: the CLI name -> the Secret and key the manifests reference. */
export const KNOWN_SECRETS = {
  'hf-token': {...DEFAULT_HF_TOKEN_SECRET, env: 'HF_TOKEN', what: 'Hugging Face token'},
} as const
export type SecretName = keyof typeof KNOWN_SECRETS

export interface SetSecretOptions {
  client: KubeClient
  name: SecretName
  namespace: string
  value: string
  signal?: AbortSignal
}

export interface SetSecretResult {
  secret: string
  namespace: string
  key: string
  /** created | configured | unchanged (the value itself is never returned) */
  action: string
}

/** Checks a token's shape without echoing it. */
export function validateSecretValue(name: SecretName, value: string): string {
  const v = value.trim()
  const s = KNOWN_SECRETS[name]
  if (!v) throw new UsageError(`the ${s.what} is empty`, {fix: `set $${s.env} or type it at the prompt`})
  if (/\s/.test(v)) throw new UsageError(`the ${s.what} contains whitespace`, {fix: 'paste the token alone (Hugging Face tokens look like hf_...)'})
  return v
}

export async function setSecret(opts: SetSecretOptions): Promise<SetSecretResult> {
  const s = KNOWN_SECRETS[opts.name]
  const value = validateSecretValue(opts.name, opts.value)
  const {applyObjects, getObject} = await import('../kube/index.js')
  if (!(await getObject(opts.client, {apiVersion: 'v1', kind: 'Namespace', name: opts.namespace}))) {
    throw new NotFoundError(`namespace "${opts.namespace}" does not exist`, {fix: 'run `aip cluster bootstrap` first, or pick the model namespace with -n'})
  }
  const [r] = await applyObjects(
    opts.client,
    [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: {name: s.name, namespace: opts.namespace, labels: {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [PART_OF_LABEL]: 'aip', [COMPONENT_LABEL]: 'secret'}},
        type: 'Opaque',
        data: {[s.key]: Buffer.from(value, 'utf8').toString('base64')},
      },
    ],
    {signal: opts.signal, force: true},
  )
  return {secret: s.name, namespace: opts.namespace, key: s.key, action: r!.action}
}
