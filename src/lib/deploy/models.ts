/**
 * `aip model list | status | delete`: what is deployed, how it is doing, and removing it. Objects are
 * found by label (aip.dev/model), never by name guessing; deleting never touches the weights in S3.
 */
import {listCatalog} from '../catalog/index.js'
import {NotFoundError, UnreachableError} from '../errors.js'
import type {Diagnosis, KubeClient, KubeObject, ObjectRef} from '../kube/index.js'
import {COMPONENT_LABEL, MODEL_LABEL, aipSelector, formatSelector} from '../kube/labels.js'
import {refString} from '../kube/types.js'
import {GPU_TYPE_ANNOTATION, MODEL_KINDS, STABLE_TRACK_SELECTOR, TRACK_LABEL, VLLM_PORT} from '../render/index.js'
import {closest} from '../suggest.js'
import {recordColdStart} from './hold.js'
import {scalingStatus, type ScalingStatus} from './idle.js'
import {type Progress, silentProgress} from './progress.js'

export type ModelState = 'Ready' | 'Progressing' | 'Degraded' | 'Failed' | 'ScaledToZero' | 'NotDeployed'

export interface ModelRow {
  name: string
  description?: string
  inCatalog: boolean
  deployed: boolean
  namespace?: string
  status: ModelState
  ready: number
  desired: number
  gpu?: string
  revision?: string
  endpoint?: string
}

interface DeploymentShape {
  metadata: KubeObject['metadata']
  spec?: {replicas?: number; template?: {spec?: {containers?: Array<{resources?: {limits?: Record<string, string>}}>; affinity?: unknown}}}
  status?: {readyReplicas?: number; availableReplicas?: number; updatedReplicas?: number; replicas?: number; observedGeneration?: number; conditions?: Array<{type: string; status: string; reason?: string; message?: string; lastTransitionTime?: string}>}
}

export function deploymentState(dep: KubeObject): {status: ModelState; ready: number; desired: number} {
  const d = dep as unknown as DeploymentShape
  const desired = d.spec?.replicas ?? 1
  const ready = d.status?.readyReplicas ?? 0
  const available = d.status?.availableReplicas ?? 0
  const progressing = d.status?.conditions?.find((c) => c.type === 'Progressing')
  if (progressing?.reason === 'ProgressDeadlineExceeded') return {status: 'Failed', ready, desired}
  if (desired === 0) return {status: 'ScaledToZero', ready, desired}
  if (available >= desired && (d.status?.updatedReplicas ?? 0) >= desired && (d.status?.replicas ?? 0) <= desired) return {status: 'Ready', ready, desired}
  if (available > 0) return {status: 'Degraded', ready, desired}
  return {status: 'Progressing', ready, desired}
}

function endpointFor(dep: KubeObject): string {
  return `http://${dep.metadata.name}.${dep.metadata.namespace}.svc:${VLLM_PORT}/v1`
}

function gpuOf(dep: KubeObject): string | undefined {
  const d = dep as unknown as DeploymentShape
  const n = d.spec?.template?.spec?.containers?.[0]?.resources?.limits?.['nvidia.com/gpu']
  const annotated = dep.metadata.annotations?.[GPU_TYPE_ANNOTATION]
  // Deployments rendered before the annotation carried Karpenter's GPU-name affinity
  const exprs = JSON.stringify(d.spec?.template?.spec?.affinity ?? {})
  const m = /"instance-gpu-name","operator":"In","values":\["([^"]+)"/.exec(exprs.replace(/karpenter\.k8s\.aws\//g, ''))
  return n ? `${n}x ${annotated ?? m?.[1] ?? 'gpu'}` : undefined
}

async function serverDeployments(client: KubeClient, namespace: string | undefined, model?: string): Promise<KubeObject[]> {
  const {listByLabels} = await import('../kube/index.js')
  const selector = `${aipSelector(model)},${COMPONENT_LABEL}=server,${STABLE_TRACK_SELECTOR}`
  return listByLabels(client, [{apiVersion: 'apps/v1', kind: 'Deployment'}], selector, namespace ? {namespace} : {allNamespaces: true})
}

