/** Types of the loopback KEDA HTTP add-on interceptor and KEDA stand-in (keda-http.mjs). */
import type {CrdSpec, KubeApiServer} from './kube-apiserver/index.d.mts'

export interface KedaHttp {
  /** the interceptor's proxy (the chart's keda-add-ons-http-interceptor-proxy:8080) */
  proxyUrl: string
  /** the interceptor's admin port: GET /queue */
  adminUrl: string
  counts: Map<string, {Concurrency: number; RequestCount: number}>
  log: Array<{key: string; status: number; heldMs?: number; error?: string}>
  /** activations the KEDA stand-in made (0 -> N) */
  scaled: Array<{namespace: string; name: string; replicas: number; at: number}>
  close(): Promise<void>
}

export declare function startKedaHttp(api: KubeApiServer, opts?: {readinessTimeoutMs?: number; kedaPollMs?: number}): Promise<KedaHttp>
export declare const HTTP_SCALED_OBJECT_CRD: CrdSpec
