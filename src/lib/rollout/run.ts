/**
 * `aip model rollout NAME`: the candidate (the stable's spec with the rollout's flags on top) starts
 * beside the stable as its own Deployment and Service (`<name>-canary`), is warmed, then takes the
 * gateway's traffic step by step; before each step and before promotion both tracks are read from
 * Prometheus over the interval, and a breach aborts (traffic back to the stable, canary at zero
 * replicas, exit 1 with the numbers). Once the candidate has served 100% and passed the last gate,
 * the stable Deployment takes the candidate's spec (a rolling update while the candidate carries
 * the traffic), traffic moves back to it and the canary's objects go: the stable keeps its names,
 * so `model status/scale/delete` keep working. The stable is never touched before that point, so
 * stable capacity never drops while the candidate is unproven.
 *
 * `--surge 0`: no second copy: the stable's own rolling update (maxSurge 1, maxUnavailable 0) to the
 * candidate's spec, then the same gate; a breach rolls the stable back to its previous spec.
 *
 * Every transition is written to the state ConfigMap first (state.ts), so Ctrl-C leaves a state
 * `rollout status` explains and a rerun with the same flags resumes from.
 */
import type {CatalogEntry} from '../catalog/schema.js'
import {ALL_CAPABILITIES, deployModel, detectCapabilities} from '../deploy/deploy.js'
import {fitGate} from '../deploy/fit-gate.js'
import {notDeployed} from '../deploy/models.js'
import {type Progress, silentProgress} from '../deploy/progress.js'
import {applyOverrides, type EntryOverrides} from '../deploy/resolve.js'
import {AipError, InterruptedError, UsageError} from '../errors.js'
import type {GatewaySyncOptions} from '../gateway/sync.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {aipSelector, FIELD_MANAGER} from '../kube/labels.js'
import type {PrometheusClient} from '../metrics/prometheus.js'
import {objectName, type RenderOptions, renderTrack, serverName, TRACK_LABEL} from '../render/index.js'
import {sleep} from '../sleep.js'
import {entryChanges, stableEntry} from './base.js'
import {type CapacityReport, checkCapacity, surgeError} from './capacity.js'
import {measureTrack, type TrackRef} from './gate.js'
import {describeBreaches, describeLimits, describeSteps, fingerprint, type GateLimits, type GateResult, judge, type TrackMetrics} from './plan.js'
import {readState, replaceState, type RolloutState, StateChangedError, TERMINAL, writeState} from './state.js'
import {connect, hasGateway, ROLLOUT_MANAGER, setWeight, trafficTarget} from './traffic.js'
import {warmUp} from './warm.js'

export interface RolloutDeps {
  client: KubeClient
  namespace: string
  render: Omit<RenderOptions, 'capabilities' | 'namespace'>
  gateway: Omit<GatewaySyncOptions, 'client' | 'signal'>
  /** Prometheus, built only when a gate needs it */
  prometheus: () => Promise<PrometheusClient>
  /** the latest recorded revision's entry (history.ts), when there is one (default: read from the history) */
  recorded?: (signal?: AbortSignal) => Promise<CatalogEntry | undefined>
  signal?: AbortSignal
  progress?: Progress
  warn?: (text: string) => void
  /** each gate as it is judged */
  onGate?: (g: GateResult) => void
  /** how long the candidate may take to become ready (default 15 min) */
  timeoutMs?: number
}

export interface RolloutRequest {
  name: string
  overrides: EntryOverrides
  template?: string
  steps: number[]
  intervalMs: number
  limits: GateLimits
  /** false: --surge 0 (replace in place) */
  surge: boolean
  skipFit?: boolean
  dryRun?: boolean
}

export interface RolloutReport {
  model: string
  namespace: string
  mode: 'canary' | 'in-place'
  phase: RolloutState['phase'] | 'planned'
  resumed: boolean
  steps: number[]
  plan: string
  intervalMs: number
  limits: GateLimits
  /** "error rate <= 2.0%, TTFT p95 <= 2.00s" */
  limitsText: string
  weight: number
  changes: string[]
  candidate: RolloutState['candidate']
  stable: RolloutState['stable']
  gates: GateResult[]
  capacity?: CapacityReport
  reason?: string
  breaches?: RolloutState['breaches']
  startedAt?: string
  updatedAt?: string
}

const pick = (o: EntryOverrides): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)))

