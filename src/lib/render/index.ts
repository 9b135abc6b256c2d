/**
 * Typed builders: catalog entry + options -> plain Kubernetes objects (no text templating).
 * `renderModel` returns them in apply order (identity and policy first, the workload after the
 * objects it references, autoscaling and monitoring last).
 */
import type {CatalogEntry} from '../catalog/schema.js'
import type {KubeObject} from '../kube/types.js'
import type {RenderOptions} from './common.js'
import {renderPrometheusRule, renderServiceMonitor} from './monitoring.js'
import {renderPreloadNetworkPolicy, renderServerNetworkPolicy} from './network.js'
import {renderPreloadJob} from './preload.js'
import {renderHpa, renderScaledObject} from './scaling.js'
import {renderDeployment, renderPodDisruptionBudget, renderService} from './server.js'
import {renderHttpScaledObject, wakeEnabled} from './wake.js'

export * from './common.js'
export * from './monitoring.js'
export * from './network.js'
export * from './preload.js'
export * from './scaling.js'
export * from './server.js'
export * from './wake.js'
export * from './weights.js'

export interface RenderedModel {
  /** Everything, in apply order. */
  objects: KubeObject[]
  /** The preload Job (also in `objects`): deploy waits for it before the server rolls out. */
  preloadJob: KubeObject
  deployment: KubeObject
  /** Optional objects left out because the cluster lacks their CRDs, with why. */
  skipped: Array<{kind: string; reason: string}>
}

export interface RenderExtras {
  /** Extra pod-template annotations (e.g. gpu-fit results for admission policies). */
  podAnnotations?: Record<string, string>
}

export function renderModel(entry: CatalogEntry, opts: RenderOptions, extras: RenderExtras = {}): RenderedModel {
  const skipped: RenderedModel['skipped'] = []
  const preloadJob = renderPreloadJob(entry, opts)
  const deployment = renderDeployment(entry, opts, extras.podAnnotations)
  const objects: KubeObject[] = [
    renderServerNetworkPolicy(entry, opts),
    renderPreloadNetworkPolicy(entry, opts),
    preloadJob,
    renderService(entry, opts),
    deployment,
    renderPodDisruptionBudget(entry, opts),
  ]
  if (opts.capabilities.keda) {
    // the HTTPScaledObject first: the ScaledObject's external-push trigger names it
    if (wakeEnabled(entry, opts)) objects.push(renderHttpScaledObject(entry, {...opts, wake: opts.wake!}))
    else if (entry.scaling.minReplicas === 0) skipped.push({kind: 'HTTPScaledObject', reason: 'the KEDA HTTP add-on (http.keda.sh/v1alpha1) is not installed: a request to this model at zero replicas does not wake it (run `aip cluster bootstrap`, or `aip model scale NAME --min 1`)'})
    objects.push(renderScaledObject(entry, opts))
  } else {
    objects.push(renderHpa(entry, opts))
    skipped.push({kind: 'ScaledObject', reason: `KEDA (keda.sh/v1alpha1) is not installed: rendered a HorizontalPodAutoscaler instead (needs prometheus-adapter for the vLLM metrics)${entry.scaling.idleAfterSeconds !== undefined ? '; --idle-after has no effect (an HPA keeps at least one replica)' : ''}`})
  }
  if (opts.capabilities.serviceMonitor) objects.push(renderServiceMonitor(entry, opts))
  else skipped.push({kind: 'ServiceMonitor', reason: 'the Prometheus Operator CRD monitoring.coreos.com/v1 ServiceMonitor is not installed'})
  if (opts.capabilities.prometheusRule) objects.push(renderPrometheusRule(entry, opts))
  else skipped.push({kind: 'PrometheusRule', reason: 'the Prometheus Operator CRD monitoring.coreos.com/v1 PrometheusRule is not installed'})
  return {objects, preloadJob, deployment, skipped}
}

/**
 * A second serving track of a model beside its own objects (`aip model rollout`'s canary): the same
 * renderers with `opts.track` set, so the candidate runs exactly what a deploy of its entry would run.
 * Its server objects (NetworkPolicy, Service, Deployment, PodDisruptionBudget) are named
 * `<name>-<track>`; the preload Job is the entry's own (named by its pod template, so a new revision
 * is a new Job). No autoscaler, ServiceMonitor or PrometheusRule: the canary runs a fixed number of
 * replicas (`replicas`), and the model's ServiceMonitor already selects the canary Service (its
 * labels carry component=server and the model).
 */
export function renderTrack(entry: CatalogEntry, opts: RenderOptions & {track: NonNullable<RenderOptions['track']>}, replicas: number, extras: RenderExtras = {}): {objects: KubeObject[]; preloadJob: KubeObject; deployment: KubeObject} {
  const preloadJob = renderPreloadJob(entry, {...opts, track: undefined})
  const deployment = renderDeployment(entry, opts, extras.podAnnotations)
  ;(deployment.spec as Record<string, unknown>).replicas = replicas
  return {
    objects: [renderServerNetworkPolicy(entry, opts), renderPreloadNetworkPolicy(entry, {...opts, track: undefined}), preloadJob, renderService(entry, opts), deployment, renderPodDisruptionBudget(entry, opts)],
    preloadJob,
    deployment,
  }
}

/**
 * Kinds aip may create for a model (for list/status/delete by label), with their resource names:
 * the tenant Role (src/lib/bootstrap/platform.ts) grants exactly these. ServiceAccount: deploys
 * before the shared aip-model-server/aip-preload accounts made one per model; delete still removes
 * those, deploy no longer writes them.
 */
export const MODEL_KINDS = [
  {apiVersion: 'monitoring.coreos.com/v1', kind: 'PrometheusRule', resource: 'prometheusrules', written: true},
  {apiVersion: 'monitoring.coreos.com/v1', kind: 'ServiceMonitor', resource: 'servicemonitors', written: true},
  {apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledObject', resource: 'scaledobjects', written: true},
  {apiVersion: 'http.keda.sh/v1alpha1', kind: 'HTTPScaledObject', resource: 'httpscaledobjects', written: true},
  {apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', resource: 'horizontalpodautoscalers', written: true},
  {apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', resource: 'poddisruptionbudgets', written: true},
  {apiVersion: 'apps/v1', kind: 'Deployment', resource: 'deployments', written: true},
  {apiVersion: 'v1', kind: 'Service', resource: 'services', written: true},
  {apiVersion: 'batch/v1', kind: 'Job', resource: 'jobs', written: true},
  {apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', resource: 'networkpolicies', written: true},
  {apiVersion: 'v1', kind: 'ServiceAccount', resource: 'serviceaccounts', written: false},
] as const

/** `prometheus-service` config (NAMESPACE/NAME:PORT) -> in-cluster URL. */
export function prometheusUrlFromService(service: string | undefined, fallbackNamespace = 'monitoring'): string {
  const m = /^(?:([a-z0-9-]+)\/)?([a-z0-9-]+)(?::(\d+))?$/.exec(service ?? '')
  if (!m) return `http://prometheus-operated.${fallbackNamespace}.svc:9090`
  return `http://${m[2]}.${m[1] ?? fallbackNamespace}.svc:${m[3] ?? '9090'}`
}
