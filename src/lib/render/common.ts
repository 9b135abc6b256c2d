import {createHash} from 'node:crypto'

import type {CatalogEntry} from '../catalog/schema.js'
import {COMPONENT_LABEL, MODEL_LABEL, modelLabels, PART_OF_LABEL} from '../kube/labels.js'
import type {KubeObject} from '../kube/types.js'

/** What the cluster offers, from discovery: decides which optional objects are rendered. */
export interface Capabilities {
  /** keda.sh/v1alpha1 ScaledObject is served (else an autoscaling/v2 HPA is rendered). */
  keda: boolean
  /** monitoring.coreos.com/v1 ServiceMonitor is served. */
  serviceMonitor: boolean
  /** monitoring.coreos.com/v1 PrometheusRule is served. */
  prometheusRule: boolean
  /** http.keda.sh/v1alpha1 HTTPScaledObject is served (the KEDA HTTP add-on: wake on request). */
  httpAddon?: boolean
}

export const NO_CAPABILITIES: Capabilities = {keda: false, serviceMonitor: false, prometheusRule: false}

export interface RenderOptions {
  namespace: string
  /** Namespace whose pods may call the model (the gateway). */
  gatewayNamespace: string
  /** Namespace where Prometheus runs (scrapes the metrics port). */
  monitoringNamespace: string
  /** S3 bucket that holds the weights (filled by the preload Job / `aip model preload`). */
  bucket: string
  /** Key prefix under the bucket (config `prefix`, default "models"). */
  prefix: string
  /** S3-compatible endpoint (config `s3-endpoint`); AWS when unset. */
  s3Endpoint?: string
  region?: string
  /** Hub URL for the preload Job (config `hf-endpoint`). */
  hfEndpoint?: string
  /** Secret holding the Hugging Face token (referenced, never inlined). */
  hfTokenSecret?: {name: string; key: string}
  /** In-cluster Prometheus base URL for KEDA triggers, e.g. http://prometheus-operated.monitoring.svc:9090. */
  prometheusUrl: string
  /** vLLM --gpu-memory-utilization when the entry does not set one (config, default 0.9). */
  gpuMemoryUtilization?: number
  /** Image of the preload Job (config `preload-image`; default a pinned python slim image). */
  preloadImage?: string
  capabilities: Capabilities
  /** Scale-from-zero hold (render/wake.ts), computed by deploy from the measured cold start. */
  wake?: import('./wake.js').WakeOptions
  /**
   * A second serving track beside the model's own objects (`aip model rollout`: 'canary'). Its
   * server objects are named `<name>-<track>`, carry `aip.dev/track`, and its pods never match the
   * stable selector (see serverSelector).
   */
  track?: Track
}

export type Track = 'canary'
/** Marks the objects of a serving track other than the stable one (`aip.dev/track: canary`). */
export const TRACK_LABEL = 'aip.dev/track'
/** Selects the stable track only (`!=` also matches objects without the label: kubernetes.io/docs/concepts/overview/working-with-objects/labels/#set-based-requirement). */
export const STABLE_TRACK_SELECTOR = `${TRACK_LABEL}!=canary`

export const DEFAULT_HF_TOKEN_SECRET = {name: 'aip-hf-token', key: 'token'}

/**
 * One ServiceAccount per privilege, created by `aip cluster bootstrap` in the model and tenant
 * namespaces with their EKS Pod Identity associations (or IRSA role annotations): model servers
 * read the weights, the preload Job writes them. Shared by every model of a namespace, so `model
 * deploy` references them and never applies them (a per-model account would need an AWS call per
 * deploy, and an apply by the same field manager would drop bootstrap's IRSA annotation).
 */
export const SERVER_SERVICE_ACCOUNT = 'aip-model-server'
export const PRELOAD_SERVICE_ACCOUNT = 'aip-preload'
export const VLLM_PORT = 8000
export const RUN_AS_USER = 1000

/** Object name of an entry: dots become dashes (Service names are DNS-1035 labels). */
export function objectName(entryName: string): string {
  return entryName.replace(/\./g, '-')
}

export type Component = 'server' | 'preload' | 'autoscaling' | 'network' | 'monitoring'

/** Labels on every object: managed-by aip, name, aip.dev/model, plus component and part-of. */
export function labelsFor(entry: Pick<CatalogEntry, 'name'>, component: Component): Record<string, string> {
  return modelLabels(entry.name, {[COMPONENT_LABEL]: component, [PART_OF_LABEL]: 'aip'})
}

