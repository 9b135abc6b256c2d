import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {awsFlags, kubeFlags} from '../../flags.js'
import type {ClusterStatus} from '../../lib/bootstrap/status.js'
import {renderKeyValues, renderTable} from '../../lib/output/index.js'

export default class ClusterStatusCommand extends AipCommand {
  static override summary = 'Cluster version and state, GPU nodes by instance type, platform components and deployed models'
  static override description = `EKS state and version come from DescribeCluster when a region is configured (skip with --skip-eks); everything else from the Kubernetes API of the current (or --context) context.`
  static override enableJsonFlag = true
  static override flags = {
    ...kubeFlags,
    ...awsFlags,
    name: Flags.string({description: 'EKS cluster name (default: config "cluster", else "aip")'}),
    'skip-eks': Flags.boolean({description: 'do not call EKS (any Kubernetes cluster)', default: false}),
  }
  static override examples = ['<%= config.bin %> cluster status', '<%= config.bin %> cluster status --skip-eks --context kind-dev', '<%= config.bin %> cluster status --json | jq .result.totals']

  async run(): Promise<ClusterStatus> {
    const {flags} = await this.parse(ClusterStatusCommand)
    const cfg = this.config_({region: flags.region, profile: flags.profile, kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, cluster: flags.name})
    const {createKubeClient} = await import('../../lib/kube/index.js')
    const {clusterStatus} = await import('../../lib/bootstrap/status.js')
    const {kubeconfigFile, eksEndpoint} = await import('../../lib/bootstrap/config.js')
    const client = await createKubeClient({kubeconfig: kubeconfigFile(cfg), context: cfg.string('context')})
    const region = cfg.string('region')
    let eks: Parameters<typeof clusterStatus>[0]['eks']
    if (!flags['skip-eks'] && region) {
      const {createEksClient} = await import('../../lib/aws/eks.js')
      eks = {client: await createEksClient({region, profile: cfg.string('profile'), endpoint: eksEndpoint()}), name: cfg.string('cluster') ?? 'aip', region}
    } else if (!flags['skip-eks']) {
      this.debugLog('no region configured: EKS state skipped')
    }
    const s = await clusterStatus({
      client,
      eks,
      modelNamespace: cfg.string('namespace') ?? 'aip-models',
      monitoringNamespace: cfg.string('monitoring-namespace') ?? 'monitoring',
      signal: this.signal,
    })
    this.render(s)
    return s
  }

  private render(s: ClusterStatus): void {
    const c = this.c
    const state = (x: string) => (x === 'healthy' || x === 'ready' || x === 'ACTIVE' ? c.green(x) : x === 'missing' || x === 'scaled-to-zero' ? c.yellow(x) : c.red(x))
    const kv: Array<[string, string | undefined]> = []
    if (s.eks) {
      kv.push(['cluster', `${s.eks.name} (${s.eks.region}) ${state(s.eks.status)}, EKS ${s.eks.version ?? '?'} ${s.eks.platformVersion ?? ''}`.trim()])
      if (s.eks.nodegroups.length) kv.push(['node groups', s.eks.nodegroups.map((n) => `${n.name} ${n.status} ${n.instanceTypes.join('/')} x${n.desiredSize ?? '?'}`).join('; ')])
    }
    kv.push(['context', `${s.kubernetes.context} (${s.kubernetes.server})`])
    kv.push(['kubernetes', s.kubernetes.version])
    kv.push(['nodes', `${s.totals.ready}/${s.totals.nodes} ready; GPUs ${s.totals.gpuRequested} requested / ${s.totals.gpuAllocatable} allocatable / ${s.totals.gpuCapacity} capacity`])
    this.print(renderKeyValues(kv))
    if (s.nodes.length) {
      this.print('')
      this.print(renderTable(s.nodes, [
        {header: 'instance type', get: (n) => n.instanceType},
        {header: 'nodes', get: (n) => `${n.ready}/${n.nodes}`, align: 'right'},
        {header: 'gpu', get: (n) => n.gpuProduct},
        {header: 'gpu capacity', get: (n) => n.gpuCapacity, align: 'right'},
        {header: 'allocatable', get: (n) => n.gpuAllocatable, align: 'right'},
        {header: 'requested', get: (n) => n.gpuRequested, align: 'right'},
        {header: 'capacity type', get: (n) => n.capacityType},
      ]))
    }
    this.print('')
    this.print(renderTable([...s.platform.map((p) => ({name: p.name, state: p.state, message: p.message})), ...s.addons.map((a) => ({name: a.name, state: a.state, message: a.message}))], [
      {header: 'component', get: (p) => p.name},
      {header: 'state', get: (p) => state(p.state)},
      {header: 'detail', get: (p) => p.message},
    ]))
    this.print('')
    if (s.models.length === 0) this.print(c.dim('no models deployed (aip model deploy NAME)'))
    else
      this.print(renderTable(s.models, [
        {header: 'model', get: (m) => m.name},
        {header: 'namespace', get: (m) => m.namespace},
        {header: 'ready', get: (m) => `${m.ready}/${m.desired}`, align: 'right'},
        {header: 'state', get: (m) => state(m.state)},
      ]))
  }
}
