import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {awsFlags, bucketFlag, kubeFlags, waitFlags} from '../../flags.js'
import type {BootstrapEvent, BootstrapResult, SettingDecision} from '../../lib/bootstrap/index.js'
import {configPaths, writeConfigKey} from '../../lib/config/index.js'
import {parseDuration} from '../../lib/config/parse.js'
import {UsageError} from '../../lib/errors.js'
import {formatDuration, renderKeyValues, renderTable} from '../../lib/output/index.js'

export default class ClusterBootstrap extends AipCommand {
  static override summary = 'Create or adopt the EKS cluster, write its kubeconfig context, and apply the aip platform base'
  static override description = `Steps (each idempotent: an interrupted run, rerun, continues; a finished one, rerun, changes nothing):
  1. EKS: DescribeCluster; with --create, CreateCluster as EKS Auto Mode (--compute nodegroups: a classic cluster with a managed system node group), public endpoint limited to --public-access-cidrs, waiting for ACTIVE; --gpu-nodegroup TYPE:MIN-MAX adds a managed GPU node group.
  2. kubeconfig: write or merge a context whose credentials come from \`aws eks get-token\` (exec plugin; no secret is written), file mode 0600.
  3. S3 access: the weights bucket (--bucket, default <cluster>-weights-<account>-<region>; Block Public Access, SSE-S3 or --kms-key, a rule aborting incomplete multipart uploads; recorded as config \`bucket\`), IAM roles aip-<cluster>-model-server (read) and aip-<cluster>-preload (read-write) on s3://BUCKET/PREFIX/, and EKS Pod Identity (the eks-pod-identity-agent add-on and one association per ServiceAccount and namespace) or, with --irsa, the OIDC provider and role annotations.
  4. Platform base (server-side apply, field manager aip): the model namespace (Pod Security restricted, default-deny network policy with DNS, ServiceAccounts aip-model-server and aip-preload), tenant namespaces (--tenant NAME[=GPUS], or config \`tenants\`: ResourceQuota with requests.nvidia.com/gpu, LimitRange, a Role allowing what \`aip model deploy\` writes for group aip:tenant:NAME, the two ServiceAccounts, default-deny + DNS).
  5. Add-ons: reports KEDA, the Prometheus operator, the NVIDIA device plugin, the DCGM exporter and Karpenter; --install-addons installs the missing ones with \`helm upgrade --install\` at pinned chart versions.
  6. GPU NodePool (karpenter.sh/v1) for the --gpu types' instance types, GPU limit --gpu-limit, nvidia.com/gpu NoSchedule taint: on EKS Auto Mode's NodeClass, or with Karpenter's EC2NodeClass where Karpenter is installed.

Rerunning: --gpu, --gpu-limit, --capacity-type, --karpenter-node-role and tenant GPU quotas (--tenant NAME=GPUS, --gpu-quota) that are omitted keep what the cluster has (read from NodePool aip-gpu, EC2NodeClass aip-gpu, the tenant's ResourceQuota aip-quota); a given one changes it. The defaults apply only where nothing is there yet; pass a default explicitly (e.g. --gpu-limit 8 --capacity-type on-demand) to go back to it. The output lists each setting as kept, changed (old -> new), unchanged, default or set. Likewise an omitted --kms-key keeps the bucket's SSE-KMS key (--kms-key none goes back to SSE-S3), and an omitted --irsa/--no-irsa keeps the access mode the IAM roles trust.

--skip-eks bootstraps the cluster of an existing kubeconfig context (any conformant Kubernetes; --kubeconfig/--context pick it).
$AIP_EKS_ENDPOINT points the EKS client at another endpoint (tests, VPC endpoints).`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override flags = {
    ...kubeFlags,
    ...awsFlags,
    ...waitFlags,
    name: Flags.string({description: 'EKS cluster name (default: config "cluster", else "aip")'}),
    create: Flags.boolean({description: 'create the cluster and its system node group when it does not exist', default: false}),
    'skip-eks': Flags.boolean({description: 'do not call EKS: bootstrap the cluster of the current (or --context) kubeconfig context', default: false}),
    'dry-run': Flags.boolean({description: 'print what would be created or changed; change nothing', default: false}),
    tenant: Flags.string({description: 'tenant namespace to create, NAME or NAME=GPUS (repeatable)', multiple: true}),
    'gpu-quota': Flags.integer({description: 'GPU quota (requests.nvidia.com/gpu) of tenants given without =GPUS (default: the tenant\'s current quota, else 1)', min: 0}),
    'gpu-limit': Flags.integer({description: 'most GPUs the GPU NodePool may provision in total (default: the NodePool\'s current limit, else 8)', min: 0}),
    'capacity-type': Flags.string({description: 'capacity types of GPU nodes (repeatable; default: the NodePool\'s current ones, else on-demand)', options: ['on-demand', 'spot'], multiple: true}),
    'karpenter-node-role': Flags.string({description: 'IAM role of Karpenter GPU nodes (default: the EC2NodeClass\'s current role, else KarpenterNodeRole-<cluster>)'}),
    'install-addons': Flags.boolean({description: 'install missing add-ons (KEDA, kube-prometheus-stack, NVIDIA device plugin, DCGM exporter) with helm, at pinned chart versions', default: false}),
    gpu: Flags.string({description: 'GPU type the GPU NodePool provisions (repeatable; default: the NodePool\'s current instance types, else config gpu and the GPUs of the catalog models)', multiple: true}),
    bucket: bucketFlag({description: 'weights bucket to create or adopt (default: config bucket, else <cluster>-weights-<account>-<region>)', helpGroup: 'S3 ACCESS'}),
    'kms-key': Flags.string({description: 'KMS key ARN for the bucket default encryption, or "none" for SSE-S3 (default: the bucket\'s current SSE-KMS key, else SSE-S3)', helpGroup: 'S3 ACCESS'}),
    irsa: Flags.boolean({description: 'give pods S3 access through IRSA (OIDC provider + role annotations) instead of EKS Pod Identity; --no-irsa: EKS Pod Identity (default: the mode the IAM roles have, else Pod Identity)', allowNo: true, helpGroup: 'S3 ACCESS'}),
    'skip-access': Flags.boolean({description: 'leave the bucket, IAM roles and Pod Identity to you', default: false, helpGroup: 'S3 ACCESS'}),
    'gpu-nodegroup': Flags.string({description: 'a managed GPU node group, INSTANCE-TYPE:MIN-MAX, e.g. g6e.xlarge:0-2 (needs --node-role-arn)'}),
    gateway: Flags.boolean({description: 'also install the gateway, as aip gateway install with every flag omitted: an installed gateway keeps its settings, a new one gets the defaults; tenants become gateway teams', default: false}),
    'role-arn': Flags.string({description: '--create: IAM role of the EKS control plane', helpGroup: 'CREATE'}),
    'node-role-arn': Flags.string({description: '--create: IAM role of the nodes (Auto Mode node role, or the node groups\' role)', helpGroup: 'CREATE'}),
    compute: Flags.string({description: '--create: auto-mode (EKS Auto Mode) or nodegroups (a managed system node group)', options: ['auto-mode', 'nodegroups'], default: 'auto-mode', helpGroup: 'CREATE'}),
    'public-access-cidrs': Flags.string({description: '--create: CIDRs allowed to reach the public API endpoint, comma-separated (default: your public IP/32)', helpGroup: 'CREATE'}),
    subnet: Flags.string({description: '--create: subnet id (repeat; at least two availability zones)', multiple: true, helpGroup: 'CREATE'}),
    'security-group': Flags.string({description: '--create: extra security group id (repeatable)', multiple: true, helpGroup: 'CREATE'}),
    'kubernetes-version': Flags.string({description: '--create: Kubernetes version (default: EKS default)', helpGroup: 'CREATE'}),
    'system-instance-type': Flags.string({description: '--create: instance type of the system node group', default: 'm6i.large', helpGroup: 'CREATE'}),
    'system-nodes': Flags.integer({description: '--create: desired nodes in the system node group', default: 2, min: 1, helpGroup: 'CREATE'}),
  }
  static override examples = [
    '<%= config.bin %> cluster bootstrap --name prod --region us-east-1 --dry-run',
    '<%= config.bin %> cluster bootstrap --name prod --region us-east-1 --tenant team-a=4 --tenant team-b=2',
    '<%= config.bin %> cluster bootstrap --name prod --region us-east-1 --create --role-arn arn:aws:iam::123456789012:role/eks --node-role-arn arn:aws:iam::123456789012:role/eks-node --subnet subnet-a --subnet subnet-b --public-access-cidrs 203.0.113.7/32 --gpu l40s --dry-run --json',
    '<%= config.bin %> cluster bootstrap --name prod --region us-east-1 --gpu-nodegroup g6e.xlarge:0-2 --node-role-arn arn:aws:iam::123456789012:role/eks-node',
    '<%= config.bin %> cluster bootstrap --skip-eks --context kind-dev --install-addons',
  ]