function report(s: RolloutState, resumed: boolean, extra: Partial<RolloutReport> = {}): RolloutReport {
  return {
    model: s.model,
    namespace: s.namespace,
    mode: s.mode,
    phase: s.phase,
    resumed,
    steps: s.steps,
    plan: s.mode === 'canary' ? describeSteps(s.steps) : 'rolling update in place -> gate',
    intervalMs: s.intervalMs,
    limits: s.limits,
    limitsText: describeLimits(s.limits),
    weight: s.weight,
    changes: s.candidate.changes,
    candidate: s.candidate,
    stable: s.stable,
    gates: s.gates,
    ...(s.reason ? {reason: s.reason} : {}),
    ...(s.breaches ? {breaches: s.breaches} : {}),
    startedAt: s.startedAt,
    updatedAt: s.updatedAt,
    ...extra,
  }
}

/** The entry of the model's newest recorded revision (history.ts; every deploy, rollout and rollback records one). */
export async function latestRecorded(client: KubeClient, namespace: string, name: string, signal?: AbortSignal): Promise<CatalogEntry | undefined> {
  const {listRevisions} = await import('./history.js')
  const {revisionEntry} = await import('./summary.js')
  const newest = (await listRevisions(client, namespace, name, {signal}))[0]
  return newest ? revisionEntry(newest.options) : undefined
}

async function stableDeployment(client: KubeClient, namespace: string, name: string): Promise<KubeObject> {
  const {getObject} = await import('../kube/index.js')
  const dep = await getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(name), namespace})
  if (!dep || dep.metadata.labels?.[TRACK_LABEL]) throw await notDeployed(client, name, namespace)
  return dep
}

function replicasOf(dep: KubeObject | undefined): number | undefined {
  return (dep?.spec as {replicas?: number} | undefined)?.replicas
}

/** The rollout stopped and went back to the stable (exit 1): details.rollout is the report with every gate. */
export class RolloutAbortedError extends AipError {
  constructor(message: string, fix: string, details: Record<string, unknown>) {
    super('FAILED', message, {fix, details})
    this.name = 'RolloutAbortedError'
  }
}

/** A state being driven: every write checks nobody else wrote in between. */
class Driver {
  rv: string | undefined
  constructor(
    readonly deps: RolloutDeps,
    public s: RolloutState,
    rv: string | undefined,
  ) {
    this.rv = rv
  }

  async save(patch: Partial<RolloutState>): Promise<void> {
    Object.assign(this.s, patch)
    this.rv = await writeState(this.deps.client, this.s, this.rv)
  }
}

function interrupted(name: string, s: RolloutState): InterruptedError {
  return new InterruptedError(`rollout of ${name} interrupted (${s.phase}${s.mode === 'canary' ? `, candidate at ${s.weight}%` : ''})`, {
    fix: `the state is kept in the cluster: \`aip model rollout status ${name}\` explains it; rerun the same \`aip model rollout\` command to resume, \`aip model promote ${name}\` to finish or \`aip model rollout ${name} --abort\` to stop`,
  })
}

function trackRef(s: RolloutState, which: 'stable' | 'candidate'): TrackRef {
  return {namespace: s.namespace, servedName: s.candidate.servedName, deployment: which === 'stable' ? s.stable.deployment : s.candidate.deployment}
}

