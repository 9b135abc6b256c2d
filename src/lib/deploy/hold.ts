/**
 * How long a request for a model at zero replicas is held before the client is told to come back
 * (503 + Retry-After): the model's cold start, measured when one was seen, else estimated.
 *
 * - Measured: `aip.dev/last-cold-start-seconds` on the Deployment, the newest Ready pod's creation ->
 *   Ready (idle.ts scalingStatus), written whenever the CLI sees a start (`model deploy --wait`,
 *   `model status`, `model scale`) by `recordColdStart` with its own field manager, so the next
 *   `model deploy` (server-side apply by manager `aip`) leaves it alone.
 * - Estimated from the model size (gpufit owns the weights size): GPU node provisioning + image pull
 *   + weights streamed from S3 + vLLM start-up (CUDA graphs, warm-up). The constants are planning
 *   figures, not measurements: the first observed start replaces them.
 * - hold = max(estimate, last measured x margin), capped below the gateway's request timeout (a
 *   hold longer than LiteLLM's own timeout would end in LiteLLM's timeout, not a 503).
 *
 * The hold is rendered into the HTTPScaledObject at deploy time: a later measurement takes effect on
 * the next `aip model deploy` (or `aip model scale`, which re-applies the hold from the measurement).
 */
import type {KubeClient, KubeObject} from '../kube/index.js'
import {scalingStatus} from './idle.js'

export const LAST_COLD_START_ANNOTATION = 'aip.dev/last-cold-start-seconds'
/** The field manager of the cold-start record (not `aip`, whose applies would otherwise drop it). */
export const COLD_START_MANAGER = 'aip-cold-start'

/** Planning figures for a cold start on a fresh GPU node (seconds; bytes per second). */
export const COLD_START_ESTIMATE = {
  /** Karpenter / managed node group: EC2 GPU instance launch, boot, join, NVIDIA device plugin. */
  nodeProvisioningSeconds: 180,
  /** the vLLM image (~10 GB) on an empty node */
  imagePullSeconds: 120,
  /** S3 -> GPU through the Run:ai streamer, conservatively */
  weightsBytesPerSecond: 250e6,
  /** vLLM engine start: profiling, CUDA graph capture, warm-up */
  vllmStartupSeconds: 90,
} as const

/** Measured cold start x this margin: a start is rarely exactly as fast twice. */
export const HOLD_MARGIN = 1.5
/** LiteLLM's request_timeout (gateway/render.ts litellmConfig) minus slack for the 503 to travel. */
export const MAX_HOLD_SECONDS = 570
export const MIN_HOLD_SECONDS = 5

export interface HoldDerivation {
  holdSeconds: number
  retryAfterSeconds: number
  /** What the cold start is expected to take (the larger of estimate and measurement). */
  expectedColdStartSeconds: number
  estimateSeconds: number
  measuredSeconds?: number
  source: 'flag' | 'measured' | 'estimate'
  /** Set when the hold was capped or a flag is shorter than the expected start. */
  note?: string
}

export function estimateColdStartSeconds(weightsBytes: number | undefined): number {
  const e = COLD_START_ESTIMATE
  const load = weightsBytes && weightsBytes > 0 ? weightsBytes / e.weightsBytesPerSecond : 0
  return Math.ceil(e.nodeProvisioningSeconds + e.imagePullSeconds + load + e.vllmStartupSeconds)
}

export function deriveHold(input: {weightsBytes?: number; measuredSeconds?: number; flagSeconds?: number}): HoldDerivation {
  const estimateSeconds = estimateColdStartSeconds(input.weightsBytes)
  const measured = input.measuredSeconds !== undefined && Number.isFinite(input.measuredSeconds) && input.measuredSeconds > 0 ? input.measuredSeconds : undefined
  const expected = Math.max(estimateSeconds, measured ?? 0)
  let hold: number
  let source: HoldDerivation['source']
  let note: string | undefined
  if (input.flagSeconds !== undefined) {
    hold = input.flagSeconds
    source = 'flag'
    if (hold < expected) note = `--hold-timeout ${hold}s is shorter than the expected cold start (${expected}s): the first request to this model at zero replicas gets 503 + Retry-After`
  } else {
    hold = Math.ceil(Math.max(estimateSeconds, (measured ?? 0) * HOLD_MARGIN))
    source = measured !== undefined && measured * HOLD_MARGIN > estimateSeconds ? 'measured' : 'estimate'
  }
  if (hold > MAX_HOLD_SECONDS) {
    note = `hold ${hold}s capped at ${MAX_HOLD_SECONDS}s (the gateway's request timeout is 600s); a longer cold start answers 503 + Retry-After`
    hold = MAX_HOLD_SECONDS
  }
  hold = Math.max(MIN_HOLD_SECONDS, Math.round(hold))
  // Past the hold the model is still starting: come back when it should be up, within reason.
  const retryAfterSeconds = Math.min(120, Math.max(5, Math.ceil(expected - hold) || 30))
  return {holdSeconds: hold, retryAfterSeconds, expectedColdStartSeconds: expected, estimateSeconds, ...(measured !== undefined ? {measuredSeconds: measured} : {}), source, ...(note ? {note} : {})}
}

/** The recorded cold start of a live Deployment, if any. */
export function recordedColdStart(dep: KubeObject | undefined): number | undefined {
  const v = dep?.metadata.annotations?.[LAST_COLD_START_ANNOTATION]
  const n = v === undefined ? NaN : Number(v)
  return Number.isFinite(n) && n > 0 ? n : undefined
}

/**
 * Writes the observed cold start on the Deployment (a JSON merge patch of one annotation, field
 * manager `aip-cold-start`), when it differs from the record. Best effort: a caller that may not
 * patch Deployments (a read-only role running `model status`) still gets its answer.
 */
export async function recordColdStart(client: KubeClient, dep: KubeObject, seconds: number, signal?: AbortSignal): Promise<boolean> {
  if (!(seconds > 0) || recordedColdStart(dep) === seconds) return false
  const ns = dep.metadata.namespace ?? client.namespace
  try {
    await client.request('PATCH', `/apis/apps/v1/namespaces/${encodeURIComponent(ns)}/deployments/${encodeURIComponent(dep.metadata.name)}`, {
      body: {metadata: {annotations: {[LAST_COLD_START_ANNOTATION]: String(seconds)}}},
      contentType: 'application/merge-patch+json',
      query: {fieldManager: COLD_START_MANAGER},
      signal,
    })
    return true
  } catch {
    return false
  }
}

/**
 * After a start the CLI saw (deploy/rollback --wait, model scale): the newest Ready server pod's
 * creation -> Ready, recorded on the Deployment. Best effort; returns what it saw.
 */
export async function recordObservedColdStart(c: KubeClient, ns: string, depName: string, model: string, signal?: AbortSignal): Promise<number | undefined> {
  const kube = await import('../kube/index.js')
  const {aipSelector} = await import('../kube/labels.js')
  try {
    const [dep, pods] = await Promise.all([
      kube.getObject(c, {apiVersion: 'apps/v1', kind: 'Deployment', name: depName, namespace: ns}),
      kube.listByLabels(c, [{apiVersion: 'v1', kind: 'Pod'}], `${aipSelector(model)},app.kubernetes.io/component=server`, {namespace: ns, signal}),
    ])
    const seen = scalingStatus([], pods).lastColdStart?.seconds
    if (dep && seen !== undefined) await recordColdStart(c, dep, seen, signal)
    return seen
  } catch {
    return undefined
  }
}
