/**
 * `aip model rollback`: re-applies the objects of an earlier revision exactly as they were applied
 * (server-side apply, field manager aip, as deploy), like `kubectl rollout undo`: the default
 * target is the revision before the newest, `--to N` any listed one. The gpu-fit gate runs for the
 * image and vLLM that revision runs; the wait until it serves is deploy's; the objects the model
 * has now but the target lacks are deleted (autoscalers at once, so two do not fight over the
 * replicas; the rest once the target serves, so capacity never drops first); the rollback is
 * recorded as a new revision (source rollback), so rolling back twice returns to where you were.
 */
import {AipError} from '../errors.js'
import type {KubeClient, ObjectRef} from '../kube/index.js'
import {refString} from '../kube/types.js'
import {fitGate} from '../deploy/fit-gate.js'
import {type Progress, silentProgress} from '../deploy/progress.js'
import {endpointOf, MODEL_KINDS, TRACK_LABEL, weightsLocation} from '../render/index.js'
import {getRevision, listRevisions, recordRevision, type Revision} from './history.js'
import {rolloutInProgress} from './guard.js'
import {diffRevisions, revisionEntry} from './summary.js'

export interface RollbackOptions {
  client: KubeClient
  namespace: string
  name: string
  /** Revision number to return to (default: the one before the newest). */
  to?: number
  skipFit?: boolean
  /** Server-side apply force (--force-conflicts), for the dry run of the plan too. */
  force?: boolean
  signal?: AbortSignal
}

export interface RollbackPlan {
  model: string
  namespace: string
  /** The newest revision (what runs now). */
  current: Revision
  /** The revision to return to. */
  target: Revision
  /** True when the target's objects are the newest's: nothing to do (as `kubectl rollout undo` skips). */
  noop: boolean
  /** "field: old -> new" from the current summary to the target's. */
  changes: string[]
  /** The target's objects against the cluster (server-side dry run). */
  apply: Array<{kind: string; name: string; action: 'create' | 'update' | 'unchanged'}>
  /** Objects of the model the target does not have: deleted. */
  delete: Array<{apiVersion: string; kind: string; name: string}>
  fit: {checked: boolean; fits?: boolean; gpu?: string; image?: string}
}

export interface RollbackResult {
  model: string
  namespace: string
  from: number
  to: number
  /** The revision the rollback recorded (absent with --dry-run or when nothing changed). */
  revision?: number
  dryRun: boolean
  noop: boolean
  changes: string[]
  fit: RollbackPlan['fit']
  objects: Array<{kind: string; name: string; action: string}>
  deleted: Array<{kind: string; name: string; result: string}>
  waited: boolean
  endpoint?: string
  servedModelName?: string
  rollout?: {desired: number; ready: number; available: number; message: string}
}

const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.split('/')[0]! : '')
const keyOf = (o: {apiVersion: string; kind: string; name: string}): string => `${groupOf(o.apiVersion)}/${o.kind}/${o.name}`
const AUTOSCALERS = new Set(['ScaledObject', 'HTTPScaledObject', 'HorizontalPodAutoscaler'])

/** The kinds deploy writes (not the ServiceAccounts: bootstrap's, shared by every model). */
const WRITTEN_KINDS = MODEL_KINDS.filter((k) => k.written).map((k) => ({apiVersion: k.apiVersion, kind: k.kind}))