/** Catalog entries joined with what is deployed (deployments labelled aip.dev/model). */
export async function listModels(client: KubeClient | undefined, opts: {namespace?: string; allNamespaces?: boolean} = {}): Promise<ModelRow[]> {
  const catalog = listCatalog()
  const deps = client ? await serverDeployments(client, opts.allNamespaces ? undefined : (opts.namespace ?? client.namespace)) : []
  const rows: ModelRow[] = []
  const seen = new Set<string>()
  for (const dep of deps) {
    const model = dep.metadata.labels?.[MODEL_LABEL] ?? dep.metadata.name
    const st = deploymentState(dep)
    const cat = catalog.find((e) => e.name === model)
    seen.add(model)
    rows.push({
      name: model,
      description: cat?.description,
      inCatalog: Boolean(cat),
      deployed: true,
      namespace: dep.metadata.namespace,
      ...st,
      gpu: gpuOf(dep),
      revision: dep.metadata.annotations?.['aip.dev/hf-revision'],
      endpoint: endpointFor(dep),
    })
  }
  for (const e of catalog) {
    if (seen.has(e.name)) continue
    rows.push({name: e.name, description: e.description, inCatalog: true, deployed: false, status: 'NotDeployed', ready: 0, desired: 0, gpu: `${e.gpu.count}x ${e.gpu.type}`, revision: e.hf.revision})
  }
  return rows.sort((a, b) => Number(b.deployed) - Number(a.deployed) || a.name.localeCompare(b.name))
}

export interface ModelStatus {
  name: string
  namespace: string
  status: ModelState
  ready: number
  desired: number
  endpoint?: string
  revision?: string
  objects: Array<{kind: string; name: string; status?: string}>
  conditions: Array<{type: string; status: string; reason?: string; message?: string}>
  pods: Array<{name: string; phase: string; ready: boolean; restarts: number; node?: string; reason?: string}>
  preload?: {job: string; status: string}
  events: Array<{type: string; reason: string; object: string; message: string; count?: number}>
  diagnosis?: Diagnosis
  /** Autoscaler bounds, --idle-after, idle since, last cold start (idle.ts). */
  scaling: ScalingStatus
}

async function deployedNames(client: KubeClient, namespace: string): Promise<string[]> {
  const deps = await serverDeployments(client, namespace)
  return deps.map((d) => d.metadata.labels?.[MODEL_LABEL] ?? d.metadata.name)
}

export async function notDeployed(client: KubeClient, name: string, namespace: string): Promise<NotFoundError> {
  const names = await deployedNames(client, namespace).catch(() => [])
  const near = closest(name, names)
  return new NotFoundError(`model "${name}" is not deployed in namespace ${namespace}`, {
    fix: near ? `did you mean "${near}"?` : names.length > 0 ? `deployed here: ${names.join(', ')}` : 'nothing is deployed here; `aip model list` shows the catalog, -n picks another namespace',
  })
}

function objectStatus(o: KubeObject): string | undefined {
  if (o.kind === 'Deployment') return deploymentState(o).status
  if (o.kind === 'Job') {
    const c = ((o.status as {conditions?: Array<{type: string; status: string}>} | undefined)?.conditions ?? []).find((x) => x.status === 'True' && (x.type === 'Complete' || x.type === 'Failed'))
    return c?.type ?? 'Running'
  }
  const ready = ((o.status as {conditions?: Array<{type: string; status: string}>} | undefined)?.conditions ?? []).find((x) => x.type === 'Ready')
  return ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : undefined
}