export async function runRollout(deps: RolloutDeps, req: RolloutRequest): Promise<RolloutReport> {
  const {client, namespace} = deps
  const progress = deps.progress ?? silentProgress
  const stableDep = await stableDeployment(client, namespace, req.name)
  const stored = await readState(client, namespace, req.name, deps.signal)
  const fp = fingerprint({overrides: pick(req.overrides), steps: req.steps, intervalMs: req.intervalMs, limits: req.limits, surge: req.surge})

  if (stored && !TERMINAL.has(stored.state.phase)) {
    const s = stored.state
    if (s.fingerprint !== fp) {
      throw new UsageError(`a rollout of ${req.name} is already in progress (${s.phase}, candidate at ${s.weight}%, started ${s.startedAt}) with other flags`, {
        fix: `rerun it with the same flags to resume (\`aip model rollout status ${req.name}\` shows them), finish it with \`aip model promote ${req.name}\`, or stop it with \`aip model rollout ${req.name} --abort\``,
        details: {inProgress: {phase: s.phase, weight: s.weight, overrides: s.overrides, steps: s.steps}},
      })
    }
    if (req.dryRun) return report(s, true, {phase: s.phase})
    progress.step(`resume the rollout of ${req.name}: ${s.phase}, candidate at ${s.weight}%`).succeed()
    return drive(new Driver(deps, s, stored.resourceVersion), req.skipFit, true)
  }

  const base = stableEntry(stableDep, {template: req.template, recorded: await (deps.recorded ?? ((signal) => latestRecorded(client, namespace, req.name, signal)))(deps.signal)})
  if (req.overrides.servedName && req.overrides.servedName !== base.entry.servedModelName) {
    throw new UsageError(`a rollout keeps the public model name (${base.entry.servedModelName}); --served-name ${req.overrides.servedName} would make it another model`, {fix: 'drop --served-name, or deploy the new name beside it with aip model deploy --name'})
  }
  const candidateEntry = applyOverrides(base.entry, req.overrides, 'rollout flags')
  const changes = entryChanges(base.entry, candidateEntry)
  if (stored?.state.phase === 'promoted' && stored.state.fingerprint === fp && changes.length === 0) return report(stored.state, true)
  if (changes.length === 0) {
    throw new UsageError(`nothing to roll out: these flags give ${req.name} the spec it already runs`, {fix: 'pass what changes, e.g. --revision SHA, --image TAG or --max-model-len N'})
  }
  if (base.source === 'catalog+live') deps.warn?.(`${req.name}: no recorded revision; the candidate is the catalog entry with the live Deployment's settings and your flags`)

  // gpu-fit for the candidate: exit 3 before anything changes
  let podAnnotations: Record<string, string> | undefined
  if (!req.skipFit) {
    const step = progress.step(`gpu-fit: candidate on ${candidateEntry.gpu.count}x ${candidateEntry.gpu.type}`)
    try {
      podAnnotations = fitGate(candidateEntry, deps.render.gpuMemoryUtilization).annotations
      step.succeed(`gpu-fit: the candidate fits on ${candidateEntry.gpu.count}x ${candidateEntry.gpu.type} at max-model-len ${candidateEntry.vllm.maxModelLen}`)
    } catch (error) {
      step.fail('gpu-fit: the candidate does not fit')
      throw error
    }
  }

  // rate() needs two samples in the window: aip's ServiceMonitor scrapes every 15 s (render/monitoring.ts)
  if (req.intervalMs < 30_000) deps.warn?.(`--interval ${Math.round(req.intervalMs / 1000)}s is shorter than two scrapes of aip's ServiceMonitor (15 s each): gates may see no data unless Prometheus scrapes faster`)
  const mode = req.surge ? 'canary' : 'in-place'
  const replicas = Math.max(1, replicasOf(stableDep) ?? 1)
  const now = new Date().toISOString()
  const s: RolloutState = {
    version: 1,
    model: req.name,
    namespace,
    mode,
    phase: 'starting',
    fingerprint: fp,
    steps: mode === 'canary' ? req.steps : [100],
    intervalMs: req.intervalMs,
    limits: req.limits,
    weight: 0,
    stepIndex: -1,
    candidate: {deployment: mode === 'canary' ? serverName(candidateEntry, {track: 'canary'}) : objectName(req.name), revision: candidateEntry.hf.revision, image: candidateEntry.image, replicas, gpus: candidateEntry.gpu.count, servedName: candidateEntry.servedModelName, changes},
    stable: {deployment: objectName(req.name), revision: stableDep.metadata.annotations?.['aip.dev/hf-revision'], image: base.entry.image, generation: stableDep.metadata.generation},
    overrides: pick(req.overrides),
    gates: [],
    startedAt: now,
    updatedAt: now,
    candidateEntry,
    stableEntry: base.entry,
  }

  let capacity: CapacityReport | undefined
  if (mode === 'canary') {
    const step = progress.step(`GPU headroom for ${replicas} candidate replica(s) of ${candidateEntry.gpu.count}x ${candidateEntry.gpu.type}`)
    capacity = await checkCapacity(client, {namespace, replicas, gpusPerReplica: candidateEntry.gpu.count, gpu: candidateEntry.gpu}, deps.signal)
    if (capacity.fits) step.succeed(`GPU headroom: ${capacity.needGpus} GPU(s) for the candidate fit beside the stable`)
    else step.fail('GPU headroom: the candidate does not fit beside the stable')
  }
  if (req.dryRun) return report(s, false, {phase: 'planned', capacity})
  if (capacity && !capacity.fits) throw surgeError(req.name, capacity)
  if (mode === 'canary' && !(await hasGateway({...deps.gateway, client}))) {
    throw new UsageError(`a canary rollout shifts traffic through the gateway, and none is installed in ${deps.gateway.gatewayNamespace}`, {fix: 'install it (aip gateway install), or replace in place with --surge 0'})
  }
  const rv = await replaceState(client, s)
  return drive(new Driver(deps, s, rv), req.skipFit, false, podAnnotations, capacity)
}

