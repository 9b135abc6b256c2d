/** What the rollout commands need from the resolved configuration (commands call this; tests pass their own). */
import type {AipConfig} from '../config/index.js'
import {renderOptionsFromConfig} from '../deploy/context.js'
import {gatewayOptionsFromConfig} from '../gateway/context.js'
import type {KubeClient} from '../kube/index.js'
import type {PrometheusClient} from '../metrics/prometheus.js'
import type {RolloutDeps} from './run.js'

export function rolloutDepsFromConfig(cfg: AipConfig, client: KubeClient, extra: Partial<RolloutDeps> & {prometheusUrl?: string} = {}): RolloutDeps {
  const {namespace, ...render} = renderOptionsFromConfig(cfg)
  const gw = gatewayOptionsFromConfig(cfg, client, extra.signal)
  let prom: Promise<PrometheusClient> | undefined
  return {
    client,
    namespace,
    render,
    gateway: {gatewayNamespace: gw.gatewayNamespace, url: gw.url, masterKey: gw.masterKey},
    prometheus: () =>
      (prom ??= import('../metrics/connect.js').then(({connectPrometheus}) =>
        connectPrometheus({url: extra.prometheusUrl ?? cfg.string('prometheus-url'), service: cfg.string('prometheus-service'), kubeconfig: cfg.string('kubeconfig'), context: cfg.string('context')}),
      )),
    ...extra,
  }
}
