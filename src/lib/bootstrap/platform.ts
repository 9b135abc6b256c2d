/**
 * The platform base: real Kubernetes YAML in templates/platform/*.yaml, parsed with the yaml
 * library and parameterised by setting fields on the parsed objects (no text templating).
 */
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {parseAllDocuments} from 'yaml'

import {AipError, NotFoundError, UsageError} from '../errors.js'
import {findGpu} from '../gpufit/gpus.js'
import {COMPONENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, PART_OF_LABEL} from '../kube/labels.js'
import type {KubeObject} from '../kube/types.js'
import {isDns1123Label} from '../names.js'
import {templatesPath} from '../paths.js'
import {DEFAULT_HF_TOKEN_SECRET} from '../render/common.js'
import {MODEL_KINDS} from '../render/index.js'
import {INSTANCE_TYPE_LABEL} from '../render/server.js'
import type {TenantInput} from './settings.js'

export const PLATFORM_COMPONENT = 'platform'
export const TENANT_LABEL = 'aip.dev/tenant'

export interface Tenant {
  name: string
  /** requests.nvidia.com/gpu in the tenant's ResourceQuota */
  gpus: number
}

export interface PlatformOptions {
  cluster: string
  modelNamespace: string
  gatewayNamespace: string
  monitoringNamespace: string
  tenants: Tenant[]
  /** NodePool spec.limits["nvidia.com/gpu"]: the most GPUs Karpenter may provision. */
  gpuLimit: number
  /** IAM role of Karpenter-launched nodes (default KarpenterNodeRole-<cluster>). */
  karpenterNodeRole?: string
  /** karpenter.sh/capacity-type values (default the template's on-demand). */
  capacityTypes?: string[]
  /** GPU types the GPU NodePool provisions (gpu-fit names; default l40s). */
  gpuTypes?: string[]
  /** The NodePool's instance types as they are (a rerun keeps them, settings.ts); default those of gpuTypes. */
  instanceTypes?: string[]
  /** IRSA: ServiceAccount name -> IAM role ARN (eks.amazonaws.com/role-arn). */
  serviceAccountRoles?: Record<string, string>
  templatesDir?: string
}

export interface PlatformObjects {
  /** Namespaces, quotas, limits, RBAC, network policies: always applied. */
  base: KubeObject[]
  /** EC2NodeClass + NodePool: applied only where a self-installed Karpenter runs. */
  karpenter: KubeObject[]
  /** NodePool on Auto Mode's NodeClass: applied only on EKS Auto Mode. */
  autoMode: KubeObject[]
  /** Auto Mode's EBS StorageClass (Auto Mode creates none): applied only on EKS Auto Mode, see autoModeStorage. */
  autoModeStorage: KubeObject[]
  /** The EBS CSI driver add-on's StorageClass (provisioner ebs.csi.aws.com): applied where that driver runs. */
  ebsCsiStorage: KubeObject[]
}

/** aip's block StorageClass (EKS Auto Mode's built-in EBS driver, or the aws-ebs-csi-driver add-on): one name for both templates. */
export const AIP_STORAGE_CLASS = 'aip-ebs-gp3'

export const DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.kubernetes.io/is-default-class'
const BETA_DEFAULT_STORAGE_CLASS_ANNOTATION = 'storageclass.beta.kubernetes.io/is-default-class'

/**
 * The Auto Mode StorageClasses to apply, given the cluster's StorageClasses: aip's is the cluster
 * default only when no other class is (the DefaultStorageClass admission plugin honours both
 * annotations and, with several defaults, picks the newest: kubernetes.io/docs/concepts/storage/storage-classes/#default-storageclass),
 * so a default the user chose stays theirs. Stable across reruns: aip's own class never counts.
 */
export function autoModeStorage(objects: KubeObject[], existing: KubeObject[]): KubeObject[] {
  const ours = new Set(objects.map((o) => o.metadata.name))
  const otherDefault = existing.some((sc) => !ours.has(sc.metadata.name) && [DEFAULT_STORAGE_CLASS_ANNOTATION, BETA_DEFAULT_STORAGE_CLASS_ANNOTATION].some((a) => sc.metadata.annotations?.[a] === 'true'))
  if (!otherDefault) return objects
  return objects.map((o) => {
    const {[DEFAULT_STORAGE_CLASS_ANNOTATION]: _dropped, ...annotations} = o.metadata.annotations ?? {}
    const metadata = {...o.metadata, annotations}
    if (Object.keys(annotations).length === 0) delete (metadata as {annotations?: unknown}).annotations
    return {...o, metadata}
  })
}

const RESERVED = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease'])

/** templates/platform of the package, in src/ (tests), dist/ and the bundled CLI alike. */
export function defaultTemplatesDir(): string {
  return templatesPath('platform')
}

/**
 * `team-a` or `team-a=4` (GPUs); without `=N`, defaultGpus (--gpu-quota), else no quota: bootstrap
 * then keeps the tenant's quota or, for a new tenant, applies the default (settings.ts).
 */
