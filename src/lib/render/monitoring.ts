import type {CatalogEntry} from '../catalog/schema.js'
import type {KubeObject} from '../kube/types.js'
import {meta, objectName, type RenderOptions, serverSelector} from './common.js'
import {modelSeriesSelector} from './scaling.js'

export function renderServiceMonitor(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'ServiceMonitor',
    metadata: meta(entry, opts, 'monitoring'),
    spec: {
      selector: {matchLabels: serverSelector(entry)},
      namespaceSelector: {matchNames: [opts.namespace]},
      endpoints: [{port: 'http', path: '/metrics', interval: '15s', scrapeTimeout: '10s'}],
    },
  }
}

/** Alerts: TTFT p95, server error rate, saturation (KV cache full, requests queueing). */
export function renderPrometheusRule(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  const sel = modelSeriesSelector(entry, opts)
  const svc = `namespace="${opts.namespace}",service="${objectName(entry.name)}"`
  const labels = {severity: 'warning', model: entry.name, namespace: opts.namespace}
  return {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: meta(entry, opts, 'monitoring'),
    spec: {
      groups: [
        {
          name: `aip-${objectName(entry.name)}`,
          rules: [
            {
              alert: 'AipModelTTFTHigh',
              expr: `histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket{${sel}}[5m]))) > 2`,
              for: '10m',
              labels,
              annotations: {summary: `${entry.name}: p95 time to first token above 2 s for 10 minutes`, description: 'Requests queue or prefill is slow: check saturation and replica count (aip metrics tail).'},
            },
            {
              alert: 'AipModelErrorRateHigh',
              expr: `sum(rate(http_requests_total{${svc},status="5xx"}[5m])) / clamp_min(sum(rate(http_requests_total{${svc}}[5m])), 1e-9) > 0.05`,
              for: '5m',
              labels: {...labels, severity: 'critical'},
              annotations: {summary: `${entry.name}: more than 5% of requests fail with 5xx`, description: 'See `aip model status` and the vLLM container logs.'},
            },
            {
              alert: 'AipModelKvCacheSaturated',
              expr: `avg(vllm:kv_cache_usage_perc{${sel}} or vllm:gpu_cache_usage_perc{${sel}}) > 0.95`,
              for: '10m',
              labels,
              annotations: {summary: `${entry.name}: KV cache above 95% for 10 minutes`, description: 'Requests are preempted; raise maxReplicas or lower max-model-len.'},
            },
            {
              alert: 'AipModelRequestsQueueing',
              expr: `sum(vllm:num_requests_waiting{${sel}}) > ${entry.vllm.maxNumSeqs}`,
              for: '5m',
              labels,
              annotations: {summary: `${entry.name}: more requests waiting than one replica's batch for 5 minutes`, description: 'Autoscaling is not keeping up (max replicas reached or GPUs unavailable).'},
            },
          ],
        },
      ],
    },
  }
}
