import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../base-command.js'
import {awsFlags, bucketFlag, kubeFlags, yesFlag} from '../flags.js'
import {parseDuration} from '../lib/config/parse.js'
import {AipError, UsageError} from '../lib/errors.js'
import type {TeardownPlan, TeardownResult} from '../lib/teardown/index.js'

export interface TeardownCommandResult {
  dryRun: boolean
  plan: TeardownPlan
  result?: TeardownResult
}

export default class Teardown extends AipCommand {
  static override summary = 'Delete what aip created, in a safe order, after showing the plan'
  static override description = `Builds an ordered plan from what exists (objects labelled app.kubernetes.io/managed-by=aip), prints it, and asks you to type the cluster name (without a TTY it refuses unless --yes).

Phases: scale models to zero and delete their workloads; delete custom resources with finalizers (ScaledObjects, ServiceMonitors, PrometheusRules, Karpenter NodePools) while their controllers still run, and wait; remove add-on webhook configurations that would block deletion; delete LoadBalancer Services and wait until the cloud load balancers are released; delete namespaces and wait, naming any object that holds one on a finalizer (removed only with --force-finalizers); with --cluster, the EKS node groups and then the cluster.

Nothing outside the plan is deleted: objects created after it was shown and objects aip does not manage are left alone (a namespace holding such objects is kept). Buckets holding weights are never deleted unless --delete-bucket names one exactly. Interrupted or cut off from the API server, a rerun continues where it stopped. Exit 0 only once the end state is verified.`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override flags = {
    ...kubeFlags,
    ...awsFlags,
    ...yesFlag,
    name: Flags.string({description: 'cluster name to confirm with, and the EKS cluster for --cluster (default: config "cluster", else "aip")'}),
    cluster: Flags.boolean({description: 'also delete the EKS node groups and the cluster (and every LoadBalancer Service and NodePool in it)', default: false}),
    'delete-bucket': bucketFlag({description: 'empty and delete this S3 bucket (exact name; weights buckets are kept otherwise)'}),
    'dry-run': Flags.boolean({description: 'print the plan and exit; delete nothing', default: false}),
    'force-finalizers': Flags.boolean({description: 'remove finalizers that stay after the wait (their controller is gone); what they guard may be left behind', default: false}),
    timeout: Flags.string({description: 'how long to wait for each phase, e.g. 10m (default: config timeout, 15m)'}),
  }
  static override examples = [
    '<%= config.bin %> teardown --dry-run',
    '<%= config.bin %> teardown',
    '<%= config.bin %> teardown --yes --json',
    '<%= config.bin %> teardown --cluster --name prod --region us-east-1',
    '<%= config.bin %> teardown --delete-bucket my-scratch-weights',
  ]

