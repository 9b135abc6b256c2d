/**
 * What `aip model status` says about scaling: the autoscaler's bounds, `--idle-after`, "idle since"
 * and the last cold start.
 *
 * - idle since: KEDA's ScaledObject `status.lastActiveTime` (the last poll at which a trigger was
 *   above its activation threshold), shown while the `Active` condition is False. KEDA writes it;
 *   without KEDA (an HPA) there is no such record.
 * - last cold start: of the model's current pods, the newest one that is Ready: from its creation
 *   (scheduling, node provisioning, image pull, weight load, vLLM start-up) to its Ready condition's
 *   lastTransitionTime. Only pods that still exist count (a pod scaled away takes its record with
 *   it), and a pod whose readiness flapped reports its last transition.
 */
import type {KubeObject} from '../kube/index.js'
import {IDLE_AFTER_ANNOTATION} from '../render/scaling.js'

export interface ScalingStatus {
  autoscaler: 'ScaledObject' | 'HorizontalPodAutoscaler' | 'none'
  min?: number
  max?: number
  idleAfterSeconds?: number
  /** KEDA's Active condition. */
  active?: boolean
  /** KEDA status.lastActiveTime, while not active. */
  idleSince?: string
  pausedReplicas?: number
  lastColdStart?: {pod: string; createdAt: string; readyAt: string; seconds: number}
  /** Scale from zero (render/wake.ts): the HTTPScaledObject's request hold and the recorded cold start. */
  wake?: {httpScaledObject: string; holdSeconds?: number; recordedColdStartSeconds?: number}
}

interface Cond {
  type: string
  status: string
  lastTransitionTime?: string
}

export function scalingStatus(objects: KubeObject[], pods: KubeObject[]): ScalingStatus {
  const so = objects.find((o) => o.kind === 'ScaledObject')
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler')
  const out: ScalingStatus = {autoscaler: so ? 'ScaledObject' : hpa ? 'HorizontalPodAutoscaler' : 'none'}
  if (so) {
    const spec = (so.spec ?? {}) as {minReplicaCount?: number; maxReplicaCount?: number}
    const status = (so.status ?? {}) as {lastActiveTime?: string; conditions?: Cond[]}
    out.min = spec.minReplicaCount ?? 0
    out.max = spec.maxReplicaCount ?? 100
    const idle = so.metadata.annotations?.[IDLE_AFTER_ANNOTATION]
    if (idle !== undefined && Number.isFinite(Number(idle))) out.idleAfterSeconds = Number(idle)
    const paused = so.metadata.annotations?.['autoscaling.keda.sh/paused-replicas']
    if (paused !== undefined) out.pausedReplicas = Number(paused)
    const active = status.conditions?.find((c) => c.type === 'Active')
    if (active) out.active = active.status === 'True'
    if (out.active === false && status.lastActiveTime) out.idleSince = status.lastActiveTime
  } else if (hpa) {
    const spec = (hpa.spec ?? {}) as {minReplicas?: number; maxReplicas?: number}
    out.min = spec.minReplicas ?? 1
    out.max = spec.maxReplicas
  }
  const hso = objects.find((o) => o.kind === 'HTTPScaledObject')
  if (hso) {
    const wait = /^(\d+)s$/.exec(String(((hso.spec ?? {}) as {timeouts?: {conditionWait?: string}}).timeouts?.conditionWait ?? ''))?.[1]
    const rec = Number(objects.find((o) => o.kind === 'Deployment')?.metadata.annotations?.['aip.dev/last-cold-start-seconds'])
    out.wake = {httpScaledObject: hso.metadata.name, ...(wait ? {holdSeconds: Number(wait)} : {}), ...(rec > 0 ? {recordedColdStartSeconds: rec} : {})}
  }
  let best: ScalingStatus['lastColdStart']
  for (const p of pods) {
    const created = p.metadata.creationTimestamp as string | undefined
    const ready = ((p.status as {conditions?: Cond[]} | undefined)?.conditions ?? []).find((c) => c.type === 'Ready' && c.status === 'True')
    if (!created || !ready?.lastTransitionTime) continue
    const seconds = Math.max(0, Math.round((Date.parse(ready.lastTransitionTime) - Date.parse(created)) / 1000))
    if (!Number.isFinite(seconds)) continue
    if (!best || Date.parse(created) > Date.parse(best.createdAt)) best = {pod: p.metadata.name, createdAt: created, readyAt: ready.lastTransitionTime, seconds}
  }
  if (best) out.lastColdStart = best
  return out
}
