/**
 * `aip model scale NAME --replicas N | --min N --max N`: changes a deployed model's replica bounds
 * without a redeploy.
 *
 * - A KEDA ScaledObject: `spec.minReplicaCount` / `spec.maxReplicaCount` by server-side apply with
 *   aip's field manager. The apply body is the live object's spec with the bounds replaced: aip owns
 *   the whole ScaledObject (deploy applied it), and server-side apply REMOVES fields a manager owned
 *   and leaves out, so a partial body would drop the triggers
 *   (https://kubernetes.io/docs/reference/using-api/server-side-apply/#field-management).
 *   `--replicas N` (N >= 1) pins min = max = N. `--replicas 0` sets KEDA's
 *   `autoscaling.keda.sh/paused-replicas: "0"` annotation (KEDA scales the target to 0 and stops
 *   autoscaling: https://keda.sh/docs/latest/concepts/scaling-deployments/#pause-autoscaling), since
 *   maxReplicaCount 0 is not a valid HPA bound; any later --min/--max removes the pause.
 * - An autoscaling/v2 HPA: `minReplicas` / `maxReplicas` the same way (minReplicas >= 1: scale to
 *   zero needs the alpha HPAScaleToZero gate).
 * - Neither: the Deployment's `/scale` subresource (as `kubectl scale` does), `--replicas` only.
 *
 * The next `aip model deploy` applies the catalog's / its flags' bounds again.
 */
