import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../base-command.js'
import {awsFlags, kubeFlags} from '../flags.js'
import type {Check} from '../lib/bootstrap/doctor.js'
import {AipError} from '../lib/errors.js'
import {renderTable} from '../lib/output/index.js'

export interface DoctorResult {
  checks: Check[]
  failed: number
  warnings: number
}

export default class Doctor extends AipCommand {
  static override summary = 'Check tools, credentials, the kubeconfig context, the cluster and the platform; change nothing'
  static override description = 'Exit 0 when nothing failed (warnings allowed), 1 otherwise. EKS is checked when a region is configured (skip with --skip-eks).'
  static override enableJsonFlag = true
  static override flags = {
    ...kubeFlags,
    ...awsFlags,
    name: Flags.string({description: 'EKS cluster name (default: config "cluster", else "aip")'}),
    'skip-eks': Flags.boolean({description: 'do not call EKS', default: false}),
  }
  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --skip-eks --json']

  async run(): Promise<DoctorResult> {
    const {flags} = await this.parse(Doctor)
    const cfg = this.config_({region: flags.region, profile: flags.profile, kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, cluster: flags.name})
    const {runDoctor} = await import('../lib/bootstrap/doctor.js')
    const {kubeconfigFile, eksEndpoint} = await import('../lib/bootstrap/config.js')
    const region = cfg.string('region')
    const checks = await runDoctor({
      bucket: cfg.string('bucket'),
      kubeClient: async () => {
        const {createKubeClient} = await import('../lib/kube/index.js')
        return createKubeClient({kubeconfig: kubeconfigFile(cfg), context: cfg.string('context'), retry: {retries: 1}})
      },
      eks:
        region && !flags['skip-eks']
          ? {
              name: cfg.string('cluster') ?? 'aip',
              region,
              client: async () => {
                const {createEksClient} = await import('../lib/aws/eks.js')
                return createEksClient({region, profile: cfg.string('profile'), endpoint: eksEndpoint()})
              },
            }
          : undefined,
      modelNamespace: cfg.string('namespace') ?? 'aip-models',
      monitoringNamespace: cfg.string('monitoring-namespace') ?? 'monitoring',
    })
    const c = this.c
    const mark = {ok: c.green('ok'), warn: c.yellow('warn'), fail: c.red('FAIL')}
    this.print(renderTable(checks, [
      {header: 'check', get: (x) => x.name},
      {header: 'status', get: (x) => mark[x.status]},
      {header: 'detail', get: (x) => (x.fix ? `${x.message} (fix: ${x.fix})` : x.message)},
    ]))
    const failed = checks.filter((x) => x.status === 'fail').length
    const warnings = checks.filter((x) => x.status === 'warn').length
    if (failed > 0) {
      const first = checks.find((x) => x.status === 'fail')!
      this.deferredError = new AipError('FAILED', `${failed} check${failed === 1 ? '' : 's'} failed (first: ${first.name}: ${first.message})`, {fix: first.fix ?? 'see the table above'})
    }
    return {checks, failed, warnings}
  }
}
