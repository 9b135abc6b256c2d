/**
 * The teardown plan: ordered phases built from what exists (discovery + label selectors), shown
 * before anything is deleted. The executor deletes only what a plan lists (matched by uid), so
 * objects created after the plan was shown, and objects aip does not manage, survive.
 *
 * Order (eksctl / field lessons): scale models to zero, delete their workloads; delete custom
 * resources that carry finalizers while their controllers still run (KEDA, Prometheus operator,
 * Karpenter NodePools before the cluster, or their EC2 instances outlive it); remove add-on webhooks
 * that would block deletion; delete LoadBalancer Services and wait until the cloud load balancers
 * are released; delete the remaining objects and namespaces; then (--cluster) node groups and the
 * cluster; then (--delete-bucket NAME) exactly that bucket.
 */
import type {EKSClient} from '@aws-sdk/client-eks'
import {setMaxListeners} from 'node:events'
import type {S3Client} from '@aws-sdk/client-s3'

import {findCluster, listNodegroups} from '../aws/eks.js'
import {NotFoundError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import {MODEL_LABEL} from '../kube/labels.js'
import type {KubeObject, ObjectRef} from '../kube/types.js'
import {refString} from '../kube/types.js'
import {closest} from '../suggest.js'
import {discoverKinds, isBookkeeping, isManaged, type ListableKind, listAllOf, listManaged, listNamespaceContent} from './inventory.js'

export type PhaseId =
  | 'scale-models'
  | 'delete-workloads'
  | 'delete-custom-resources'
  | 'remove-webhooks'
  | 'delete-load-balancers'
  | 'delete-objects'
  | 'delete-namespaces'
  | 'delete-nodegroups'
  | 'delete-cluster'
  | 'delete-bucket'

export interface PlanItem {
  target: 'kube' | 'eks' | 's3'
  /** Kubernetes objects: the reference; AWS: kind Nodegroup/Cluster/Bucket with the name. */
  ref: ObjectRef
  /** uid at plan time: the executor acts only on this very object. */
  uid?: string
  finalizers?: string[]
  terminating?: boolean
  detail?: string
}

export interface PlanPhase {
  id: PhaseId
  title: string
  items: PlanItem[]
}

export interface KeptItem {
  what: string
  reason: string
}

export interface TeardownPlan {
  clusterName: string
  context: string
  server: string
  region?: string
  phases: PlanPhase[]
  /** Namespaces to delete -> uids of everything they held at plan time. */
  namespaceContent: Record<string, string[]>
  kept: KeptItem[]
  warnings: string[]
  /** True when there is nothing to do. */
  empty: boolean
}

export interface PlanOptions {
  client: KubeClient
  clusterName: string
  /** --cluster: node groups and the EKS cluster too. */
  eks?: {client: EKSClient; region: string}
  /** --delete-bucket NAME with its client. */
  deleteBucket?: {client: S3Client; name: string}
  /** The weights bucket from config: listed as kept unless named by --delete-bucket. */
  protectedBucket?: string
  signal?: AbortSignal
}

const BUILTIN_GROUPS = new Set([
  '',
  'apps',
  'batch',
  'autoscaling',
  'policy',
  'networking.k8s.io',
  'rbac.authorization.k8s.io',
  'storage.k8s.io',
  'admissionregistration.k8s.io',
  'apiextensions.k8s.io',
  'apiregistration.k8s.io',
  'scheduling.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'node.k8s.io',
  'certificates.k8s.io',
  'flowcontrol.apiserver.k8s.io',
  'resource.k8s.io',
  'storagemigration.k8s.io',
])

const WORKLOAD_KINDS = new Set(['apps/Deployment', 'apps/StatefulSet', 'apps/DaemonSet', 'apps/ReplicaSet', 'batch/Job', 'batch/CronJob', '/Pod', '/ReplicationController'])
const WEBHOOK_KINDS = new Set(['ValidatingWebhookConfiguration', 'MutatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'])

function groupOf(apiVersion: string): string {
  return apiVersion.includes('/') ? apiVersion.split('/')[0]! : ''
}

/** Custom resources in deletion order: KEDA, monitoring, others, Karpenter NodePools/NodeClaims, then node classes. */
function crRank(o: KubeObject): number {
  const g = groupOf(o.apiVersion)
  if (g === 'keda.sh') return 0
  if (g === 'monitoring.coreos.com') return 1
  if (g === 'karpenter.sh') return 3
  if (g === 'karpenter.k8s.aws') return 4
  return 2
}

function item(o: KubeObject, detail?: string): PlanItem {
  return {
    target: 'kube',
    ref: {apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, ...(o.metadata.namespace ? {namespace: o.metadata.namespace} : {})},
    uid: o.metadata.uid,
    ...(o.metadata.finalizers?.length ? {finalizers: [...o.metadata.finalizers]} : {}),
    ...(o.metadata.deletionTimestamp ? {terminating: true} : {}),
    ...(detail ? {detail} : {}),
  }
}

function isLoadBalancer(o: KubeObject): boolean {
  return o.kind === 'Service' && (o.spec as {type?: string} | undefined)?.type === 'LoadBalancer'
}

function lbDetail(o: KubeObject): string {
  const ing = ((o.status as {loadBalancer?: {ingress?: Array<{hostname?: string; ip?: string}>}} | undefined)?.loadBalancer?.ingress ?? [])
    .map((i) => i.hostname ?? i.ip)
    .filter(Boolean)
  return ing.length ? `load balancer ${ing.join(', ')}` : 'load balancer (no address yet)'
}

interface Webhook {
  name: string
  failurePolicy?: string
  clientConfig?: {service?: {namespace: string; name: string}}
  rules?: Array<{operations?: string[]; resources?: string[]; apiGroups?: string[]}>
}

/**
 * A webhook configuration that would block deletion: aip labelled it, or one of its webhooks fails
 * closed (failurePolicy Fail, the v1 default), intercepts DELETE, and is served from a namespace
 * this plan deletes or by a Service that no longer exists.
 */
async function blockingWebhook(o: KubeObject, deletedNamespaces: Set<string>, serviceExists: (ns: string, name: string) => Promise<boolean>): Promise<string | undefined> {
  if (isManaged(o)) return 'managed by aip'
  for (const w of (o.webhooks as Webhook[] | undefined) ?? []) {
    if ((w.failurePolicy ?? 'Fail') !== 'Fail') continue
    const deletes = (w.rules ?? []).some((r) => (r.operations ?? []).some((op) => op === 'DELETE' || op === '*'))
    if (!deletes) continue
    const svc = w.clientConfig?.service
    if (!svc) continue
    if (deletedNamespaces.has(svc.namespace)) return `webhook ${w.name} is served from namespace ${svc.namespace}, which this teardown deletes`
    if (!(await serviceExists(svc.namespace, svc.name))) return `webhook ${w.name} is served by Service ${svc.namespace}/${svc.name}, which no longer exists`
  }
  return undefined
}

export async function buildTeardownPlan(opts: PlanOptions): Promise<TeardownPlan> {
  const {client, signal} = opts
  // one signal watches many parallel list requests
  if (signal) setMaxListeners(0, signal)
  const kinds = await discoverKinds(client, signal)
  const managed = (await listManaged(client, kinds, signal)).filter((o) => !isBookkeeping(o))
  const kindKey = (o: {apiVersion: string; kind: string}) => `${groupOf(o.apiVersion)}/${o.kind}`
  const kept: KeptItem[] = []
  const warnings: string[] = []

  // namespaces: aip-managed ones, unless they hold objects aip does not manage (those would go too)
  const nsObjects = managed.filter((o) => o.kind === 'Namespace' && o.apiVersion === 'v1')
  const namespaceContent: Record<string, string[]> = {}
  const nsItems: PlanItem[] = []
  for (const ns of nsObjects) {
    const content = await listNamespaceContent(client, kinds, ns.metadata.name, signal)
    const foreign = content.filter((o) => !isManaged(o) && !isBookkeeping(o))
    if (foreign.length > 0 && !opts.eks) {
      kept.push({
        what: `Namespace/${ns.metadata.name}`,
        reason: `holds objects aip does not manage: ${foreign.slice(0, 5).map(refString).join(', ')}${foreign.length > 5 ? ` and ${foreign.length - 5} more` : ''} (aip-managed objects in it are still deleted)`,
      })
      continue
    }
    namespaceContent[ns.metadata.name] = content.map((o) => o.metadata.uid).filter((u): u is string => Boolean(u))
    const byKind = new Map<string, number>()
    for (const o of content.filter((c) => !isBookkeeping(c))) byKind.set(o.kind, (byKind.get(o.kind) ?? 0) + 1)
    const summary = [...byKind.entries()].map(([k, n]) => `${n} ${k}`).join(', ')
    nsItems.push(item(ns, summary ? `with ${summary}${foreign.length ? ` (incl. ${foreign.length} not managed by aip; the cluster is deleted anyway)` : ''}` : 'empty'))
  }
  const deletedNs = new Set(Object.keys(namespaceContent))
  const insideDeletedNs = (o: KubeObject) => Boolean(o.metadata.namespace && deletedNs.has(o.metadata.namespace))

  // 1. models to zero: Deployments/StatefulSets of models (KEDA ScaledObjects paused at 0)
  const scale: PlanItem[] = []
  for (const o of managed) {
    if (!o.metadata.labels?.[MODEL_LABEL] || o.metadata.deletionTimestamp) continue
    if ((o.kind === 'Deployment' || o.kind === 'StatefulSet') && groupOf(o.apiVersion) === 'apps') {
      const replicas = (o.spec as {replicas?: number} | undefined)?.replicas ?? 1
      if (replicas > 0) scale.push(item(o, `replicas ${replicas} -> 0`))
    }
    if (o.kind === 'ScaledObject' && groupOf(o.apiVersion) === 'keda.sh') scale.push(item(o, 'pause autoscaling at 0 replicas'))
  }

  // 2. workloads (Jobs with propagationPolicy Background, so their pods go too)
  const workloads = managed.filter((o) => WORKLOAD_KINDS.has(kindKey(o))).map((o) => item(o, o.kind === 'Job' || o.kind === 'CronJob' ? 'pods deleted in the background' : undefined))

  // 3. custom resources (finalizers: their controllers must still run); with --cluster every NodePool
  let crs = managed.filter((o) => !BUILTIN_GROUPS.has(groupOf(o.apiVersion)) && o.kind !== 'Namespace')
  if (opts.eks) {
    const pools = kinds.filter((k) => k.group === 'karpenter.sh' && (k.kind === 'NodePool' || k.kind === 'NodeClaim'))
    const all = await listAllOf(client, pools, signal)
    for (const p of all) if (!crs.some((c) => c.metadata.uid === p.metadata.uid)) crs.push(p)
  }
  crs = crs.sort((a, b) => crRank(a) - crRank(b))
  const crItems = crs.map((o) => item(o, o.metadata.finalizers?.length ? `finalizers: ${o.metadata.finalizers.join(', ')}` : undefined))

  // 4. webhook configurations that would block deletion
  const webhookKinds = kinds.filter((k) => k.group === 'admissionregistration.k8s.io' && (k.kind === 'ValidatingWebhookConfiguration' || k.kind === 'MutatingWebhookConfiguration'))
  const webhookObjs = await listAllOf(client, webhookKinds, signal)
  const svcCache = new Map<string, boolean>()
  const serviceExists = async (ns: string, name: string): Promise<boolean> => {
    const key = `${ns}/${name}`
    if (!svcCache.has(key)) {
      const {getObject} = await import('../kube/client.js')
      svcCache.set(key, Boolean(await getObject(client, {apiVersion: 'v1', kind: 'Service', namespace: ns, name})))
    }
    return svcCache.get(key)!
  }
  const webhooks: PlanItem[] = []
  for (const w of webhookObjs) {
    const why = await blockingWebhook(w, deletedNs, serviceExists)
    if (why) webhooks.push(item(w, why))
  }

  // 5. LoadBalancer Services: aip's, and with --cluster every one (orphaned LBs block VPC deletion)
  const serviceKind = kinds.filter((k) => k.apiVersion === 'v1' && k.kind === 'Service')
  const lbs = (opts.eks ? await listAllOf(client, serviceKind, signal) : managed.filter((o) => o.kind === 'Service' && o.apiVersion === 'v1')).filter(isLoadBalancer)
  const lbItems = lbs.map((o) => item(o, lbDetail(o)))

  // 6. other aip objects that no namespace deletion takes along (cluster-scoped, or in other namespaces)
  const taken = new Set([...scale, ...workloads, ...crItems, ...webhooks, ...lbItems].map((i) => i.uid))
  const others = managed
    .filter((o) => o.kind !== 'Namespace' && !taken.has(o.metadata.uid) && !insideDeletedNs(o) && !WEBHOOK_KINDS.has(o.kind))
    .map((o) => item(o))

  // workloads and CRs inside namespaces being deleted still go first (ordering), so keep them listed
  const phases: PlanPhase[] = [
    {id: 'scale-models', title: 'Scale aip models to zero', items: scale},
    {id: 'delete-workloads', title: 'Delete model workloads (Deployments, Jobs, ...) and wait', items: workloads},
    {id: 'delete-custom-resources', title: 'Delete custom resources with finalizers while their controllers run, and wait', items: crItems},
    {id: 'remove-webhooks', title: 'Remove webhook configurations that would block deletion', items: webhooks},
    {id: 'delete-load-balancers', title: 'Delete LoadBalancer Services and wait until the cloud load balancers are released', items: lbItems},
    {id: 'delete-objects', title: 'Delete other aip objects', items: others},
    {id: 'delete-namespaces', title: 'Delete namespaces and wait', items: nsItems},
  ]

  // EKS: node groups, then the cluster
  if (opts.eks) {
    const cluster = await findCluster(opts.eks.client, opts.clusterName, opts.eks.region, {signal})
    if (!cluster) {
      kept.push({what: `EKS cluster ${opts.clusterName}`, reason: `not found in ${opts.eks.region} (already deleted?)`})
    } else {
      const ngs = await listNodegroups(opts.eks.client, opts.clusterName, opts.eks.region, {signal})
      phases.push({
        id: 'delete-nodegroups',
        title: 'Delete EKS node groups and wait',
        items: ngs.map((n) => ({target: 'eks' as const, ref: {apiVersion: 'eks.amazonaws.com', kind: 'Nodegroup', name: n.name}, detail: `${n.status}, ${n.instanceTypes.join('/') || '?'} x${n.desiredSize ?? '?'}`})),
      })
      phases.push({
        id: 'delete-cluster',
        title: 'Delete the EKS cluster and wait',
        items: [{target: 'eks', ref: {apiVersion: 'eks.amazonaws.com', kind: 'Cluster', name: opts.clusterName}, detail: `${cluster.status}, Kubernetes ${cluster.version ?? '?'}, ${opts.eks.region}`}],
      })
    }
    // Pod Identity associations go with the cluster; the IAM roles bootstrap made for them do not
    const {roleNames} = await import('../bootstrap/access.js')
    const roles = roleNames(opts.clusterName)
    kept.push({what: `IAM roles ${roles.server}, ${roles.preload}`, reason: 'bootstrap made them for the pods\' S3 access; IAM is left alone (aws iam delete-role-policy --policy-name aip-weights, then aws iam delete-role)'})
    const {ebsCsiRoleName} = await import('../bootstrap/storage.js')
    if (!cluster?.autoMode) kept.push({what: `IAM role ${ebsCsiRoleName(opts.clusterName)}`, reason: 'bootstrap made it for the EBS CSI driver (node groups); IAM is left alone (aws iam detach-role-policy --policy-arn arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy, then aws iam delete-role)'})
  }

  // buckets: never, unless --delete-bucket names one exactly
  if (opts.deleteBucket) {
    const {HeadBucketCommand} = await import('@aws-sdk/client-s3')
    const name = opts.deleteBucket.name
    try {
      await opts.deleteBucket.client.send(new HeadBucketCommand({Bucket: name}), {abortSignal: signal as never})
    } catch (error) {
      const {toS3Error} = await import('../aws/s3.js')
      const e = toS3Error(error, {bucket: name, action: 'check'})
      if (e instanceof NotFoundError) {
        const near = opts.protectedBucket ? closest(name, [opts.protectedBucket]) : undefined
        throw new NotFoundError(`bucket ${name} (--delete-bucket) does not exist`, {fix: near && near !== name ? `did you mean --delete-bucket ${near}? (buckets are deleted only when named exactly)` : 'name the bucket exactly'})
      }
      throw e
    }
    phases.push({id: 'delete-bucket', title: 'Empty and delete the S3 bucket named by --delete-bucket', items: [{target: 's3', ref: {apiVersion: 's3.amazonaws.com', kind: 'Bucket', name}, detail: name === opts.protectedBucket ? 'the configured weights bucket: its weights are deleted' : undefined}]})
  }
  if (opts.protectedBucket && opts.protectedBucket !== opts.deleteBucket?.name) {
    kept.push({what: `S3 bucket ${opts.protectedBucket}`, reason: `holds model weights; never deleted unless named by --delete-bucket ${opts.protectedBucket}`})
  }

  const nonEmpty = phases.filter((p) => p.items.length > 0)
  return {
    clusterName: opts.clusterName,
    context: client.context,
    server: client.server,
    region: opts.eks?.region,
    phases: nonEmpty,
    namespaceContent,
    kept,
    warnings,
    empty: nonEmpty.length === 0,
  }
}

/** The plan as text, as it is shown before confirmation. */
export function renderPlan(plan: TeardownPlan, verbose = false): string {
  const lines: string[] = []
  lines.push(`Teardown plan for ${plan.clusterName} (context ${plan.context}, ${plan.server})`)
  if (plan.empty) lines.push('  nothing to delete: no aip-managed objects found')
  plan.phases.forEach((p, i) => {
    lines.push(`${i + 1}. ${p.title}`)
    const shown = verbose ? p.items : p.items.slice(0, 25)
    for (const it of shown) {
      const name = it.target === 'kube' ? refString(it.ref) : `${it.ref.kind} ${it.ref.name}`
      lines.push(`   - ${name}${it.terminating ? ' (already terminating)' : ''}${it.detail ? `: ${it.detail}` : ''}`)
    }
    if (shown.length < p.items.length) lines.push(`   ... and ${p.items.length - shown.length} more (--verbose lists all)`)
  })
  if (plan.kept.length) {
    lines.push('Kept:')
    for (const k of plan.kept) lines.push(`   - ${k.what}: ${k.reason}`)
  }
  return lines.join('\n')
}

export function planItemCount(plan: TeardownPlan): number {
  return plan.phases.reduce((n, p) => n + p.items.length, 0)
}

export type {ListableKind}
