import * as Args from '@oclif/core/args'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, yesFlag} from '../../flags.js'
import {UsageError} from '../../lib/errors.js'
import type {KeyRow} from '../../lib/gateway/keys.js'

export default class KeyRevoke extends AipCommand {
  static override summary = 'Revoke a gateway API key by alias or hash prefix'
  static override description = 'Deletes the key in LiteLLM (POST /key/delete): calls with it fail with 401 from then on. Without a terminal it needs --yes.'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> key revoke team-a-ci --yes', '<%= config.bin %> key revoke 3f9a0c12 --yes']
  static override args = {key: Args.string({description: 'alias, or at least 8 characters of the hash (aip key list)', required: true})}
  static override flags = {kubeconfig: kubeFlags.kubeconfig, context: kubeFlags.context, ...gatewayFlags, ...yesFlag}

  async run(): Promise<{revoked: KeyRow}> {
    const {args, flags} = await this.parse(KeyRevoke)
    if (!flags.yes) {
      if (!this.interactive || !process.stdin.isTTY) throw new UsageError(`revoking key "${args.key}" needs confirmation`, {fix: 'add --yes (no terminal to ask on)'})
      const {confirm} = await import('@inquirer/prompts')
      if (!(await confirm({message: `Revoke key ${args.key}? Calls with it will fail.`, default: false}))) throw new UsageError('not confirmed', {fix: 'rerun and answer yes, or pass --yes'})
    }
    const cfg = this.config_(flags)
    const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
    const {connectGateway, gatewayOptionsFromConfig, revokeKey} = await import('../../lib/gateway/index.js')
    const client = await kubeClientFromConfig(cfg)
    const o = gatewayOptionsFromConfig(cfg, client, this.signal)
    const conn = await connectGateway({client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: this.signal})
    const revoked = await revokeKey(conn, args.key, {signal: this.signal})
    this.print(`revoked key ${revoked.alias || revoked.hash} (team ${revoked.team ?? '-'})`)
    return {revoked}
  }
}
