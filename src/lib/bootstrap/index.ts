/**
 * `aip cluster bootstrap`: make the cluster exist (EKS, optional; Auto Mode by default with
 * --create), write/merge its kubeconfig context, set up the weights bucket and the pods' S3 access
 * (IAM roles + EKS Pod Identity, or IRSA), apply the platform base with server-side apply, report
 * (optionally install) the add-ons, and add a GPU NodePool where a provisioner takes one (EKS Auto
 * Mode, or a self-installed Karpenter). Every step is idempotent, so a rerun after an interruption
 * continues where the last one stopped, and a rerun of a finished bootstrap changes nothing.
 */
import type {EKSClient} from '@aws-sdk/client-eks'
import {setMaxListeners} from 'node:events'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import type {IAMClient} from '@aws-sdk/client-iam'
import type {S3Client} from '@aws-sdk/client-s3'
import type {STSClient} from '@aws-sdk/client-sts'

import {defaultBucketName} from '../aws/bucket.js'
import {type ClusterInfo, type CreateClusterSpec, ensureCluster, findCluster, type NodegroupInfo, type NodegroupSpec, validateCreateSpec, type WaitOptions as EksWaitOptions} from '../aws/eks.js'
import {callerAccount} from '../aws/iam.js'
import {writeKubeconfig, type WriteResult} from '../aws/kubeconfig.js'
import {AipError, UnauthorizedError, UnreachableError, UsageError} from '../errors.js'
import {GPUS} from '../gpufit/gpus.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {refString} from '../kube/types.js'
import {type AddonStatus, addonDefs, detectAddons, execaHelm, type HelmRunner, helmArgs} from './addons.js'
import {type AccessMode, type AccessResult, currentAccessMode, ensureAccess} from './access.js'
import {ensureNetworkPolicyEnforcement, type NetworkPolicyStatus} from './netpol.js'
import {EBS_CSI_ADDON, EBS_CSI_PROVISIONER, type EbsCsiResult, ensureEbsCsiDriver} from './storage.js'
import {autoModeStorage, type PlatformOptions, renderPlatform} from './platform.js'
import {type CapacityType, DEFAULT_CAPACITY_TYPES, DEFAULT_GPU_LIMIT, DEFAULT_TENANT_GPUS, decideSettings, defaultKarpenterNodeRole, describeDecisions, type LiveSettings, readLiveSettings, type SettingDecision, type TenantInput} from './settings.js'

export * from './access.js'
export * from './addons.js'
export * from './netpol.js'
export * from './platform.js'
export * from './settings.js'
export * from './storage.js'

export type StepName = 'cluster' | 'kubeconfig' | 'access' | 'platform' | 'netpol' | 'storage' | 'addons' | 'gpu-pool'

export interface BootstrapEvent {
  step: StepName
  status: 'start' | 'progress' | 'done' | 'skipped'
  message: string
}

export interface BootstrapOptions {
  clusterName: string
  region?: string
  /** EKS mode; absent with --skip-eks (bootstrap the cluster of an existing kubeconfig context). */
  eks?: {
    client: EKSClient
    create: boolean
    spec?: CreateClusterSpec
    profile?: string
    wait?: Omit<EksWaitOptions, 'signal' | 'onProgress'>
  }
  kubeconfig: {
    /** File to write (EKS mode) or read (--skip-eks). */
    path?: string
    /** Context to write (EKS mode; default the cluster ARN) or use (--skip-eks; default current). */
    context?: string
  }
  /** Builds the Kubernetes client for a kubeconfig file and context. */
  kubeClient: (opts: {kubeconfig?: string; context?: string}) => Promise<KubeClient>
  /** The weights bucket and the pods' S3 access (EKS mode only). */
  access?: {
    /** --bucket / config; default <cluster>-weights-<account>-<region>. */
    bucket?: string
    prefix?: string
    /** --kms-key: a key ARN; null (--kms-key none): SSE-S3; absent: keep the bucket's key, else SSE-S3. */
    kmsKey?: string | null
    /** --irsa / --no-irsa; absent: the mode the IAM roles trust now (currentAccessMode), else pod-identity. */
    mode?: AccessMode
    /** Built lazily (the SDKs cost start-up time); tests pass mocks or loopback clients. */
    clients: () => Promise<{s3: S3Client; iam: IAMClient; sts: STSClient}>
  }
  /** --gpu-nodegroup TYPE:MIN-MAX: a managed GPU node group (EKS mode). */
  gpuNodegroup?: NodegroupSpec
  /** Records settings (the bucket) in the user's config; returns the file written. */
  recordConfig?: (key: string, value: string) => string
  /**
   * The platform settings as given: an omitted gpuTypes, gpuLimit, capacityTypes,
   * karpenterNodeRole or tenant gpus keeps the cluster's value (settings.ts), else the default.
   */
  platform: Omit<PlatformOptions, 'cluster' | 'serviceAccountRoles' | 'tenants' | 'gpuLimit' | 'capacityTypes' | 'instanceTypes'> & {
    tenants: TenantInput[]
    gpuLimit?: number
    capacityTypes?: CapacityType[]
    /** First-run GPU types when gpuTypes is omitted (default l40s). */
    defaultGpuTypes?: string[]
  }
  installAddons?: boolean
  helm?: HelmRunner
  helmTimeout?: string
  dryRun?: boolean
  signal?: AbortSignal
  onEvent?: (e: BootstrapEvent) => void
}

