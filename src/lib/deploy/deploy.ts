/**
 * `aip model deploy`: resolve entry -> gpu-fit gate -> render -> apply (server-side, field manager
 * aip) -> wait (preload Job, then the rollout, by watch) -> on a stall, the cause from pod status and
 * events. Every step converges: a rerun after a failure or Ctrl-C applies the same objects.
 */
import type {CatalogEntry} from '../catalog/schema.js'
import {isPinned} from '../catalog/index.js'
import {AipError, InterruptedError, NotFoundError, UsageError} from '../errors.js'
import type {ApplyResult, DiffResult, KubeClient, KubeObject} from '../kube/index.js'
import {refString} from '../kube/types.js'
import {type Capabilities, endpointOf, objectName, PRELOAD_SERVICE_ACCOUNT, type RenderOptions, renderModel, SERVER_SERVICE_ACCOUNT, weightsLocation} from '../render/index.js'
import {fitGate, weightsBytes} from './fit-gate.js'
import {deriveHold, type HoldDerivation, recordedColdStart} from './hold.js'
import {type Progress, silentProgress} from './progress.js'
import {waitUntilServing} from './serving.js'
import type {RevisionSource} from '../rollout/history.js'

export const ALL_CAPABILITIES: Capabilities = {keda: true, serviceMonitor: true, prometheusRule: true, httpAddon: true}

/** What the cluster serves, from discovery (cached by the client). */
export async function detectCapabilities(client: KubeClient): Promise<Capabilities> {
  const {hasApiResource} = await import('../kube/index.js')
  const [keda, serviceMonitor, prometheusRule, httpAddon] = await Promise.all([
    hasApiResource(client, 'keda.sh/v1alpha1', 'ScaledObject'),
    hasApiResource(client, 'monitoring.coreos.com/v1', 'ServiceMonitor'),
    hasApiResource(client, 'monitoring.coreos.com/v1', 'PrometheusRule'),
    hasApiResource(client, 'http.keda.sh/v1alpha1', 'HTTPScaledObject'),
  ])
  return {keda, serviceMonitor, prometheusRule, httpAddon}
}

export type DryRun = 'client' | 'server'

export interface DeployOptions {
  entry: CatalogEntry
  render: Omit<RenderOptions, 'capabilities'>
  skipFit?: boolean
  /** client: render only (no API calls); server: the API server validates, nothing is stored. */
  dryRun?: DryRun
  /** Show what would change against the live objects (nothing is applied). */
  diff?: boolean
  force?: boolean
  wait?: boolean
  timeoutMs?: number
  signal?: AbortSignal
  progress?: Progress
  /** Called for notes the operator should see (unpinned revision, fallbacks). */
  warn?: (text: string) => void
  /** Needed unless dryRun is 'client'. */
  client?: KubeClient
  /** Offline renders (dry-run client) assume what `aip cluster bootstrap` installs. */
  offlineCapabilities?: Capabilities
  /** How often the pods are checked for a failure that will not heal while the rollout waits (default 15 s). */
  stallCheckMs?: number
  /** --hold-timeout: how long a request for the model at zero replicas is held (else from the cold start, hold.ts). */
  holdTimeoutSeconds?: number
  /**
   * Revision history (src/lib/rollout/history.ts): after a successful apply the objects are recorded
   * as a revision with this source (default 'deploy'); false records nothing (e.g. a rollout's
   * candidate, recorded when it is promoted).
   */
  history?: RevisionSource | false
}

export interface DeployedObject {
  kind: string
  name: string
  namespace?: string
  action: 'created' | 'configured' | 'unchanged' | 'rendered' | 'create' | 'update'
}

export interface DeployResult {
  model: string
  namespace: string
  servedModelName: string
  image: string
  hf: {repo: string; revision: string; pinned: boolean}
  gpu: {type: string; count: number}
  fit: {checked: boolean; fits?: boolean; annotations?: Record<string, string>}
  /** Scale from zero: the hold and where its value came from (only for a model that may sit at zero). */
  wake?: HoldDerivation
  mode: 'apply' | 'dry-run-client' | 'dry-run-server' | 'diff'
  capabilities: Capabilities
  objects: DeployedObject[]
  skipped: Array<{kind: string; reason: string}>
  endpoint: string
  waited: boolean
  preload?: {job: string; status: string}
  rollout?: {desired: number; ready: number; available: number; message: string}
  diff?: {changed: boolean; text: string}
  /** The rendered objects (for -o yaml|json). */
  manifests: KubeObject[]
  /** The revision recorded in the model's history (absent when nothing was recorded). */
  history?: {revision: number; recorded: boolean}
}

