/** Gateway access from the resolved configuration (commands call this; tests pass their own). */
import type {AipConfig} from '../config/index.js'
import type {KubeClient} from '../kube/index.js'
import type {GatewaySyncOptions} from './sync.js'

export const MASTER_KEY_ENV = 'AIP_GATEWAY_MASTER_KEY'

export function gatewayOptionsFromConfig(cfg: AipConfig, client: KubeClient, signal?: AbortSignal, env: NodeJS.ProcessEnv = process.env): GatewaySyncOptions {
  return {
    client,
    gatewayNamespace: cfg.string('gateway-namespace') ?? 'aip-gateway',
    url: cfg.string('gateway-url'),
    masterKey: env[MASTER_KEY_ENV] || undefined,
    signal,
  }
}
