/**
 * Waiting until a model serves, shared by `model deploy` and `model rollback`: the preload Job
 * first (the server's init container waits for the weights too), then the Deployment's rollout by
 * watch, with the pods checked every stallCheckMs for a cause that will not heal (fail at once,
 * exit 1, instead of running into the timeout).
 */
import {AipError, InterruptedError, UnreachableError} from '../errors.js'
import type {Diagnosis, KubeClient, RolloutResult} from '../kube/index.js'
import {recordObservedColdStart} from './hold.js'
import {type Progress, silentProgress} from './progress.js'

/**
 * Causes that do not heal by waiting: fail at once (exit 1) instead of running into the timeout
 * (exit 7). Unschedulable (a GPU node may be provisioning) and ImagePullBackOff (registry hiccups)
 * are left to the timeout.
 */
export function isDefiniteFailure(d: Diagnosis): boolean {
  switch (d.reason) {
    case 'InvalidImageName':
    case 'CreateContainerConfigError':
      return true
    case 'CrashLoopBackOff':
      return (d.restartCount ?? 0) >= 3
    case 'OOMKilled':
      return (d.restartCount ?? 0) >= 2
    default:
      return false
  }
}

export interface ServingWaitOptions {
  namespace: string
  /** The model (for messages). */
  model: string
  /** The server Deployment. */
  deployment: string
  /** The preload Job to wait for first (none: the rollout only). */
  job?: string
  /** Said when the Job completed ("weights in s3://..."). */
  weightsDisplay?: string
  /** Said when the rollout completed ("serving at ..."). */
  endpoint: string
  deadline: number
  signal?: AbortSignal
  progress?: Progress
  /** Default 15 s. */
  stallCheckMs?: number
  /** The fix of an interrupted wait (default: follow with model status / rerun the deploy). */
  interruptedFix?: string
}

export interface ServingResult {
  preload?: {job: string; status: string}
  rollout: RolloutResult
}

function remaining(deadline: number): number {
  return Math.max(1, deadline - Date.now())
}

/** Ctrl-C during --wait: the objects are applied and keep rolling out without us. */
export function interruptedWait(model: string, fix?: string): InterruptedError {
  return new InterruptedError('interrupted', {fix: fix ?? `the objects are applied and keep rolling out: follow with \`aip model status ${model}\`, or rerun the deploy to wait again`})
}

export async function waitUntilServing(c: KubeClient, o: ServingWaitOptions): Promise<ServingResult> {
  const kube = await import('../kube/index.js')
  const progress = o.progress ?? silentProgress
  const ns = o.namespace
  let preload: ServingResult['preload']
  if (o.job) {
    const jobName = o.job
    const preloadStep = progress.step(`preload weights (job ${jobName})`)
    try {
      const job = await kube.waitForJob(c, {name: jobName, namespace: ns, timeoutMs: remaining(o.deadline), signal: o.signal, onProgress: (p) => preloadStep.update(p.message)})
      preloadStep.succeed(o.weightsDisplay ? `weights in ${o.weightsDisplay}` : `job ${jobName} complete`)
      preload = {job: jobName, status: job.status}
    } catch (error) {
      if (o.signal?.aborted) throw interruptedWait(o.model, o.interruptedFix)
      preloadStep.fail(error instanceof UnreachableError ? `preload job ${jobName}: lost the API server while waiting` : `preload job ${jobName} did not complete`)
      throw error
    }
  }
  const depName = o.deployment
  const rolloutStep = progress.step(`rollout deployment ${depName}`)
  let rollout: RolloutResult
  // The rollout is watched; pods are checked every stallCheckMs for a cause that will not heal.
  const stall = new AbortController()
  const signal = o.signal ? AbortSignal.any([o.signal, stall.signal]) : stall.signal
  let definite: Diagnosis | undefined
  let checking = false
  const timer = setInterval(() => {
    if (checking || definite) return
    checking = true
    kube
      .diagnoseWorkload(c, {namespace: ns, deployment: depName, signal})
      .then((d) => {
        if (d && isDefiniteFailure(d)) {
          definite = d
          stall.abort()
        }
      })
      .catch(() => undefined)
      .finally(() => (checking = false))
  }, o.stallCheckMs ?? 15_000)
  try {
    rollout = await kube.waitForRollout(c, {
      name: depName,
      namespace: ns,
      timeoutMs: remaining(o.deadline),
      signal,
      onProgress: (p) => rolloutStep.update(`${p.ready}/${p.desired} ready, ${p.available} available`),
    })
    rolloutStep.succeed(`${depName}: ${rollout.available}/${rollout.desired} replicas available; serving at ${o.endpoint}`)
  } catch (error) {
    // Ctrl-C is not a failed rollout: say only that the wait was interrupted
    if (o.signal?.aborted) throw interruptedWait(o.model, o.interruptedFix)
    rolloutStep.fail(error instanceof UnreachableError ? `${depName}: lost the API server while waiting` : `${depName} did not become available`)
    if (definite && !o.signal?.aborted) {
      throw new AipError('FAILED', `deployment ${ns}/${depName} cannot become ready: ${definite.message}`, {fix: kube.fixFor(definite), details: {diagnosis: definite}, cause: error})
    }
    throw error
  } finally {
    clearInterval(timer)
  }
  // a start the CLI saw: recorded on the Deployment, the next deploy's scale-from-zero hold (hold.ts)
  await recordObservedColdStart(c, ns, depName, o.model, o.signal)
  return {...(preload ? {preload} : {}), rollout}
}