/** Checks and computes what a rollback does; changes nothing (this is `--dry-run`). */
export async function planRollback(o: RollbackOptions): Promise<RollbackPlan> {
  const kube = await import('../kube/index.js')
  const {aipSelector} = kube
  const {client: c, namespace: ns, name} = o
  // a rollout's canary track (TRACK_LABEL: an aborted rollout leaves it at zero replicas) belongs to
  // the rollout, not to a revision: a rollback leaves it alone
  const live = (await kube.listByLabels(c, WRITTEN_KINDS, aipSelector(name), {namespace: ns, signal: o.signal})).filter((x) => !x.metadata.deletionTimestamp && !x.metadata.labels?.[TRACK_LABEL])
  if (!live.some((x) => x.kind === 'Deployment')) {
    const {notDeployed} = await import('../deploy/models.js')
    throw await notDeployed(c, name, ns)
  }
  const rollout = await rolloutInProgress(c, ns, name, {signal: o.signal})
  if (rollout) {
    throw new AipError('FAILED', `a rollout of ${name} is in progress (${rollout.phase}${rollout.weight !== undefined ? `, candidate at ${rollout.weight}%` : ''}); rolling back now would fight it`, {
      fix: `finish it first: \`aip model promote ${name}\`, or stop it: \`aip model rollout ${name} --abort\` (state: \`aip model rollout status ${name}\`); then roll back`,
      details: {rollout},
    })
  }
  const revisions = await listRevisions(c, ns, name, {signal: o.signal})
  if (revisions.length === 0) {
    throw new AipError('FAILED', `${name} has no revision history in ${ns} (it was deployed before aip kept one)`, {fix: `history starts with the next \`aip model deploy ${name}\`; until then redeploy the old settings by their flags`})
  }
  const current = revisions[0]!
  let target: Revision
  if (o.to !== undefined) {
    target = await getRevision(c, ns, name, o.to, {signal: o.signal})
  } else {
    if (revisions.length < 2) {
      throw new AipError('FAILED', `nothing to roll back to: ${name} has only revision ${current.revision}`, {
        fix: `rollback returns to the revision before the newest; deploy another version first (aip model deploy ${name} --revision SHA), or see \`aip model history ${name}\``,
        details: {available: [current.revision]},
      })
    }
    target = revisions[1]!
  }
  if (target.objectsOmitted) {
    throw new AipError('FAILED', `revision ${target.revision} of ${name} was kept without its objects (${target.objectsOmitted}); it cannot be restored`, {
      fix: `pick another revision (available: ${revisions.filter((r) => !r.objectsOmitted).map((r) => r.revision).join(', ') || 'none'}), or redeploy it by its flags`,
    })
  }
  const noop = target.digest === current.digest

  // the gate for the image and vLLM the target runs, as deploy runs it
  let fit: RollbackPlan['fit'] = {checked: false}
  const entry = revisionEntry(target.options)
  if (!o.skipFit && !noop) {
    if (!entry) throw new AipError('FAILED', `revision ${target.revision} of ${name} has no deploy inputs to check it with gpu-fit`, {fix: 'rerun with --skip-fit to restore it without the check'})
    const render = (target.options.render ?? {}) as {gpuMemoryUtilization?: number}
    fitGate(entry, render.gpuMemoryUtilization)
    fit = {checked: true, fits: true, gpu: `${entry.gpu.count}x ${entry.gpu.type}`, image: entry.image}
  }

  const wanted = new Set(target.objects.map((x) => keyOf({apiVersion: x.apiVersion, kind: x.kind, name: x.metadata.name})))
  const extra = live.filter((x) => !wanted.has(keyOf({apiVersion: x.apiVersion, kind: x.kind, name: x.metadata.name})))
  const diff = noop ? undefined : await kube.diffObjects(c, target.objects.map((x) => ({...x, metadata: {...x.metadata, namespace: x.metadata.namespace ?? ns}})), {force: o.force, signal: o.signal})
  return {
    model: name,
    namespace: ns,
    current,
    target,
    noop,
    changes: diffRevisions(current, target),
    apply: diff ? diff.objects.map((d) => ({kind: d.ref.kind, name: d.ref.name, action: d.action})) : [],
    delete: noop ? [] : extra.map((x) => ({apiVersion: x.apiVersion, kind: x.kind, name: x.metadata.name})),
    fit,
  }
}

export interface ExecuteOptions {
  client: KubeClient
  force?: boolean
  wait?: boolean
  timeoutMs?: number
  signal?: AbortSignal
  progress?: Progress
  warn?: (text: string) => void
  stallCheckMs?: number
}

function summaryOf(plan: RollbackPlan, dryRun: boolean): RollbackResult {
  return {
    model: plan.model,
    namespace: plan.namespace,
    from: plan.current.revision,
    to: plan.target.revision,
    dryRun,
    noop: plan.noop,
    changes: plan.changes,
    fit: plan.fit,
    objects: plan.apply,
    deleted: plan.delete.map((d) => ({kind: d.kind, name: d.name, result: dryRun ? 'would delete' : 'pending'})),
    waited: false,
  }
}

/** The result of `--dry-run`: the plan, nothing changed. */
export function dryRunResult(plan: RollbackPlan): RollbackResult {
  return summaryOf(plan, true)
}

