
import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, modelNameArg} from '../../flags.js'
import {kubeClientFromConfig, lineProgress, listrProgress} from '../../lib/deploy/index.js'
import type {RolloutReport} from '../../lib/rollout/index.js'

export default class ModelPromote extends AipCommand {
  static override summary = 'Finish a model rollout now: skip the remaining steps and make the candidate the stable'
  static override description = 'The candidate takes all traffic, the stable Deployment takes its spec (rolling update while the candidate serves), traffic moves back to it and the canary\'s objects are removed. No further gates run.'
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override examples = ['<%= config.bin %> model promote qwen3-8b']

  static override args = {
    name: modelNameArg('model name'),
  }

  static override flags = {...kubeFlags, ...gatewayFlags}

  async run(): Promise<RolloutReport> {
    const {args, flags} = await this.parse(ModelPromote)
    const cfg = this.config_(flags)
    const {promoteRollout} = await import('../../lib/rollout/index.js')
    const {rolloutDepsFromConfig} = await import('../../lib/rollout/context.js')
    const client = await kubeClientFromConfig(cfg)
    const progress = this.jsonEnabled() ? undefined : this.interactive && process.stderr.isTTY ? await listrProgress() : lineProgress((l) => this.info(l))
    try {
      const r = await promoteRollout(rolloutDepsFromConfig(cfg, client, {signal: this.signal, progress, warn: (t) => this.warn(t)}), args.name)
      this.print(`${r.model}: promoted (${r.changes.join('; ')})`)
      return r
    } finally {
      await progress?.close()
    }
  }
}