/** Runs the state machine from wherever the state is. */
async function drive(d: Driver, skipFit: boolean | undefined, resumed: boolean, podAnnotations?: Record<string, string>, capacity?: CapacityReport): Promise<RolloutReport> {
  const {deps} = d
  const name = d.s.model
  try {
    if (d.s.mode === 'in-place') return await driveInPlace(d, resumed)
    if (d.s.phase === 'aborting') return await abortWith(d, d.s.reason ?? 'aborted', d.s.breaches ?? [], false)
    if (d.s.phase === 'promoting') return report(await promote(d), resumed)
    if (d.s.phase === 'starting' || d.s.phase === 'warming') await startCandidate(d, podAnnotations ?? (skipFit ? undefined : safeFit(d.s.candidateEntry, deps.render.gpuMemoryUtilization)))
    await shift(d)
    return report(await promote(d), resumed, capacity ? {capacity} : {})
  } catch (error) {
    if (deps.signal?.aborted && !(error instanceof RolloutAbortedError)) throw interrupted(name, d.s)
    if (error instanceof StateChangedError) return changedElsewhere(d, error)
    throw error
  }
}

/**
 * Another command wrote the state while this one drove it (`aip model promote` or `--abort` from
 * another terminal or CI): this one stops and reports what the other did.
 */
async function changedElsewhere(d: Driver, error: StateChangedError): Promise<RolloutReport> {
  const cur = await readState(d.deps.client, d.s.namespace, d.s.model, d.deps.signal)
  if (!cur) throw error
  const s = cur.state
  if (s.phase === 'promoted' || s.phase === 'promoting') {
    d.deps.warn?.(`the rollout of ${s.model} ${s.phase === 'promoted' ? 'was promoted' : 'is being promoted'} by another command (aip model promote); this one stops here`)
    return report(s, true)
  }
  if (s.phase === 'aborted' || s.phase === 'aborting') {
    throw new RolloutAbortedError(`rollout of ${s.model} aborted by another command: ${s.reason ?? 'no reason recorded'}`, `see aip model rollout status ${s.model}`, {rollout: report(s, true), breaches: s.breaches ?? []})
  }
  throw error
}

function safeFit(entry: CatalogEntry, util?: number): Record<string, string> | undefined {
  try {
    return fitGate(entry, util).annotations
  } catch {
    return undefined
  }
}

function renderOpts(deps: RolloutDeps, capabilities = ALL_CAPABILITIES): RenderOptions {
  return {...deps.render, namespace: deps.namespace, capabilities}
}

