/**
 * Builds what the model commands need from the resolved configuration: the Kubernetes client
 * (lazily imported) and the render options. Commands call these; tests pass their own.
 */
import type {AipConfig} from '../config/index.js'
import type {KubeClient, RequestInfo} from '../kube/index.js'
import {prometheusUrlFromService, type RenderOptions} from '../render/index.js'

export async function kubeClientFromConfig(cfg: AipConfig, onRequest?: (r: RequestInfo) => void, onNotice?: (message: string) => void): Promise<KubeClient> {
  const {createKubeClient} = await import('../kube/index.js')
  return createKubeClient({kubeconfig: cfg.string('kubeconfig'), context: cfg.string('context'), namespace: cfg.string('namespace'), onRequest, onNotice})
}

export function renderOptionsFromConfig(cfg: AipConfig): Omit<RenderOptions, 'capabilities'> {
  const monitoring = cfg.string('monitoring-namespace') ?? 'monitoring'
  return {
    namespace: cfg.string('namespace') ?? 'aip-models',
    gatewayNamespace: cfg.string('gateway-namespace') ?? 'aip-gateway',
    monitoringNamespace: monitoring,
    bucket: cfg.string('bucket') ?? '',
    prefix: cfg.string('prefix') ?? 'models',
    s3Endpoint: cfg.string('s3-endpoint'),
    region: cfg.string('region'),
    hfEndpoint: cfg.string('hf-endpoint'),
    prometheusUrl: prometheusUrlFromService(cfg.string('prometheus-service'), monitoring),
    gpuMemoryUtilization: cfg.number('gpu-memory-utilization'),
    preloadImage: cfg.string('preload-image'),
  }
}