export interface ObjectAction {
  ref: string
  kind: string
  name: string
  namespace?: string
  /** applied: created | configured | unchanged; dry run: create | update | unchanged | apply (cluster unreachable) */
  action: string
}

export interface BootstrapResult {
  dryRun: boolean
  cluster?: {name: string; region: string; status: string; version?: string; endpoint?: string; created: boolean; plannedCreate?: boolean; autoMode?: boolean; nodegroups?: NodegroupInfo[]}
  kubeconfig?: {path: string; context: string; action: WriteResult['action'] | 'would-write'}
  context?: string
  /** Bucket, IAM roles, Pod Identity agent and associations (or IRSA provider): EKS mode. */
  access?: AccessResult
  /** Settings written to the user's config (not in a dry run). */
  config?: {file: string; keys: Record<string, string>}
  objects: ObjectAction[]
  /**
   * The GPU pool and tenant quota settings applied, each kept (flag omitted: the cluster's value),
   * changed (previous -> value), unchanged, default or set (nothing there yet). Pool settings only
   * where a NodePool is applied; karpenter-node-role only on Karpenter.
   */
  settings: SettingDecision[]
  /** The GPU NodePool: on EKS Auto Mode's NodeClass, on a self-installed Karpenter, or none. */
  gpuPool: {provisioner: 'auto-mode' | 'karpenter' | 'none'; gpuTypes: string[]; objects: ObjectAction[]}
  /** Kept for scripts reading it: whether Karpenter's own CRDs (EC2NodeClass) exist. */
  karpenter: {installed: boolean; objects: ObjectAction[]}
  addons: Array<AddonStatus & {action?: 'installed' | 'would-install' | 'none'}>
  /** Whether the platform's NetworkPolicies are enforced, what bootstrap did about it, and a warning when they are not. */
  networkPolicy?: NetworkPolicyStatus
  /**
   * Block storage for PersistentVolumeClaims: EKS Auto Mode's built-in EBS driver, or (managed node
   * groups) the aws-ebs-csi-driver add-on with its Pod Identity role; the StorageClass aip-ebs-gp3 is in `objects`.
   */
  storage?: {driver: 'auto-mode' | 'ebs-csi' | 'none'; ebsCsi?: EbsCsiResult}
  /** Warnings the user must act on (also emitted as events): never a silent pass. */
  warnings: Array<{step: StepName; message: string; fix: string}>
}

function toAction(o: KubeObject, action: string): ObjectAction {
  return {ref: refString(o), kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, action}
}

