import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags} from '../../flags.js'
import {UsageError} from '../../lib/errors.js'
import type {CreatedKey} from '../../lib/gateway/keys.js'

export default class KeyCreate extends AipCommand {
  static override summary = 'Create a gateway API key for a team (printed once)'
  static override description = `Creates a LiteLLM virtual key owned by --team (a tenant of \`aip cluster bootstrap --tenant\`; the team is made if it does not exist), limited to --models (default: every model the team may use), with an optional budget in USD, a requests-per-minute limit and an expiry.
The key is printed once, alone on stdout (or as result.key with --json); aip never shows it again (\`aip key list\` shows its alias and hash).`
  static override enableJsonFlag = true
  static override examples = [
    '<%= config.bin %> key create --team team-a --models qwen3-8b',
    'export OPENAI_API_KEY=$(<%= config.bin %> key create --team team-a --budget 50 --rpm 60 --expires 30d)',
  ]
  static override flags = {
    kubeconfig: kubeFlags.kubeconfig,
    context: kubeFlags.context,
    ...gatewayFlags,
    team: Flags.string({description: 'team (tenant) that owns the key', required: true}),
    models: Flags.string({description: 'comma-separated public model names the key may call (default: all the team may)'}),
    budget: Flags.string({description: 'maximum spend in USD'}),
    rpm: Flags.integer({description: 'requests per minute', min: 1}),
    expires: Flags.string({description: 'lifetime: 30d, 12h, 90m'}),
    alias: Flags.string({description: 'key alias shown by aip key list (default: TEAM-<time>)'}),
  }

  async run(): Promise<CreatedKey> {
    const {flags} = await this.parse(KeyCreate)
    const cfg = this.config_(flags)
    const budget = flags.budget === undefined ? undefined : Number(flags.budget)
    if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) throw new UsageError(`invalid --budget "${flags.budget}"`, {fix: 'give US dollars, e.g. --budget 25 or --budget 7.5'})
    const {connectGateway, createKey, gatewayOptionsFromConfig, validateKeyOptions} = await import('../../lib/gateway/index.js')
    validateKeyOptions({team: flags.team, expires: flags.expires, models: flags.models?.split(',')})
    const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
    const client = await kubeClientFromConfig(cfg)
    const o = gatewayOptionsFromConfig(cfg, client, this.signal)
    const conn = await connectGateway({client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: this.signal})
    const r = await createKey(conn, {team: flags.team, models: flags.models?.split(','), budget, rpm: flags.rpm, expires: flags.expires, alias: flags.alias, signal: this.signal})
    if (r.unknownModels.length) this.warn(`the gateway does not serve ${r.unknownModels.join(', ')} (yet): the key can call them once they are deployed`)
    this.info(`key ${r.alias} for team ${r.team}${r.teamCreated ? ' (team created)' : ''}: models ${r.models.join(',') || 'all of the team'}${r.budget !== undefined ? `, budget $${r.budget}` : ''}${r.rpm ? `, ${r.rpm} rpm` : ''}${r.expires ? `, expires ${r.expires}` : ''}. It is shown once; store it now.`)
    if (!this.jsonEnabled()) process.stdout.write(`${r.key}\n`)
    return r
  }
}
