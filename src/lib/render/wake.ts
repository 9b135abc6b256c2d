/**
 * Scale from zero that wakes on a request: the KEDA HTTP add-on (kedacore/http-add-on) between the
 * gateway and a model that may sit at zero replicas.
 *
 *   client -> LiteLLM -> add-on interceptor (keda/keda-add-ons-http-interceptor-proxy:8080)
 *          -> model Service (once it has a ready endpoint)
 *
 * - The interceptor routes by the request's Host header (HTTPScaledObject `spec.hosts`; the port is
 *   stripped before matching: pkg/routing/table.go Route), so the gateway registers the model with
 *   `api_base` = the interceptor and `extra_headers: {Host: <the model's wake host>}`.
 * - It counts every request it holds or forwards per route (interceptor/middleware/counting.go, the
 *   Counting middleware sits before the readiness wait) and serves the counts on its admin port
 *   (`GET /queue` -> {"<ns>/<name>": {"Concurrency": n, "RequestCount": m}}); the add-on's external
 *   scaler reads them and reports the route active while the concurrency is above 0
 *   (scaler/handlers.go IsActive). That is the signal that exists at zero replicas.
 * - It holds a request until the target Service has a ready endpoint, at most
 *   `spec.timeouts.conditionWait` (v0.14+: converted to the route's readiness timeout,
 *   pkg/routing/table.go; interceptor/middleware/endpoint_resolver.go). Past it the interceptor
 *   answers 504 "Gateway Timeout" (v0.14+; 502 before), without Retry-After. The gateway turns that
 *   into 503 + Retry-After (see src/lib/gateway/wake-hook.ts).
 * - KEDA allows one ScaledObject per workload, and aip already renders one (the vLLM-signal
 *   triggers). So the HTTPScaledObject carries `httpscaledobject.keda.sh/skip-scaledobject-creation:
 *   "true"` (the add-on then only routes and counts) and aip's own ScaledObject gets the add-on's
 *   `external-push` trigger (the add-on's documented way to combine it with other scalers:
 *   walkthrough "Integrating HTTP Add-On Scaler with other KEDA scalers"). The HTTPScaledObject's
 *   name differs from the ScaledObject's, as that walkthrough asks.
 */
import type {CatalogEntry} from '../catalog/schema.js'
import type {KubeObject} from '../kube/types.js'
import {meta, objectName, type RenderOptions, VLLM_PORT} from './common.js'

/** Where `aip cluster bootstrap` installs the add-on (Helm chart keda-add-ons-http, release keda-add-ons-http). */
export const HTTP_ADDON_NAMESPACE = 'keda'
/** The chart's interceptor proxy Service and port (charts: keda-add-ons-http, interceptor.proxy.service / port). */
export const INTERCEPTOR_PROXY_SERVICE = 'keda-add-ons-http-interceptor-proxy'
export const INTERCEPTOR_PROXY_PORT = 8080
/** The chart's external scaler Service (scalerAddress of the external-push trigger). */
export const HTTP_ADDON_SCALER = 'keda-add-ons-http-external-scaler'
export const HTTP_ADDON_SCALER_PORT = 9090
/** The gateway's request timeout (gateway/render.ts litellmConfig request_timeout). */
export const INTERCEPTOR_RESPONSE_HEADER_SECONDS = 600
export const SKIP_SCALEDOBJECT_ANNOTATION = 'httpscaledobject.keda.sh/skip-scaledobject-creation'

/** Deployment annotations the gateway registration reads (src/lib/gateway/registry.ts). */
export const WAKE_HOST_ANNOTATION = 'aip.dev/wake-host'
export const WAKE_VIA_ANNOTATION = 'aip.dev/wake-via'
export const HOLD_ANNOTATION = 'aip.dev/wake-hold-seconds'
export const RETRY_AFTER_ANNOTATION = 'aip.dev/wake-retry-after-seconds'

export interface WakeOptions {
  /** How long the interceptor holds a request for a model at zero (HTTPScaledObject timeouts.conditionWait). */
  holdSeconds: number
  /** What the client is told to wait after a hold ran out (the gateway's 503 Retry-After). */
  retryAfterSeconds: number
}