export function parseTenant(spec: string, defaultGpus?: number): TenantInput {
  const m = /^([^=]+?)(?:=(.*))?$/.exec(spec.trim())
  const name = m?.[1]?.trim() ?? ''
  const gpuText = m?.[2]
  if (!isDns1123Label(name)) {
    throw new UsageError(`invalid tenant name "${name}"`, {fix: 'tenant names are namespace names: lower-case letters, digits and "-", e.g. --tenant team-a=4'})
  }
  if (RESERVED.has(name) || name.startsWith('kube-')) throw new UsageError(`tenant name "${name}" is a reserved namespace`, {fix: 'choose another tenant name'})
  const gpus = gpuText === undefined ? defaultGpus : Number(gpuText)
  if (gpus === undefined) return {name}
  if (!Number.isInteger(gpus) || gpus < 0) throw new UsageError(`invalid GPU quota "${gpuText}" for tenant ${name}`, {fix: 'use a whole number of GPUs, e.g. --tenant team-a=4'})
  return {name, gpus}
}

export function loadTemplate(dir: string, file: string): KubeObject[] {
  const path = join(dir, file)
  if (!existsSync(path)) throw new NotFoundError(`platform template ${path} is missing`, {fix: 'reinstall aip (templates/platform ships with the package)'})
  const docs = parseAllDocuments(readFileSync(path, 'utf8'))
  const out: KubeObject[] = []
  for (const d of docs) {
    if (d.errors.length > 0) throw new AipError('FAILED', `platform template ${path} is not valid YAML: ${d.errors[0]!.message.split('\n')[0]}`, {fix: 'reinstall aip'})
    const o = d.toJS() as KubeObject | null
    if (!o) continue
    if (!o.apiVersion || !o.kind || !o.metadata?.name) throw new AipError('FAILED', `platform template ${path} holds an object without apiVersion/kind/metadata.name`, {fix: 'reinstall aip'})
    out.push(o)
  }
  return out
}

function label(o: KubeObject, extra: Record<string, string> = {}): KubeObject {
  o.metadata.labels = {...o.metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [PART_OF_LABEL]: 'aip', [COMPONENT_LABEL]: PLATFORM_COMPONENT, ...extra}
  return o
}

/** IRSA: the role a ServiceAccount's pods assume (Pod Identity needs no annotation). */
function annotateRole(o: KubeObject, roles: Record<string, string> | undefined): void {
  const arn = o.kind === 'ServiceAccount' ? roles?.[o.metadata.name] : undefined
  if (arn) o.metadata.annotations = {...o.metadata.annotations, 'eks.amazonaws.com/role-arn': arn}
}

function nsSelectorName(o: KubeObject, from: string, to: string): void {
  // rewrite namespaceSelector matchLabels kubernetes.io/metadata.name values that name a default namespace
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(walk)
    if (!v || typeof v !== 'object') return
    const rec = v as Record<string, unknown>
    const ml = rec.matchLabels as Record<string, string> | undefined
    if (ml && ml['kubernetes.io/metadata.name'] === from) ml['kubernetes.io/metadata.name'] = to
    for (const k of Object.keys(rec)) walk(rec[k])
  }
  walk(o.spec)
}

