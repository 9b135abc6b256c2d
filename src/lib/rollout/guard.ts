/**
 * Whether a rollout (`aip model rollout`, issue #16) of a model is under way: rollback refuses then,
 * since both would move the same Deployment and gateway weights.
 *
 * WIRING: `model rollout` (branch i16-rollout, src/lib/rollout/state.ts) keeps its state in the
 * ConfigMap `aip-rollout-<name>` of the model's namespace, as JSON under data["state.json"] with a
 * `phase` (starting, warming, shifting, promoting, aborting; final: promoted, aborted). Until that
 * code is in this branch, this reads the same place; once both are merged, replace the body with
 * `readState` and its `TERMINAL` set (one owner of that knowledge); the signature stays.
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
  let phase: string | undefined
  try {
    phase = (JSON.parse(cm.data?.['state.json'] ?? 'null') as {phase?: string} | null)?.phase
  } catch {
    phase = undefined // unreadable: counted as in progress (rollout status explains it)
  }
  phase ??= cm.data?.phase ?? cm.metadata.annotations?.['aip.dev/rollout-phase'] ?? 'in progress'
  if (FINAL_PHASES.has(phase.toLowerCase())) return undefined
  return {source: `ConfigMap ${namespace}/${rolloutStateName(name)}`, phase}
}
