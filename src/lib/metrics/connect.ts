/**
 * Builds the Prometheus client from configuration: `--prometheus URL` / config prometheus-url
 * directly, otherwise the service named by config prometheus-service (default
 * monitoring/prometheus-operated:9090) through the API server's service proxy.
 */
import {PrometheusClient} from './prometheus.js'
import {directEndpoint, type KubeAccess, parseServiceRef, serviceProxyEndpoint} from './transport.js'

export interface PrometheusAccess extends KubeAccess {
  url?: string
  service?: string
  timeoutMs?: number
}

export async function connectPrometheus(a: PrometheusAccess): Promise<PrometheusClient> {
  if (a.url) return new PrometheusClient(directEndpoint(a.url, 'the Prometheus URL'), a.timeoutMs)
  const ref = parseServiceRef(a.service ?? 'monitoring/prometheus-operated:9090', 'monitoring')
  return new PrometheusClient(await serviceProxyEndpoint(ref, {fix: 'pass --prometheus URL (or `aip config set prometheus-url URL`), or --kubeconfig PATH to reach it through the cluster', ...a}), a.timeoutMs)
}
