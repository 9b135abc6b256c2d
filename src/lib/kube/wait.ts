/**
 * Watch-based waits (list, then watch from the list's resourceVersion; resume after a dropped
 * stream from the last seen resourceVersion; relist on 410 Gone, as client-go's reflector does).
 * No polling: the end state is seen as soon as the API server reports it.
 */
import {setMaxListeners} from 'node:events'

import {AipError, InterruptedError, NotFoundError, TimeoutError, UnreachableError} from '../errors.js'
import {formatTimeout, httpTimeouts} from '../http/timeouts.js'
import type {KubeClient} from './client.js'
import {diagnoseWorkload, type Diagnosis, type KubeEventInfo} from './diagnose.js'
import type {KubeObject, ObjectRef} from './types.js'
import {refString} from './types.js'

export interface WaitOptions<P> {
  /** Give up after this long (TimeoutError, exit 7). Default 15 minutes. */
  timeoutMs?: number
  /** Give up when the API server stays unreachable this long (UnreachableError, exit 5). Default: the HTTP timeout policy (30 s). */
  outageMs?: number
  signal?: AbortSignal
  onProgress?: (p: P) => void
}

type Verdict<R> = {done: true; value: R} | {done: false; message: string}

/**
 * Watches one object until `check` says done. `check` sees the object (undefined once it is gone).
 * Returns the value; throws TimeoutError with the last message on timeout.
 */
export async function watchObjectUntil<R>(
  client: KubeClient,
  ref: ObjectRef,
  check: (obj: KubeObject | undefined) => Verdict<R>,
  opts: {timeoutMs?: number; outageMs?: number; signal?: AbortSignal; onMessage?: (msg: string, obj: KubeObject | undefined) => void; describeTimeout?: (last: KubeObject | undefined, msg: string) => Promise<TimeoutError>},
): Promise<R> {
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000
  const outageMs = opts.outageMs ?? httpTimeouts().idleMs
  // when the API server went away (this wait's own view; the client's tracker says it to the user)
  let downSince: number | undefined
  let lastOutage: UnreachableError | undefined
  const lostFor = (error: UnreachableError): number => {
    const now = Date.now()
    downSince ??= now
    lastOutage = error
    return Math.max(client.outage?.lost(error) ?? 0, now - downSince)
  }
  const answered = (): void => {
    downSince = undefined
    client.outage?.back()
  }
  const outageError = (downMs: number): UnreachableError =>
    new UnreachableError(`lost the API server at ${client.server} for ${formatTimeout(downMs)} while waiting for ${refString(ref)}${lastOutage ? `: ${lastOutage.message}` : ''}`, {
      fix: 'check the cluster and the network (aip cluster status), then rerun the command: it continues from the current state',
      cause: lastOutage,
      details: {outage: true, ref, downMs, lastState: lastMsg},
    })
  const path = await client.pathFor({...ref, name: undefined})
  const fieldSelector = `metadata.name=${ref.name}`
  const internal = new AbortController()
  let timedOut = false
  const timer = setTimeout(() => {
    timedOut = true
    internal.abort()
  }, timeoutMs)
  const onAbort = (): void => internal.abort()
  opts.signal?.addEventListener('abort', onAbort, {once: true})
  let last: KubeObject | undefined
  let lastMsg = 'waiting'
  let lastReported = ''
  const evaluate = (obj: KubeObject | undefined): Verdict<R> => {
    last = obj
    const v = check(obj)
    if (!v.done) {
      lastMsg = v.message
      if (v.message !== lastReported) {
        lastReported = v.message
        opts.onMessage?.(v.message, obj)
      }
    }
    return v
  }
  try {
    let rv: string | undefined
    let needList = true
    let failures = 0
    for (;;) {
      if (internal.signal.aborted) break
      try {
        if (needList) {
          const list = await client.request<{metadata: {resourceVersion: string}; items: KubeObject[]}>('GET', path, {query: {fieldSelector}, signal: internal.signal})
          answered()
          rv = list.metadata.resourceVersion
          const v = evaluate(list.items[0] ? {...list.items[0], apiVersion: ref.apiVersion, kind: ref.kind} : undefined)
          if (v.done) return v.value
          needList = false
        }
        let result: {value: R} | undefined
        let gone = false
        const stream = await client.watch(
          path,
          {fieldSelector, resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: Math.max(1, Math.ceil(timeoutMs / 1000))},
          (type, obj) => {
            if (result || gone) return
            if (type === 'ERROR') {
              // 410 Gone / Expired: our resourceVersion is older than the server's history: relist.
              gone = true
              needList = true
              stream.close()
              return
            }
            if (obj?.metadata?.resourceVersion) rv = obj.metadata.resourceVersion
            if (type === 'BOOKMARK') return
            const v = evaluate(type === 'DELETED' ? undefined : {...obj, apiVersion: ref.apiVersion, kind: ref.kind})
            if (v.done) {
              result = {value: v.value}
              stream.close()
            }
          },
          internal.signal,
        )
        failures = 0
        answered()
        await stream.done
        if (result) return result.value
      } catch (error) {
        if (internal.signal.aborted) break
        if (error instanceof UnreachableError) {
          // The API server went away: say so (once, through the client), back off and relist; past
          // the outage bound it is exit 5 naming the outage, never a stuck object or a timeout.
          const downMs = lostFor(error)
          if (downMs >= outageMs) throw outageError(downMs)
          failures++
          needList = true
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** failures, Math.max(0, outageMs - downMs))))
          continue
        }
        if (error instanceof AipError && error.code === 'FAILED' && (error.details as {status?: number} | undefined)?.status === 410) {
          // history expired: relist
          failures++
          needList = true
          await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** failures)))
          continue
        }
        throw error
      }
    }
    if (timedOut && downSince !== undefined) throw outageError(Date.now() - downSince) // the deadline passed during an outage: the outage is the news
    if (timedOut) {
      throw opts.describeTimeout
        ? await opts.describeTimeout(last, lastMsg)
        : new TimeoutError(`timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${refString(ref)}: ${lastMsg}`, {fix: 'raise --timeout, or inspect the object with kubectl describe', details: {ref, lastState: lastMsg}})
    }
    throw new InterruptedError()
  } finally {
    clearTimeout(timer)
    opts.signal?.removeEventListener('abort', onAbort)
    internal.abort()
  }
}