/**
 * The wake path applies to a model that may sit at zero replicas, with KEDA and the add-on installed;
 * only to its stable track (a rollout's canary is reached directly with its gateway weight).
 */
export function wakeEnabled(entry: CatalogEntry, opts: RenderOptions): boolean {
  return !opts.track && entry.scaling.minReplicas === 0 && opts.capabilities.keda && Boolean(opts.capabilities.httpAddon) && opts.wake !== undefined
}

/** The Host header the gateway sends through the interceptor for this model (matched by spec.hosts). */
export function wakeHost(entry: Pick<CatalogEntry, 'name'>, namespace: string): string {
  return `${objectName(entry.name)}.${namespace}.svc`
}

export function interceptorUrl(): string {
  return `http://${INTERCEPTOR_PROXY_SERVICE}.${HTTP_ADDON_NAMESPACE}.svc:${INTERCEPTOR_PROXY_PORT}`
}

/** The HTTPScaledObject's name: not the ScaledObject's (the add-on would otherwise own and delete it). */
export function httpScaledObjectName(entry: Pick<CatalogEntry, 'name'>): string {
  return `${objectName(entry.name)}-wake`
}

export function renderHttpScaledObject(entry: CatalogEntry, opts: RenderOptions & {wake: WakeOptions}): KubeObject {
  const s = entry.scaling
  return {
    apiVersion: 'http.keda.sh/v1alpha1',
    kind: 'HTTPScaledObject',
    metadata: meta(entry, opts, 'autoscaling', httpScaledObjectName(entry), {[SKIP_SCALEDOBJECT_ANNOTATION]: 'true'}),
    spec: {
      hosts: [wakeHost(entry, opts.namespace)],
      scaleTargetRef: {apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(entry.name), service: objectName(entry.name), port: VLLM_PORT},
      replicas: {min: 0, max: s.maxReplicas},
      // used by the add-on only when it creates the ScaledObject itself; aip's ScaledObject's
      // cooldownPeriod is the one in force (kept equal)
      scaledownPeriod: s.idleAfterSeconds ?? s.cooldownSeconds,
      // concurrency: requests held or in flight at the interceptor; the scaling itself stays with
      // the vLLM triggers (targetValue is high: this trigger only wakes the model)
      scalingMetric: {concurrency: {targetValue: 1000}},
      // conditionWait: the hold. responseHeader: the interceptor gives up on a backend whose response
      // headers take longer (v0.14+ default 300 s, KEDA_HTTP_RESPONSE_HEADER_TIMEOUT); a long
      // non-streaming completion sends none until it is done, so allow what the gateway allows
      // (LiteLLM request_timeout 600 s)
      timeouts: {conditionWait: `${opts.wake.holdSeconds}s`, responseHeader: `${INTERCEPTOR_RESPONSE_HEADER_SECONDS}s`},
    },
  }
}

/** The add-on's trigger in aip's ScaledObject: active while requests wait at the interceptor. */
export function wakeTrigger(entry: CatalogEntry): Record<string, unknown> {
  return {
    type: 'external-push',
    name: 'wake-on-request',
    metadata: {scalerAddress: `${HTTP_ADDON_SCALER}.${HTTP_ADDON_NAMESPACE}:${HTTP_ADDON_SCALER_PORT}`, httpScaledObject: httpScaledObjectName(entry)},
  }
}

/** Annotations on the Deployment telling the gateway registration to go through the interceptor. */
export function wakeAnnotations(entry: CatalogEntry, opts: RenderOptions & {wake: WakeOptions}): Record<string, string> {
  return {
    [WAKE_HOST_ANNOTATION]: wakeHost(entry, opts.namespace),
    [WAKE_VIA_ANNOTATION]: interceptorUrl(),
    [HOLD_ANNOTATION]: String(opts.wake.holdSeconds),
    [RETRY_AFTER_ANNOTATION]: String(opts.wake.retryAfterSeconds),
  }
}
