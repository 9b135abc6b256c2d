import type {CatalogEntry} from '../catalog/schema.js'
import type {KubeObject} from '../kube/types.js'
import {meta, objectName, type RenderOptions} from './common.js'
import {wakeEnabled, wakeTrigger} from './wake.js'

/** PromQL selector of one model's vLLM series (vLLM labels them with the served model name). */
export function modelSeriesSelector(entry: CatalogEntry, opts: Pick<RenderOptions, 'namespace'>): string {
  return `namespace="${opts.namespace}",model_name="${entry.servedModelName}"`
}

/**
 * Leading signals, not CPU: the share of the batch slots in use (running / max-num-seqs, summed so
 * KEDA's AverageValue divides by replicas) and the KV-cache fill (new and deprecated metric names).
 */
export function scalingQueries(entry: CatalogEntry, opts: Pick<RenderOptions, 'namespace'>): {running: string; kv: string} {
  const sel = modelSeriesSelector(entry, opts)
  return {
    running: `sum(vllm:num_requests_running{${sel}}) / ${entry.vllm.maxNumSeqs}`,
    kv: `avg(vllm:kv_cache_usage_perc{${sel}} or vllm:gpu_cache_usage_perc{${sel}})`,
  }
}

function behavior(entry: CatalogEntry): Record<string, unknown> {
  return {
    // Scale out at once; scale in one replica at a time, after the cooldown (a new replica costs a
    // node, an image pull and a weight load, so flapping is expensive).
    scaleUp: {stabilizationWindowSeconds: 0, policies: [{type: 'Pods', value: 2, periodSeconds: 60}], selectPolicy: 'Max'},
    scaleDown: {stabilizationWindowSeconds: entry.scaling.cooldownSeconds, policies: [{type: 'Pods', value: 1, periodSeconds: 120}], selectPolicy: 'Min'},
  }
}

/** Annotation on the ScaledObject recording `deploy --idle-after` (seconds), read by `model status`. */
export const IDLE_AFTER_ANNOTATION = 'aip.dev/idle-after-seconds'

/**
 * Activity for idle shutdown: requests finished in the last 2 minutes plus requests running or
 * waiting now. Each part falls back to 0 (`or vector(0)`) so the sum exists while a part has no
 * series. KEDA counts the ScaledObject active while this is above its activationThreshold (0), and
 * scales the last replica away cooldownPeriod after the last active poll
 * (https://keda.sh/docs/latest/reference/scaledobject-spec/#cooldownperiod). At zero replicas there
 * are no vLLM series, so this does not wake the model: the HTTP add-on's trigger does (wake.ts).
 */
export function activityQuery(entry: CatalogEntry, opts: Pick<RenderOptions, 'namespace'>): string {
  const sel = modelSeriesSelector(entry, opts)
  return `(sum(rate(vllm:request_success_total{${sel}}[2m])) or vector(0)) + (sum(vllm:num_requests_running{${sel}}) or vector(0)) + (sum(vllm:num_requests_waiting{${sel}}) or vector(0))`
}

export function renderScaledObject(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  const q = scalingQueries(entry, opts)
  const s = entry.scaling
  const idle = s.idleAfterSeconds
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: meta(entry, opts, 'autoscaling', undefined, idle === undefined ? undefined : {[IDLE_AFTER_ANNOTATION]: String(idle)}),
    spec: {
      scaleTargetRef: {apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(entry.name)},
      minReplicaCount: s.minReplicas,
      maxReplicaCount: s.maxReplicas,
      pollingInterval: s.pollingInterval,
      // Only governs the last replica -> 0; must exceed node provisioning + image pull + weight load.
      // With --idle-after: the idle time before the last replica goes
      cooldownPeriod: idle ?? s.cooldownSeconds,
      advanced: {horizontalPodAutoscalerConfig: {behavior: behavior(entry)}},
      triggers: [
        {type: 'prometheus', name: 'running-ratio', metricType: 'AverageValue', metadata: {serverAddress: opts.prometheusUrl, query: q.running, threshold: String(s.targetRunningRatio), activationThreshold: '0', ignoreNullValues: 'true'}},
        {type: 'prometheus', name: 'kv-cache-usage', metricType: 'Value', metadata: {serverAddress: opts.prometheusUrl, query: q.kv, threshold: String(s.targetKvUsage), ignoreNullValues: 'true'}},
        // activation only: a threshold no replica reaches, so it never asks for more than 1 replica
        ...(idle === undefined ? [] : [{type: 'prometheus', name: 'activity', metricType: 'Value', metadata: {serverAddress: opts.prometheusUrl, query: activityQuery(entry, opts), threshold: '1000000', activationThreshold: '0', ignoreNullValues: 'true'}}]),
        // wake on request: requests waiting at the HTTP add-on's interceptor (exists at zero)
        ...(wakeEnabled(entry, opts) ? [wakeTrigger(entry)] : []),
      ],
    },
  }
}

/**
 * Without KEDA: an autoscaling/v2 HPA on the per-pod vLLM metrics as prometheus-adapter exposes them
 * (custom.metrics.k8s.io). Without an adapter the HPA reports the metric missing and holds the
 * replica count at its floor, so it is safe to render either way.
 */
export function renderHpa(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  const s = entry.scaling
  return {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(entry, opts, 'autoscaling'),
    spec: {
      scaleTargetRef: {apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(entry.name)},
      minReplicas: Math.max(1, s.minReplicas),
      maxReplicas: s.maxReplicas,
      metrics: [
        {type: 'Pods', pods: {metric: {name: 'vllm:num_requests_running'}, target: {type: 'AverageValue', averageValue: String(Math.max(1, Math.floor(s.targetRunningRatio * entry.vllm.maxNumSeqs)))}}},
        {type: 'Pods', pods: {metric: {name: 'vllm:kv_cache_usage_perc'}, target: {type: 'AverageValue', averageValue: `${Math.round(s.targetKvUsage * 1000)}m`}}},
      ],
      behavior: behavior(entry),
    },
  }
}