export interface RolloutProgress {
  message: string
  desired: number
  updated: number
  ready: number
  available: number
  observedGeneration?: number
  generation?: number
}

export interface RolloutResult extends RolloutProgress {
  name: string
  namespace: string
}

interface DeploymentShape {
  metadata: {name: string; generation?: number}
  spec?: {replicas?: number}
  status?: {observedGeneration?: number; replicas?: number; updatedReplicas?: number; readyReplicas?: number; availableReplicas?: number; conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
}

/**
 * kubectl's rollout status logic (k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go,
 * DeploymentStatusViewer): done when the controller observed the current generation, every
 * replica is updated, no old replica is left and all updated replicas are available.
 */
export function rolloutStatus(dep: KubeObject): {done: boolean; failed?: boolean; message: string; progress: RolloutProgress} {
  const d = dep as unknown as DeploymentShape
  const s = d.status ?? {}
  const name = d.metadata.name
  const progress: RolloutProgress = {
    message: '',
    desired: d.spec?.replicas ?? 1,
    updated: s.updatedReplicas ?? 0,
    ready: s.readyReplicas ?? 0,
    available: s.availableReplicas ?? 0,
    observedGeneration: s.observedGeneration,
    generation: d.metadata.generation,
  }
  const out = (done: boolean, message: string, failed?: boolean) => ({done, failed, message, progress: {...progress, message}})
  if ((d.metadata.generation ?? 0) <= (s.observedGeneration ?? -1)) {
    const cond = s.conditions?.find((c) => c.type === 'Progressing')
    if (cond?.reason === 'ProgressDeadlineExceeded') return out(false, `deployment "${name}" exceeded its progress deadline`, true)
    if (d.spec?.replicas !== undefined && progress.updated < d.spec.replicas) {
      return out(false, `Waiting for deployment "${name}" rollout to finish: ${progress.updated} out of ${d.spec.replicas} new replicas have been updated...`)
    }
    if ((s.replicas ?? 0) > progress.updated) return out(false, `Waiting for deployment "${name}" rollout to finish: ${(s.replicas ?? 0) - progress.updated} old replicas are pending termination...`)
    if (progress.available < progress.updated) return out(false, `Waiting for deployment "${name}" rollout to finish: ${progress.available} of ${progress.updated} updated replicas are available...`)
    return out(true, `deployment "${name}" successfully rolled out`)
  }
  return out(false, 'Waiting for deployment spec update to be observed...')
}

export interface RolloutWaitOptions extends WaitOptions<RolloutProgress> {
  name: string
  namespace?: string
  /** Diagnose pods on timeout or failure (default true). */
  diagnose?: boolean
}

/**
 * Waits until a Deployment is rolled out and available (kubectl rollout status). On timeout:
 * TimeoutError (exit 7) naming the last state and, from pod status and events, the cause
 * (details.diagnosis). ProgressDeadlineExceeded fails at once (AipError FAILED).
 */
export async function waitForRollout(client: KubeClient, opts: RolloutWaitOptions): Promise<RolloutResult> {
  const namespace = opts.namespace ?? client.namespace
  const ref: ObjectRef = {apiVersion: 'apps/v1', kind: 'Deployment', name: opts.name, namespace}
  let lastProgress: RolloutProgress | undefined
  const diagnose = async (): Promise<Diagnosis | undefined> => (opts.diagnose === false ? undefined : diagnoseWorkload(client, {namespace, deployment: opts.name, signal: opts.signal}).catch(() => undefined))
  const value = await watchObjectUntil<RolloutProgress | {failed: string}>(
    client,
    ref,
    (obj) => {
      if (!obj) return {done: false, message: `waiting for deployment "${opts.name}" to exist`}
      const st = rolloutStatus(obj)
      lastProgress = st.progress
      if (st.failed) return {done: true, value: {failed: st.message}}
      return st.done ? {done: true, value: st.progress} : {done: false, message: st.message}
    },
    {
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      onMessage: (_m, obj) => {
        if (obj && lastProgress) opts.onProgress?.(lastProgress)
      },
      describeTimeout: async (_last, msg) => {
        const d = await diagnose()
        return new TimeoutError(`timed out waiting for deployment ${namespace}/${opts.name}: ${d ? d.message : msg}`, {
          fix: d ? fixFor(d) : 'raise --timeout (model downloads and loads take minutes) or check the pods: kubectl describe pods -n ' + namespace,
          details: {lastState: lastProgress ?? msg, diagnosis: d},
        })
      },
    },
  )
  if ('failed' in value) {
    const d = await diagnose()
    throw new AipError('FAILED', `${value.failed}${d ? `: ${d.message}` : ''}`, {fix: d ? fixFor(d) : `kubectl describe deployment ${opts.name} -n ${namespace}`, details: {lastState: lastProgress, diagnosis: d}})
  }
  opts.onProgress?.(value)
  return {...value, name: opts.name, namespace}
}

/** A suggested fix for a stall cause. */
export function fixFor(d: Diagnosis): string {
  switch (d.reason) {
    case 'Unschedulable':
      // a GPU node that EC2 refused to launch: the account's vCPU quota per instance family (Service
      // Quotas: L-DB2E81BA On-Demand G and VT, L-417A185B On-Demand P, L-3819A6DF G and VT Spot)
      if (/VcpuLimitExceeded|vCPU limit|MaxSpotInstanceCountExceeded/.test(d.provisioning?.message ?? '')) {
        return "the AWS account's EC2 vCPU quota does not cover the GPU instance: request an increase in Service Quotas (Amazon EC2: Running On-Demand G and VT instances L-DB2E81BA, P instances L-417A185B, or All G and VT Spot Instance Requests L-3819A6DF; new accounts often start at 0), then rerun"
      }
      if (/InsufficientInstanceCapacity|InsufficientCapacity|insufficient capacity/i.test(`${d.provisioning?.reason ?? ''} ${d.provisioning?.message ?? ''}`)) {
        return 'EC2 has no capacity for those GPU instances in the subnets\' zones right now: wait and rerun, add subnets in other zones, allow spot (--capacity-type), or deploy on another --gpu'
      }
      // the scheduler's FitError names each node's failing filter (kube-scheduler framework/types.go)
      if (/Insufficient nvidia\.com\/gpu/.test(d.message)) return 'no node has a free GPU: check the GPU node pool (aip cluster status) or lower the GPU count'
      if (/didn't match Pod's node affinity\/selector/.test(d.message)) return "no node has the GPU type the model selects: check that the GPU node pool can launch it (aip cluster status), or deploy with another --gpu"
      if (/no nodes available/.test(d.message)) return 'the cluster has no nodes: check the node groups / NodePools (aip cluster status)'
      return 'no node fits the pod: check node capacity, taints and the node selector (kubectl describe pod)'
    case 'ImagePullBackOff':
    case 'ErrImagePull':
    case 'InvalidImageName':
      return 'check the image name and tag, and that the nodes can pull it (registry access)'
    case 'OOMKilled':
      return 'raise the memory limit, or lower --max-model-len / max-num-seqs (aip gpu-fit)'
    case 'CrashLoopBackOff':
    case 'Error':
      return `read the logs: kubectl logs ${d.pod}${d.container ? ` -c ${d.container}` : ''} --previous`
    case 'CreateContainerConfigError':
      return 'a referenced Secret or ConfigMap is missing; create it and retry'
  }
}

export interface JobResult {
  name: string
  namespace: string
  status: 'Complete' | 'Failed'
  /** Condition reason (BackoffLimitExceeded, DeadlineExceeded) for failures. */
  reason?: string
  message?: string
  /** Terminated messages / reasons of failed pods (the container's last words). */
  podMessages: string[]
  events: KubeEventInfo[]
}

export interface JobProgress {
  message: string
  active: number
  succeeded: number
  failed: number
}

/**
 * Waits until a Job is Complete or Failed. A failure carries the condition reason, the failing
 * pods' terminated messages and the Job's warning events; it throws (AipError FAILED) unless
 * `throwOnFailure: false`.
 */
export async function waitForJob(client: KubeClient, opts: WaitOptions<JobProgress> & {name: string; namespace?: string; throwOnFailure?: boolean}): Promise<JobResult> {
  const namespace = opts.namespace ?? client.namespace
  const ref: ObjectRef = {apiVersion: 'batch/v1', kind: 'Job', name: opts.name, namespace}
  const r = await watchObjectUntil<{status: 'Complete' | 'Failed'; reason?: string; message?: string}>(
    client,
    ref,
    (obj) => {
      if (!obj) return {done: false, message: `waiting for job "${opts.name}" to exist`}
      const s = (obj.status ?? {}) as {active?: number; succeeded?: number; failed?: number; conditions?: Array<{type: string; status: string; reason?: string; message?: string}>}
      const c = s.conditions?.find((x) => (x.type === 'Complete' || x.type === 'Failed') && x.status === 'True')
      if (c) return {done: true, value: {status: c.type as 'Complete' | 'Failed', reason: c.reason, message: c.message}}
      const message = `job "${opts.name}": ${s.active ?? 0} active, ${s.succeeded ?? 0} succeeded, ${s.failed ?? 0} failed`
      opts.onProgress?.({message, active: s.active ?? 0, succeeded: s.succeeded ?? 0, failed: s.failed ?? 0})
      return {done: false, message}
    },
    {
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      // a Job that never finishes: its pod tells why (Pending on FailedScheduling, ImagePullBackOff ...)
      describeTimeout: async (_last, msg) => {
        const d = await diagnoseWorkload(client, {namespace, selector: {'job-name': opts.name}, signal: opts.signal}).catch(() => undefined)
        return new TimeoutError(`timed out after ${Math.round((opts.timeoutMs ?? 15 * 60_000) / 1000)}s waiting for ${refString(ref)}: ${d ? d.message : msg}`, {
          fix: d ? fixFor(d) : 'raise --timeout, or inspect the object with kubectl describe',
          details: {ref, lastState: msg, diagnosis: d},
        })
      },
    },
  )
  const result: JobResult = {name: opts.name, namespace, ...r, podMessages: [], events: []}
  if (r.status === 'Failed') {
    const pods = await client.request<{items: KubeObject[]}>('GET', `/api/v1/namespaces/${namespace}/pods`, {query: {labelSelector: `job-name=${opts.name}`}})
    for (const p of pods.items) {
      const st = (p.status ?? {}) as {containerStatuses?: Array<{name: string; state?: {terminated?: {exitCode?: number; reason?: string; message?: string}}}>}
      for (const cs of st.containerStatuses ?? []) {
        const t = cs.state?.terminated
        if (t && t.exitCode !== 0) result.podMessages.push(`${p.metadata.name}/${cs.name}: exit ${t.exitCode}${t.reason ? ` (${t.reason})` : ''}${t.message ? `: ${t.message.trim()}` : ''}`)
      }
    }
    const evs = await client.request<{items: Array<{type?: string; reason?: string; message?: string; count?: number; involvedObject?: {kind?: string; name?: string}}>}>('GET', `/api/v1/namespaces/${namespace}/events`, {
      query: {fieldSelector: `involvedObject.kind=Job,involvedObject.name=${opts.name}`},
    })
    result.events = evs.items.filter((e) => e.type === 'Warning').map((e) => ({type: 'Warning', reason: e.reason ?? '', message: e.message ?? '', object: `Job/${opts.name}`, count: e.count}))
    if (opts.throwOnFailure !== false) {
      const why = result.podMessages[0] ?? result.events[0]?.message ?? r.message ?? ''
      throw new AipError('FAILED', `job ${namespace}/${opts.name} failed (${r.reason ?? 'Failed'})${why ? `: ${why}` : ''}`, {
        fix: `read the job's logs: kubectl logs job/${opts.name} -n ${namespace}`,
        details: {job: result},
      })
    }
  }
  return result
}

export interface DeleteProgress {
  /** Objects still present. */
  remaining: string[]
  /** Why each remaining object is still there (finalizers, namespace conditions). */
  holding: Record<string, string>
}

function holdingReason(obj: KubeObject): string {
  const fin = obj.metadata.finalizers ?? []
  const conds = ((obj.status as {conditions?: Array<{type: string; status: string; message?: string}>} | undefined)?.conditions ?? []).filter(
    (c) => c.status === 'True' && /Remaining|Failure/.test(c.type),
  )
  const parts: string[] = []
  if (!obj.metadata.deletionTimestamp) parts.push('not being deleted')
  if (fin.length) parts.push(`finalizers: ${fin.join(', ')}`)
  for (const c of conds) parts.push(`${c.type}: ${c.message ?? ''}`)
  return parts.join('; ') || 'terminating'
}

/** Waits until every object is gone (watch per object). Timeout names what remains and why. */
export async function waitForDeleted(client: KubeClient, refs: ObjectRef[], opts: WaitOptions<DeleteProgress> = {}): Promise<void> {
  const remaining = new Map<string, string>(refs.map((r) => [refString(r), 'terminating']))
  const report = (): void => opts.onProgress?.({remaining: [...remaining.keys()], holding: Object.fromEntries(remaining)})
  const inner = new AbortController()
  // one watch (and one abort listener) per object, all at once: past Node's default of 10 that is
  // by design, not a leak, and the warning would reach the user's terminal
  setMaxListeners(refs.length + 10, inner.signal)
  const onAbort = (): void => inner.abort()
  opts.signal?.addEventListener('abort', onAbort, {once: true})
  try {
    await Promise.all(
      refs.map(async (ref) => {
        const key = refString(ref)
        try {
          await watchObjectUntil<true>(
            client,
            ref,
            (obj) => {
              if (!obj) return {done: true, value: true}
              remaining.set(key, holdingReason(obj))
              return {done: false, message: remaining.get(key)!}
            },
            {timeoutMs: opts.timeoutMs, signal: inner.signal, onMessage: () => report()},
          )
        } catch (error) {
          if (error instanceof NotFoundError) {
            // the kind is no longer served (its CRD went first): the object is gone with it
          } else {
            inner.abort()
            throw error
          }
        }
        remaining.delete(key)
        report()
      }),
    ).catch((error: unknown) => {
      if (error instanceof TimeoutError || (error instanceof InterruptedError && !opts.signal?.aborted)) {
        const list = [...remaining.entries()].map(([k, why]) => `${k} (${why})`)
        throw new TimeoutError(`timed out waiting for deletion; still present: ${list.join(', ')}`, {
          fix: 'raise --timeout, or remove what holds them (finalizers of a controller that is gone)',
          details: {remaining: Object.fromEntries(remaining)},
        })
      }
      throw error
    })
  } finally {
    opts.signal?.removeEventListener('abort', onAbort)
  }
}
