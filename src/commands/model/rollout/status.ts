import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../../base-command.js'
import {gatewayFlags, kubeFlags, modelNameArg} from '../../../flags.js'
import {kubeClientFromConfig} from '../../../lib/deploy/index.js'
import {renderKeyValues, renderTable} from '../../../lib/output/index.js'
import type {RolloutStatus} from '../../../lib/rollout/status.js'

export default class ModelRolloutStatus extends AipCommand {
  static override summary = 'Show a model rollout: phase explained, steps, weights, every gate\'s numbers and a live comparison'
  static override description = 'Reads the rollout state from the cluster (ConfigMap aip-rollout-<name>), the weights every gateway replica routes by, and both versions from Prometheus over the rollout\'s interval now.'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> model rollout status qwen3-8b', '<%= config.bin %> model rollout status qwen3-8b --json']

  static override args = {
    name: modelNameArg('model name'),
  }

  static override flags = {
    ...kubeFlags,
    live: Flags.boolean({description: 'read the gateway and Prometheus now (--no-live: the recorded state only)', default: true, allowNo: true}),
    prometheus: Flags.string({description: 'Prometheus base URL (default: config prometheus-url, else through the cluster)'}),
    ...gatewayFlags,
  }

  async run(): Promise<RolloutStatus> {
    const {args, flags} = await this.parse(ModelRolloutStatus)
    const cfg = this.config_(flags)
    const {rolloutStatus, describeMetrics} = await import('../../../lib/rollout/index.js')
    const {rolloutDepsFromConfig} = await import('../../../lib/rollout/context.js')
    const client = await kubeClientFromConfig(cfg)
    const deps = rolloutDepsFromConfig(cfg, client, {signal: this.signal, prometheusUrl: flags.prometheus})
    const s = await rolloutStatus(deps, args.name, {live: flags.live})
    const c = this.c
    const color = s.phase === 'promoted' ? c.green : s.phase === 'aborted' ? c.red : c.yellow
    const gw = s.gateway && !('error' in s.gateway) ? s.gateway : undefined
    this.print(
      renderKeyValues([
        ['model', s.model],
        ['namespace', s.namespace],
        ['phase', color(s.phase)],
        ['mode', s.mode === 'canary' ? 'canary beside the stable' : 'in place (--surge 0)'],
        ['changes', s.changes.join('; ')],
        ['steps', s.plan],
        ['candidate share', `${s.weight}%`],
        ['gateway', gw ? `stable ${gw.stable ?? 'unregistered'} / candidate ${gw.canary ?? 'unregistered'} on ${gw.replicas} replica(s)${gw.agree ? '' : ' (replicas differ)'}` : s.gateway && 'error' in s.gateway ? `not read: ${s.gateway.error}` : undefined],
        ['candidate', `${s.candidate.deployment}: ${s.candidate.desired === undefined ? 'removed' : `${s.candidate.ready ?? 0}/${s.candidate.desired} ready`}, revision ${s.candidate.revision}`],
        ['stable', `${s.stable.deployment}: ${s.stable.ready ?? 0}/${s.stable.desired ?? 0} ready, revision ${s.stable.revision ?? '?'}`],
        ['started', s.startedAt],
        ['updated', s.updatedAt],
      ]),
    )
    this.print(`\n${s.explanation}`)
    const gates = s.gates.filter((g) => g.verdict !== 'baseline')
    if (gates.length > 0) {
      this.print(
        '\nGates:\n' +
          renderTable(gates, [
            {header: 'step', get: (g) => `${g.weight}%`},
            {header: 'at', get: (g) => g.at},
            {header: 'verdict', get: (g) => g.verdict},
            {header: 'candidate', get: (g) => describeMetrics(g.candidate)},
            {header: 'stable', get: (g) => describeMetrics(g.stable)},
          ]),
      )
    }
    if (s.live && !('error' in s.live)) {
      this.print(`\nNow (last ${s.live.window}):`)
      if (s.live.candidate) this.print(`  candidate: ${describeMetrics(s.live.candidate)}`)
      this.print(`  stable:    ${describeMetrics(s.live.stable)}`)
    } else if (s.live && 'error' in s.live) this.print(`\nNow: Prometheus not read: ${s.live.error}`)
    return s
  }
}
