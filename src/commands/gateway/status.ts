import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags} from '../../flags.js'
import type {GatewayStatus} from '../../lib/gateway/install.js'
import {renderKeyValues, renderTable} from '../../lib/output/index.js'

export default class GatewayStatusCommand extends AipCommand {
  static override summary = 'The gateway: URL, replicas, database, and the models each replica serves'
  static override description = `Reads the gateway's objects through the API server, then asks every proxy replica on its own (through the API server's pod proxy) which models it serves, so a replica that lags behind the database shows.
The master key comes from AIP_GATEWAY_MASTER_KEY or Secret litellm-master-key; without it the model list is left out with a warning.`
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> gateway status', '<%= config.bin %> gateway status --json | jq .result.models']
  static override flags = {kubeconfig: kubeFlags.kubeconfig, context: kubeFlags.context, ...gatewayFlags}

  async run(): Promise<GatewayStatus> {
    const {flags} = await this.parse(GatewayStatusCommand)
    const cfg = this.config_(flags)
    const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
    const {gatewayStatus, gatewayOptionsFromConfig} = await import('../../lib/gateway/index.js')
    const client = await kubeClientFromConfig(cfg)
    const o = gatewayOptionsFromConfig(cfg, client, this.signal)
    const s = await gatewayStatus(client, {namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: this.signal})
    this.print(
      renderKeyValues([
        ['namespace', s.namespace],
        ['url', s.url ?? 'pending (no load balancer address yet)'],
        ['replicas', `${s.replicas.ready}/${s.replicas.desired} ready, ${s.replicas.available} available`],
        ['image', s.image],
        ['database', s.database],
        ['exposure', s.exposure],
      ]),
    )
    if (s.exposureProblem) this.warn(`no load balancer address: ${s.exposureProblem}`)
    if (s.modelsError) this.warn(`models not listed: ${s.modelsError}`)
    if (s.models) {
      this.print('')
      this.print(
        s.models.length === 0
          ? 'no models registered (aip gateway reconcile registers the deployed ones)'
          : renderTable(s.models, [
              {header: 'model', get: (m) => m.name},
              {header: 'replicas', get: (m) => `${m.replicas}/${m.of}`},
              {header: 'api base', get: (m) => m.apiBase},
              {header: 'id', get: (m) => (m.managedByAip ? m.id : `${m.id} (not aip's)`)},
            ]),
      )
      const lagging = s.models.filter((m) => m.replicas < m.of)
      if (lagging.length) this.warn(`${lagging.length} model(s) not on every replica yet: ${lagging.map((m) => m.name).join(', ')} (aip gateway reconcile waits for them)`)
    }
    return s
  }
}