export async function runBootstrap(opts: BootstrapOptions): Promise<BootstrapResult> {
  const emit = (step: StepName, status: BootstrapEvent['status'], message: string) => opts.onEvent?.({step, status, message})
  const dryRun = Boolean(opts.dryRun)
  if (opts.signal) setMaxListeners(0, opts.signal)
  const {defaultGpuTypes, gpuTypes: givenGpuTypes, gpuLimit: givenGpuLimit, capacityTypes: givenCapacityTypes, karpenterNodeRole: givenNodeRole, tenants: tenantInputs, ...platformRest} = opts.platform
  const inputs = {gpuTypes: givenGpuTypes, gpuLimit: givenGpuLimit, capacityTypes: givenCapacityTypes, karpenterNodeRole: givenNodeRole, tenants: tenantInputs}
  const defaults = {gpuTypes: defaultGpuTypes?.length ? defaultGpuTypes : ['l40s'], gpuLimit: DEFAULT_GPU_LIMIT, capacityTypes: DEFAULT_CAPACITY_TYPES, karpenterNodeRole: defaultKarpenterNodeRole(opts.clusterName), tenantGpus: DEFAULT_TENANT_GPUS}
  const render = (live: LiveSettings, serviceAccountRoles?: Record<string, string>) => {
    const s = decideSettings(inputs, live, defaults)
    const objects = renderPlatform({...platformRest, cluster: opts.clusterName, tenants: s.tenants, gpuTypes: s.gpuTypes, instanceTypes: s.instanceTypes, gpuLimit: s.gpuLimit, capacityTypes: s.capacityTypes, karpenterNodeRole: s.karpenterNodeRole, serviceAccountRoles})
    return {settings: s, objects}
  }
  // rendered once up front: bad input (tenants, GPU names) fails before anything is created;
  // rendered again with the cluster's values once it answers (a rerun keeps what omitted flags set)
  let {settings, objects: rendered} = render({tenantGpus: {}})
  const result: BootstrapResult = {dryRun, objects: [], settings: [], gpuPool: {provisioner: 'none', gpuTypes: settings.gpuTypes, objects: []}, karpenter: {installed: false, objects: []}, addons: [], warnings: []}
  const warn = (step: StepName, w: {message: string; fix: string}) => {
    result.warnings.push({step, ...w})
    emit(step, 'progress', `WARNING: ${w.message}. Fix: ${w.fix}`)
  }
  let serviceAccountRoles: Record<string, string> | undefined

  // 1. cluster
  let cluster: ClusterInfo | undefined
  let kubeconfigPath = opts.kubeconfig.path
  let context = opts.kubeconfig.context
  let tmpDir: string | undefined
  try {
    if (opts.eks) {
      const region = opts.region!
      emit('cluster', 'start', `EKS cluster ${opts.clusterName} in ${region}`)
      if (dryRun) {
        cluster = await findCluster(opts.eks.client, opts.clusterName, region, {signal: opts.signal})
        if (!cluster && !opts.eks.create) {
          // the same NotFoundError the real run would give
          await ensureCluster(opts.eks.client, opts.clusterName, region, {create: false, signal: opts.signal})
        }
        // the same usage errors a real --create would give, before anything is listed
        if (!cluster && opts.eks.spec) validateCreateSpec(opts.eks.spec)
        result.cluster = cluster
          ? {name: cluster.name, region, status: cluster.status, version: cluster.version, endpoint: cluster.endpoint, created: false}
          : {name: opts.clusterName, region, status: 'MISSING', created: false, plannedCreate: true, autoMode: opts.eks.spec?.compute === 'auto-mode'}
        if (cluster) result.cluster!.autoMode = cluster.autoMode
        const planned = opts.eks.spec?.compute === 'auto-mode' ? 'an EKS Auto Mode cluster' : `the cluster and node group ${opts.eks.spec?.systemNodegroup?.name ?? ''}`
        emit('cluster', 'done', cluster ? `exists (${cluster.status}, Kubernetes ${cluster.version ?? '?'}${cluster.autoMode ? ', Auto Mode' : ''})` : `would create ${planned}${opts.gpuNodegroup ? ` and GPU node group ${opts.gpuNodegroup.name}` : ''}`)
        if (cluster && opts.gpuNodegroup) emit('cluster', 'progress', `would ensure GPU node group ${opts.gpuNodegroup.name} (${opts.gpuNodegroup.instanceTypes.join(',')} ${opts.gpuNodegroup.minSize}-${opts.gpuNodegroup.maxSize})`)
      } else {
        const r = await ensureCluster(opts.eks.client, opts.clusterName, region, {
          ...opts.eks.wait,
          create: opts.eks.create,
          spec: opts.eks.spec,
          gpuNodegroup: opts.gpuNodegroup,
          signal: opts.signal,
          onProgress: (p) => emit('cluster', 'progress', `${p.resource} ${p.name}: ${p.status}${p.message ? ` (${p.message})` : ''}`),
        })
        cluster = r.cluster
        result.cluster = {name: cluster.name, region, status: cluster.status, version: cluster.version, endpoint: cluster.endpoint, created: r.created, autoMode: cluster.autoMode, ...(r.nodegroups.length ? {nodegroups: r.nodegroups} : {})}
        emit('cluster', 'done', `${r.created ? 'created' : 'exists'}: ${cluster.status}, Kubernetes ${cluster.version ?? '?'}${cluster.autoMode ? ', Auto Mode' : ''}${r.nodegroups.map((n) => `; node group ${n.name} ${n.status}`).join('')}`)
      }

      // 2. kubeconfig
      if (cluster?.endpoint) {
        const entry = {
          contextName: opts.kubeconfig.context ?? cluster.arn ?? opts.clusterName,
          clusterName: opts.clusterName,
          region,
          server: cluster.endpoint,
          certificateAuthorityData: cluster.certificateAuthority,
          profile: opts.eks.profile,
        }
        context = entry.contextName
        if (dryRun) {
          // read-only: connect through a throw-away kubeconfig, never touch the user's file
          tmpDir = mkdtempSync(join(tmpdir(), 'aip-bootstrap-'))
          writeKubeconfig(join(tmpDir, 'config'), entry)
          result.kubeconfig = {path: opts.kubeconfig.path!, context, action: 'would-write'}
          kubeconfigPath = join(tmpDir, 'config')
          emit('kubeconfig', 'done', `would write context ${context} to ${opts.kubeconfig.path}`)
        } else {
          const w = writeKubeconfig(opts.kubeconfig.path!, entry)
          result.kubeconfig = {path: w.path, context: w.context, action: w.action}
          emit('kubeconfig', 'done', `${w.action} context ${w.context} in ${w.path}`)
        }
      } else {
        emit('kubeconfig', 'skipped', 'the cluster does not exist yet')
      }
    } else {
      emit('cluster', 'skipped', `using the existing kubeconfig context${context ? ` ${context}` : ''} (--skip-eks)`)
    }

    // 3. weights bucket and the pods' S3 access (IAM + Pod Identity / IRSA)
    if (opts.eks && opts.access) {
      const a = opts.access
      const region = opts.region!
      const clients = await a.clients()
      const {account} = await callerAccount(clients.sts)
      // --irsa / --no-irsa omitted: keep the mode an earlier run set up (the roles' trust)
      const current = a.mode ? undefined : await currentAccessMode(clients.iam, opts.clusterName)
      const mode: AccessMode = a.mode ?? current ?? 'pod-identity'
      emit('access', 'start', `weights bucket and S3 access (${mode === 'irsa' ? 'IRSA' : 'EKS Pod Identity'}${current ? ', kept: --irsa/--no-irsa omitted' : ''})`)
      const bucket = a.bucket ?? defaultBucketName(opts.clusterName, account, region)
      const autoMode = Boolean(result.cluster?.autoMode)
      result.access = await ensureAccess({
        cluster: opts.clusterName,
        region,
        account,
        clusterExists: Boolean(cluster),
        autoMode,
        oidcIssuer: cluster?.oidcIssuer,
        bucket,
        prefix: a.prefix,
        kmsKey: a.kmsKey,
        namespaces: [opts.platform.modelNamespace, ...tenantInputs.map((t) => t.name)],
        mode,
        clients: {s3: clients.s3, iam: clients.iam, eks: opts.eks.client},
        dryRun,
        signal: opts.signal,
      })
      const acc = result.access
      emit('access', 'progress', `bucket s3://${acc.bucket.name}: ${acc.bucket.action}; ${acc.bucket.settings.map((x) => `${x.setting} ${x.action}`).join(', ')}`)
      for (const r of acc.roles) emit('access', 'progress', `IAM role ${r.name} (${r.access}): ${r.action}, policy ${r.policyAction}`)
      if (acc.podIdentityAgent) emit('access', 'progress', `add-on ${acc.podIdentityAgent.name}: ${acc.podIdentityAgent.action}`)
      for (const x of acc.associations) emit('access', 'progress', `Pod Identity ${x.namespace}/${x.serviceAccount} -> ${x.roleArn.split('/').pop()}: ${x.action}`)
      const changes = [acc.bucket.action, ...acc.bucket.settings.map((x) => x.action), ...acc.roles.flatMap((r) => [r.action, r.policyAction]), acc.podIdentityAgent?.action, ...acc.associations.map((x) => x.action), acc.oidcProvider?.action].filter((x) => x && !['unchanged', 'built-in', 'unsupported'].includes(x))
      emit('access', 'done', `${changes.length} ${dryRun ? 'to change' : 'changed'} (bucket ${acc.bucket.name}, ${acc.roles.length} roles, ${acc.associations.length} associations)`)
      if (Object.keys(acc.serviceAccountRoles).length > 0) serviceAccountRoles = acc.serviceAccountRoles
      if (!dryRun && opts.recordConfig) {
        const file = opts.recordConfig('bucket', acc.bucket.name)
        result.config = {file, keys: {bucket: acc.bucket.name}}
      }
      // 3b. block storage: EKS Auto Mode has its EBS driver built in; node groups need the add-on
      if (autoMode) result.storage = {driver: 'auto-mode'}
      else {
        emit('storage', 'start', 'EBS CSI driver (the gateway database volume needs it)')
        const ebs = await ensureEbsCsiDriver({cluster: opts.clusterName, region, account, clusterExists: Boolean(cluster), iam: clients.iam, eks: opts.eks.client, dryRun, signal: opts.signal})
        result.storage = {driver: 'ebs-csi', ebsCsi: ebs}
        emit('storage', 'progress', `IAM role ${ebs.role.name} (AmazonEBSCSIDriverPolicy): ${ebs.role.action}, policy ${ebs.role.policyAction}`)
        emit('storage', 'progress', `Pod Identity ${ebs.association.namespace}/${ebs.association.serviceAccount} -> ${ebs.role.name}: ${ebs.association.action}`)
        emit('storage', 'done', `add-on ${ebs.addon.name}: ${ebs.addon.action}`)
      }
    } else if (opts.eks) {
      emit('access', 'skipped', 'S3 access left to you (--skip-access): aip-model-server needs read and aip-preload write access to the weights bucket')
    } else {
      emit('access', 'skipped', 'not EKS (--skip-eks): give aip-model-server read and aip-preload write access to the weights bucket yourself')
    }

    // 4. platform base
    let client: KubeClient | undefined
    if (!(dryRun && opts.eks && !cluster)) {
      try {
        client = await opts.kubeClient({kubeconfig: kubeconfigPath, context})
        result.context = client.context
      } catch (error) {
        if (!dryRun) throw error
        emit('platform', 'progress', `cannot connect (${(error as Error).message}); listing the objects only`)
      }
    }
    // what the cluster holds already: an omitted flag keeps it (settings.ts)
    let live: LiveSettings = {tenantGpus: {}}
    if (client) {
      try {
        live = await readLiveSettings(client, tenantInputs.map((t) => t.name))
      } catch (error) {
        if (!dryRun || (error instanceof AipError && !(error instanceof UnreachableError) && !(error instanceof UnauthorizedError))) throw error
        emit('platform', 'progress', `cannot read the current settings (${(error as Error).message}); showing the defaults for omitted flags`)
      }
    }
    ;({settings, objects: rendered} = render(live, serviceAccountRoles))
    result.gpuPool.gpuTypes = settings.gpuTypes
    const tenantDecisions = settings.decisions.filter((d) => d.setting === 'tenant-gpus')
    emit('platform', 'start', `${rendered.base.length} objects${tenantDecisions.length ? `; tenant GPU quotas: ${describeDecisions(tenantDecisions)}` : ''}`)
    if (dryRun) {
      result.objects = await planObjects(client, rendered.base, emit)
    } else {
      const {applyObjects} = await import('../kube/index.js')
      const applied = await applyObjects(client!, rendered.base, {signal: opts.signal, onProgress: (r) => emit('platform', 'progress', `${refString(r.ref)} ${r.action}`)})
      result.objects = applied.map((r) => toAction(r.object.metadata ? {...r.object, apiVersion: r.ref.apiVersion, kind: r.ref.kind} : ({...r.ref, metadata: {name: r.ref.name, namespace: r.ref.namespace}} as KubeObject), r.action))
    }
    const changed = result.objects.filter((o) => o.action !== 'unchanged').length
    emit('platform', 'done', `${result.objects.length} objects, ${changed} ${dryRun ? 'to change' : 'changed'}`)

    // 4b. NetworkPolicy enforcement (the base's default-deny does nothing without it)
    emit('netpol', 'start', 'NetworkPolicy enforcement')
    const np = await ensureNetworkPolicyEnforcement({
      client,
      eks: opts.eks && result.cluster ? {client: opts.eks.client, cluster: opts.clusterName, region: opts.region!, autoMode: Boolean(result.cluster.autoMode), clusterExists: Boolean(cluster), createdByAip: Boolean(result.cluster.created || result.cluster.plannedCreate || cluster?.managedByAip)} : undefined,
      dryRun,
      signal: opts.signal,
    })
    result.networkPolicy = np
    if (np.warning) warn('netpol', np.warning)
    emit('netpol', 'done', `${np.state} (${np.message})`)

    // 5. add-ons (EKS Auto Mode nodes carry the NVIDIA device plugin and Karpenter themselves)
    const {crdExists} = await import('../kube/index.js')
    const autoMode = Boolean(result.cluster?.autoMode) || (client ? await crdExists(client, 'eks.amazonaws.com', 'NodeClass') : false)
    emit('addons', 'start', `detecting ${addonDefs(opts.platform.monitoringNamespace).map((d) => d.name).join(', ')}`)
    const detect = async (c: KubeClient) => (await detectAddons(c, opts.platform.monitoringNamespace)).map((a) => (autoMode ? builtIntoAutoMode(a) : a))
    let addons: AddonStatus[] = client ? await detect(client) : []
    const defs = addonDefs(opts.platform.monitoringNamespace)
    result.addons = addons.map((a) => ({...a, action: 'none' as const}))
    if (opts.installAddons && client) {
      const todo = addons.filter((a) => a.state !== 'healthy' && a.installable)
      for (const a of todo) {
        const chart = defs.find((d) => d.name === a.name)!.helm!
        const args = helmArgs(chart, {kubeconfig: kubeconfigPath ?? client.kubeconfigPath, context: client.context === 'in-cluster' ? undefined : client.context}, opts.helmTimeout)
        if (dryRun) {
          emit('addons', 'progress', `would run: helm ${args.join(' ')}`)
          continue
        }
        emit('addons', 'progress', `installing ${a.name}: helm upgrade --install ${chart.release} (${chart.namespace})`)
        await (opts.helm ?? execaHelm)(args, {signal: opts.signal})
      }
      if (todo.length > 0 && !dryRun) {
        client.invalidateDiscovery()
        addons = await detect(client)
      }
      result.addons = addons.map((a) => ({...a, action: todo.some((t) => t.name === a.name) ? (dryRun ? ('would-install' as const) : ('installed' as const)) : ('none' as const)}))
    }
    for (const a of result.addons) emit('addons', 'progress', `${a.name}: ${a.state} (${a.message})`)
    emit('addons', 'done', result.addons.map((a) => `${a.name} ${a.state}`).join(', ') || 'not checked (no cluster)')

    // 6. GPU NodePool: on EKS Auto Mode's NodeClass, or a self-installed Karpenter's EC2NodeClass.
    // Auto Mode also serves karpenter.sh NodePools, so Karpenter counts only with its EC2NodeClass.
    const plannedAuto = Boolean(result.cluster?.plannedCreate && result.cluster.autoMode)
    const karpenterCrds = client ? (await crdExists(client, 'karpenter.sh', 'NodePool')) && (await crdExists(client, 'karpenter.k8s.aws', 'EC2NodeClass')) : false
    result.karpenter.installed = karpenterCrds
    // an Auto Mode cluster serves karpenter.sh NodePools; one that does not (yet) gets none applied
    const nodePoolCrd = client ? await crdExists(client, 'karpenter.sh', 'NodePool') : false
    const provisioner = plannedAuto || (autoMode && (nodePoolCrd || !client)) ? 'auto-mode' : karpenterCrds ? 'karpenter' : 'none'
    result.gpuPool.provisioner = provisioner
    const poolObjects = provisioner === 'auto-mode' ? rendered.autoMode : provisioner === 'karpenter' ? rendered.karpenter : []
    const what = `NodePool aip-gpu (${settings.gpuTypes.join(', ')}; GPU limit ${settings.gpuLimit}; ${settings.capacityTypes.join(', ')})`
    const poolDecisions = settings.decisions.filter((d) => d.setting !== 'tenant-gpus' && provisioner !== 'none' && (d.setting !== 'karpenter-node-role' || provisioner === 'karpenter'))
    result.settings = [...poolDecisions, ...tenantDecisions]
    if (poolDecisions.length) emit('gpu-pool', 'progress', `settings: ${describeDecisions(poolDecisions)}`)
    if (provisioner === 'none') {
      const karp = result.addons.find((a) => a.name === 'karpenter')
      emit('gpu-pool', 'skipped', `neither EKS Auto Mode nor Karpenter${karp ? ` (${karp.message})` : ''}: no GPU NodePool; GPU nodes come from a node group (--gpu-nodegroup TYPE:MIN-MAX)`)
    } else if (dryRun) {
      result.gpuPool.objects = await planObjects(client, poolObjects, emit)
      emit('gpu-pool', 'done', `would apply ${what} on ${provisioner === 'auto-mode' ? 'EKS Auto Mode' : 'Karpenter'}`)
    } else {
      const {applyObjects} = await import('../kube/index.js')
      const applied = await applyObjects(client!, poolObjects, {signal: opts.signal})
      result.gpuPool.objects = applied.map((r) => ({ref: refString(r.ref), kind: r.ref.kind, name: r.ref.name, namespace: r.ref.namespace, action: r.action}))
      emit('gpu-pool', 'done', `${what} on ${provisioner === 'auto-mode' ? 'EKS Auto Mode' : 'Karpenter'}: ${applied.find((r) => r.ref.kind === 'NodePool')?.action}`)
    }
    if (provisioner === 'karpenter') result.karpenter.objects = result.gpuPool.objects
    if (provisioner === 'auto-mode') result.objects.push(...(await applyAutoModeStorage(client, rendered.autoModeStorage, dryRun, emit, opts.signal)))
    else if (result.storage?.driver === 'ebs-csi' || (client && (await csiDriverExists(client, EBS_CSI_PROVISIONER)))) {
      // the aws-ebs-csi-driver add-on (installed above, or by the user) creates no StorageClass either
      result.storage ??= {driver: 'ebs-csi'}
      result.objects.push(...(await applyAutoModeStorage(client, rendered.ebsCsiStorage, dryRun, emit, opts.signal)))
    } else if (opts.eks && !autoMode) {
      result.storage = {driver: 'none'}
      warn('storage', {
        message: 'no EBS CSI driver: PersistentVolumeClaims (the gateway database) stay Pending',
        fix: `rerun bootstrap without --skip-access (it installs the ${EBS_CSI_ADDON} add-on with a Pod Identity role), or install it yourself: https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html`,
      })
    }
  } finally {
    if (tmpDir) rmSync(tmpDir, {recursive: true, force: true})
  }
  return result
}

