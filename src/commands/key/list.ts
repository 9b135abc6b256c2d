import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags} from '../../flags.js'
import type {KeyRow} from '../../lib/gateway/keys.js'
import {renderTable} from '../../lib/output/index.js'

export default class KeyList extends AipCommand {
  static override summary = 'List gateway API keys (alias and hash, never the key)'
  static override description = 'LiteLLM stores only a hash of each key; aip shows the alias and the start of that hash, the team, the models, budget, spend and expiry.'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> key list', '<%= config.bin %> key list --team team-a --json']
  static override flags = {kubeconfig: kubeFlags.kubeconfig, context: kubeFlags.context, ...gatewayFlags, team: Flags.string({description: 'only the keys of this team'})}

  async run(): Promise<{keys: KeyRow[]}> {
    const {flags} = await this.parse(KeyList)
    const cfg = this.config_(flags)
    const {connectGateway, gatewayOptionsFromConfig, listKeys, validateTeam} = await import('../../lib/gateway/index.js')
    if (flags.team !== undefined) validateTeam(flags.team)
    const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
    const client = await kubeClientFromConfig(cfg)
    const o = gatewayOptionsFromConfig(cfg, client, this.signal)
    const conn = await connectGateway({client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: this.signal})
    const keys = await listKeys(conn, {team: flags.team, signal: this.signal})
    this.print(
      keys.length === 0
        ? 'no keys (aip key create --team TEAM)'
        : renderTable(keys, [
            {header: 'alias', get: (k) => k.alias},
            {header: 'hash', get: (k) => k.hash},
            {header: 'team', get: (k) => k.team},
            {header: 'models', get: (k) => (k.models.length ? k.models.join(',') : 'all')},
            {header: 'budget', get: (k) => (k.budget == null ? '' : `$${k.budget}`), align: 'right'},
            {header: 'spend', get: (k) => (k.spend == null ? '' : `$${k.spend.toFixed(2)}`), align: 'right'},
            {header: 'rpm', get: (k) => k.rpm ?? '', align: 'right'},
            {header: 'expires', get: (k) => k.expires ?? 'never'},
          ]),
    )
    return {keys}
  }
}
