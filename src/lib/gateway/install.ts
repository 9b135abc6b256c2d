/**
 * `aip gateway install` and `aip gateway status`. Install applies the rendered objects
 * (server-side apply, field manager aip), creates the Secrets once with generated values (a rerun
 * keeps them: a new salt key would make the stored credentials unreadable, a new master key would
 * lock clients out), waits for the proxy's rollout, and makes a team per tenant.
 */
import {randomBytes} from 'node:crypto'

import {AipError, ConflictError, NotFoundError, TimeoutError, UsageError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {COMPONENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAME_LABEL, PART_OF_LABEL} from '../kube/labels.js'
import {refString} from '../kube/types.js'
import {connectGateway, gatewayDeployment, notInstalled, publicUrl} from './connect.js'
import {observedModels} from './registry.js'
import {DB_NAME, DB_SECRET, type GatewayRenderOptions, LITELLM_NAME, MASTER_KEY_SECRET, renderGateway} from './render.js'
import {decideGatewaySettings, type GatewaySettingDecision, type GatewaySettingInputs, type LiveGatewaySettings, liveGatewaySettings, readGatewaySettings} from './settings.js'

export interface InstallOptions {
  /** the gateway namespace (config gateway-namespace) */
  namespace: string
  /** the flags given; omitted ones keep what an installed gateway has (settings.ts), else the defaults */
  settings?: GatewaySettingInputs
  /** tenants of cluster bootstrap: one gateway team each (after the rollout) */
  teams?: string[]
  dryRun?: boolean
  wait?: boolean
  timeoutMs?: number
  force?: boolean
  masterKey?: string
  /** admin URL for the team calls (--gateway-url); default the public address, else a replica */
  url?: string
  signal?: AbortSignal
  onStep?: (text: string) => void
}

export interface InstallResult {
  namespace: string
  dryRun: boolean
  objects: Array<{kind: string; name: string; action: string}>
  secrets: Array<{name: string; action: 'created' | 'kept' | 'would-create' | 'external'}>
  waited: boolean
  ready?: {ready: number; desired: number}
  url?: string
  teams: Array<{team: string; action: 'created' | 'exists'}>
  /** each setting: kept (flag omitted), changed (old -> new), unchanged, default or set */
  settings: GatewaySettingDecision[]
  /** consequences of the changes asked for (a database switch, a new load balancer) */
  notes: string[]
  /** unsafe exposure (plain HTTP on the internet): `Warning:` lines */
  warnings: string[]
  manifests: KubeObject[]
}

/** `NAME` or `NAME:KEY` (key default `url`). */
export function parseSecretRef(text: string): {name: string; key: string} {
  const m = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?)(?::([-._a-zA-Z0-9]+))?$/.exec(text.trim())
  if (!m) throw new UsageError(`invalid --database-url-secret "${text}"`, {fix: 'give NAME or NAME:KEY of a Secret in the gateway namespace, e.g. litellm-rds:url'})
  if (m[1] === DB_SECRET) throw new UsageError(`--database-url-secret ${text}: ${DB_SECRET} is the Secret aip generates for the in-cluster Postgres`, {fix: 'name the Secret of the external database, or --database-url-secret none for the in-cluster Postgres'})
  return {name: m[1]!, key: m[3] ?? 'url'}
}

function secretLabels(): Record<string, string> {
  return {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [NAME_LABEL]: LITELLM_NAME, [COMPONENT_LABEL]: 'gateway', [PART_OF_LABEL]: 'aip'}
}

function generated(name: string, namespace: string): Record<string, string> {
  if (name === MASTER_KEY_SECRET) {
    // LiteLLM requires the master key to start with "sk-" (proxy_server.py checks it)
    return {'master-key': `sk-${randomBytes(32).toString('base64url')}`, 'salt-key': `sk-${randomBytes(32).toString('base64url')}`}
  }
  const password = randomBytes(24).toString('hex')
  return {password, url: `postgresql://litellm:${password}@${DB_NAME}.${namespace}.svc:5432/litellm`}
}

function b64(m: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Buffer.from(v, 'utf8').toString('base64')]))
}

