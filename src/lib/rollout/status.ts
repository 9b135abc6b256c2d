/**
 * `aip model rollout status NAME`: the state from the cluster, explained in words, with the live
 * picture: both Deployments' replicas, the weights every gateway replica routes by, and both tracks
 * read from Prometheus over the rollout's interval now.
 */
import {NotFoundError, toAipError} from '../errors.js'
import type {GatewaySyncOptions} from '../gateway/sync.js'
import type {KubeClient} from '../kube/index.js'
import type {PrometheusClient} from '../metrics/prometheus.js'
import {measureTrack} from './gate.js'
import {describeBreaches, describeSteps, type TrackMetrics} from './plan.js'
import {readState, type RolloutState} from './state.js'
import {connect, hasGateway, observedWeights} from './traffic.js'

export interface RolloutStatus {
  model: string
  namespace: string
  phase: RolloutState['phase']
  mode: RolloutState['mode']
  /** what the phase means and what to do */
  explanation: string
  steps: number[]
  plan: string
  weight: number
  changes: string[]
  candidate: RolloutState['candidate'] & {ready?: number; desired?: number}
  stable: RolloutState['stable'] & {ready?: number; desired?: number}
  gates: RolloutState['gates']
  reason?: string
  breaches?: RolloutState['breaches']
  startedAt: string
  updatedAt: string
  /** the gateway's weights now (per id), when it can be reached */
  gateway?: {stable?: number; canary?: number; replicas: number; agree: boolean} | {error: string}
  /** both tracks over the interval now */
  live?: {window: string; candidate?: TrackMetrics; stable: TrackMetrics} | {error: string}
}

export function explain(s: RolloutState): string {
  const resume = `if the command that started it is no longer running, rerun it with the same flags to resume; \`aip model promote ${s.model}\` skips the remaining steps, \`aip model rollout ${s.model} --abort\` stops it`
  switch (s.phase) {
    case 'starting':
      return `the candidate ${s.candidate.deployment} is starting (weights, pods); it takes no traffic yet; ${resume}`
    case 'warming':
      return `the candidate's pods are ready and it is being warmed with a real completion; it takes no traffic yet; ${resume}`
    case 'shifting':
      return s.mode === 'canary' ? `the candidate serves ${s.weight}% of "${s.candidate.servedName}" (step ${s.stepIndex + 1} of ${s.steps.length}); the next gate reads both tracks after ${Math.round(s.intervalMs / 1000)}s; ${resume}` : `${s.stable.deployment} runs the new spec and is being measured; ${resume}`
    case 'promoting':
      return `the candidate passed; ${s.stable.deployment} is taking its spec while the candidate serves; rerun \`aip model promote ${s.model}\` if it was interrupted`
    case 'promoted':
      return `done: ${s.stable.deployment} runs the candidate's spec (${s.candidate.changes.join('; ')}); the canary's objects are gone`
    case 'aborting':
      return `being aborted (${s.reason ?? 'no reason recorded'}); rerun \`aip model rollout ${s.model} --abort\` if it was interrupted`
    case 'aborted':
      return `aborted${s.mode === 'canary' ? ` at ${s.gates.at(-1)?.weight ?? s.weight}%` : ''}: ${s.reason ?? 'no reason recorded'}${s.breaches?.length ? ` (${describeBreaches(s.breaches)})` : ''}; ${s.mode === 'canary' ? 'all traffic is on the stable and the candidate is at 0 replicas' : 'the model runs its previous spec'}`
  }
}

export interface StatusDeps {
  client: KubeClient
  namespace: string
  gateway: Omit<GatewaySyncOptions, 'client' | 'signal'>
  prometheus?: () => Promise<PrometheusClient>
  signal?: AbortSignal
}

async function replicasOf(client: KubeClient, namespace: string, name: string): Promise<{ready?: number; desired?: number}> {
  const {getObject} = await import('../kube/index.js')
  const d = await getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name, namespace})
  if (!d) return {}
  return {ready: (d.status as {readyReplicas?: number} | undefined)?.readyReplicas ?? 0, desired: (d.spec as {replicas?: number} | undefined)?.replicas ?? 1}
}

export async function rolloutStatus(deps: StatusDeps, name: string, opts: {live?: boolean} = {}): Promise<RolloutStatus> {
  const stored = await readState(deps.client, deps.namespace, name, deps.signal)
  if (!stored) throw new NotFoundError(`no rollout of ${name} in namespace ${deps.namespace}`, {fix: `start one: aip model rollout ${name} --revision SHA (or pass -n NAMESPACE)`})
  const s = stored.state
  const out: RolloutStatus = {
    model: s.model,
    namespace: s.namespace,
    phase: s.phase,
    mode: s.mode,
    explanation: explain(s),
    steps: s.steps,
    plan: s.mode === 'canary' ? describeSteps(s.steps) : 'rolling update in place -> gate',
    weight: s.weight,
    changes: s.candidate.changes,
    candidate: {...s.candidate, ...(await replicasOf(deps.client, s.namespace, s.candidate.deployment))},
    stable: {...s.stable, ...(await replicasOf(deps.client, s.namespace, s.stable.deployment))},
    gates: s.gates,
    ...(s.reason ? {reason: s.reason} : {}),
    ...(s.breaches?.length ? {breaches: s.breaches} : {}),
    startedAt: s.startedAt,
    updatedAt: s.updatedAt,
  }
  if (opts.live === false) return out
  if (s.mode === 'canary') {
    const gw = {...deps.gateway, client: deps.client, signal: deps.signal}
    try {
      if (await hasGateway(gw)) {
        const conn = await connect(gw)
        const w = await observedWeights(conn, s.namespace, s.model, deps.signal)
        const first = JSON.stringify(w.perReplica[0]?.ids.slice().sort())
        out.gateway = {stable: w.stable, canary: w.canary, replicas: w.perReplica.length, agree: w.perReplica.every((r) => JSON.stringify(r.ids.slice().sort()) === first)}
      }
    } catch (error) {
      out.gateway = {error: toAipError(error).message}
    }
  }
  if (deps.prometheus) {
    try {
      const prom = await deps.prometheus()
      const ref = (deployment: string) => ({namespace: s.namespace, servedName: s.candidate.servedName, deployment})
      const [stable, candidate] = await Promise.all([measureTrack(prom, ref(s.stable.deployment), s.intervalMs, deps.signal), s.mode === 'canary' && !['promoted', 'aborted'].includes(s.phase) ? measureTrack(prom, ref(s.candidate.deployment), s.intervalMs, deps.signal) : Promise.resolve(undefined)])
      out.live = {window: `${Math.round(s.intervalMs / 1000)}s`, stable, ...(candidate ? {candidate} : {})}
    } catch (error) {
      out.live = {error: toAipError(error).message}
    }
  }
  return out
}
