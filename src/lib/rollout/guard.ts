/**
 * Whether a rollout (`aip model rollout`, issue #16) of a model is under way: rollback refuses then,
 * since both would move the same Deployment and gateway weights.
 *
 * WIRING: `model rollout` keeps its state in the cluster; until its code lands, this reads the
 * state where that work said it would keep it: a ConfigMap `aip-rollout-<name>` in the model's
 * namespace whose phase (data.phase, or the annotation aip.dev/rollout-phase) is not a final one.
 * When the rollout code lands, replace the body with its own reader (one owner of that knowledge);
 * the signature stays.
 */
import {NotFoundError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import type {KubeObject} from '../kube/types.js'

export interface RolloutInProgress {
  /** Where the state was read (for the message). */
  source: string
  phase: string
}

/** Phases after which a rollout no longer holds the model. */
const FINAL_PHASES = new Set(['complete', 'completed', 'promoted', 'aborted', 'succeeded', 'failed', 'done'])

export function rolloutStateName(model: string): string {
  return `aip-rollout-${model.replace(/\./g, '-')}`
}

export async function rolloutInProgress(client: KubeClient, namespace: string, name: string, opts: {signal?: AbortSignal} = {}): Promise<RolloutInProgress | undefined> {
  let cm: (KubeObject & {data?: Record<string, string>}) | undefined
  try {
    cm = await client.request(`GET`, `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(rolloutStateName(name))}`, {signal: opts.signal})
  } catch (error) {
    if (error instanceof NotFoundError) return undefined
    throw error
  }
  if (!cm || cm.metadata.deletionTimestamp) return undefined
  const phase = cm.data?.phase ?? cm.metadata.annotations?.['aip.dev/rollout-phase'] ?? 'in progress'
  if (FINAL_PHASES.has(phase.toLowerCase())) return undefined
  return {source: `ConfigMap ${namespace}/${rolloutStateName(name)}`, phase}
}
