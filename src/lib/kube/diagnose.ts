/**
 * Why a workload does not become ready: read from pod status and events, the way an operator
 * reads `kubectl describe pod` and `kubectl logs --previous`.
 */
import type {KubeClient} from './client.js'
import {formatSelector} from './labels.js'
import type {KubeObject} from './types.js'

export type StallReason =
  | 'Unschedulable'
  | 'ImagePullBackOff'
  | 'ErrImagePull'
  | 'InvalidImageName'
  | 'CreateContainerConfigError'
  | 'OOMKilled'
  | 'CrashLoopBackOff'
  | 'Error'

export interface KubeEventInfo {
  type: string
  reason: string
  message: string
  object: string
  count?: number
}

export interface Diagnosis {
  reason: StallReason
  /** One line for humans, e.g. `pod qwen3-8b-5d9f-abc: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu.` */
  message: string
  pod: string
  container?: string
  restartCount?: number
  exitCode?: number
  /** Last log lines of the crashing container (CrashLoopBackOff, OOMKilled, Error). */
  logTail?: string[]
  /** Warning events of the pod, newest last. */
  events: KubeEventInfo[]
  /**
   * Unschedulable: why new nodes did not come (Karpenter / EKS Auto Mode record launch failures as
   * Warning events on their NodeClaims, e.g. EC2's VcpuLimitExceeded on an account whose GPU quota is 0).
   */
  provisioning?: KubeEventInfo
}

export interface DiagnoseOptions {
  namespace?: string
  /** Pods of this Deployment (its spec.selector.matchLabels) ... */
  deployment?: string
  /** ... or pods matching this selector. */
  selector?: string | Record<string, string>
  /** Log lines to fetch for crashing containers (default 20). */
  logLines?: number
  signal?: AbortSignal
}

interface ContainerStatus {
  name: string
  restartCount?: number
  state?: {waiting?: {reason?: string; message?: string}; terminated?: {reason?: string; exitCode?: number; message?: string}}
  lastState?: {terminated?: {reason?: string; exitCode?: number; message?: string}}
}

const WAITING_REASONS = new Set(['ImagePullBackOff', 'ErrImagePull', 'InvalidImageName', 'CreateContainerConfigError', 'CrashLoopBackOff'])
const SEVERITY: Record<StallReason, number> = {OOMKilled: 0, CrashLoopBackOff: 1, ImagePullBackOff: 2, ErrImagePull: 2, InvalidImageName: 2, CreateContainerConfigError: 3, Error: 4, Unschedulable: 5}

