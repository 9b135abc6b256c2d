import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags} from '../../flags.js'
import {parseDuration} from '../../lib/config/index.js'
import {AipError} from '../../lib/errors.js'
import type {ReconcileResult} from '../../lib/gateway/reconcile.js'
import {renderTable} from '../../lib/output/index.js'

export default class GatewayReconcile extends AipCommand {
  static override summary = "Make the gateway's models equal to the deployed ones: remove orphans, add missing, update stale"
  static override description = `The cluster is the truth: every model server aip deployed (any namespace) is one gateway model with id aip:<namespace>:<name>, its in-cluster Service as api_base and its served model name as the public name.
The plan: orphans (registered by aip, no longer deployed: deleted), missing (deployed, not registered: added), stale (public name or api_base differ, or not on every replica: written again), and conflicts (a public name another registration serves: never overwritten). Registrations aip did not make are left alone. Every change is verified on each proxy replica.
Keys that name models the gateway no longer serves are listed; --prune-keys removes those models from them (a key that would be left with none is reported: an empty list would allow every model).
Exit codes: 0 in sync (or brought in sync); 1 with --check when there was drift (with --dry-run: nothing changed), or when a conflict remains.`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override examples = ['<%= config.bin %> gateway reconcile --dry-run', '<%= config.bin %> gateway reconcile', '<%= config.bin %> gateway reconcile --dry-run --check   # CI: exit 1 on drift', '<%= config.bin %> gateway reconcile --prune-keys']
  static override flags = {
    kubeconfig: kubeFlags.kubeconfig,
    context: kubeFlags.context,
    ...gatewayFlags,
    'dry-run': Flags.boolean({description: 'print the plan; change nothing', default: false}),
    check: Flags.boolean({description: 'exit 1 when the gateway was not in sync (for CI)', default: false}),
    'prune-keys': Flags.boolean({description: 'remove no-longer-served models from keys that name them', default: false}),
    timeout: Flags.string({description: 'how long replicas may take to agree after each change', default: '2m'}),
  }

  async run(): Promise<ReconcileResult> {
    const {flags} = await this.parse(GatewayReconcile)
    const cfg = this.config_(flags)
    const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
    const {connectGateway, gatewayOptionsFromConfig, reconcileGateway} = await import('../../lib/gateway/index.js')
    const client = await kubeClientFromConfig(cfg)
    const o = gatewayOptionsFromConfig(cfg, client, this.signal)
    const conn = await connectGateway({client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: this.signal})
    const r = await reconcileGateway(client, conn, {
      dryRun: flags['dry-run'],
      pruneKeys: flags['prune-keys'],
      timeoutMs: parseDuration(flags.timeout, '--timeout'),
      signal: this.signal,
      onAction: (a, result) => this.info(`✔ ${a.action} ${a.servedName} (${a.model}): ${result}`),
    })
    const verb = r.dryRun ? 'would ' : ''
    if (r.actions.length) {
      this.print(
        renderTable(r.actions, [
          {header: 'action', get: (a) => `${verb}${a.action.replace(/-.*/, '')}`},
          {header: 'kind', get: (a) => a.action.replace(/^[a-z]+-/, '')},
          {header: 'model', get: (a) => a.servedName},
          {header: 'deployment', get: (a) => a.model},
          {header: 'detail', get: (a) => a.detail},
        ]),
      )
    }
    for (const c of r.conflicts) this.warn(`conflict: ${c.model} serves "${c.servedName}", which the gateway already serves as ${c.existing}; not registered (deploy it with another --served-name)`)
    if (r.keys.length) {
      this.print('')
      this.print(
        renderTable(r.keys, [
          {header: 'key', get: (k) => k.key},
          {header: 'team', get: (k) => k.team},
          {header: 'names removed models', get: (k) => k.removed.join(',')},
          {header: 'keeps', get: (k) => k.remaining.join(',') || '(none)'},
          {header: 'result', get: (k) => k.result ?? (flags['prune-keys'] ? '' : 'reported (--prune-keys updates it)')},
        ]),
      )
    }
    if (r.inSync) this.print('in sync: the gateway serves exactly the deployed models')
    else if (!r.dryRun && r.conflicts.length === 0) this.print(`done: ${r.applied.length} change(s) applied and verified on every replica`)
    if (r.conflicts.length) {
      this.deferredError = new AipError('CONFLICT', `${r.conflicts.length} model(s) not registered: their public name is served by another registration`, {fix: 'redeploy them with another --served-name, or delete the other registration'})
    } else if (flags.check && !r.inSync) {
      this.deferredError = new AipError('FAILED', r.dryRun ? `the gateway is not in sync: ${r.actions.length} action(s), ${r.keys.length} key(s)` : `the gateway was not in sync: ${r.applied.length} change(s) applied`, {fix: r.dryRun ? 'run aip gateway reconcile' : 'nothing to do now; find what changed the gateway or the cluster behind aip'})
    }
    return r
  }
}