async function startCandidate(d: Driver, podAnnotations: Record<string, string> | undefined): Promise<void> {
  const {deps} = d
  const {client, namespace} = deps
  const kube = await import('../kube/index.js')
  const progress = deps.progress ?? silentProgress
  const capabilities = await detectCapabilities(client)
  const r = renderTrack(d.s.candidateEntry, {...renderOpts(deps, capabilities), track: 'canary'}, d.s.candidate.replicas, {podAnnotations})
  const apply = progress.step(`apply the candidate ${d.s.candidate.deployment} (${d.s.candidate.replicas} replica(s))`)
  // force: the canary is the rollout's alone; an abort scaled it with another manager
  await kube.applyObjects(client, r.objects, {force: true, signal: deps.signal})
  apply.succeed(`applied the candidate ${d.s.candidate.deployment}: ${d.s.candidate.changes.join('; ')}`)
  const timeoutMs = deps.timeoutMs ?? 15 * 60_000
  const deadline = Date.now() + timeoutMs
  const job = progress.step(`preload the candidate's weights (job ${r.preloadJob.metadata.name})`)
  try {
    await kube.waitForJob(client, {name: r.preloadJob.metadata.name, namespace, timeoutMs, signal: deps.signal, onProgress: (p) => job.update(p.message)})
    job.succeed(`candidate weights in place (job ${r.preloadJob.metadata.name})`)
  } catch (error) {
    job.fail(`preload job ${r.preloadJob.metadata.name} did not complete`)
    throw error
  }
  const ready = progress.step(`wait for the candidate ${d.s.candidate.deployment} to be ready`)
  try {
    const ro = await kube.waitForRollout(client, {name: d.s.candidate.deployment, namespace, timeoutMs: Math.max(1, deadline - Date.now()), signal: deps.signal, onProgress: (p) => ready.update(`${p.ready}/${p.desired} ready`)})
    ready.succeed(`candidate ${d.s.candidate.deployment}: ${ro.available}/${ro.desired} ready`)
  } catch (error) {
    ready.fail(`candidate ${d.s.candidate.deployment} did not become ready`)
    if (deps.signal?.aborted) throw error
    // it never served: nothing to move back, but its GPUs are freed
    const msg = error instanceof AipError ? error.message : String(error)
    await abortWith(d, `the candidate did not become ready: ${msg}`, [], true).catch(() => undefined)
    throw error
  }
  await d.save({phase: 'warming'})
  const warm = progress.step(`warm the candidate: one completion through its Service ${d.s.candidate.deployment}`)
  const w = await warmUp(client, {namespace, service: d.s.candidate.deployment, servedName: d.s.candidate.servedName, signal: deps.signal})
  if (!w.ok) {
    warm.fail(`the candidate did not answer a completion: ${w.error}`)
    await abortWith(d, `the candidate did not answer a warm-up completion (${w.attempts} attempts): ${w.error}`, [], false)
  }
  warm.succeed(`candidate warm: a completion answered in ${w.latencyMs} ms`)
  await d.save({phase: 'shifting'})
}

async function measure(d: Driver, weight: number): Promise<GateResult> {
  const prom = await d.deps.prometheus()
  const [candidate, stable] = await Promise.all([measureTrack(prom, trackRef(d.s, 'candidate'), d.s.intervalMs, d.deps.signal), measureTrack(prom, trackRef(d.s, 'stable'), d.s.intervalMs, d.deps.signal)])
  const j = judge(candidate, d.s.limits)
  return {weight, at: new Date().toISOString(), window: `${Math.round(d.s.intervalMs / 1000)}s`, candidate, stable, verdict: j.verdict, breaches: j.breaches}
}

/** Someone else promoted or aborted: stop driving. */
async function checkExternal(d: Driver): Promise<void> {
  const cur = await readState(d.deps.client, d.s.namespace, d.s.model, d.deps.signal)
  if (cur && cur.resourceVersion !== d.rv) {
    throw new StateChangedError(`the rollout of ${d.s.model} was changed from elsewhere (now ${cur.state.phase}); this command stops driving it`, {fix: `see it with aip model rollout status ${d.s.model}`})
  }
}

async function gate(d: Driver, weight: number): Promise<GateResult> {
  let g = await measure(d, weight)
  if (g.verdict === 'no-data') {
    // no finished request of the candidate in the window: one more window, then it is an abort
    d.deps.warn?.(`no data for the candidate at ${weight}% over ${g.window}: waiting one more interval`)
    await sleep(d.s.intervalMs, d.deps.signal)
    g = await measure(d, weight)
  }
  d.deps.onGate?.(g)
  await d.save({gates: [...d.s.gates, g]})
  return g
}

