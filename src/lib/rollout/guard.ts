/**
 * Whether a rollout (`aip model rollout`) of a model is under way: rollback refuses then, since
 * both would move the same Deployment and gateway weights. The rollout's state is read where it
 * keeps it (state.ts: ConfigMap `aip-rollout-<name>`, phase starting ... aborting); promoted and
 * aborted rollouts (TERMINAL) no longer hold the model. An unreadable state counts as in progress
 * (`aip model rollout status` explains it).
 */
import {AipError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import {readState, stateName, TERMINAL} from './state.js'

export interface RolloutInProgress {
  /** Where the state was read (for the message). */
  source: string
  phase: string
  /** The candidate's share of the traffic now (percent), when known. */
  weight?: number
}

export async function rolloutInProgress(client: KubeClient, namespace: string, name: string, opts: {signal?: AbortSignal} = {}): Promise<RolloutInProgress | undefined> {
  const source = `ConfigMap ${namespace}/${stateName(name)}`
  let stored
  try {
    stored = await readState(client, namespace, name, opts.signal)
  } catch (error) {
    if (error instanceof AipError && error.code === 'FAILED') return {source, phase: 'unreadable state'}
    throw error
  }
  if (!stored || TERMINAL.has(stored.state.phase)) return undefined
  return {source, phase: stored.state.phase, weight: stored.state.weight}
}
