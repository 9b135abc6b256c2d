import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, modelNameArg, waitFlags, yesFlag} from '../../flags.js'
import {type AipConfig, parseDuration} from '../../lib/config/index.js'
import type {Progress} from '../../lib/deploy/progress.js'
import type {KubeClient} from '../../lib/kube/index.js'
import {kubeClientFromConfig, lineProgress, listrProgress} from '../../lib/deploy/index.js'
import {AipError, UsageError} from '../../lib/errors.js'
import {renderTable} from '../../lib/output/index.js'
import type {RollbackPlan, RollbackResult} from '../../lib/rollout/rollback.js'

export default class ModelRollback extends AipCommand {
  static override summary = 'Return a model to an earlier revision of its history (default: the one before the newest)'
  static override description = `Like kubectl rollout undo: re-applies the objects the earlier revision applied, exactly (server-side apply, field manager aip), after the gpu-fit gate for the image and vLLM it runs; deletes the objects of the model that revision did not have; waits until it serves; registers it with the gateway again (same model id); and records the rollback as a new revision, so a second rollback returns to where you were.
\`aip model history NAME\` lists the revisions (the last 5 are kept). Refused while a rollout of the model is in progress. Asks for confirmation on a terminal; --yes without one.
Exit codes: 4 the model is not deployed or has no such revision (the message lists the available ones), 1 nothing to roll back to.`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override examples = [
    '<%= config.bin %> model rollback qwen3-8b',
    '<%= config.bin %> model rollback qwen3-8b --to 2 --yes',
    '<%= config.bin %> model rollback qwen3-8b --dry-run',
  ]

  static override args = {
    name: modelNameArg(),
  }

  static override flags = {
    ...kubeFlags,
    ...waitFlags,
    ...yesFlag,
    to: Flags.integer({description: 'revision number to return to (aip model history NAME); default: the one before the newest', min: 1}),
    'dry-run': Flags.boolean({description: 'print what the rollback would change (server-side dry run); change nothing', default: false}),
    'skip-fit': Flags.boolean({description: 'skip the gpu-fit gate', default: false}),
    'force-conflicts': Flags.boolean({description: 'take over fields another field manager owns (server-side apply force)', default: false}),
    gateway: Flags.boolean({description: 'register the model with the gateway again when one is installed', default: true, allowNo: true, helpGroup: 'GATEWAY'}),
    ...gatewayFlags,
  }

  async run(): Promise<RollbackResult & {gateway?: unknown}> {
    const {args, flags} = await this.parse(ModelRollback)
    const cfg = this.config_(flags)
    const client = await kubeClientFromConfig(cfg, (r) => this.debugLog(`${r.method} ${r.path} -> ${r.status ?? r.error ?? ''} (${r.ms} ms)`), (m) => this.warn(m))
    const {dryRunResult, executeRollback, planRollback} = await import('../../lib/rollout/rollback.js')
    const plan = await planRollback({client, namespace: client.namespace, name: args.name, to: flags.to, skipFit: flags['skip-fit'], force: flags['force-conflicts'], signal: this.signal})
    if (plan.noop) {
      this.print(`${args.name} already runs the objects of revision ${plan.target.revision} (revision ${plan.current.revision}); nothing to do`)
      return {...dryRunResult(plan), dryRun: flags['dry-run']}
    }
    if (!this.jsonEnabled()) this.printPlan(plan, flags['dry-run'])
    if (flags['dry-run']) return dryRunResult(plan)
    await this.confirm(plan, flags.yes)

    const timeoutMs = flags.timeout ? parseDuration(flags.timeout, '--timeout') : (cfg.durationMs('timeout') ?? 15 * 60_000)
    const progress = this.jsonEnabled() ? undefined : this.interactive && process.stderr.isTTY ? await listrProgress() : lineProgress((l) => this.info(l))
    let result: RollbackResult
    let gateway: unknown
    const {revisionEntry} = await import('../../lib/rollout/summary.js')
    const entry = revisionEntry(plan.target.options)
    try {
      // the gateway is checked before anything changes, as deploy checks it
      if (flags.gateway && entry) {
        const {gatewayOptionsFromConfig, precheckRegistration} = await import('../../lib/gateway/index.js')
        await precheckRegistration(gatewayOptionsFromConfig(cfg, client, this.signal), plan.namespace, args.name, entry.servedModelName)
      }
      result = await executeRollback(plan, {client, force: flags['force-conflicts'], wait: flags.wait, timeoutMs, signal: this.signal, progress, warn: (t) => this.warn(t)})
      if (flags.gateway) gateway = await this.register(cfg, client, result, progress)
    } finally {
      await progress?.close()
    }
    this.print(
      renderTable(
        [...result.objects.map((o) => ({...o})), ...result.deleted.map((d) => ({kind: d.kind, name: d.name, action: d.result === 'deleted' ? 'deleted' : d.result}))],
        [
          {header: 'kind', get: (o) => o.kind},
          {header: 'name', get: (o) => o.name},
          {header: 'action', get: (o) => o.action},
        ],
      ),
    )
    this.print(
      `${args.name} rolled back from revision ${result.from} to revision ${result.to}${result.revision ? ` (recorded as revision ${result.revision})` : ''}${result.waited ? `; serving at ${result.endpoint}` : `; follow it with: aip model status ${args.name}`}`,
    )
    const g = gateway as {action?: string; servedName?: string; replicas?: string[]} | undefined
    if (g?.action) this.print(`gateway: "${g.servedName}" ${g.action}, served by ${g.replicas?.length ?? 0} replica(s)`)
    return gateway ? {...result, gateway} : result
  }