/** Creates the Secret with generated values unless it exists; adds missing keys to an existing one. */
async function ensureSecret(client: KubeClient, namespace: string, name: string, keys: string[], signal?: AbortSignal): Promise<'created' | 'kept'> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`
  let live: {data?: Record<string, string>} | undefined
  try {
    live = await client.request('GET', `${path}/${name}`, {signal})
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error
  }
  const values = generated(name, namespace)
  if (!live) {
    try {
      await client.request('POST', path, {body: {apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: {name, namespace, labels: secretLabels()}, data: b64(Object.fromEntries(keys.map((k) => [k, values[k]!])))}, signal})
      return 'created'
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error
      return 'kept' // created meanwhile by another install
    }
  }
  const missing = keys.filter((k) => !live!.data?.[k])
  if (missing.length === 0) return 'kept'
  if (name === DB_SECRET && missing.length !== keys.length) {
    // the URL embeds the password: never mix an old password with a new URL
    throw new UsageError(`Secret ${namespace}/${name} lacks ${missing.join(', ')}`, {fix: `delete it (kubectl -n ${namespace} delete secret ${name}) before the database holds data, or add the key by hand`})
  }
  await client.request('PATCH', `${path}/${name}`, {body: {data: b64(Object.fromEntries(missing.map((k) => [k, values[k]!])))}, contentType: 'application/merge-patch+json', signal})
  return 'kept'
}

/**
 * Back to a LoadBalancer Service (--gateway-class none): aip's Gateway and HTTPRoute go, or the
 * Gateway's own load balancer would keep exposing the proxy.
 */
async function removeGatewayApiObjects(c: KubeClient, ns: string, live: LiveGatewaySettings, base: InstallResult, o: InstallOptions): Promise<void> {
  for (const x of live.gatewayApiObjects ?? []) {
    const path = `/apis/gateway.networking.k8s.io/v1/namespaces/${encodeURIComponent(ns)}/${x.kind === 'Gateway' ? 'gateways' : 'httproutes'}/${encodeURIComponent(x.name)}`
    try {
      await c.request('DELETE', path, {query: o.dryRun ? {dryRun: 'All'} : undefined, signal: o.signal})
      base.objects.push({kind: x.kind, name: x.name, action: o.dryRun ? 'deleted (server dry run)' : 'deleted'})
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error
    }
  }
}

export async function installGateway(client: KubeClient | undefined, o: InstallOptions): Promise<InstallResult> {
  const ns = o.namespace
  // without a cluster (-o yaml) the flags and the defaults are all there is
  const live: LiveGatewaySettings = client ? await readGatewaySettings(client, ns) : {}
  const resolved = decideGatewaySettings(o.settings ?? {}, live, ns)
  const render: GatewayRenderOptions = {namespace: ns, ...resolved.render}
  const rendered = renderGateway(render)
  const base: InstallResult = {namespace: ns, dryRun: Boolean(o.dryRun), objects: [], secrets: [], waited: false, teams: [], settings: resolved.decisions, notes: resolved.notes, warnings: resolved.warnings, manifests: rendered.objects}
  if (o.dryRun && !client) {
    return {...base, objects: rendered.objects.map((x) => ({kind: x.kind, name: x.metadata.name, action: 'rendered'})), secrets: rendered.secrets.map((s) => ({name: s.name, action: 'would-create' as const}))}
  }
  const kube = await import('../kube/index.js')
  const c = client!
  if (render.exposure.kind === 'httproute' && !(await kube.hasApiResource(c, 'gateway.networking.k8s.io/v1', 'HTTPRoute'))) {
    throw new NotFoundError('--gateway-class needs the Gateway API (gateway.networking.k8s.io/v1 Gateway, HTTPRoute), which this cluster does not serve', {
      fix: 'install the Gateway API CRDs and a controller for the class, or pass --gateway-class none to expose the gateway with a LoadBalancer Service',
    })
  }
  const [nsObj, ...rest] = rendered.objects
  const apply = async (objs: KubeObject[]) => {
    const r = await kube.applyObjects(c, objs, {force: o.force, dryRun: o.dryRun ? 'server' : undefined, signal: o.signal, onProgress: (x) => o.onStep?.(`${refString(x.ref)} ${x.action}`)})
    base.objects.push(...r.map((x) => ({kind: x.ref.kind, name: x.ref.name, action: o.dryRun ? `${x.action} (server dry run)` : x.action})))
  }
  const nsExists = Boolean(await kube.getObject(c, {apiVersion: 'v1', kind: 'Namespace', name: ns}))
  await apply([nsObj!])
  if (o.dryRun && !nsExists) {
    // a server dry run cannot validate objects in a namespace that does not exist yet
    base.objects.push(...rest.map((x) => ({kind: x.kind, name: x.metadata.name, action: 'create (namespace does not exist yet: not validated)'})))
    base.secrets.push(...rendered.secrets.map((s) => ({name: s.name, action: 'would-create' as const})))
    return base
  }
  if (render.databaseUrlSecret) {
    const ref = render.databaseUrlSecret
    const s = await kube.getObject(c, {apiVersion: 'v1', kind: 'Secret', name: ref.name, namespace: ns}).catch((error: unknown) => {
      if (o.dryRun && error instanceof NotFoundError) return undefined
      throw error
    })
    if (!s && !o.dryRun) throw new NotFoundError(`--database-url-secret: Secret ${ns}/${ref.name} does not exist`, {fix: `create it: kubectl -n ${ns} create secret generic ${ref.name} --from-literal=${ref.key}=postgresql://USER:PASSWORD@HOST:5432/litellm`})
    if (s && !(s as {data?: Record<string, string>}).data?.[ref.key]) throw new UsageError(`Secret ${ns}/${ref.name} has no key "${ref.key}"`, {fix: `name the key that holds the URL: --database-url-secret ${ref.name}:KEY`})
    base.secrets.push({name: ref.name, action: 'external'})
  }
  for (const s of rendered.secrets) {
    if (o.dryRun) {
      const live = await kube.getObject(c, {apiVersion: 'v1', kind: 'Secret', name: s.name, namespace: ns}).catch(() => undefined)
      base.secrets.push({name: s.name, action: live ? 'kept' : 'would-create'})
    } else {
      base.secrets.push({name: s.name, action: await ensureSecret(c, ns, s.name, s.keys, o.signal)})
    }
  }
  await apply(rest)
  if (render.exposure.kind === 'loadbalancer') await removeGatewayApiObjects(c, ns, live, base, o)
  if (o.dryRun || o.wait === false) return base
  o.onStep?.(`waiting for deployment ${LITELLM_NAME} in ${ns}`)
  let r
  try {
    r = await kube.waitForRollout(c, {name: LITELLM_NAME, namespace: ns, timeoutMs: o.timeoutMs ?? 10 * 60_000, signal: o.signal, onProgress: (p) => o.onStep?.(`${p.ready}/${p.desired} ready`)})
  } catch (error) {
    // LiteLLM is ready only with its database: a Postgres volume that never binds is the usual cause
    const pvc = render.databaseUrlSecret ? undefined : await kube.getObject(c, {apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: `data-${DB_NAME}-0`, namespace: ns}).catch(() => undefined)
    const phase = (pvc?.status as {phase?: string} | undefined)?.phase
    if (error instanceof AipError && error.code === 'TIMEOUT' && pvc && phase !== 'Bound') {
      throw new TimeoutError(`the gateway did not become ready: its database volume ${ns}/data-${DB_NAME}-0 is ${phase ?? 'not bound'}`, {
        fix: `check kubectl -n ${ns} describe pvc data-${DB_NAME}-0: the cluster needs a default StorageClass (on EKS the EBS CSI driver add-on), or pass --storage-class, or --database-url-secret for an external database`,
        cause: error,
      })
    }
    throw error
  }
  base.waited = true
  base.ready = {ready: r.ready, desired: r.desired}
  base.url = await publicUrl(c, ns)
  if (o.teams?.length) {
    const conn = await connectGateway({client: c, namespace: ns, url: o.url, masterKey: o.masterKey, signal: o.signal})
    for (const t of o.teams) base.teams.push({team: t, action: (await conn.admin.ensureTeam(t, o.signal)) ? 'created' : 'exists'})
  }
  return base
}