  async run(): Promise<TeardownCommandResult> {
    const {flags} = await this.parse(Teardown)
    const cfg = this.config_({region: flags.region, profile: flags.profile, kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, cluster: flags.name, timeout: flags.timeout})
    const clusterName = cfg.string('cluster') ?? 'aip'
    const timeoutMs = parseDuration(String(cfg.get('timeout') ?? '15m'), '--timeout')
    const region = cfg.string('region')
    if (flags.cluster && !region) throw new UsageError('--cluster needs the AWS region of the EKS cluster', {fix: 'pass --region or set AWS_REGION'})

    const {createKubeClient} = await import('../lib/kube/index.js')
    const {kubeconfigFile, eksEndpoint} = await import('../lib/bootstrap/config.js')
    const {buildTeardownPlan, executeTeardown, renderPlan} = await import('../lib/teardown/index.js')
    const client = await createKubeClient({kubeconfig: kubeconfigFile(cfg), context: cfg.string('context'), onNotice: (m) => this.warn(m)})
    let eks: {client: import('@aws-sdk/client-eks').EKSClient; region: string} | undefined
    if (flags.cluster) {
      const {createEksClient} = await import('../lib/aws/eks.js')
      eks = {client: await createEksClient({region, profile: cfg.string('profile'), endpoint: eksEndpoint()}), region: region!}
    }
    let s3: import('@aws-sdk/client-s3').S3Client | undefined
    if (flags['delete-bucket']) {
      const {createS3Client} = await import('../lib/aws/s3.js')
      s3 = await createS3Client({region, profile: cfg.string('profile'), endpoint: cfg.string('s3-endpoint')})
    }

    this.info(`planning teardown of ${clusterName} (context ${client.context})...`)
    const plan = await buildTeardownPlan({
      client,
      clusterName,
      eks,
      deleteBucket: s3 ? {client: s3, name: flags['delete-bucket']!} : undefined,
      protectedBucket: cfg.string('bucket'),
      signal: this.signal,
    })
    this.print(renderPlan(plan, this.verbose))
    if (flags['dry-run']) {
      this.print(this.c.dim('\ndry run: nothing deleted. Run without --dry-run to delete what is listed above.'))
      return {dryRun: true, plan}
    }
    if (plan.empty) {
      this.print('nothing to do')
      return {dryRun: false, plan, result: {phases: [], leftovers: [], kept: plan.kept, verified: true}}
    }
    await this.confirm(clusterName, flags.yes)

    // The gateway first: its registrations go before the models they point at (verified on every
    // replica). Best effort: the gateway itself may be going in this teardown, or be down already.
    try {
      const {deregisterAll, gatewayOptionsFromConfig} = await import('../lib/gateway/index.js')
      const g = await deregisterAll({...gatewayOptionsFromConfig(cfg, client, this.signal), timeoutMs: 60_000})
      if (!('skipped' in g) && g.length) this.info(`✔ gateway: ${g.length} model(s) deregistered`)
    } catch (error) {
      if (this.signal.aborted) throw error
      this.warn(`gateway models not deregistered: ${(error as Error).message}`)
    }

    let step = 0
    const total = plan.phases.length
    const result = await executeTeardown(plan, {
      client,
      eks: eks ? {...eks, wait: process.env.AIP_EKS_POLL_MS ? {pollMs: Number(process.env.AIP_EKS_POLL_MS)} : undefined} : undefined,
      s3,
      timeoutMs,
      forceFinalizers: flags['force-finalizers'],
      signal: this.signal,
      onEvent: (e) => {
        if (e.status === 'start' && e.phase !== 'verify') step++
        const prefix = e.phase === 'verify' ? '[verify]' : `[${step}/${total}]`
        if (e.status === 'progress') this.info(this.ce.dim(`      ${e.message}`))
        else this.info(`${e.status === 'done' ? this.ce.green('✔') : '›'} ${prefix} ${e.message}`)
      },
    })
    for (const l of result.leftovers) this.warn(`left in place (not in the plan; created after it was shown): ${l}`)
    for (const k of result.kept) this.warn(`kept ${k.what}: ${k.reason}`)
    this.print(this.c.green(`\nteardown complete: ${result.phases.reduce((n, p) => n + p.deleted.length, 0)} deleted, end state verified`))
    return {dryRun: false, plan, result}
  }

  private async confirm(clusterName: string, yes: boolean): Promise<void> {
    if (yes) return
    if (!this.interactive) {
      throw new UsageError('refusing to delete without confirmation (no terminal to ask on)', {fix: 'review the plan with --dry-run, then pass --yes to confirm'})
    }
    const {input} = await import('@inquirer/prompts')
    const answer = await input({message: `Type the cluster name (${clusterName}) to delete what is listed above:`}, {signal: this.signal}).catch((error: unknown) => {
      if ((error as Error).name === 'AbortPromptError' || (error as Error).name === 'ExitPromptError') throw new AipError('INTERRUPTED', 'cancelled; nothing deleted', {fix: 'rerun when ready'})
      throw error
    })
    if (answer.trim() !== clusterName) throw new UsageError(`"${answer.trim()}" is not the cluster name; nothing deleted`, {fix: `type ${clusterName} exactly, or pass --yes`})
  }
}