export function renderPlatform(opts: PlatformOptions): PlatformObjects {
  const dir = opts.templatesDir ?? defaultTemplatesDir()
  for (const n of [opts.modelNamespace, opts.gatewayNamespace, opts.monitoringNamespace]) {
    if (!isDns1123Label(n)) throw new UsageError(`invalid namespace "${n}"`, {fix: 'namespaces are lower-case letters, digits and "-"'})
  }
  const names = new Set<string>()
  for (const t of opts.tenants) {
    if (names.has(t.name)) throw new UsageError(`tenant "${t.name}" given twice`, {fix: 'name each tenant once'})
    if (t.name === opts.modelNamespace) throw new UsageError(`tenant "${t.name}" collides with the model namespace`, {fix: 'choose another tenant name'})
    names.add(t.name)
  }
  if (!Number.isInteger(opts.gpuLimit) || opts.gpuLimit < 0) throw new UsageError(`invalid GPU limit ${opts.gpuLimit}`, {fix: 'pass --gpu-limit as a whole number, e.g. 8'})

  const base: KubeObject[] = []
  for (const o of loadTemplate(dir, 'model-namespace.yaml')) {
    if (o.kind === 'Namespace') o.metadata.name = opts.modelNamespace
    else o.metadata.namespace = opts.modelNamespace
    nsSelectorName(o, 'aip-gateway', opts.gatewayNamespace)
    nsSelectorName(o, 'monitoring', opts.monitoringNamespace)
    annotateRole(o, opts.serviceAccountRoles)
    base.push(label(o))
  }
  for (const t of opts.tenants) {
    for (const o of loadTemplate(dir, 'tenant.yaml')) {
      if (o.kind === 'Namespace') o.metadata.name = t.name
      else o.metadata.namespace = t.name
      if (o.kind === 'ResourceQuota') {
        const spec = o.spec as {hard: Record<string, string>}
        spec.hard['requests.nvidia.com/gpu'] = String(t.gpus)
      }
      if (o.kind === 'Role') o.rules = tenantRoleRules()
      if (o.kind === 'RoleBinding') {
        const subjects = o.subjects as Array<{kind: string; name: string}>
        for (const s of subjects) if (s.kind === 'Group') s.name = `aip:tenant:${t.name}`
      }
      annotateRole(o, opts.serviceAccountRoles)
      base.push(label(o, {[TENANT_LABEL]: t.name}))
    }
  }

  // the instance types of the requested GPUs: gpu-fit's table is the one owner (as for model deploy)
  const gpuTypes = opts.gpuTypes?.length ? opts.gpuTypes : ['l40s']
  const fromGpus = [...new Set(gpuTypes.flatMap((g) => findGpu(g).instances.map((i) => i.type)))]
  const instanceTypes = opts.instanceTypes?.length ? opts.instanceTypes : fromGpus
  const pool = (o: KubeObject) => {
    const spec = o.spec as {limits: Record<string, string>; template: {spec: {requirements: Array<{key: string; values: string[]}>}}}
    spec.limits['nvidia.com/gpu'] = String(opts.gpuLimit)
    for (const r of spec.template.spec.requirements) {
      if (r.key === INSTANCE_TYPE_LABEL) r.values = instanceTypes
      if (r.key === 'karpenter.sh/capacity-type' && opts.capacityTypes?.length) r.values = [...opts.capacityTypes]
    }
  }
  const karpenter: KubeObject[] = []
  for (const o of loadTemplate(dir, 'gpu-nodepool.yaml')) {
    if (o.kind === 'EC2NodeClass') {
      const spec = o.spec as {role: string; subnetSelectorTerms: Array<{tags: Record<string, string>}>; securityGroupSelectorTerms: Array<{tags: Record<string, string>}>}
      spec.role = opts.karpenterNodeRole ?? `KarpenterNodeRole-${opts.cluster}`
      for (const t of [...spec.subnetSelectorTerms, ...spec.securityGroupSelectorTerms]) t.tags['karpenter.sh/discovery'] = opts.cluster
    }
    if (o.kind === 'NodePool') pool(o)
    karpenter.push(label(o))
  }
  const autoMode: KubeObject[] = []
  for (const o of loadTemplate(dir, 'gpu-nodepool-automode.yaml')) {
    if (o.kind === 'NodePool') pool(o)
    autoMode.push(label(o))
  }
  const storageClass = (o: KubeObject) => {
    if (o.kind === 'StorageClass') o.metadata.name = AIP_STORAGE_CLASS
    return label(o)
  }
  const autoModeStorageObjects = loadTemplate(dir, 'storage-automode.yaml').map(storageClass)
  const ebsCsiStorage = loadTemplate(dir, 'storage-ebs-csi.yaml').map(storageClass)
  return {base, karpenter, autoMode, autoModeStorage: autoModeStorageObjects, ebsCsiStorage}
}

/**
 * The tenant Role: exactly the kinds `aip model deploy` writes (get/list/watch to diff and wait,
 * create/patch/update for server-side apply, delete for `model delete` and a failed Job's rerun),
 * what deploy, status and delete read (pods, logs, events, quota, the ServiceAccounts), the models'
 * revision history ConfigMaps, and the HF
 * token Secret `aip secret set hf-token` writes (create cannot be limited to a name in RBAC).
 */
export function tenantRoleRules(): Array<{apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[]}> {
  const byGroup = new Map<string, string[]>()
  for (const k of MODEL_KINDS) {
    if (!k.written) continue
    const group = k.apiVersion.includes('/') ? k.apiVersion.split('/')[0]! : ''
    byGroup.set(group, [...(byGroup.get(group) ?? []), k.resource])
  }
  const write = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']
  return [
    ...[...byGroup].map(([g, resources]) => ({apiGroups: [g], resources, verbs: write})),
    {apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch', 'delete']},
    // the revision history of each model (src/lib/rollout/history.ts: deploy writes it, rollback
    // reads it, delete removes it); create cannot be limited to names in RBAC
    {apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'delete']},
    {apiGroups: [''], resources: ['pods/log', 'events', 'resourcequotas', 'limitranges', 'serviceaccounts'], verbs: ['get', 'list', 'watch']},
    {apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['get', 'list', 'watch']},
    {apiGroups: [''], resources: ['secrets'], resourceNames: [DEFAULT_HF_TOKEN_SECRET.name], verbs: ['get', 'update', 'patch']},
    {apiGroups: [''], resources: ['secrets'], verbs: ['create']},
  ]
}