/**
 * What the objects reference but `model deploy` does not create, checked before anything is applied
 * (a pod whose ServiceAccount or Secret is missing is never created: the deploy would only time out):
 * the ServiceAccounts `aip cluster bootstrap` creates with their S3 access. (The Hugging Face token
 * Secret of a gated model is checked with the other prerequisites, in prerequisites.ts.)
 */
export async function preflight(c: KubeClient, _entry: CatalogEntry, ns: string): Promise<void> {
  const {getObject} = await import('../kube/index.js')
  for (const sa of [SERVER_SERVICE_ACCOUNT, PRELOAD_SERVICE_ACCOUNT]) {
    if (!(await getObject(c, {apiVersion: 'v1', kind: 'ServiceAccount', name: sa, namespace: ns}))) {
      throw new NotFoundError(`ServiceAccount ${ns}/${sa} does not exist (it carries the pods' S3 access)`, {
        fix: `run \`aip cluster bootstrap\`${ns === 'aip-models' ? '' : ` (with --tenant ${ns} for a tenant namespace)`}: it creates the ServiceAccounts and their IAM access`,
      })
    }
  }
  // the HF token Secret of a gated model: checked with the other prerequisites (prerequisites.ts)
}

/** Ctrl-C (the signal) ends a deploy as InterruptedError (exit 130) whatever was in flight. */
export async function deployModel(opts: DeployOptions): Promise<DeployResult> {
  try {
    return await deployModelInner(opts)
  } catch (error) {
    if (opts.signal?.aborted && !(error instanceof AipError && error.code !== 'FAILED' && error.code !== 'UNREACHABLE')) {
      throw new InterruptedError('deploy interrupted', {fix: 'rerun the same command: it converges on the same objects', cause: error})
    }
    throw error
  }
}

