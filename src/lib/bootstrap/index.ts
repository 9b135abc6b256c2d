/**
 * `aip cluster bootstrap`: make the cluster exist (EKS, optional), write/merge its kubeconfig
 * context, apply the platform base with server-side apply, add the Karpenter GPU NodePool when
 * Karpenter is installed, and report (optionally install) the add-ons. Every step is idempotent, so
 * a rerun after an interruption continues where the last one stopped.
 */
import type {EKSClient} from '@aws-sdk/client-eks'
import {setMaxListeners} from 'node:events'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {type ClusterInfo, type CreateClusterSpec, ensureCluster, findCluster, type WaitOptions as EksWaitOptions} from '../aws/eks.js'
import {writeKubeconfig, type WriteResult} from '../aws/kubeconfig.js'
import {AipError, UnauthorizedError, UnreachableError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {refString} from '../kube/types.js'
import {type AddonStatus, addonDefs, detectAddons, execaHelm, type HelmRunner, helmArgs} from './addons.js'
import {type PlatformOptions, renderPlatform} from './platform.js'

export * from './addons.js'
export * from './platform.js'

export type StepName = 'cluster' | 'kubeconfig' | 'platform' | 'karpenter' | 'addons'

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
  platform: Omit<PlatformOptions, 'cluster'>
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
  cluster?: {name: string; region: string; status: string; version?: string; endpoint?: string; created: boolean; plannedCreate?: boolean}
  kubeconfig?: {path: string; context: string; action: WriteResult['action'] | 'would-write'}
  context?: string
  objects: ObjectAction[]
  karpenter: {installed: boolean; objects: ObjectAction[]}
  addons: Array<AddonStatus & {action?: 'installed' | 'would-install' | 'none'}>
}

function toAction(o: KubeObject, action: string): ObjectAction {
  return {ref: refString(o), kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace, action}
}

export async function runBootstrap(opts: BootstrapOptions): Promise<BootstrapResult> {
  const emit = (step: StepName, status: BootstrapEvent['status'], message: string) => opts.onEvent?.({step, status, message})
  const dryRun = Boolean(opts.dryRun)
  if (opts.signal) setMaxListeners(0, opts.signal)
  const result: BootstrapResult = {dryRun, objects: [], karpenter: {installed: false, objects: []}, addons: []}
  const rendered = renderPlatform({...opts.platform, cluster: opts.clusterName})

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
        result.cluster = cluster
          ? {name: cluster.name, region, status: cluster.status, version: cluster.version, endpoint: cluster.endpoint, created: false}
          : {name: opts.clusterName, region, status: 'MISSING', created: false, plannedCreate: true}
        emit('cluster', 'done', cluster ? `exists (${cluster.status}, Kubernetes ${cluster.version ?? '?'})` : `would create cluster and node group ${opts.eks.spec?.systemNodegroup.name ?? ''}`)
      } else {
        const r = await ensureCluster(opts.eks.client, opts.clusterName, region, {
          ...opts.eks.wait,
          create: opts.eks.create,
          spec: opts.eks.spec,
          signal: opts.signal,
          onProgress: (p) => emit('cluster', 'progress', `${p.resource} ${p.name}: ${p.status}${p.message ? ` (${p.message})` : ''}`),
        })
        cluster = r.cluster
        result.cluster = {name: cluster.name, region, status: cluster.status, version: cluster.version, endpoint: cluster.endpoint, created: r.created}
        emit('cluster', 'done', `${r.created ? 'created' : 'exists'}: ${cluster.status}, Kubernetes ${cluster.version ?? '?'}${r.nodegroup ? `; node group ${r.nodegroup.name} ${r.nodegroup.status}` : ''}`)
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

    // 3. platform base
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
    emit('platform', 'start', `${rendered.base.length} objects`)
    if (dryRun) {
      result.objects = await planObjects(client, rendered.base, emit)
    } else {
      const {applyObjects} = await import('../kube/index.js')
      const applied = await applyObjects(client!, rendered.base, {signal: opts.signal, onProgress: (r) => emit('platform', 'progress', `${refString(r.ref)} ${r.action}`)})
      result.objects = applied.map((r) => toAction(r.object.metadata ? {...r.object, apiVersion: r.ref.apiVersion, kind: r.ref.kind} : ({...r.ref, metadata: {name: r.ref.name, namespace: r.ref.namespace}} as KubeObject), r.action))
    }
    const changed = result.objects.filter((o) => o.action !== 'unchanged').length
    emit('platform', 'done', `${result.objects.length} objects, ${changed} ${dryRun ? 'to change' : 'changed'}`)

    // 4. add-ons
    emit('addons', 'start', 'detecting KEDA, Prometheus operator, NVIDIA device plugin, Karpenter')
    let addons: AddonStatus[] = client ? await detectAddons(client, opts.platform.monitoringNamespace) : []
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
        addons = await detectAddons(client, opts.platform.monitoringNamespace)
      }
      result.addons = addons.map((a) => ({...a, action: todo.some((t) => t.name === a.name) ? (dryRun ? ('would-install' as const) : ('installed' as const)) : ('none' as const)}))
    }
    for (const a of result.addons) emit('addons', 'progress', `${a.name}: ${a.state} (${a.message})`)
    emit('addons', 'done', result.addons.map((a) => `${a.name} ${a.state}`).join(', ') || 'not checked (no cluster)')

    // 5. Karpenter GPU NodePool, only when Karpenter's CRDs exist
    const karp = result.addons.find((a) => a.name === 'karpenter')
    const {crdExists} = await import('../kube/index.js')
    const karpenterCrds = client ? (await crdExists(client, 'karpenter.sh', 'NodePool')) && (await crdExists(client, 'karpenter.k8s.aws', 'EC2NodeClass')) : false
    result.karpenter.installed = karpenterCrds
    if (!karpenterCrds) {
      emit('karpenter', 'skipped', `Karpenter CRDs not found${karp ? ` (${karp.message})` : ''}: no GPU NodePool applied`)
    } else if (dryRun) {
      result.karpenter.objects = await planObjects(client, rendered.karpenter, emit)
      emit('karpenter', 'done', `would apply NodePool aip-gpu (GPU limit ${opts.platform.gpuLimit})`)
    } else {
      const {applyObjects} = await import('../kube/index.js')
      const applied = await applyObjects(client!, rendered.karpenter, {signal: opts.signal})
      result.karpenter.objects = applied.map((r) => ({ref: refString(r.ref), kind: r.ref.kind, name: r.ref.name, namespace: r.ref.namespace, action: r.action}))
      emit('karpenter', 'done', `NodePool aip-gpu (GPU limit ${opts.platform.gpuLimit}): ${applied.find((r) => r.ref.kind === 'NodePool')?.action}`)
    }
  } finally {
    if (tmpDir) rmSync(tmpDir, {recursive: true, force: true})
  }
  return result
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