export async function modelStatus(client: KubeClient, name: string, opts: {namespace?: string; signal?: AbortSignal} = {}): Promise<ModelStatus> {
  const kube = await import('../kube/index.js')
  const namespace = opts.namespace ?? client.namespace
  const objects = await kube.listByLabels(client, [...MODEL_KINDS], aipSelector(name), {namespace, signal: opts.signal})
  if (objects.length === 0) throw await notDeployed(client, name, namespace)
  // the model's own Deployment, not a rollout's canary beside it
  const dep = objects.find((o) => o.kind === 'Deployment' && !o.metadata.labels?.[TRACK_LABEL])
  const st = dep ? deploymentState(dep) : {status: 'Progressing' as ModelState, ready: 0, desired: 0}
  const pods = (await kube.listByLabels(client, [{apiVersion: 'v1', kind: 'Pod'}], {[MODEL_LABEL]: name}, {namespace, signal: opts.signal})) as KubeObject[]
  const podRows = pods.map((p) => {
    const s = (p.status ?? {}) as {phase?: string; conditions?: Array<{type: string; status: string}>; containerStatuses?: Array<{restartCount?: number; state?: {waiting?: {reason?: string}; terminated?: {reason?: string}}}>}
    const waiting = s.containerStatuses?.map((c) => c.state?.waiting?.reason ?? c.state?.terminated?.reason).find(Boolean)
    return {
      name: p.metadata.name,
      phase: s.phase ?? 'Pending',
      ready: s.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false,
      restarts: (s.containerStatuses ?? []).reduce((n, c) => n + (c.restartCount ?? 0), 0),
      node: (p.spec as {nodeName?: string} | undefined)?.nodeName,
      ...(waiting ? {reason: waiting} : {}),
    }
  })
  const names = new Set([...objects.map((o) => o.metadata.name), ...pods.map((p) => p.metadata.name)])
  const evList = await client.request<{items: Array<{type?: string; reason?: string; message?: string; count?: number; lastTimestamp?: string; eventTime?: string; involvedObject?: {kind?: string; name?: string}}>}>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {signal: opts.signal})
  const events = evList.items
    .filter((e) => e.involvedObject?.name && (names.has(e.involvedObject.name) || [...names].some((n) => e.involvedObject!.name!.startsWith(`${n}-`))))
    .sort((a, b) => String(a.lastTimestamp ?? a.eventTime ?? '').localeCompare(String(b.lastTimestamp ?? b.eventTime ?? '')))
    .slice(-20)
    .map((e) => ({type: e.type ?? 'Normal', reason: e.reason ?? '', object: `${e.involvedObject?.kind ?? ''}/${e.involvedObject?.name ?? ''}`, message: e.message ?? '', ...(e.count ? {count: e.count} : {})}))
  const job = objects.filter((o) => o.kind === 'Job').pop()
  const scaling = scalingStatus(objects, pods)
  // a start the CLI sees is recorded on the Deployment: the next deploy's hold comes from it (hold.ts)
  if (dep && scaling.lastColdStart) await recordColdStart(client, dep, scaling.lastColdStart.seconds, opts.signal)
  let diagnosis: Diagnosis | undefined
  if (dep && st.status !== 'Ready' && st.status !== 'ScaledToZero') {
    diagnosis = await kube.diagnoseWorkload(client, {namespace, deployment: dep.metadata.name, signal: opts.signal}).catch(() => undefined)
  }
  return {
    name,
    namespace,
    ...st,
    endpoint: dep ? endpointFor(dep) : undefined,
    revision: dep?.metadata.annotations?.['aip.dev/hf-revision'],
    objects: objects.map((o) => ({kind: o.kind, name: o.metadata.name, ...(objectStatus(o) ? {status: objectStatus(o)} : {})})),
    conditions: ((dep as DeploymentShape | undefined)?.status?.conditions ?? []).map((c) => ({type: c.type, status: c.status, reason: c.reason, message: c.message})),
    pods: podRows,
    scaling,
    ...(job ? {preload: {job: job.metadata.name, status: objectStatus(job) ?? 'Running'}} : {}),
    events,
    ...(diagnosis ? {diagnosis} : {}),
  }
}

