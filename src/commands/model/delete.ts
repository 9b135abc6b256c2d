import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, modelNameArg, waitFlags} from '../../flags.js'
import {parseDuration} from '../../lib/config/index.js'
import {deleteModel, type DeleteModelResult, kubeClientFromConfig, lineProgress, listrProgress} from '../../lib/deploy/index.js'
import {AipError} from '../../lib/errors.js'
import {renderTable} from '../../lib/output/index.js'

export default class ModelDelete extends AipCommand {
  static override summary = 'Remove a deployed model (every object labelled aip.dev/model=NAME); the weights in S3 stay'
  static override description = `Deletes the autoscaler first (so it cannot scale the model back up), then the Deployment, the preload Job (propagation Background, so its pods go too), Service, PodDisruptionBudget, monitoring objects, NetworkPolicies, ServiceAccount and the revision history (ConfigMap aip-history-NAME), and waits until they and the model's pods are gone (--no-wait to return at once).
Like kubectl delete, undeploying is routine and does not prompt. It never deletes the cached weights in S3: a later deploy of the same revision starts without a new download.`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override examples = ['<%= config.bin %> model delete qwen3-8b', '<%= config.bin %> model delete qwen3-8b --no-wait', '<%= config.bin %> model delete qwen3-8b --dry-run']

  static override args = {
    name: modelNameArg(),
  }

  static override flags = {
    ...kubeFlags,
    ...waitFlags,
    'dry-run': Flags.boolean({description: 'server-side dry run: list what would be deleted, delete nothing', default: false}),
    gateway: Flags.boolean({description: 'deregister the model from the gateway first (verified on every replica) when one is installed', default: true, allowNo: true, helpGroup: 'GATEWAY'}),
    ...gatewayFlags,
  }

  async run(): Promise<DeleteModelResult & {gateway?: unknown}> {
    const {args, flags} = await this.parse(ModelDelete)
    const cfg = this.config_(flags)
    const client = await kubeClientFromConfig(cfg, undefined, (m) => this.warn(m))
    const timeoutMs = flags.timeout ? parseDuration(flags.timeout, '--timeout') : (cfg.durationMs('timeout') ?? 15 * 60_000)
    const progress = this.jsonEnabled() ? undefined : this.interactive && process.stderr.isTTY ? await listrProgress() : lineProgress((l) => this.info(l))
    let result: DeleteModelResult
    let gateway: unknown
    try {
      // the gateway first: a deleted model must not stay callable on a replica (and clients get a
      // clear "no such model" instead of connection errors while the pods go)
      if (flags.gateway && !flags['dry-run']) {
        const {deregisterDeleted, gatewayOptionsFromConfig} = await import('../../lib/gateway/index.js')
        const step = progress?.step(`deregister ${args.name} from the gateway`)
        try {
          const g = await deregisterDeleted(gatewayOptionsFromConfig(cfg, client, this.signal), client.namespace, args.name)
          step?.succeed('skipped' in g ? `gateway: ${g.skipped}` : `gateway: ${g.action === 'deleted' ? 'deregistered' : 'was not registered'}; gone from ${g.replicas.length} replica(s)`)
          gateway = g
        } catch (error) {
          step?.fail('gateway deregistration failed; nothing was deleted')
          if (!(error instanceof AipError) || error.code === 'INTERRUPTED') throw error
          throw new AipError(error.code, `${error.message}; ${args.name} was not deleted`, {fix: `${error.fix ? `${error.fix}; ` : ''}or --no-gateway to delete it without deregistering (then aip gateway reconcile)`, details: error.details, cause: error})
        }
      }
      result = await deleteModel(client, args.name, {namespace: client.namespace, wait: flags.wait, timeoutMs, dryRun: flags['dry-run'], signal: this.signal, progress})
    } finally {
      await progress?.close()
    }
    this.print(renderTable(result.deleted, [{header: 'kind', get: (d) => d.kind}, {header: 'name', get: (d) => d.name}, {header: 'result', get: (d) => (flags['dry-run'] ? 'would delete' : d.result)}]))
    if (!flags['dry-run']) this.print(result.waited ? `${args.name} deleted from ${result.namespace}; weights in S3 are kept` : `${args.name} is being deleted from ${result.namespace}`)
    return gateway ? {...result, gateway} : result
  }
}