/** The most telling cause of a stall among the workload's pods, or undefined when none is visible. */
export async function diagnoseWorkload(client: KubeClient, opts: DiagnoseOptions): Promise<Diagnosis | undefined> {
  const ns = opts.namespace ?? client.namespace
  let selector = opts.selector ? formatSelector(opts.selector) : undefined
  if (opts.deployment) {
    const dep = await client.request<KubeObject>('GET', `/apis/apps/v1/namespaces/${ns}/deployments/${opts.deployment}`, {signal: opts.signal})
    const ml = ((dep.spec as {selector?: {matchLabels?: Record<string, string>}}).selector?.matchLabels) ?? {}
    selector = formatSelector(ml)
  }
  const pods = (await client.request<{items: KubeObject[]}>('GET', `/api/v1/namespaces/${ns}/pods`, {query: {labelSelector: selector}, signal: opts.signal})).items
  const found: Array<Omit<Diagnosis, 'events'>> = []
  for (const pod of pods) {
    const name = pod.metadata.name
    const status = (pod.status ?? {}) as {conditions?: Array<{type: string; status: string; reason?: string; message?: string}>; containerStatuses?: ContainerStatus[]}
    const sched = status.conditions?.find((c) => c.type === 'PodScheduled')
    if (sched && sched.status === 'False' && sched.reason === 'Unschedulable') {
      found.push({reason: 'Unschedulable', message: `pod ${name} is Pending, Unschedulable: ${sched.message ?? 'no node fits'}`, pod: name})
    }
    for (const cs of status.containerStatuses ?? []) {
      const w = cs.state?.waiting
      const last = cs.lastState?.terminated
      const term = cs.state?.terminated
      if (term?.reason === 'OOMKilled' || (w?.reason === 'CrashLoopBackOff' && last?.reason === 'OOMKilled')) {
        found.push({reason: 'OOMKilled', message: `container ${cs.name} of pod ${name} was killed for running out of memory (OOMKilled, ${cs.restartCount ?? 0} restarts)`, pod: name, container: cs.name, restartCount: cs.restartCount, exitCode: (term ?? last)?.exitCode})
      } else if (w?.reason && WAITING_REASONS.has(w.reason)) {
        const exit = w.reason === 'CrashLoopBackOff' && last ? `, last exit code ${last.exitCode}${last.reason ? ` (${last.reason})` : ''}` : ''
        found.push({
          reason: w.reason as StallReason,
          message: `container ${cs.name} of pod ${name}: ${w.reason}${w.message ? `: ${w.message}` : ''}${exit}${w.reason === 'CrashLoopBackOff' ? `, ${cs.restartCount ?? 0} restarts` : ''}`,
          pod: name,
          container: cs.name,
          restartCount: cs.restartCount,
          exitCode: last?.exitCode,
        })
      } else if (term && term.exitCode !== 0 && term.reason) {
        found.push({reason: 'Error', message: `container ${cs.name} of pod ${name} exited with code ${term.exitCode}${term.message ? `: ${term.message}` : ''}`, pod: name, container: cs.name, exitCode: term.exitCode})
      }
    }
  }
  if (found.length === 0) return undefined
  found.sort((a, b) => SEVERITY[a.reason] - SEVERITY[b.reason])
  const d: Diagnosis = {...found[0], events: []}
  const evs = await client.request<{items: Array<KubeObject & {type?: string; reason?: string; message?: string; count?: number; involvedObject?: {kind?: string; name?: string}}>}>('GET', `/api/v1/namespaces/${ns}/events`, {
    query: {fieldSelector: `involvedObject.name=${d.pod}`},
    signal: opts.signal,
  })
  d.events = evs.items
    .filter((e) => e.type === 'Warning')
    .map((e) => ({type: e.type ?? 'Warning', reason: e.reason ?? '', message: e.message ?? '', object: `${e.involvedObject?.kind ?? 'Pod'}/${e.involvedObject?.name ?? d.pod}`, count: e.count}))
  if (d.reason === 'Unschedulable') {
    // the scheduler's event, as `kubectl describe pod` shows it: Warning FailedScheduling <FitError>
    const fs = d.events.filter((e) => e.reason === 'FailedScheduling').pop()
    if (fs) d.message = `pod ${d.pod} is Pending, FailedScheduling: ${fs.message}`
    d.provisioning = await nodeLaunchFailure(client, opts.signal)
    if (d.provisioning) d.message += `; node launch failed (${d.provisioning.object}): ${d.provisioning.reason}: ${d.provisioning.message}`
  }
  if ((d.reason === 'CrashLoopBackOff' || d.reason === 'OOMKilled' || d.reason === 'Error') && d.container) {
    try {
      const text = await client.request<string>('GET', `/api/v1/namespaces/${ns}/pods/${d.pod}/log`, {
        query: {container: d.container, tailLines: opts.logLines ?? 20, previous: d.reason === 'Error' ? undefined : 'true'},
        text: true,
        signal: opts.signal,
      })
      d.logTail = text.replace(/\n$/, '').split('\n').filter((l, i, a) => l !== '' || i < a.length - 1)
    } catch {
      // logs are a bonus: a pod without a previous container has none
    }
  }
  return d
}

/**
 * The newest Warning event on a Karpenter NodeClaim (karpenter.sh; EKS Auto Mode's too): a launch
 * that EC2 refused, e.g. `InsufficientCapacityError` with "VcpuLimitExceeded: You have requested more
 * vCPU capacity than your current vCPU limit of 0 allows". Events of cluster-scoped objects live in
 * the `default` namespace; reading them cluster-wide may be forbidden to a tenant: then none.
 */
async function nodeLaunchFailure(client: KubeClient, signal?: AbortSignal): Promise<KubeEventInfo | undefined> {
  type Ev = {type?: string; reason?: string; message?: string; count?: number; lastTimestamp?: string; eventTime?: string; metadata?: {creationTimestamp?: string}; involvedObject?: {kind?: string; name?: string}}
  const list = await client.request<{items?: Ev[]}>('GET', '/api/v1/events', {query: {fieldSelector: 'involvedObject.kind=NodeClaim,type=Warning'}, signal}).catch(() => undefined)
  const time = (e: Ev) => Date.parse(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '') || 0
  const e = (list?.items ?? []).sort((a, b) => time(a) - time(b)).pop()
  return e ? {type: 'Warning', reason: e.reason ?? '', message: e.message ?? '', object: `NodeClaim/${e.involvedObject?.name ?? '?'}`, count: e.count} : undefined
}