async function deployModelInner(opts: DeployOptions): Promise<DeployResult> {
  const {entry} = opts
  const progress = opts.progress ?? silentProgress
  const warn = opts.warn ?? (() => undefined)
  const ns = opts.render.namespace
  if (!opts.render.bucket) {
    throw new UsageError('no S3 bucket for model weights is configured', {fix: 'set one: aip config set bucket NAME (or AIP_BUCKET); `aip cluster bootstrap` prints it'})
  }
  if (!isPinned(entry)) warn(`${entry.name}: Hub revision "${entry.hf.revision}" is a branch, not a commit sha; pin it (--revision SHA) for reproducible weights`)

  // 1. gpu-fit gate
  let fit: DeployResult['fit'] = {checked: false}
  let weights: number | undefined
  if (!opts.skipFit) {
    const step = progress.step(`gpu-fit: ${entry.name} on ${entry.gpu.count}x ${entry.gpu.type}`)
    try {
      const g = fitGate(entry, opts.render.gpuMemoryUtilization)
      fit = {checked: true, fits: true, annotations: g.annotations}
      weights = g.weightsBytes
      step.succeed(`gpu-fit: fits on ${entry.gpu.count}x ${entry.gpu.type} at max-model-len ${entry.vllm.maxModelLen}`)
      for (const w of g.warnings) warn(`gpu-fit: ${w}`)
    } catch (error) {
      step.fail(`gpu-fit: does not fit on ${entry.gpu.count}x ${entry.gpu.type}`)
      throw error
    }
  }

  // 2. capabilities + render
  const client = opts.client
  let capabilities: Capabilities
  if (opts.dryRun === 'client' && !opts.diff) {
    capabilities = opts.offlineCapabilities ?? ALL_CAPABILITIES
  } else {
    if (!client) throw new UsageError('a Kubernetes client is needed for this deploy mode', {fix: 'pass --kubeconfig/--context, or use --dry-run=client'})
    capabilities = await detectCapabilities(client)
  }
  // 2b. scale from zero: the hold comes from the measured cold start (recorded on the live
  // Deployment), else from the model size (hold.ts)
  let wake: HoldDerivation | undefined
  if (entry.scaling.minReplicas === 0 && capabilities.keda && capabilities.httpAddon) {
    const {getObject} = await import('../kube/index.js')
    const live = client && !(opts.dryRun === 'client' && !opts.diff) ? await getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(entry.name), namespace: ns}).catch(() => undefined) : undefined
    wake = deriveHold({weightsBytes: weights ?? weightsBytes(entry, opts.render.gpuMemoryUtilization), measuredSeconds: recordedColdStart(live), flagSeconds: opts.holdTimeoutSeconds})
    if (wake.note) warn(wake.note)
  } else if (opts.holdTimeoutSeconds !== undefined) {
    warn(`--hold-timeout has no effect: ${entry.scaling.minReplicas > 0 ? `${entry.name} keeps at least ${entry.scaling.minReplicas} replica(s)` : 'the KEDA HTTP add-on is not installed'}`)
  }
  const rendered = renderModel(entry, {...opts.render, capabilities, ...(wake ? {wake: {holdSeconds: wake.holdSeconds, retryAfterSeconds: wake.retryAfterSeconds}} : {})}, {podAnnotations: fit.annotations})
  for (const s of rendered.skipped) if (opts.dryRun !== 'client') warn(`${s.kind} not rendered: ${s.reason}`)

  const base: Omit<DeployResult, 'mode' | 'objects' | 'waited'> = {
    model: entry.name,
    namespace: ns,
    servedModelName: entry.servedModelName,
    image: entry.image,
    hf: {repo: entry.hf.repo, revision: entry.hf.revision, pinned: isPinned(entry)},
    gpu: entry.gpu,
    fit,
    capabilities,
    ...(wake ? {wake} : {}),
    skipped: rendered.skipped,
    endpoint: endpointOf(entry, ns),
    manifests: rendered.objects,
  }
  if (opts.dryRun === 'client' && !opts.diff) {
    return {...base, mode: 'dry-run-client', waited: false, objects: rendered.objects.map((o) => ({kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, action: 'rendered'}))}
  }
  const kube = await import('../kube/index.js')
  const c = client!

  // The namespace comes from `aip cluster bootstrap`; say so instead of a bare 404 per object.
  const nsObj = await kube.getObject(c, {apiVersion: 'v1', kind: 'Namespace', name: ns})
  if (!nsObj) throw new NotFoundError(`namespace "${ns}" does not exist`, {fix: `run \`aip cluster bootstrap\`, or pick an existing namespace with -n`})

  // 3. diff
  if (opts.diff) {
    const step = progress.step(`diff ${rendered.objects.length} objects against the cluster`)
    const d: DiffResult = await kube.diffObjects(c, rendered.objects, {force: opts.force, signal: opts.signal})
    step.succeed(d.changed ? `diff: ${d.objects.filter((o) => o.action !== 'unchanged').length} object(s) would change` : 'diff: no changes')
    return {
      ...base,
      mode: 'diff',
      waited: false,
      diff: {changed: d.changed, text: d.diff},
      objects: d.objects.map((o) => ({kind: o.ref.kind, name: o.ref.name, namespace: o.ref.namespace, action: o.action === 'unchanged' ? 'unchanged' : o.action})),
    }
  }

  // 4. what the objects need but deploy does not create: fail here, before anything is applied
  await preflight(c, entry, ns)

  // A Job that failed stays Failed (its pod template is immutable and the controller does not
  // retry past backoffLimit): remove it so this run recreates it, and the rerun converges.
  const jobRef = {apiVersion: 'batch/v1', kind: 'Job', name: rendered.preloadJob.metadata.name, namespace: ns}
  const oldJob = opts.dryRun ? undefined : await kube.getObject(c, jobRef)
  const failed = ((oldJob?.status as {conditions?: Array<{type: string; status: string}>} | undefined)?.conditions ?? []).some((x) => x.type === 'Failed' && x.status === 'True')
  if (failed) {
    warn(`preload job ${jobRef.name} failed before; deleting it so this deploy runs it again`)
    await kube.deleteObjects(c, [jobRef], {propagationPolicy: 'Background', signal: opts.signal})
    await kube.waitForDeleted(c, [jobRef], {timeoutMs: 60_000, signal: opts.signal})
  }

  // 4. apply (in order; a conflict with another field manager stops here with the fix)
  const applyStep = progress.step(`apply ${rendered.objects.length} objects to ${ns}${opts.dryRun === 'server' ? ' (server dry run)' : ''}`)
  let applied: ApplyResult[]
  try {
    applied = await kube.applyObjects(c, rendered.objects, {
      force: opts.force,
      dryRun: opts.dryRun === 'server' ? 'server' : undefined,
      signal: opts.signal,
      onProgress: (r) => applyStep.update(`${refString(r.ref)} ${r.action}`),
    })
  } catch (error) {
    applyStep.fail(`apply failed`)
    throw error
  }
  const counts = applied.reduce<Record<string, number>>((m, r) => ((m[r.action] = (m[r.action] ?? 0) + 1), m), {})
  applyStep.succeed(`applied ${applied.length} objects: ${Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(', ')}`)
  const objects: DeployedObject[] = applied.map((r) => ({kind: r.ref.kind, name: r.ref.name, namespace: r.ref.namespace, action: r.action}))
  if (opts.dryRun === 'server') return {...base, mode: 'dry-run-server', waited: false, objects}

  // The objects as applied become a revision (before the wait: a deploy that never becomes ready is
  // still what the cluster runs, and `model rollback` must go back from it, as ReplicaSet revisions
  // of `kubectl rollout undo` do). A rerun that applies the same objects records nothing.
  const history = opts.history === false ? undefined : await recordDeployRevision(c, entry, {...opts.render, capabilities}, rendered.objects, opts.history ?? 'deploy', warn, opts.signal)
  if (opts.wait === false) return {...base, mode: 'apply', waited: false, objects, ...(history ? {history} : {})}

  // 5. wait: weights first (the server's init container waits for them too), then the rollout.
  const jobName = rendered.preloadJob.metadata.name
  const served = await waitUntilServing(c, {
    namespace: ns,
    model: entry.name,
    deployment: objectName(entry.name),
    job: jobName,
    weightsDisplay: weightsLocation({bucket: opts.render.bucket, prefix: opts.render.prefix, repo: entry.hf.repo, revision: entry.hf.revision}).display,
    endpoint: base.endpoint,
    deadline: Date.now() + (opts.timeoutMs ?? 15 * 60_000),
    signal: opts.signal,
    progress,
    stallCheckMs: opts.stallCheckMs,
  })
  const rollout = served.rollout
  return {
    ...base,
    mode: 'apply',
    waited: true,
    objects,
    ...(history ? {history} : {}),
    preload: served.preload ?? {job: jobName, status: 'Complete'},
    rollout: {desired: rollout.desired, ready: rollout.ready, available: rollout.available, message: rollout.message},
  }
}

/**
 * Records the applied objects in the model's revision history. A failure to record does not undo a
 * deploy that succeeded: it is a warning (rollback then does not know this revision).
 */
async function recordDeployRevision(c: KubeClient, entry: CatalogEntry, render: RenderOptions, objects: KubeObject[], source: RevisionSource, warn: (t: string) => void, signal?: AbortSignal): Promise<{revision: number; recorded: boolean} | undefined> {
  const {listRevisions, recordRevision} = await import('../rollout/history.js')
  const {deployInputs, summarizeEntry} = await import('../rollout/summary.js')
  try {
    const before = (await listRevisions(c, render.namespace, entry.name, {signal}))[0]?.revision
    const r = await recordRevision(c, render.namespace, entry.name, {source, summary: summarizeEntry(entry), options: deployInputs(entry, render), objects}, {onNotice: warn, signal})
    return {revision: r.revision, recorded: r.revision !== before}
  } catch (error) {
    if (signal?.aborted) throw error
    warn(`${entry.name} is applied, but its revision history was not recorded: ${(error as Error).message}${error instanceof AipError && error.fix ? ` (${error.fix})` : ''}`)
    return undefined
  }
}