/**
 * The immutable Deployment selector (never add labels here: it cannot change after creation). A
 * track's pods carry another component value (`server-canary`): a selector matches every pod whose
 * labels include it, so canary pods labelled component=server would be counted by the stable
 * Deployment's selector, served by the stable Service and held by its PodDisruptionBudget.
 */
export function serverSelector(entry: Pick<CatalogEntry, 'name'>, opts: Pick<RenderOptions, 'track'> = {}): Record<string, string> {
  return {[MODEL_LABEL]: entry.name, [COMPONENT_LABEL]: opts.track ? `server-${opts.track}` : 'server'}
}

/** Name of the server objects (Deployment, Service, PDB, NetworkPolicy) of a track: `<name>` or `<name>-canary`. */
export function serverName(entry: Pick<CatalogEntry, 'name'>, opts: Pick<RenderOptions, 'track'> = {}): string {
  return opts.track ? `${objectName(entry.name)}-${opts.track}` : objectName(entry.name)
}

/** Metadata of a track's server object: the stable's labels plus aip.dev/track. */
export function serverMeta(entry: Pick<CatalogEntry, 'name'>, opts: Pick<RenderOptions, 'namespace' | 'track'>, component: Component, annotations?: Record<string, string>): KubeObject['metadata'] {
  const m = meta(entry, opts, component, serverName(entry, opts), annotations)
  if (opts.track) m.labels = {...m.labels, [TRACK_LABEL]: opts.track}
  return m
}

export function meta(entry: Pick<CatalogEntry, 'name'>, opts: Pick<RenderOptions, 'namespace'>, component: Component, name = objectName(entry.name), annotations?: Record<string, string>): KubeObject['metadata'] {
  return {name, namespace: opts.namespace, labels: labelsFor(entry, component), ...(annotations && Object.keys(annotations).length > 0 ? {annotations} : {})}
}

export function shortHash(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 8)
}

/** Pod-level securityContext that passes Pod Security "restricted". */
export function podSecurityContext(): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    fsGroup: RUN_AS_USER,
    seccompProfile: {type: 'RuntimeDefault'},
  }
}

/** Container-level securityContext that passes Pod Security "restricted" (plus a read-only root). */
export function containerSecurityContext(): Record<string, unknown> {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: {drop: ['ALL']},
    seccompProfile: {type: 'RuntimeDefault'},
  }
}

/** Environment for S3 access (endpoint/region only: credentials come from IRSA / Pod Identity). */
export function s3Env(opts: Pick<RenderOptions, 's3Endpoint' | 'region'>): Array<Record<string, unknown>> {
  const env: Array<Record<string, unknown>> = []
  if (opts.region) env.push({name: 'AWS_REGION', value: opts.region}, {name: 'AWS_DEFAULT_REGION', value: opts.region})
  if (opts.s3Endpoint) env.push({name: 'AWS_ENDPOINT_URL_S3', value: opts.s3Endpoint}, {name: 'AWS_ENDPOINT_URL', value: opts.s3Endpoint}, {name: 'RUNAI_STREAMER_S3_USE_VIRTUAL_ADDRESSING', value: '0'})
  return env
}

/** Writable cache locations for a read-only root filesystem (all under the /cache emptyDir). */
export function cacheEnv(): Array<Record<string, unknown>> {
  return [
    {name: 'HOME', value: '/cache/home'},
    {name: 'HF_HOME', value: '/cache/hf'},
    {name: 'XDG_CACHE_HOME', value: '/cache/xdg'},
    {name: 'VLLM_CACHE_ROOT', value: '/cache/vllm'},
    {name: 'VLLM_CONFIG_ROOT', value: '/cache/vllm-config'},
    {name: 'TRITON_CACHE_DIR', value: '/cache/triton'},
    {name: 'TORCHINDUCTOR_CACHE_DIR', value: '/cache/inductor'},
    {name: 'OUTLINES_CACHE_DIR', value: '/cache/outlines'},
    {name: 'NUMBA_CACHE_DIR', value: '/cache/numba'},
    {name: 'TMPDIR', value: '/tmp'},
    {name: 'PYTHONDONTWRITEBYTECODE', value: '1'},
    {name: 'VLLM_NO_USAGE_STATS', value: '1'},
    {name: 'DO_NOT_TRACK', value: '1'},
  ]
}
