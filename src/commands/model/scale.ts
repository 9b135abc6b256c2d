import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {kubeFlags, modelNameArg} from '../../flags.js'
import {kubeClientFromConfig, type ScaleBounds, scaleModel, type ScaleResult} from '../../lib/deploy/index.js'

export default class ModelScale extends AipCommand {
  static override summary = "Change a deployed model's replica bounds without a redeploy"
  static override description = `With a KEDA ScaledObject: --min/--max set minReplicaCount/maxReplicaCount (server-side apply, field manager aip); --replicas N pins min = max = N; --replicas 0 pauses KEDA at zero replicas (annotation autoscaling.keda.sh/paused-replicas) until the next --min/--max.
With a HorizontalPodAutoscaler: minReplicas/maxReplicas (at least 1). With no autoscaler: the Deployment's replicas (--replicas only).
The next \`aip model deploy\` applies the catalog's bounds again.`
  static override enableJsonFlag = true
  static override examples = [
    '<%= config.bin %> model scale qwen3-8b --min 0 --max 4',
    '<%= config.bin %> model scale qwen3-8b --replicas 2',
    '<%= config.bin %> model scale qwen3-8b --replicas 0',
  ]

  static override args = {
    name: modelNameArg(),
  }

  static override flags = {
    ...kubeFlags,
    replicas: Flags.integer({description: 'pin the replica count (0: stop serving, KEDA only)', min: 0}),
    min: Flags.integer({description: 'autoscaling lower bound (0 allows scale to zero with KEDA)', min: 0}),
    max: Flags.integer({description: 'autoscaling upper bound', min: 1}),
    'dry-run': Flags.boolean({description: 'server-side dry run: validate, change nothing', default: false}),
    'force-conflicts': Flags.boolean({description: 'take ownership of the bounds from another field manager', default: false}),
  }

  async run(): Promise<ScaleResult> {
    const {args, flags} = await this.parse(ModelScale)
    const client = await kubeClientFromConfig(this.config_(flags), undefined, (m) => this.warn(m))
    const r = await scaleModel(client, args.name, {replicas: flags.replicas, min: flags.min, max: flags.max}, {namespace: client.namespace, dryRun: flags['dry-run'], force: flags['force-conflicts'], signal: this.signal})
    const fmt = (b: ScaleBounds) => (b.replicas !== undefined ? `replicas ${b.replicas}` : `min ${b.min} max ${b.max}${b.paused !== undefined ? ` (paused at ${b.paused})` : ''}`)
    this.print(`${r.target.kind}/${r.target.name} in ${r.namespace}: ${fmt(r.before)} -> ${fmt(r.after)} (${r.action}${r.dryRun ? ', server dry run' : ''})`)
    if (r.hold?.raisedFrom !== undefined) this.print(`scale from zero: request hold ${r.hold.raisedFrom}s -> ${r.hold.seconds}s (last cold start ${r.hold.measuredColdStartSeconds}s x 1.5)`)
    return r
  }
}