async function shift(d: Driver): Promise<void> {
  const {deps} = d
  const {client} = deps
  const {getObject} = await import('../kube/index.js')
  const progress = deps.progress ?? silentProgress
  const gw = {...deps.gateway, client, signal: deps.signal}
  const conn = await connect(gw)
  const stableDep = await getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.stable.deployment, namespace: d.s.namespace})
  const canaryDep = await getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.candidate.deployment, namespace: d.s.namespace})
  if (!stableDep || !canaryDep) throw new AipError('FAILED', `the ${!stableDep ? 'stable' : 'candidate'} Deployment of ${d.s.model} is gone`, {fix: `abort the rollout: aip model rollout ${d.s.model} --abort`})
  const target = trafficTarget(stableDep, canaryDep)
  const canaryRef = {name: d.s.candidate.deployment, namespace: d.s.namespace}

  if (d.s.gates.length === 0) {
    // the baseline: the stable's numbers before the candidate takes any traffic
    const b = await measure(d, 0)
    const baseline: GateResult = {...b, verdict: 'baseline', breaches: []}
    deps.onGate?.(baseline)
    await d.save({gates: [baseline]})
  }
  // resume: the share reached is applied again (idempotent) and measured over a full interval
  const start = d.s.stepIndex >= 0 ? d.s.stepIndex : 0
  for (let i = start; i < d.s.steps.length; i++) {
    const weight = d.s.steps[i]!
    await checkExternal(d)
    await d.save({weight, stepIndex: i})
    const step = progress.step(`shift ${weight}% of "${d.s.candidate.servedName}" to the candidate (verified on every gateway replica)`)
    // while the replicas catch up, another command (promote, --abort) may take the rollout over
    const r = await setWeight({...gw, check: () => checkExternal(d)}, conn, target, weight, canaryRef)
    step.succeed(`candidate serves ${weight}% (stable ${100 - weight}%) on ${r.replicas.length} gateway replica(s)`)
    const wait = progress.step(`measure both tracks for ${Math.round(d.s.intervalMs / 1000)}s`)
    await sleep(d.s.intervalMs, deps.signal)
    const g = await gate(d, weight)
    if (g.verdict === 'breach' || g.verdict === 'no-data') {
      wait.fail(`gate at ${weight}%: ${g.verdict === 'breach' ? describeBreaches(g.breaches) : 'no data for the candidate'}`)
      const reason = g.verdict === 'breach' ? `the candidate breached its limits at ${weight}%: ${describeBreaches(g.breaches)}` : `no data for the candidate at ${weight}% over two intervals of ${g.window} (no finished requests)`
      await abortWith(d, reason, g.breaches, true, conn, target)
    }
    wait.succeed(`gate at ${weight}%: pass`)
  }
}

/** Back to the stable: traffic, then the candidate to zero replicas; the state says why. Throws the abort (exit 1) unless `quiet`. */
async function abortWith(d: Driver, reason: string, breaches: RolloutState['breaches'] & object, fail: boolean, conn?: Awaited<ReturnType<typeof connect>>, target?: ReturnType<typeof trafficTarget>): Promise<never> {
  const {deps} = d
  const {client} = deps
  // the cleanup runs even after Ctrl-C: a half-done abort would leave traffic on the candidate
  const signal = undefined
  const progress = deps.progress ?? silentProgress
  await d.save({phase: 'aborting', reason, breaches})
  const kube = await import('../kube/index.js')
  if (d.s.mode === 'canary') {
    const gw = {...deps.gateway, client, signal}
    const step = progress.step('move all traffic back to the stable')
    if (await hasGateway(gw)) {
      const c = conn ?? (await connect(gw))
      let t = target
      if (!t) {
        const stableDep = await kube.getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.stable.deployment, namespace: d.s.namespace})
        const canaryDep = await kube.getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.candidate.deployment, namespace: d.s.namespace})
        if (stableDep && canaryDep) t = trafficTarget(stableDep, canaryDep)
      }
      if (t) await setWeight({...gw, client}, c, t, 0, {name: d.s.candidate.deployment, namespace: d.s.namespace}).catch(async (error: unknown) => {
        if ((await kube.getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.candidate.deployment, namespace: d.s.namespace})) === undefined) return
        throw error
      })
    }
    step.succeed('traffic: stable 100%, candidate deregistered')
    const scale = progress.step(`scale the candidate ${d.s.candidate.deployment} to 0`)
    const path = `/apis/apps/v1/namespaces/${encodeURIComponent(d.s.namespace)}/deployments/${encodeURIComponent(d.s.candidate.deployment)}/scale`
    await client.request('PATCH', path, {body: {spec: {replicas: 0}}, contentType: 'application/merge-patch+json', query: {fieldManager: ROLLOUT_MANAGER}}).catch((error: unknown) => {
      if (!(error instanceof AipError && error.code === 'NOT_FOUND')) throw error
    })
    scale.succeed(`candidate ${d.s.candidate.deployment} scaled to 0 (kept for inspection; the next rollout replaces it)`)
    await d.save({phase: 'aborted', weight: 0})
  } else {
    if (d.s.stableEntry) {
      const step = progress.step(`roll ${d.s.model} back to its previous spec`)
      await deployModel({entry: d.s.stableEntry, render: renderOpts(deps), client, wait: true, skipFit: true, timeoutMs: deps.timeoutMs, progress: deps.progress, warn: deps.warn, history: 'rollback'})
      step.succeed(`${d.s.model} runs its previous spec again`)
    }
    await d.save({phase: 'aborted'})
  }
  const where = d.s.mode === 'canary' ? 'traffic is back on the stable and the candidate is at 0 replicas' : 'the model runs its previous spec again'
  throw new RolloutAbortedError(`rollout of ${d.s.model} aborted: ${reason}`, `${where}; ${fail ? 'fix the candidate and rerun; ' : ''}see aip model rollout status ${d.s.model}`, {rollout: report(d.s, false), breaches})
}