/** Applies the plan: the target's objects, the extra objects deleted, a new revision, the wait. */
export async function executeRollback(plan: RollbackPlan, o: ExecuteOptions): Promise<RollbackResult> {
  const out = summaryOf(plan, false)
  if (plan.noop) return out
  const kube = await import('../kube/index.js')
  const {preflight} = await import('../deploy/deploy.js')
  const {waitUntilServing} = await import('../deploy/serving.js')
  const progress = o.progress ?? silentProgress
  const warn = o.warn ?? (() => undefined)
  const c = o.client
  const ns = plan.namespace
  const {target} = plan
  const entry = revisionEntry(target.options)
  const objects = target.objects.map((x) => ({...x, metadata: {...x.metadata, namespace: x.metadata.namespace ?? ns}}))

  if (entry) await preflight(c, entry, ns)
  // a Job that failed stays Failed: removed so this apply recreates it (as deploy does)
  for (const job of objects.filter((x) => x.kind === 'Job')) {
    const ref = {apiVersion: job.apiVersion, kind: 'Job', name: job.metadata.name, namespace: ns}
    const old = await kube.getObject(c, ref)
    if (((old?.status as {conditions?: Array<{type: string; status: string}>} | undefined)?.conditions ?? []).some((x) => x.type === 'Failed' && x.status === 'True')) {
      warn(`preload job ${ref.name} failed before; deleting it so the rollback runs it again`)
      await kube.deleteObjects(c, [ref], {propagationPolicy: 'Background', signal: o.signal})
      await kube.waitForDeleted(c, [ref], {timeoutMs: 60_000, signal: o.signal})
    }
  }

  const applyStep = progress.step(`apply revision ${target.revision} of ${plan.model} (${objects.length} objects)`)
  let applied
  try {
    applied = await kube.applyObjects(c, objects, {force: o.force, signal: o.signal, onProgress: (r) => applyStep.update(`${refString(r.ref)} ${r.action}`)})
  } catch (error) {
    applyStep.fail('apply failed')
    throw error
  }
  applyStep.succeed(`applied revision ${target.revision}: ${applied.filter((r) => r.action !== 'unchanged').length} of ${applied.length} objects changed`)
  out.objects = applied.map((r) => ({kind: r.ref.kind, name: r.ref.name, action: r.action}))

  const recorded = await recordRevision(c, ns, plan.model, {source: 'rollback', summary: target.summary, options: target.options, objects: target.objects, restoredFrom: target.revision}, {onNotice: warn, signal: o.signal}).catch((error: unknown) => {
    if (o.signal?.aborted) throw error
    warn(`${plan.model} is rolled back, but the rollback was not recorded in its history: ${(error as Error).message}`)
    return undefined
  })
  if (recorded) out.revision = recorded.revision

  const extras: ObjectRef[] = plan.delete.map((d) => ({...d, namespace: ns}))
  const deleted: RollbackResult['deleted'] = []
  const remove = async (refs: ObjectRef[]): Promise<void> => {
    if (refs.length === 0) return
    const step = progress.step(`delete ${refs.length} object(s) revision ${target.revision} does not have`)
    const res = await kube.deleteObjects(c, refs, {propagationPolicy: 'Background', signal: o.signal, onProgress: (r) => step.update(`${refString(r.ref)} ${r.result}`)})
    step.succeed(`deleted ${res.map((r) => `${r.ref.kind}/${r.ref.name}`).join(', ')}`)
    for (const r of res) deleted.push({kind: r.ref.kind, name: r.ref.name, result: r.result})
  }
  // two autoscalers on one Deployment fight over its replicas: the one the target lacks goes now
  await remove(extras.filter((r) => AUTOSCALERS.has(r.kind)))

  const dep = objects.find((x) => x.kind === 'Deployment' && groupOf(x.apiVersion) === 'apps')
  const job = objects.find((x) => x.kind === 'Job')
  const endpoint = entry ? endpointOf(entry, ns) : dep ? `${dep.metadata.name}.${ns}` : ns
  out.endpoint = endpoint
  if (entry) out.servedModelName = entry.servedModelName
  if (o.wait !== false && dep) {
    const render = (target.options.render ?? {}) as {bucket?: string; prefix?: string}
    const served = await waitUntilServing(c, {
      namespace: ns,
      model: plan.model,
      deployment: dep.metadata.name,
      job: job?.metadata.name,
      weightsDisplay: entry && render.bucket ? weightsLocation({bucket: render.bucket, prefix: render.prefix ?? 'models', repo: entry.hf.repo, revision: entry.hf.revision}).display : undefined,
      endpoint,
      deadline: Date.now() + (o.timeoutMs ?? 15 * 60_000),
      signal: o.signal,
      progress,
      stallCheckMs: o.stallCheckMs,
      interruptedFix: `revision ${target.revision} is applied${out.revision ? ` and recorded as revision ${out.revision}` : ''} and keeps rolling out: follow with \`aip model status ${plan.model}\` (another \`model rollback\` now would return to revision ${plan.current.revision})`,
    })
    out.waited = true
    out.rollout = {desired: served.rollout.desired, ready: served.rollout.ready, available: served.rollout.available, message: served.rollout.message}
  }
  // the rest once the target serves (a promoted candidate's Deployment keeps serving until then)
  await remove(extras.filter((r) => !AUTOSCALERS.has(r.kind)))
  out.deleted = deleted
  return out
}

/** Plan and execute in one call (library users; the command confirms between the two). */
export async function rollbackModel(o: RollbackOptions & Omit<ExecuteOptions, 'client'> & {dryRun?: boolean}): Promise<RollbackResult> {
  const plan = await planRollback(o)
  if (o.dryRun) return dryRunResult(plan)
  return executeRollback(plan, {...o, client: o.client})
}