  async run(): Promise<BootstrapResult & {gateway?: unknown}> {
    const {flags} = await this.parse(ClusterBootstrap)
    const cfg = this.config_({region: flags.region, profile: flags.profile, kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, timeout: flags.timeout, cluster: flags.name})
    const {runBootstrap, parseTenant} = await import('../../lib/bootstrap/index.js')
    // --tenant (repeatable) wins over config `tenants` (NAME[=GPUS], comma-separated)
    const tenantSpecs = flags.tenant ?? cfg.string('tenants')?.split(',').map((t) => t.trim()).filter(Boolean) ?? []
    const tenants = tenantSpecs.map((t) => parseTenant(t, flags['gpu-quota']))
    const dup = tenants.find((t, i) => tenants.findIndex((u) => u.name === t.name) !== i)
    if (dup) throw new UsageError(`tenant "${dup.name}" is given twice`, {fix: `give each tenant once, e.g. --tenant ${dup.name}=${dup.gpus ?? 1}`})
    const clusterName = cfg.string('cluster') ?? 'aip'
    const region = cfg.string('region')
    const timeoutMs = parseDuration(String(cfg.get('timeout') ?? '15m'), '--timeout')
    if (flags['skip-eks'] && flags.create) throw new UsageError('--create and --skip-eks exclude each other', {fix: 'drop one of them'})
    {
      // their form is checked before any AWS call (credentials, DescribeCluster): a typo is exit 2 on every run
      const {validateKubernetesVersion, validatePublicAccessCidrs} = await import('../../lib/aws/eks.js')
      validateKubernetesVersion(flags['kubernetes-version'])
      if (flags['public-access-cidrs']) validatePublicAccessCidrs(flags['public-access-cidrs'].split(',').map((c) => c.trim()).filter(Boolean))
    }
    if (flags['skip-eks'] && flags['gpu-nodegroup']) throw new UsageError('--gpu-nodegroup needs EKS', {fix: 'drop --skip-eks, or create the node group with your own tooling'})
    const {parseGpuNodegroup} = await import('../../lib/bootstrap/index.js')
    const gpuNodegroup = flags['gpu-nodegroup'] ? parseGpuNodegroup(flags['gpu-nodegroup'], clusterName, flags['node-role-arn']) : undefined
    // first-run default: the GPUs the catalog's models use (and config gpu), so a catalog deploy finds a node
    const {listCatalog} = await import('../../lib/catalog/index.js')
    const defaultGpuTypes = [...new Set([...(cfg.string('gpu') ? [cfg.string('gpu')!] : []), ...listCatalog().map((e) => e.gpu.type)])]

    let eks: Parameters<typeof runBootstrap>[0]['eks']
    if (!flags['skip-eks']) {
      if (!region) throw new UsageError('no AWS region set', {fix: 'pass --region (e.g. --region us-east-1), set AWS_REGION, or use --skip-eks to bootstrap the current kubeconfig context'})
      const {createEksClient} = await import('../../lib/aws/eks.js')
      const client = await createEksClient({region, profile: cfg.string('profile'), endpoint: process.env.AIP_EKS_ENDPOINT || undefined})
      eks = {
        client,
        create: flags.create,
        profile: cfg.string('profile'),
        wait: {timeoutMs: flags.wait ? timeoutMs + 20 * 60_000 : timeoutMs, ...(process.env.AIP_EKS_POLL_MS ? {pollMs: Number(process.env.AIP_EKS_POLL_MS)} : {})},
        spec: flags.create
          ? {
              name: clusterName,
              region,
              roleArn: flags['role-arn'] ?? '',
              subnetIds: flags.subnet ?? [],
              securityGroupIds: flags['security-group'],
              version: flags['kubernetes-version'],
              compute: flags.compute as 'auto-mode' | 'nodegroups',
              autoModeNodeRoleArn: flags['node-role-arn'],
              publicAccessCidrs: await this.publicAccessCidrs(flags['public-access-cidrs']),
              systemNodegroup:
                flags.compute === 'nodegroups'
                  ? {
                      name: `${clusterName}-system`,
                      nodeRoleArn: flags['node-role-arn'] ?? '',
                      instanceTypes: [flags['system-instance-type']],
                      minSize: 1,
                      desiredSize: flags['system-nodes'],
                      maxSize: Math.max(flags['system-nodes'], 3),
                    }
                  : undefined,
            }
          : undefined,
      }
    }
    const {kubeconfigPath} = await import('../../lib/aws/kubeconfig.js')
    const {kubeconfigFile} = await import('../../lib/bootstrap/config.js')
    const kcFile = kubeconfigFile(cfg)
    const started = Date.now()
    const result = await runBootstrap({
      clusterName,
      region,
      eks,
      kubeconfig: {path: eks ? kubeconfigPath(kcFile) : kcFile, context: cfg.string('context')},
      kubeClient: async (o) => {
        const {createKubeClient} = await import('../../lib/kube/index.js')
        // the generic fix ("run aip cluster bootstrap") would send the user in a circle
        const missingFix = eks ? undefined : 'drop --skip-eks to write the context from EKS (--name, --region), or pass --kubeconfig PATH / --context NAME'
        return createKubeClient({kubeconfig: o.kubeconfig, context: o.context, missingFix})
      },
      platform: {
        modelNamespace: cfg.string('namespace') ?? 'aip-models',
        gatewayNamespace: cfg.string('gateway-namespace') ?? 'aip-gateway',
        monitoringNamespace: cfg.string('monitoring-namespace') ?? 'monitoring',
        tenants,
        // omitted (undefined): a rerun keeps the cluster's value, a first run takes the default
        gpuLimit: flags['gpu-limit'],
        karpenterNodeRole: flags['karpenter-node-role'],
        capacityTypes: flags['capacity-type'] as Array<'on-demand' | 'spot'> | undefined,
        gpuTypes: flags.gpu,
        defaultGpuTypes,
      },
      access:
        eks && !flags['skip-access']
          ? {
              bucket: flags.bucket ?? cfg.string('bucket'),
              prefix: cfg.string('prefix'),
              kmsKey: flags['kms-key'] === 'none' ? null : flags['kms-key'],
              mode: flags.irsa === undefined ? undefined : flags.irsa ? 'irsa' : 'pod-identity',
              clients: async () => {
                const [{createS3Client}, {createIamClient, createStsClient}] = await Promise.all([import('../../lib/aws/s3.js'), import('../../lib/aws/iam.js')])
                const aws = {region, profile: cfg.string('profile')}
                return {s3: await createS3Client({...aws, endpoint: cfg.string('s3-endpoint')}), iam: await createIamClient(aws), sts: await createStsClient(aws)}
              },
            }
          : undefined,
      gpuNodegroup,
      recordConfig: (key, value) => {
        const file = configPaths().global
        // a rerun with the same settings writes nothing
        if (cfg.string(key) !== value) writeConfigKey(file, key, value)
        return file
      },
      installAddons: flags['install-addons'],
      helmTimeout: `${Math.ceil(timeoutMs / 1000)}s`,
      dryRun: flags['dry-run'],
      signal: this.signal,
      onEvent: (e) => this.progress(e, started),
    })
    this.render(result)
    if (flags.gateway) return {...result, gateway: await this.installGateway(result, tenants.map((t) => t.name), flags['dry-run'], timeoutMs)}
    return result
  }