/**
 * EKS Auto Mode creates no StorageClass: without one a PersistentVolumeClaim (the gateway's Postgres)
 * stays Pending. Applies aip's (the default unless another class is), with the platform objects.
 */
async function applyAutoModeStorage(client: KubeClient | undefined, objects: KubeObject[], dryRun: boolean, emit: (s: StepName, st: BootstrapEvent['status'], m: string) => void, signal?: AbortSignal): Promise<ObjectAction[]> {
  let existing: KubeObject[] = []
  if (client) {
    const {listByLabels} = await import('../kube/index.js')
    existing = await listByLabels(client, [{apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass'}], '', {signal})
  }
  const toApply = autoModeStorage(objects, existing)
  if (dryRun) return planObjects(client, toApply, emit)
  const {applyObjects} = await import('../kube/index.js')
  const applied = await applyObjects(client!, toApply, {signal, onProgress: (r) => emit('platform', 'progress', `${refString(r.ref)} ${r.action}`)})
  return applied.map((r) => toAction(r.object.metadata ? {...r.object, apiVersion: r.ref.apiVersion, kind: r.ref.kind} : ({...r.ref, metadata: {name: r.ref.name, namespace: r.ref.namespace}} as KubeObject), r.action))
}

/** Whether a CSIDriver object of this name is registered (storage.k8s.io/v1 CSIDriver, cluster-scoped). */
async function csiDriverExists(client: KubeClient, name: string): Promise<boolean> {
  const {getObject} = await import('../kube/index.js')
  return Boolean(await getObject(client, {apiVersion: 'storage.k8s.io/v1', kind: 'CSIDriver', name}).catch(() => undefined))
}

/** EKS Auto Mode runs the NVIDIA device plugin and Karpenter as part of its nodes, not as workloads. */
function builtIntoAutoMode(a: AddonStatus): AddonStatus {
  if (a.name !== 'nvidia-device-plugin' && a.name !== 'karpenter') return a
  return {...a, state: 'healthy', installable: false, message: 'built into EKS Auto Mode'}
}

/** Dry run: what applying would do, from a server-side diff when the cluster answers. */
async function planObjects(client: KubeClient | undefined, objects: KubeObject[], emit: (s: StepName, st: BootstrapEvent['status'], m: string) => void): Promise<ObjectAction[]> {
  if (!client) return objects.map((o) => toAction(o, 'apply'))
  try {
    const {diffObjects, getObject} = await import('../kube/index.js')
    const missingNs = new Set<string>()
    for (const o of objects) {
      if (o.kind === 'Namespace' && !(await getObject(client, {apiVersion: 'v1', kind: 'Namespace', name: o.metadata.name}))) missingNs.add(o.metadata.name)
    }
    const out: ObjectAction[] = []
    for (const o of objects) {
      // a server-side dry run cannot place objects in a namespace that does not exist yet
      if (o.kind === 'Namespace' ? missingNs.has(o.metadata.name) : missingNs.has(o.metadata.namespace ?? '')) {
        out.push(toAction(o, 'create'))
        continue
      }
      const d = await diffObjects(client, [o])
      out.push({...toAction(o, d.objects[0]!.action), ref: refString(d.objects[0]!.ref)})
    }
    return out
  } catch (error) {
    if (error instanceof UnreachableError || error instanceof UnauthorizedError || !(error instanceof AipError)) {
      emit('platform', 'progress', `cannot diff against the cluster (${(error as Error).message}); listing the objects only`)
      return objects.map((o) => toAction(o, 'apply'))
    }
    throw error
  }
}

/**
 * --gpu-nodegroup INSTANCE-TYPE:MIN-MAX (g6e.xlarge:0-2): a managed node group of a GPU instance
 * type gpu-fit's table knows (so `model deploy` selects it), starting at MIN nodes.
 */
export function parseGpuNodegroup(spec: string, cluster: string, nodeRoleArn: string | undefined): NodegroupSpec {
  const m = /^([a-z0-9-]+\.[a-z0-9-]+):(\d+)-(\d+)$/.exec(spec.trim())
  const fix = 'pass INSTANCE-TYPE:MIN-MAX, e.g. --gpu-nodegroup g6e.xlarge:0-2'
  if (!m) throw new UsageError(`--gpu-nodegroup "${spec}" is not INSTANCE-TYPE:MIN-MAX`, {fix})
  const [, type, min, max] = m as unknown as [string, string, string, string]
  const known = GPUS.flatMap((g) => g.instances.map((i) => ({type: i.type, gpu: g.name})))
  if (!known.some((k) => k.type === type)) {
    throw new UsageError(`--gpu-nodegroup: ${type} is not a GPU instance type aip knows`, {fix: `use one of gpu-fit's (\`aip gpu-fit --help\`), e.g. ${known.filter((k) => k.type.endsWith('.xlarge')).map((k) => k.type).join(', ')}`})
  }
  if (Number(min) > Number(max) || Number(max) < 1) throw new UsageError(`--gpu-nodegroup ${spec}: MIN must be <= MAX and MAX >= 1`, {fix})
  if (!nodeRoleArn) throw new UsageError('--gpu-nodegroup needs the node IAM role', {fix: 'pass --node-role-arn arn:aws:iam::ACCOUNT:role/NAME (trusted by ec2.amazonaws.com, with AmazonEKSWorkerNodePolicy, AmazonEC2ContainerRegistryReadOnly, AmazonEKS_CNI_Policy)'})
  return {name: `${cluster}-gpu-${type.replace(/\./g, '-')}`.slice(0, 63), nodeRoleArn, instanceTypes: [type], minSize: Number(min), desiredSize: Number(min), maxSize: Number(max)}
}