/** Deletes the canary track's objects (this rollout's, or an aborted one's left for inspection). */
async function removeCanary(d: Driver): Promise<void> {
  const {deps} = d
  const kube = await import('../kube/index.js')
  const objects = await kube.listByLabels(deps.client, [{apiVersion: 'apps/v1', kind: 'Deployment'}, {apiVersion: 'v1', kind: 'Service'}, {apiVersion: 'policy/v1', kind: 'PodDisruptionBudget'}, {apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy'}], `${aipSelector(d.s.model)},${TRACK_LABEL}=canary`, {namespace: d.s.namespace, signal: deps.signal})
  if (objects.length === 0) return
  const step = (deps.progress ?? silentProgress).step(`remove the canary's objects`)
  await kube.deleteObjects(deps.client, objects, {propagationPolicy: 'Background', signal: deps.signal})
  await kube.waitForDeleted(deps.client, objects.map((o) => ({apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: d.s.namespace})), {timeoutMs: 5 * 60_000, signal: deps.signal})
  step.succeed(`removed ${objects.length} canary object(s)`)
}

/** The stable takes the candidate's spec while the candidate carries the traffic; then the canary goes. */
async function promote(d: Driver): Promise<RolloutState> {
  const {deps} = d
  const {client} = deps
  const progress = deps.progress ?? silentProgress
  const kube = await import('../kube/index.js')
  const gw = {...deps.gateway, client, signal: deps.signal}
  const conn = await connect(gw)
  if (d.s.phase !== 'promoting') await d.save({phase: 'promoting'})
  const canaryDep = await kube.getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.candidate.deployment, namespace: d.s.namespace})
  const stableBefore = await kube.getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.stable.deployment, namespace: d.s.namespace})
  if (canaryDep && stableBefore && d.s.weight < 100) {
    // `model promote` before the last step: the candidate takes everything while the stable rolls
    const step = progress.step('shift 100% to the candidate while the stable takes its spec')
    await setWeight(gw, conn, trafficTarget(stableBefore, canaryDep), 100, {name: d.s.candidate.deployment, namespace: d.s.namespace})
    await d.save({weight: 100, stepIndex: d.s.steps.length - 1})
    step.succeed('candidate serves 100%')
  }
  const step = progress.step(`${d.s.stable.deployment} takes the candidate's spec (rolling update; the candidate serves meanwhile)`)
  // the gpu-fit verdict annotates the pods as a deploy's would; a candidate started with --skip-fit skips it again
  const skipFit = safeFit(d.s.candidateEntry, deps.render.gpuMemoryUtilization) === undefined
  // recorded in the revision history as source 'rollout' (history.ts), with the objects the stable now runs
  await deployModel({entry: d.s.candidateEntry, render: renderOpts(deps), client, wait: true, skipFit, timeoutMs: deps.timeoutMs, signal: deps.signal, progress: deps.progress, warn: deps.warn, history: 'rollout'})
  step.succeed(`${d.s.stable.deployment} runs the candidate's spec`)
  const stableDep = await kube.getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.stable.deployment, namespace: d.s.namespace})
  if (canaryDep && stableDep) {
    const back = progress.step(`move the traffic back to ${d.s.stable.deployment}`)
    await setWeight(gw, conn, trafficTarget(stableDep, canaryDep), 0, {name: d.s.candidate.deployment, namespace: d.s.namespace})
    back.succeed(`${d.s.stable.deployment} serves 100%; the candidate is deregistered`)
  }
  await removeCanary(d)
  await d.save({phase: 'promoted', weight: 100, stable: {...d.s.stable, revision: d.s.candidate.revision, image: d.s.candidate.image, generation: stableDep?.metadata.generation}})
  return d.s
}