export interface GatewayStatus {
  namespace: string
  installed: boolean
  url?: string
  image?: string
  replicas: {desired: number; ready: number; available: number}
  database: string
  exposure: string
  models?: Array<{name: string; id: string; apiBase?: string; replicas: number; of: number; managedByAip: boolean}>
  perReplica?: Array<{pod: string; models: number}>
  /** why the model list is missing (no master key, unreachable) */
  modelsError?: string
  /** why the LoadBalancer Service has no address yet (the controller's Warning event, or none acted) */
  exposureProblem?: string
}

/**
 * Why the gateway's LoadBalancer Service has no address: the newest Warning event the load balancer
 * controller (EKS Auto Mode's, the AWS Load Balancer Controller) recorded on it, e.g. "unable to
 * resolve at least one subnet" when no subnet carries the role tag; or that none acted at all.
 * https://docs.aws.amazon.com/eks/latest/userguide/auto-configure-nlb.html (Auto Mode needs the subnet tags)
 */
export async function loadBalancerProblem(client: KubeClient, namespace: string, internal: boolean, signal?: AbortSignal): Promise<string> {
  const tag = internal ? 'kubernetes.io/role/internal-elb=1 on the private subnets' : 'kubernetes.io/role/elb=1 on the public subnets'
  const evs = await client
    .request<{items?: Array<{type?: string; reason?: string; message?: string; lastTimestamp?: string; eventTime?: string; metadata?: {creationTimestamp?: string}}>}>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, {
      query: {fieldSelector: `involvedObject.kind=Service,involvedObject.name=${LITELLM_NAME}`},
      signal,
    })
    .catch(() => ({items: []}))
  const time = (e: {lastTimestamp?: string; eventTime?: string; metadata?: {creationTimestamp?: string}}) => Date.parse(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? '') || 0
  const warning = (evs.items ?? []).filter((e) => e.type === 'Warning').sort((a, b) => time(a) - time(b)).pop()
  if (warning) return `${warning.reason ?? 'Warning'}: ${warning.message ?? ''} (on EKS the load balancer needs ${tag})`
  return `no load balancer controller has acted on Service ${namespace}/${LITELLM_NAME} yet: EKS Auto Mode's load balancing or the AWS Load Balancer Controller must run, and the subnets need ${tag}`
}