import {ConflictError, UsageError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {aipSelector, FIELD_MANAGER} from '../kube/labels.js'
import {MODEL_KINDS, TRACK_LABEL} from '../render/index.js'
import {HOLD_MARGIN, MAX_HOLD_SECONDS, recordedColdStart, recordObservedColdStart} from './hold.js'
import {notDeployed} from './models.js'

export const KEDA_PAUSED_REPLICAS = 'autoscaling.keda.sh/paused-replicas'

export interface ScaleRequest {
  replicas?: number
  min?: number
  max?: number
}

export interface ScaleBounds {
  min?: number
  max?: number
  replicas?: number
  /** KEDA paused-replicas, when set. */
  paused?: number
}

export interface ScaleResult {
  name: string
  namespace: string
  target: {kind: 'ScaledObject' | 'HorizontalPodAutoscaler' | 'Deployment'; name: string}
  before: ScaleBounds
  after: ScaleBounds
  action: 'configured' | 'unchanged'
  dryRun: boolean
  /** Scale from zero: the request hold after this command (raised when a slower cold start was seen). */
  hold?: {seconds: number; raisedFrom?: number; measuredColdStartSeconds?: number}
}

export function validateScaleRequest(req: ScaleRequest): void {
  const {replicas, min, max} = req
  if (replicas === undefined && min === undefined && max === undefined) throw new UsageError('nothing to change', {fix: 'pass --replicas N, or --min N and/or --max N'})
  if (replicas !== undefined && (min !== undefined || max !== undefined)) throw new UsageError('--replicas cannot be combined with --min/--max', {fix: '--replicas N pins the count; --min/--max set the autoscaling bounds'})
  for (const [flag, v] of [['--replicas', replicas], ['--min', min], ['--max', max]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) throw new UsageError(`${flag} must be a whole number >= 0, got ${v}`, {fix: `e.g. ${flag} 1`})
  }
  if (max === 0) throw new UsageError('--max must be at least 1', {fix: 'to stop serving, use --replicas 0 (or --min 0 to let the autoscaler scale to zero)'})
  if (min !== undefined && max !== undefined && min > max) throw new UsageError(`--min ${min} is greater than --max ${max}`, {fix: 'pass --min <= --max'})
}

interface Shape {
  spec?: {minReplicaCount?: number; maxReplicaCount?: number; minReplicas?: number; maxReplicas?: number; replicas?: number}
}

/** The live object as an apply body: identity, labels, annotations and spec (no status, no server fields). */
function applyBody(live: KubeObject, spec: Record<string, unknown>, annotations: Record<string, string> | undefined): KubeObject {
  const m = live.metadata
  return {
    apiVersion: live.apiVersion,
    kind: live.kind,
    metadata: {name: m.name, namespace: m.namespace, ...(m.labels ? {labels: m.labels} : {}), ...(annotations && Object.keys(annotations).length > 0 ? {annotations} : {})},
    spec,
  }
}

export async function scaleModel(client: KubeClient, name: string, req: ScaleRequest, opts: {namespace?: string; dryRun?: boolean; force?: boolean; signal?: AbortSignal} = {}): Promise<ScaleResult> {
  validateScaleRequest(req)
  const kube = await import('../kube/index.js')
  const namespace = opts.namespace ?? client.namespace
  const objects = await kube.listByLabels(client, [...MODEL_KINDS].filter((k) => ['ScaledObject', 'HorizontalPodAutoscaler', 'Deployment', 'HTTPScaledObject'].includes(k.kind)), aipSelector(name), {namespace, signal: opts.signal})
  const so = objects.find((o) => o.kind === 'ScaledObject')
  const hpa = objects.find((o) => o.kind === 'HorizontalPodAutoscaler')
  const dep = objects.find((o) => o.kind === 'Deployment' && !o.metadata.labels?.[TRACK_LABEL])
  if (!dep && !so && !hpa) throw await notDeployed(client, name, namespace)
  const dryRun = opts.dryRun ? ('server' as const) : undefined
  const base = {name, namespace, dryRun: Boolean(opts.dryRun)}

  if (so || hpa) {
    const live = (so ?? hpa)!
    const spec = {...((live.spec ?? {}) as Record<string, unknown>)}
    const isKeda = live.kind === 'ScaledObject'
    const [minKey, maxKey] = isKeda ? ['minReplicaCount', 'maxReplicaCount'] : ['minReplicas', 'maxReplicas']
    // KEDA's defaults when unset: min 0, max 100; the HPA's min defaults to 1
    const curMin = ((live as Shape).spec as Record<string, number | undefined> | undefined)?.[minKey] ?? (isKeda ? 0 : 1)
    const curMax = ((live as Shape).spec as Record<string, number | undefined> | undefined)?.[maxKey] ?? 100
    const annotations = {...live.metadata.annotations}
    const pausedText = annotations[KEDA_PAUSED_REPLICAS]
    const before: ScaleBounds = {min: curMin, max: curMax, ...(pausedText !== undefined ? {paused: Number(pausedText)} : {})}
    let min = curMin
    let max = curMax
    if (req.replicas !== undefined && req.replicas > 0) {
      min = req.replicas
      max = req.replicas
      delete annotations[KEDA_PAUSED_REPLICAS]
    } else if (req.replicas === 0) {
      if (!isKeda) throw new UsageError(`${name} scales with a HorizontalPodAutoscaler, whose minReplicas is at least 1`, {fix: 'use --replicas 1 (scale to zero needs KEDA: redeploy with KEDA installed)'})
      annotations[KEDA_PAUSED_REPLICAS] = '0'
    } else {
      min = req.min ?? curMin
      max = req.max ?? curMax
      if (min > max) throw new UsageError(`--min ${min} would exceed the current max ${max}`, {fix: `pass --max too, e.g. --min ${min} --max ${min}`})
      if (!isKeda && min < 1) throw new UsageError(`${name} scales with a HorizontalPodAutoscaler, whose minReplicas is at least 1`, {fix: 'use --min 1 or more (scale to zero needs KEDA)'})
      delete annotations[KEDA_PAUSED_REPLICAS]
    }
    spec[minKey] = min
    spec[maxKey] = max
    const after: ScaleBounds = {min, max, ...(annotations[KEDA_PAUSED_REPLICAS] !== undefined ? {paused: 0} : {})}
    let applied
    try {
      applied = await kube.applyObjects(client, [applyBody(live, spec, annotations)], {dryRun, force: opts.force, signal: opts.signal})
    } catch (error) {
      if (error instanceof ConflictError) throw new ConflictError(error.message, {fix: 'rerun with --force-conflicts to take ownership of the bounds (the other manager may set them back)', details: error.details})
      throw error
    }
    const hold = opts.dryRun || !dep ? undefined : await refreshHold(client, namespace, name, dep, objects.find((o) => o.kind === 'HTTPScaledObject'), opts.signal)
    return {...base, target: {kind: live.kind as 'ScaledObject' | 'HorizontalPodAutoscaler', name: live.metadata.name}, before, after, action: applied[0]!.action === 'unchanged' ? 'unchanged' : 'configured', ...(hold ? {hold} : {})}
  }

  if (req.replicas === undefined) {
    throw new UsageError(`${name} has no autoscaler (no ScaledObject or HorizontalPodAutoscaler): --min/--max have nothing to bound`, {fix: 'use --replicas N, or redeploy (`aip model deploy`) to restore its autoscaler'})
  }
  const current = (dep as Shape).spec?.replicas ?? 1
  const path = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments/${encodeURIComponent(dep!.metadata.name)}/scale`
  if (current !== req.replicas) {
    await client.request('PATCH', path, {
      body: {spec: {replicas: req.replicas}},
      contentType: 'application/merge-patch+json',
      query: {fieldManager: FIELD_MANAGER, dryRun: dryRun ? 'All' : undefined},
      signal: opts.signal,
    })
  }
  return {...base, target: {kind: 'Deployment', name: dep!.metadata.name}, before: {replicas: current}, after: {replicas: req.replicas}, action: current === req.replicas ? 'unchanged' : 'configured'}
}

/**
 * Records the cold start the CLI can see (hold.ts) and, for a model with the wake path, raises the
 * HTTPScaledObject's hold when the measurement x margin exceeds it (never lowers it: a shorter hold
 * is a `model deploy --hold-timeout` decision). Server-side apply of the live spec, as above.
 */
async function refreshHold(client: KubeClient, namespace: string, name: string, dep: KubeObject, hso: KubeObject | undefined, signal?: AbortSignal): Promise<ScaleResult['hold']> {
  const seen = await recordObservedColdStart(client, namespace, dep.metadata.name, name, signal)
  if (!hso) return undefined
  const spec = {...((hso.spec ?? {}) as Record<string, unknown>)}
  const timeouts = {...((spec.timeouts ?? {}) as Record<string, string>)}
  const current = /^(\d+)s$/.exec(timeouts.conditionWait ?? '')?.[1]
  const cur = current === undefined ? undefined : Number(current)
  const measured = seen ?? recordedColdStart(dep)
  const want = measured === undefined ? undefined : Math.min(MAX_HOLD_SECONDS, Math.ceil(measured * HOLD_MARGIN))
  if (want === undefined || (cur !== undefined && want <= cur)) return cur === undefined ? undefined : {seconds: cur, ...(measured !== undefined ? {measuredColdStartSeconds: measured} : {})}
  timeouts.conditionWait = `${want}s`
  spec.timeouts = timeouts
  const {applyObjects} = await import('../kube/index.js')
  await applyObjects(client, [applyBody(hso, spec, hso.metadata.annotations)], {signal})
  return {seconds: want, ...(cur !== undefined ? {raisedFrom: cur} : {}), measuredColdStartSeconds: measured}
}