  private printPlan(plan: RollbackPlan, dryRun: boolean): void {
    const lines = [`${dryRun ? 'would roll back' : 'rolling back'} ${plan.model} in ${plan.namespace}: revision ${plan.current.revision} -> revision ${plan.target.revision} (${plan.target.source}, ${plan.target.recordedAt})`]
    for (const c of plan.changes) lines.push(`  ${c}`)
    if (plan.fit.checked) lines.push(`  gpu-fit: fits on ${plan.fit.gpu} (${plan.fit.image})`)
    this.info(lines.join('\n'))
    if (dryRun) {
      this.print(
        renderTable(
          [...plan.apply.map((a) => ({kind: a.kind, name: a.name, action: a.action})), ...plan.delete.map((d) => ({kind: d.kind, name: d.name, action: 'delete'}))],
          [
            {header: 'kind', get: (o) => o.kind},
            {header: 'name', get: (o) => o.name},
            {header: 'action', get: (o) => o.action},
          ],
        ),
      )
    }
  }

  private async confirm(plan: RollbackPlan, yes: boolean): Promise<void> {
    if (yes) return
    if (!this.interactive || !process.stdin.isTTY) {
      throw new UsageError(`rolling ${plan.model} back to revision ${plan.target.revision} needs confirmation (no terminal to ask on)`, {fix: 'review it with --dry-run, then pass --yes'})
    }
    const {confirm} = await import('@inquirer/prompts')
    const ok = await confirm({message: `Roll ${plan.model} back to revision ${plan.target.revision}?`, default: false}, {signal: this.signal}).catch((error: unknown) => {
      if ((error as Error).name === 'AbortPromptError' || (error as Error).name === 'ExitPromptError') throw new AipError('INTERRUPTED', 'cancelled; nothing changed', {fix: 'rerun when ready'})
      throw error
    })
    if (!ok) throw new UsageError('not confirmed; nothing changed', {fix: 'rerun and answer yes, or pass --yes'})
  }

  /** After the rollout: the gateway serves the model on every replica (same model id as deploy's). */
  private async register(cfg: AipConfig, client: KubeClient, result: RollbackResult, progress: Progress | undefined) {
    const {gatewayOptionsFromConfig, registerAfterChange} = await import('../../lib/gateway/index.js')
    return registerAfterChange(gatewayOptionsFromConfig(cfg, client, this.signal), {namespace: result.namespace, model: result.model, servedName: result.servedModelName}, progress, {done: 'is rolled back', retry: 'run `aip gateway reconcile`'})
  }
}