export async function gatewayStatus(client: KubeClient, o: {namespace: string; url?: string; masterKey?: string; signal?: AbortSignal}): Promise<GatewayStatus> {
  const dep = await gatewayDeployment(client, o.namespace)
  if (!dep) throw notInstalled(o.namespace)
  const kube = await import('../kube/index.js')
  const spec = dep.spec as {replicas?: number; template?: {spec?: {containers?: Array<{image?: string; env?: Array<{name: string; valueFrom?: {secretKeyRef?: {name: string}}}>}>}}}
  const st = (dep.status ?? {}) as {readyReplicas?: number; availableReplicas?: number}
  const c0 = spec.template?.spec?.containers?.[0]
  const dbSecret = c0?.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef?.name
  const sts = await kube.getObject(client, {apiVersion: 'apps/v1', kind: 'StatefulSet', name: DB_NAME, namespace: o.namespace})
  const svc = await kube.getObject(client, {apiVersion: 'v1', kind: 'Service', name: LITELLM_NAME, namespace: o.namespace})
  const svcSpec = svc?.spec as {type?: string} | undefined
  // the scheme as the load balancer controller reads the annotations (settings.ts: absent = internal)
  const internal = svc ? liveGatewaySettings(o.namespace, {service: svc}).internal === true : false
  const out: GatewayStatus = {
    namespace: o.namespace,
    installed: true,
    url: o.url ?? (await publicUrl(client, o.namespace)),
    image: c0?.image,
    replicas: {desired: spec.replicas ?? 1, ready: st.readyReplicas ?? 0, available: st.availableReplicas ?? 0},
    database: sts ? `in-cluster Postgres (StatefulSet ${DB_NAME}, ${((sts.status as {readyReplicas?: number} | undefined)?.readyReplicas ?? 0)}/1 ready)` : `external (Secret ${dbSecret ?? '?'})`,
    exposure: svcSpec?.type === 'LoadBalancer' ? `LoadBalancer Service (NLB, ${internal ? 'internal' : 'internet-facing'})` : 'HTTPRoute',
  }
  if (svcSpec?.type === 'LoadBalancer' && !(svc?.status as {loadBalancer?: {ingress?: unknown[]}} | undefined)?.loadBalancer?.ingress?.length) {
    out.exposureProblem = await loadBalancerProblem(client, o.namespace, internal, o.signal)
  }
  try {
    const conn = await connectGateway({client, namespace: o.namespace, url: o.url, masterKey: o.masterKey, signal: o.signal})
    const {byId, perReplica} = await observedModels(conn, o.signal)
    out.perReplica = perReplica.map((r) => ({pod: r.pod, models: r.ids.length}))
    out.models = [...byId.values()]
      .map((m) => ({name: m.model_name, id: m.model_info.id, apiBase: m.litellm_params.api_base, replicas: perReplica.filter((r) => r.ids.includes(m.model_info.id)).length, of: perReplica.length, managedByAip: m.model_info.id.startsWith('aip:')}))
      .sort((a, b) => a.name.localeCompare(b.name))
  } catch (error) {
    out.modelsError = (error as Error).message
  }
  return out
}