  /**
   * --public-access-cidrs, else the caller's public address: asked of AWS's checkip service
   * (https://checkip.amazonaws.com; $AIP_CHECKIP_URL overrides it). Offline there is no way to know
   * the address the endpoint will see, so the flag is then required.
   */
  private async publicAccessCidrs(flag: string | undefined): Promise<string[]> {
    if (flag) {
      const cidrs = flag.split(',').map((c) => c.trim()).filter(Boolean)
      if (cidrs.includes('0.0.0.0/0')) this.warn('--public-access-cidrs 0.0.0.0/0 opens the cluster API endpoint to the whole internet (authentication still applies); prefer your own address/32')
      return cidrs
    }
    const url = process.env.AIP_CHECKIP_URL || 'https://checkip.amazonaws.com'
    try {
      const res = await fetch(url, {signal: AbortSignal.any([this.signal, AbortSignal.timeout(5000)])})
      const ip = (await res.text()).trim()
      if (!res.ok || !/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new Error(`unexpected answer ${res.status}`)
      this.info(`public endpoint limited to your address ${ip}/32 (from ${url}; pass --public-access-cidrs to choose)`)
      return [`${ip}/32`]
    } catch (error) {
      // needed only when the cluster is created: the create spec check then asks for the flag (exit 2)
      this.debugLog(`${url}: ${(error as Error).message}`)
      return []
    }
  }

  /**
   * --gateway: `aip gateway install` with every flag omitted, on the context bootstrap just wrote or
   * used: an installed gateway keeps its settings (exposure, TLS, replicas, database...), a new one
   * gets the defaults (lib/gateway/settings.ts decides both).
   */
  private async installGateway(r: BootstrapResult, teams: string[], dryRun: boolean, timeoutMs: number) {
    const cfg = this.config_()
    const {createKubeClient} = await import('../../lib/kube/index.js')
    const [{installGateway}, {gatewaySettingRows}] = await Promise.all([import('../../lib/gateway/install.js'), import('../../lib/gateway/settings.js')])
    const client = await createKubeClient({kubeconfig: r.kubeconfig?.path ?? cfg.string('kubeconfig'), context: r.kubeconfig?.context ?? r.context ?? cfg.string('context')})
    this.info('› gateway    installing LiteLLM in ' + (cfg.string('gateway-namespace') ?? 'aip-gateway'))
    const {manifests: _m, ...g} = await installGateway(client, {
      namespace: cfg.string('gateway-namespace') ?? 'aip-gateway',
      settings: {},
      teams,
      dryRun,
      timeoutMs,
      masterKey: process.env.AIP_GATEWAY_MASTER_KEY || undefined,
      url: cfg.string('gateway-url'),
      signal: this.signal,
    })
    if (!this.jsonEnabled()) {
      this.print(`\n${this.c.bold('Gateway settings')} (change them with aip gateway install)`)
      this.print(renderTable(gatewaySettingRows(g.settings), [{header: 'setting', get: (x) => x.setting}, {header: 'value', get: (x) => x.value}, {header: 'action', get: (x) => (x.changed ? this.c.yellow(x.action) : x.action)}]))
    }
    for (const n of g.notes) this.info(n)
    for (const w of g.warnings) this.warn(w)
    this.info(`✔ gateway    ${g.objects.length} objects; ${g.ready ? `${g.ready.ready}/${g.ready.desired} replicas ready` : 'not waited'}${g.url ? `; ${g.url}` : ''}${g.teams.length ? `; teams ${g.teams.map((t) => t.team).join(', ')}` : ''}`)
    return g
  }

  private progress(e: BootstrapEvent, started: number): void {
    const mark = e.status === 'done' ? '✔' : e.status === 'skipped' ? '–' : e.status === 'start' ? '›' : ' '
    const line = `${mark} ${e.step.padEnd(10)} ${e.message}`
    if (e.status === 'progress') this.info(this.ce.dim(`  [${formatDuration(Date.now() - started)}] ${line}`))
    else this.info(line)
  }

  private render(r: BootstrapResult): void {
    const c = this.c
    const head: Array<[string, string | undefined]> = []
    if (r.cluster) head.push(['cluster', `${r.cluster.name} (${r.cluster.region}): ${r.cluster.plannedCreate ? 'does not exist; would be created' : r.cluster.status}${r.cluster.version ? `, Kubernetes ${r.cluster.version}` : ''}${r.cluster.created ? ' (created)' : ''}`])
    if (r.kubeconfig) head.push(['kubeconfig', `${r.kubeconfig.action} context ${r.kubeconfig.context} in ${r.kubeconfig.path}`])
    if (r.context) head.push(['context', r.context])
    if (r.access) head.push(['bucket', `s3://${r.access.bucket.name} (${r.access.bucket.action}; ${r.access.bucket.settings.map((x) => `${x.setting} ${x.action}`).join(', ')})`])
    if (r.config) head.push(['config', `bucket recorded in ${r.config.file}`])
    if (head.length) this.print(renderKeyValues(head))
    if (r.access) {
      const a = r.access
      this.print(`\n${c.bold(`S3 access (${a.mode === 'irsa' ? 'IRSA' : 'EKS Pod Identity'})`)}`)
      const rows = [
        ...a.roles.map((x) => ({what: 'IAM role', name: `${x.name} (${x.access})`, action: x.action === x.policyAction ? x.action : `${x.action}, policy ${x.policyAction}`})),
        ...(a.oidcProvider ? [{what: 'OIDC provider', name: a.oidcProvider.arn, action: a.oidcProvider.action}] : []),
        ...(a.podIdentityAgent ? [{what: 'EKS add-on', name: a.podIdentityAgent.name, action: a.podIdentityAgent.action}] : []),
        ...a.associations.map((x) => ({what: 'Pod Identity', name: `${x.namespace}/${x.serviceAccount} -> ${x.roleArn.split('/').pop()}`, action: x.action})),
      ]
      this.print(renderTable(rows, [
        {header: 'kind', get: (x) => x.what},
        {header: 'name', get: (x) => x.name},
        {header: 'action', get: (x) => x.action},
      ]))
    }
    if (r.storage?.ebsCsi) {
      const e = r.storage.ebsCsi
      this.print(`\n${c.bold('Block storage (EBS CSI driver)')}`)
      this.print(renderTable([
        {what: 'IAM role', name: `${e.role.name} (AmazonEBSCSIDriverPolicy)`, action: e.role.action === e.role.policyAction ? e.role.action : `${e.role.action}, policy ${e.role.policyAction}`},
        {what: 'Pod Identity', name: `${e.association.namespace}/${e.association.serviceAccount} -> ${e.role.name}`, action: e.association.action},
        {what: 'EKS add-on', name: e.addon.name, action: e.addon.action},
      ], [
        {header: 'kind', get: (x) => x.what},
        {header: 'name', get: (x) => x.name},
        {header: 'action', get: (x) => x.action},
      ]))
    }
    this.print(`\n${c.bold(r.dryRun ? 'Platform objects (dry run: nothing changed)' : 'Platform objects')}`)
    this.print(renderTable([...r.objects, ...r.gpuPool.objects], [
      {header: 'kind', get: (o) => o.kind},
      {header: 'namespace', get: (o) => o.namespace},
      {header: 'name', get: (o) => o.name},
      {header: 'action', get: (o) => o.action},
    ]))
    if (r.settings.length) {
      this.print(`\n${c.bold('GPU pool and tenant settings')}`)
      const showSetting = (v: SettingDecision['value'] | undefined) => (Array.isArray(v) ? v.join(',') : String(v))
      const note: Record<SettingDecision['action'], string> = {kept: 'kept (flag omitted)', changed: 'changed', unchanged: 'unchanged', default: 'default', set: 'set'}
      this.print(renderTable(r.settings, [
        {header: 'setting', get: (d) => (d.tenant ? `tenant ${d.tenant} gpus` : d.setting)},
        {header: 'value', get: (d) => (d.action === 'changed' ? `${showSetting(d.previous)} -> ${showSetting(d.value)}` : showSetting(d.value))},
        {header: 'action', get: (d) => (d.action === 'changed' ? c.yellow(note[d.action]) : note[d.action])},
      ]))
    }
    if (r.networkPolicy) this.print(`\n${c.bold('Network policies')}: ${r.networkPolicy.state === 'enforced' ? c.green(r.networkPolicy.state) : c.red(r.networkPolicy.state)}${r.networkPolicy.action !== 'none' ? ` (${r.networkPolicy.action})` : ''}: ${r.networkPolicy.message}`)
    for (const w of r.warnings) this.warn(`${w.message}\nFix: ${w.fix}`)
    if (r.gpuPool.provisioner === 'none') this.print(c.dim('neither EKS Auto Mode nor Karpenter: no GPU NodePool applied (GPU nodes from a node group: --gpu-nodegroup TYPE:MIN-MAX)'))
    if (r.addons.length) {
      this.print(`\n${c.bold('Add-ons')}`)
      this.print(renderTable(r.addons, [
        {header: 'add-on', get: (a) => a.name},
        {header: 'state', get: (a) => (a.state === 'healthy' ? c.green(a.state) : a.state === 'missing' ? c.yellow(a.state) : c.red(a.state))},
        {header: 'action', get: (a) => (a.action === 'none' ? '' : a.action)},
        {header: 'detail', get: (a) => a.message},
      ]))
      const missing = r.addons.filter((a) => a.state !== 'healthy' && a.installable && a.action === 'none')
      if (missing.length && !r.dryRun) this.print(c.dim(`install the missing ones with: aip cluster bootstrap --install-addons (${missing.map((a) => a.name).join(', ')})`))
    }
  }
}