export interface DeleteModelResult {
  name: string
  namespace: string
  deleted: Array<{kind: string; name: string; result: 'deleted' | 'not-found'}>
  waited: boolean
  /** Weights stay in S3 (undeploy is not purge). */
  weightsKept: true
}

/** Order: the autoscaler first (so it does not scale back), then the workload, then the rest. */
const DELETE_ORDER = ['ScaledObject', 'HTTPScaledObject', 'HorizontalPodAutoscaler', 'Deployment', 'Job', 'Service', 'PodDisruptionBudget', 'PrometheusRule', 'ServiceMonitor', 'NetworkPolicy', 'ServiceAccount']

export async function deleteModel(
  client: KubeClient,
  name: string,
  opts: {namespace?: string; wait?: boolean; timeoutMs?: number; dryRun?: boolean; signal?: AbortSignal; progress?: Progress} = {},
): Promise<DeleteModelResult> {
  const kube = await import('../kube/index.js')
  const progress = opts.progress ?? silentProgress
  const namespace = opts.namespace ?? client.namespace
  const objects = await kube.listByLabels(client, [...MODEL_KINDS], aipSelector(name), {namespace, signal: opts.signal})
  objects.sort((a, b) => DELETE_ORDER.indexOf(a.kind) - DELETE_ORDER.indexOf(b.kind))
  // the revision history (src/lib/rollout/history.ts) goes last, with the model: a delete that is
  // interrupted before keeps it for a rerun; alone (the model was removed otherwise) it still goes
  const {historyName} = await import('../rollout/history.js')
  const history = await kube.getObject(client, {apiVersion: 'v1', kind: 'ConfigMap', name: historyName(name), namespace})
  if (history) objects.push({...history, apiVersion: 'v1', kind: 'ConfigMap'})
  // a rollout's state (src/lib/rollout/state.ts) goes with the model too
  const {stateName} = await import('../rollout/state.js')
  const rollout = await kube.getObject(client, {apiVersion: 'v1', kind: 'ConfigMap', name: stateName(name), namespace})
  if (rollout) objects.push({...rollout, apiVersion: 'v1', kind: 'ConfigMap'})
  if (objects.length === 0) throw await notDeployed(client, name, namespace)
  const pods = opts.dryRun ? [] : await kube.listByLabels(client, [{apiVersion: 'v1', kind: 'Pod'}], formatSelector({[MODEL_LABEL]: name}), {namespace, signal: opts.signal})
  const step = progress.step(`delete ${objects.length} objects of ${name} in ${namespace}${opts.dryRun ? ' (server dry run)' : ''}`)
  const results = await kube.deleteObjects(client, objects, {
    propagationPolicy: 'Background',
    dryRun: opts.dryRun ? 'server' : undefined,
    signal: opts.signal,
    onProgress: (r) => step.update(`${refString(r.ref)} ${r.result}`),
  })
  step.succeed(`deleted ${results.filter((r) => r.result === 'deleted').length} objects of ${name}`)
  const deleted = results.map((r) => ({kind: r.ref.kind, name: r.ref.name, result: r.result}))
  if (opts.dryRun || opts.wait === false) return {name, namespace, deleted, waited: false, weightsKept: true}
  const refs: ObjectRef[] = [...objects, ...pods].map((o) => ({apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace}))
  const waitStep = progress.step(`wait until ${refs.length} objects and pods are gone`)
  try {
    await kube.waitForDeleted(client, refs, {timeoutMs: opts.timeoutMs, signal: opts.signal, onProgress: (p) => waitStep.update(`${p.remaining.length} remaining: ${p.remaining.slice(0, 3).join(', ')}`)})
  } catch (error) {
    if (opts.signal?.aborted) throw error // Ctrl-C: only "interrupted"
    waitStep.fail(error instanceof UnreachableError ? 'lost the API server while waiting' : 'objects remain')
    throw error
  }
  waitStep.succeed(`${name} is gone from ${namespace} (weights in S3 are kept)`)
  return {name, namespace, deleted, waited: true, weightsKept: true}
}