async function driveInPlace(d: Driver, resumed: boolean): Promise<RolloutReport> {
  const {deps} = d
  const progress = deps.progress ?? silentProgress
  if (d.s.phase === 'aborting') return abortWith(d, d.s.reason ?? 'aborted', d.s.breaches ?? [], false)
  if (d.s.phase === 'starting' || d.s.phase === 'warming' || d.s.phase === 'promoting') {
    const step = progress.step(`${d.s.stable.deployment}: rolling update to the candidate's spec in place (--surge 0)`)
    await deployModel({entry: d.s.candidateEntry, render: renderOpts(deps), client: deps.client, wait: true, skipFit: true, timeoutMs: deps.timeoutMs, signal: deps.signal, progress: deps.progress, warn: deps.warn, history: 'rollout'})
    step.succeed(`${d.s.stable.deployment} runs the candidate's spec`)
    await d.save({phase: 'shifting', weight: 100, stepIndex: 0})
  }
  const wait = progress.step(`measure ${d.s.stable.deployment} for ${Math.round(d.s.intervalMs / 1000)}s`)
  await sleep(d.s.intervalMs, deps.signal)
  const g = await gate(d, 100)
  if (g.verdict !== 'pass') {
    wait.fail(`gate: ${g.verdict === 'breach' ? describeBreaches(g.breaches) : 'no data'}`)
    await abortWith(d, g.verdict === 'breach' ? `the new spec breached its limits: ${describeBreaches(g.breaches)}` : `no data for ${d.s.stable.deployment} over two intervals of ${g.window}`, g.breaches, true)
  }
  wait.succeed('gate: pass')
  // an earlier aborted canary, kept for inspection, is obsolete now
  await removeCanary(d)
  const {getObject} = await import('../kube/index.js')
  const dep = await getObject(deps.client, {apiVersion: 'apps/v1', kind: 'Deployment', name: d.s.stable.deployment, namespace: d.s.namespace})
  await d.save({phase: 'promoted', stable: {...d.s.stable, revision: d.s.candidate.revision, image: d.s.candidate.image, generation: dep?.metadata.generation}})
  return report(d.s, resumed)
}

/** `aip model promote NAME`: skip the remaining steps (no more gates). */
export async function promoteRollout(deps: RolloutDeps, name: string): Promise<RolloutReport> {
  const stored = await readState(deps.client, deps.namespace, name, deps.signal)
  if (!stored || TERMINAL.has(stored.state.phase)) {
    throw new UsageError(`no rollout of ${name} is in progress${stored ? ` (the last one is ${stored.state.phase})` : ''}`, {fix: `start one: aip model rollout ${name} --revision SHA`})
  }
  const s = stored.state
  if (s.mode === 'in-place') throw new UsageError(`the rollout of ${name} replaces in place (--surge 0): there are no steps to skip`, {fix: `wait for it, or abort it: aip model rollout ${name} --abort`})
  if (s.phase === 'starting' || s.phase === 'warming') throw new UsageError(`the candidate of ${name} is not serving yet (${s.phase}): promoting it would send traffic to pods that are not warm`, {fix: `wait until \`aip model rollout status ${name}\` shows it shifting, or abort it: aip model rollout ${name} --abort`})
  if (s.phase === 'aborting') throw new UsageError(`the rollout of ${name} is being aborted`, {fix: `rerun: aip model rollout ${name} --abort`})
  const d = new Driver(deps, s, stored.resourceVersion)
  try {
    return report(await promote(d), true)
  } catch (error) {
    if (deps.signal?.aborted) throw interrupted(name, d.s)
    throw error
  }
}

/** `aip model rollout NAME --abort`: traffic back to the stable, the candidate to zero. */
export async function abortRollout(deps: RolloutDeps, name: string): Promise<RolloutReport> {
  const stored = await readState(deps.client, deps.namespace, name, deps.signal)
  if (!stored || TERMINAL.has(stored.state.phase)) {
    throw new UsageError(`no rollout of ${name} is in progress${stored ? ` (the last one is ${stored.state.phase})` : ''}`, {fix: `see it with aip model rollout status ${name}`})
  }
  if (stored.state.phase === 'promoting') throw new UsageError(`the rollout of ${name} is being promoted: the stable already takes the candidate's spec`, {fix: `finish it: aip model promote ${name}`})
  const d = new Driver(deps, stored.state, stored.resourceVersion)
  try {
    await abortWith(d, 'aborted by an operator (--abort)', [], false)
  } catch (error) {
    if (error instanceof RolloutAbortedError) return report(d.s, true)
    throw error
  }
  return report(d.s, true)
}

export type {TrackMetrics}
