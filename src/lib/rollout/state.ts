/**
 * The rollout's state lives in the cluster (ConfigMap `aip-rollout-<model>` in the model's
 * namespace), so the CLI that started it, a CI job and a person all see the same rollout, and a
 * rerun after Ctrl-C resumes it. Every write is a compare-and-swap on the ConfigMap's
 * resourceVersion (a PUT with a stale resourceVersion answers 409 Conflict:
 * https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions), so `promote` or
 * `--abort` from another terminal is seen by the running rollout instead of being overwritten.
 */
import type {CatalogEntry} from '../catalog/schema.js'
import {AipError, ConflictError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {COMPONENT_LABEL, modelLabels} from '../kube/labels.js'
import {objectName} from '../render/common.js'
import type {Breach, GateLimits, GateResult} from './plan.js'

export type Phase =
  /** the candidate's objects are applied; waiting for its weights and pods */
  | 'starting'
  /** pods ready; one real completion is being sent */
  | 'warming'
  /** the candidate serves `weight`% through the gateway */
  | 'shifting'
  /** the stable takes the candidate's spec */
  | 'promoting'
  | 'promoted'
  | 'aborting'
  | 'aborted'

export const TERMINAL: ReadonlySet<Phase> = new Set(['promoted', 'aborted'])

export interface RolloutState {
  version: 1
  model: string
  namespace: string
  /** canary: a second Deployment beside the stable; in-place: the stable's own rolling update (--surge 0) */
  mode: 'canary' | 'in-place'
  phase: Phase
  /** the flags that identify this rollout (a rerun with the same ones resumes) */
  fingerprint: string
  steps: number[]
  intervalMs: number
  limits: GateLimits
  /** the candidate's share now (0 before the first step) */
  weight: number
  /** index in `steps` of the share reached (-1 before the first) */
  stepIndex: number
  candidate: {deployment: string; revision: string; image: string; replicas: number; gpus: number; servedName: string; changes: string[]}
  stable: {deployment: string; revision?: string; image?: string; generation?: number}
  /** the flags the candidate was given on top of the stable's (for status and resume) */
  overrides: Record<string, unknown>
  gates: GateResult[]
  startedAt: string
  updatedAt: string
  /** why it was aborted (breach, no data, an operator) */
  reason?: string
  breaches?: Breach[]
  /** the resolved entries: promote and abort need no flags */
  candidateEntry: CatalogEntry
  stableEntry?: CatalogEntry
}

export function stateName(model: string): string {
  return `aip-rollout-${objectName(model)}`
}

const KEY = 'state.json'

export interface StoredState {
  state: RolloutState
  resourceVersion?: string
}

export async function readState(client: KubeClient, namespace: string, model: string, signal?: AbortSignal): Promise<StoredState | undefined> {
  const {getObject} = await import('../kube/index.js')
  const cm = await getObject(client, {apiVersion: 'v1', kind: 'ConfigMap', name: stateName(model), namespace})
  if (!cm || signal?.aborted) return undefined
  const text = (cm.data as Record<string, string> | undefined)?.[KEY]
  if (!text) return undefined
  try {
    return {state: JSON.parse(text) as RolloutState, resourceVersion: cm.metadata.resourceVersion}
  } catch {
    throw new AipError('FAILED', `ConfigMap ${namespace}/${stateName(model)} does not hold a readable rollout state`, {fix: `delete it (kubectl -n ${namespace} delete configmap ${stateName(model)}) and check the model with aip model status ${model}`})
  }
}

function body(s: RolloutState, resourceVersion?: string): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {name: stateName(s.model), namespace: s.namespace, labels: modelLabels(s.model, {[COMPONENT_LABEL]: 'rollout'}), ...(resourceVersion ? {resourceVersion} : {})},
    data: {[KEY]: JSON.stringify(s)},
  }
}

/** Thrown when someone else changed the state since it was read (promote/abort from elsewhere). */
export class StateChangedError extends ConflictError {}

/**
 * Writes the state: created when `expected` is undefined, else replaced only if nobody wrote since
 * (resourceVersion). Returns the new resourceVersion.
 */
export async function writeState(client: KubeClient, s: RolloutState, expected: string | undefined): Promise<string> {
  s.updatedAt = new Date().toISOString()
  const base = `/api/v1/namespaces/${encodeURIComponent(s.namespace)}/configmaps`
  try {
    const out = expected === undefined ? await client.request<KubeObject>('POST', base, {body: body(s)}) : await client.request<KubeObject>('PUT', `${base}/${stateName(s.model)}`, {body: body(s, expected)})
    return out.metadata.resourceVersion ?? ''
  } catch (error) {
    if (error instanceof ConflictError || (error instanceof AipError && (error.details as {status?: number} | undefined)?.status === 409)) {
      throw new StateChangedError(`the rollout state of ${s.model} changed while this command ran (promote or abort from elsewhere?)`, {fix: `see it with aip model rollout status ${s.model}`, cause: error})
    }
    throw error
  }
}

/** Replaces a finished (or unreadable) state with a new one regardless of its version. */
export async function replaceState(client: KubeClient, s: RolloutState): Promise<string> {
  const {getObject} = await import('../kube/index.js')
  const cm = await getObject(client, {apiVersion: 'v1', kind: 'ConfigMap', name: stateName(s.model), namespace: s.namespace})
  return writeState(client, s, cm?.metadata.resourceVersion)
}
