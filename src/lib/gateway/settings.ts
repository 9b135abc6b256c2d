/**
 * The settings of an installed gateway, decided per rerun of `aip gateway install` and
 * `aip cluster bootstrap --gateway` (both call installGateway, which calls this): a flag that is
 * given sets its field; an omitted one keeps what the cluster has (src/lib/settings.ts); only where
 * nothing is there yet (the first install) does the default apply. A platform team that installed
 * an internal NLB with TLS, three replicas and an RDS database, and reruns `aip cluster bootstrap
 * --gateway` from CI, must not get an internet-facing load balancer, plain HTTP, two replicas and
 * an empty in-cluster database (that last one loses every key and team: they live in the database).
 *
 * The kept values are read back from the objects that act on them, not from a record of what aip
 * was told: the Service's type and AWS Load Balancer Controller annotations, the Gateway's class,
 * listener and TLS, the HTTPRoute's hostnames, the Deployment's replicas, image, resources and
 * DATABASE_URL reference, the StatefulSet's volume claim template. A hand edit (`kubectl scale`,
 * `kubectl set resources`, `kubectl annotate`) is therefore kept too, and a kept value equals the
 * live one, so server-side apply meets no conflict with the manager that made the edit.
 *
 * Secrets are not settings: install creates the master key, salt key and database password once and
 * never rewrites them (install.ts ensureSecret); this module never reads them.
 */
import {QUANTITY} from '../catalog/schema.js'
import {UsageError} from '../errors.js'
import {isDns1123Label, isDns1123Subdomain} from '../names.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {decide, SETTING_ACTION_TEXT, type SettingAction} from '../settings.js'
import {
  type ContainerResources,
  DB_NAME,
  DB_SECRET,
  DEFAULT_LITELLM_RESOURCES,
  DEFAULT_REPLICAS,
  DEFAULT_STORAGE_SIZE,
  type GatewayRenderOptions,
  LB_INTERNAL_ANNOTATION,
  LB_SCHEME_ANNOTATION,
  LB_SSL_CERT_ANNOTATION,
  LITELLM_IMAGE,
  LITELLM_NAME,
} from './render.js'

export type GatewaySettingName = 'gateway-class' | 'internal' | 'certificate-arn' | 'hostname' | 'tls-secret' | 'replicas' | 'image' | 'requests' | 'limits' | 'database-url-secret' | 'storage-class' | 'storage-size'
/** null: none (no Gateway API class: a LoadBalancer Service; no certificate; the in-cluster database...) */
export type GatewaySettingValue = string | number | boolean | null

export interface GatewaySettingDecision {
  /** the flag's name */
  setting: GatewaySettingName
  /** the object that holds it, Kind/namespace/name */
  object: string
  value: GatewaySettingValue
  previous?: GatewaySettingValue
  action: SettingAction
}

/** What the flags said: undefined = omitted; null = "none" given (back to the empty default). */
export interface GatewaySettingInputs {
  gatewayClass?: string | null
  internal?: boolean
  certificateArn?: string | null
  hostname?: string | null
  tlsSecret?: string | null
  replicas?: number
  image?: string
  requests?: Record<string, string> | null
  limits?: Record<string, string> | null
  databaseUrlSecret?: {name: string; key: string} | null
  storageClass?: string | null
  storageSize?: string
}

/** What the cluster holds (undefined: no such object or field; null: the object says "none"). */
export interface LiveGatewaySettings {
  gatewayClass?: string | null
  internal?: boolean
  certificateArn?: string | null
  hostname?: string | null
  tlsSecret?: string | null
  replicas?: number
  image?: string
  /** canonical resource lists (formatResourceList), null when the container has none */
  requests?: string | null
  limits?: string | null
  databaseUrlSecret?: {name: string; key: string} | null
  storageClass?: string | null
  storageSize?: string
  /** why the exposure cannot be told (a ClusterIP Service without aip's Gateway): a rerun must say it */
  exposureUnknown?: string
  /** aip's Gateway and HTTPRoute that exist (removed when the exposure goes back to a LoadBalancer Service) */
  gatewayApiObjects?: Array<{kind: 'Gateway' | 'HTTPRoute'; name: string}>
}

export interface ResolvedGatewaySettings {
  render: Omit<GatewayRenderOptions, 'namespace'>
  decisions: GatewaySettingDecision[]
  /** consequences worth a line (a database switch, a kept image older than this aip's pin) */
  notes: string[]
  /** exposure the user should know is unsafe: printed as `Warning:` (the envelope's `warnings` in --json) */
  warnings: string[]
}

/**
 * Plain HTTP where the keys travel: every request carries an `Authorization: Bearer sk-...` key
 * (and the prompts), so a listener without TLS that the internet reaches hands both to anyone on
 * the path. An internal NLB is reachable from the VPC only; a Gateway's scheme is its class's,
 * which aip does not know, so without TLS it is warned about too.
 */
export function exposureWarnings(exposure: ResolvedGatewaySettings['render']['exposure']): string[] {
  if (exposure.certificateArn) return []
  if (exposure.kind === 'loadbalancer') {
    if (exposure.internal) return []
    return ['the gateway is internet-facing over plain HTTP (port 80): API keys and prompts cross the internet unencrypted\nFix: --certificate-arn ARN (an ACM certificate: TLS on 443), or --internal (reachable from the VPC only)']
  }
  if (exposure.tlsSecret) return []
  return [`the Gateway listener (class ${exposure.gatewayClass}) is plain HTTP: API keys and prompts travel unencrypted wherever it is reachable\nFix: --tls-secret SECRET or --certificate-arn ARN`]
}

/**
 * The flags' values checked before any request, so a typo is exit 2 naming the flag, never a
 * dry run that passes or an apply the API server refuses half-way:
 * - `--certificate-arn`: an ACM certificate ARN (arn:PARTITION:acm:REGION:ACCOUNT:certificate/ID);
 * - `--hostname`: a Gateway API Hostname (a DNS-1123 subdomain, optionally `*.` first; no IP);
 * - `--gateway-class`, `--tls-secret`, `--storage-class`: object names (DNS-1123 subdomains);
 * - `--storage-size`: a positive Kubernetes quantity; teams: tenant names (DNS-1123 labels).
 */
export function validateGatewayInputs(i: GatewaySettingInputs, teams: readonly string[] = []): void {
  const bad = (flag: string, value: string, what: string, fix: string): never => {
    throw new UsageError(`${flag} "${value}" is not ${what}`, {fix})
  }
  if (i.certificateArn && !/^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/.test(i.certificateArn)) {
    bad('--certificate-arn', i.certificateArn, 'an ACM certificate ARN', 'pass the ARN `aws acm list-certificates` shows (arn:aws:acm:REGION:ACCOUNT:certificate/ID), or none for no TLS')
  }
  if (i.hostname) {
    const h = i.hostname.startsWith('*.') ? i.hostname.slice(2) : i.hostname
    if (!isDns1123Subdomain(h) || /^[\d.]+$/.test(h)) bad('--hostname', i.hostname, 'a DNS hostname', 'use a lower-case DNS name such as llm.example.com (or *.example.com), not an IP address or a URL')
  }
  const names: Array<[string, string | null | undefined]> = [['--gateway-class', i.gatewayClass], ['--tls-secret', i.tlsSecret], ['--storage-class', i.storageClass]]
  for (const [flag, v] of names) if (v && !isDns1123Subdomain(v)) bad(flag, v, 'a Kubernetes object name', 'object names are lower-case letters, digits, "-" and ".", starting and ending alphanumeric')
  if (i.storageSize !== undefined && (!QUANTITY.test(i.storageSize) || !(Number.parseFloat(i.storageSize) > 0))) {
    bad('--storage-size', i.storageSize, 'a size', 'use a Kubernetes quantity such as 10Gi or 500Gi')
  }
  for (const t of teams) if (!isDns1123Label(t)) throw new UsageError(`invalid tenant "${t}"`, {fix: 'tenant names (gateway teams) are namespace names: lower-case letters, digits and "-", e.g. --tenant team-a'})
}

/** `cpu=500m,memory=1Gi` (kubectl set resources --requests/--limits), or `none`: null. */
export function parseResourceList(text: string, flag: string): Record<string, string> | null {
  if (text.trim() === 'none') return null
  const out: Record<string, string> = {}
  for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([a-z0-9]([-a-z0-9./]*[a-z0-9])?)=(.+)$/.exec(part)
    if (!m || !QUANTITY.test(m[3]!)) throw new UsageError(`invalid ${flag} "${text}"`, {fix: `give NAME=QUANTITY pairs, e.g. ${flag} cpu=500m,memory=1Gi, or ${flag} none`})
    out[m[1]!] = m[3]!
  }
  if (Object.keys(out).length === 0) throw new UsageError(`invalid ${flag} "${text}"`, {fix: `give NAME=QUANTITY pairs, e.g. ${flag} cpu=500m,memory=1Gi, or ${flag} none`})
  return out
}

/** A resource list in one canonical text (sorted by name); null when empty. */
export function formatResourceList(r: Record<string, unknown> | null | undefined): string | null {
  const entries = Object.entries(r ?? {}).filter(([, v]) => v !== undefined && v !== null && v !== '')
  if (entries.length === 0) return null
  return entries
    .map(([k, v]) => `${k}=${String(v)}`)
    .sort()
    .join(',')
}

const SUFFIX: Record<string, number> = {n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60}

/** A quantity's value (the API server stores quantities canonically: 1000m comes back as 1, 1024Mi as 1Gi). */
function quantityValue(q: string): number {
  const m = /^\+?([\d.]+)(?:[eE]([+-]?\d+)|([a-zA-Z]*))$/.exec(q.trim())
  if (!m) return Number.NaN
  return Number(m[1]) * (m[2] === undefined ? (SUFFIX[m[3] ?? ''] ?? Number.NaN) : 10 ** Number(m[2]))
}

/** Two canonical resource lists name the same amounts. */
function sameResources(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b
  const x = resourceListOf(a)!
  const y = resourceListOf(b)!
  const keys = Object.keys(x)
  return keys.length === Object.keys(y).length && keys.every((k) => y[k] !== undefined && Math.abs(quantityValue(x[k]!) - quantityValue(y[k]!)) <= 1e-9 * Math.max(1, quantityValue(x[k]!)))
}

function resourceListOf(text: string | null): Record<string, string> | undefined {
  if (!text) return undefined
  return Object.fromEntries(text.split(',').map((p) => p.split('=') as [string, string]))
}

const refText = (r: {name: string; key: string} | null | undefined) => (r ? `${r.name}:${r.key}` : null)

/** The settings the gateway's objects hold (pure; absent objects give absent settings). */
export function liveGatewaySettings(namespace: string, o: {service?: KubeObject; deployment?: KubeObject; statefulset?: KubeObject; gateway?: KubeObject; route?: KubeObject}): LiveGatewaySettings {
  const live: LiveGatewaySettings = {}
  if (o.service) {
    const type = (o.service.spec as {type?: string} | undefined)?.type ?? 'ClusterIP'
    const ann = o.service.metadata.annotations ?? {}
    if (type === 'LoadBalancer') {
      live.gatewayClass = null
      // The AWS Load Balancer Controller provisions an internal NLB when the scheme annotation is
      // absent (since v2.2.0; the deprecated aws-load-balancer-internal is read as well):
      // kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/nlb
      const scheme = ann[LB_SCHEME_ANNOTATION]
      live.internal = scheme ? scheme === 'internal' : ann[LB_INTERNAL_ANNOTATION] !== undefined ? ann[LB_INTERNAL_ANNOTATION] === 'true' : true
      live.certificateArn = ann[LB_SSL_CERT_ANNOTATION] || null
    } else if (o.gateway) {
      const spec = o.gateway.spec as {gatewayClassName?: string; listeners?: Array<{name?: string; hostname?: string; tls?: {certificateRefs?: Array<{name?: string}>; options?: Record<string, string>}}>} | undefined
      const listeners = spec?.listeners ?? []
      const l = listeners.find((x) => x.name === 'https' || x.name === 'http') ?? listeners[0]
      live.gatewayClass = spec?.gatewayClassName ?? null
      live.hostname = l?.hostname ?? (o.route?.spec as {hostnames?: string[]} | undefined)?.hostnames?.[0] ?? null
      live.tlsSecret = l?.tls?.certificateRefs?.[0]?.name ?? null
      live.certificateArn = l?.tls?.options?.[LB_SSL_CERT_ANNOTATION] ?? null
    } else {
      live.exposureUnknown = `Service ${namespace}/${LITELLM_NAME} is of type ${type} and there is no Gateway ${namespace}/${LITELLM_NAME}`
    }
  }
  if (o.deployment) {
    type Container = {name?: string; image?: string; resources?: ContainerResources; env?: Array<{name: string; valueFrom?: {secretKeyRef?: {name?: string; key?: string}}}>}
    const spec = o.deployment.spec as {replicas?: number; template?: {spec?: {containers?: Container[]}}} | undefined
    const containers = spec?.template?.spec?.containers ?? []
    const c = containers.find((x) => x.name === LITELLM_NAME) ?? containers[0]
    // an absent spec.replicas is 1 (the API server's default for a Deployment)
    live.replicas = spec?.replicas ?? 1
    if (c?.image) live.image = c.image
    live.requests = formatResourceList(c?.resources?.requests)
    live.limits = formatResourceList(c?.resources?.limits)
    const ref = c?.env?.find((e) => e.name === 'DATABASE_URL')?.valueFrom?.secretKeyRef
    if (ref?.name) live.databaseUrlSecret = ref.name === DB_SECRET && (ref.key ?? 'url') === 'url' ? null : {name: ref.name, key: ref.key ?? 'url'}
  }
  if (o.statefulset) {
    type Claim = {metadata?: {name?: string}; spec?: {storageClassName?: string; resources?: {requests?: {storage?: string}}}}
    const claims = ((o.statefulset.spec as {volumeClaimTemplates?: Claim[]} | undefined)?.volumeClaimTemplates ?? [])
    const data = claims.find((x) => x.metadata?.name === 'data') ?? claims[0]
    if (data) {
      live.storageClass = data.spec?.storageClassName ?? null
      const size = data.spec?.resources?.requests?.storage
      if (size) live.storageSize = size
    }
  }
  const managed = (x: KubeObject | undefined) => x?.metadata.labels?.['app.kubernetes.io/managed-by'] === 'aip'
  const gwObjects: NonNullable<LiveGatewaySettings['gatewayApiObjects']> = []
  if (managed(o.gateway)) gwObjects.push({kind: 'Gateway', name: o.gateway!.metadata.name})
  if (managed(o.route)) gwObjects.push({kind: 'HTTPRoute', name: o.route!.metadata.name})
  if (gwObjects.length) live.gatewayApiObjects = gwObjects
  return live
}

/** Reads the settings back from the gateway's objects (those that exist; nothing is written, no Secret is read). */
export async function readGatewaySettings(client: KubeClient, namespace: string): Promise<LiveGatewaySettings> {
  const {getObject, hasApiResource} = await import('../kube/index.js')
  const [service, deployment, statefulset] = await Promise.all([
    getObject(client, {apiVersion: 'v1', kind: 'Service', name: LITELLM_NAME, namespace}),
    getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: LITELLM_NAME, namespace}),
    getObject(client, {apiVersion: 'apps/v1', kind: 'StatefulSet', name: DB_NAME, namespace}),
  ])
  let gateway: KubeObject | undefined
  let route: KubeObject | undefined
  if (await hasApiResource(client, 'gateway.networking.k8s.io/v1', 'Gateway')) {
    gateway = await getObject(client, {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: LITELLM_NAME, namespace})
    route = await getObject(client, {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', name: LITELLM_NAME, namespace}).catch(() => undefined)
  }
  return liveGatewaySettings(namespace, {service, deployment, statefulset, gateway, route})
}

/** The decide-what-to-apply step: pure, from the flags and what the cluster holds. */
export function decideGatewaySettings(inputs: GatewaySettingInputs, live: LiveGatewaySettings, namespace: string): ResolvedGatewaySettings {
  const decisions: GatewaySettingDecision[] = []
  const notes: string[] = []
  const obj = (kind: string, name = LITELLM_NAME) => `${kind}/${namespace}/${name}`

  // exposure: a LoadBalancer Service (gateway-class none), or Gateway API with this class
  if (inputs.gatewayClass === undefined && live.exposureUnknown) {
    throw new UsageError(`cannot tell how the gateway is exposed: ${live.exposureUnknown}`, {fix: 'say it once: aip gateway install --gateway-class CLASS (a Gateway API Gateway + HTTPRoute) or --gateway-class none (a LoadBalancer Service); later reruns keep it'})
  }
  const cls = decide<string | null>(inputs.gatewayClass, live.exposureUnknown ? undefined : live.gatewayClass, null)
  const httproute = cls.value !== null
  decisions.push({setting: 'gateway-class', object: httproute ? obj('Gateway') : obj('Service'), ...cls})
  if (cls.action === 'changed') notes.push(`the exposure changes (${cls.previous === null ? 'LoadBalancer Service' : `Gateway class ${cls.previous}`} -> ${httproute ? `Gateway class ${cls.value}` : 'LoadBalancer Service'}): the gateway gets a new load balancer and address`)
  // settings of the exposure kind the gateway had count as live only for that kind
  const sameKind = live.gatewayClass !== undefined && (live.gatewayClass !== null) === httproute

  let internal = false
  let hostname: string | null = null
  let tlsSecret: string | null = null
  if (httproute) {
    if (inputs.internal) throw new UsageError('--internal applies to the LoadBalancer Service, not to --gateway-class', {fix: 'set the scheme on the GatewayClass / its parameters instead'})
    const h = decide<string | null>(inputs.hostname, sameKind ? live.hostname : undefined, null)
    decisions.push({setting: 'hostname', object: obj('HTTPRoute'), ...h})
    const t = decide<string | null>(inputs.tlsSecret, sameKind ? live.tlsSecret : undefined, null)
    decisions.push({setting: 'tls-secret', object: obj('Gateway'), ...t})
    hostname = h.value
    tlsSecret = t.value
  } else {
    if (inputs.tlsSecret) throw new UsageError('--tls-secret needs --gateway-class (the NLB takes --certificate-arn)', {fix: 'add --gateway-class CLASS, or use --certificate-arn'})
    if (inputs.hostname) throw new UsageError('--hostname needs --gateway-class', {fix: 'add --gateway-class CLASS, or point a DNS name at the load balancer yourself'})
    const i = decide<boolean>(inputs.internal, sameKind ? live.internal : undefined, false)
    decisions.push({setting: 'internal', object: obj('Service'), ...i})
    if (i.action === 'changed') notes.push(`the load balancer's scheme changes to ${i.value ? 'internal' : 'internet-facing'}: the AWS Load Balancer Controller replaces the NLB, with a new address`)
    internal = i.value
  }
  // TLS is kept across a change of exposure kind: dropping it is never a side effect
  const cert = decide<string | null>(inputs.certificateArn, live.exposureUnknown ? undefined : live.certificateArn, null)
  decisions.push({setting: 'certificate-arn', object: httproute ? obj('Gateway') : obj('Service'), ...cert})
  if (tlsSecret !== null && cert.value !== null) {
    throw new UsageError(`the Gateway listener would get TLS twice: --tls-secret ${tlsSecret} and --certificate-arn ${cert.value}${cert.action === 'kept' || decisions.find((d) => d.setting === 'tls-secret')?.action === 'kept' ? ' (one of them kept from the cluster)' : ''}`, {
      fix: 'keep one: --certificate-arn none, or --tls-secret none',
    })
  }

  const dep = obj('Deployment')
  const replicas = decide(inputs.replicas, live.replicas, DEFAULT_REPLICAS)
  decisions.push({setting: 'replicas', object: dep, ...replicas})
  const image = decide(inputs.image, live.image, LITELLM_IMAGE)
  decisions.push({setting: 'image', object: dep, ...image})
  if (image.action === 'kept' && image.value !== LITELLM_IMAGE) notes.push(`image ${image.value} kept; this aip pins ${LITELLM_IMAGE}: --image ${LITELLM_IMAGE} upgrades to it`)
  const requests = decide<string | null>(inputs.requests === undefined ? undefined : formatResourceList(inputs.requests), live.requests, formatResourceList(DEFAULT_LITELLM_RESOURCES.requests), sameResources)
  decisions.push({setting: 'requests', object: dep, ...requests})
  const limits = decide<string | null>(inputs.limits === undefined ? undefined : formatResourceList(inputs.limits), live.limits, formatResourceList(DEFAULT_LITELLM_RESOURCES.limits), sameResources)
  decisions.push({setting: 'limits', object: dep, ...limits})

  const db = decide<string | null>(inputs.databaseUrlSecret === undefined ? undefined : refText(inputs.databaseUrlSecret), live.databaseUrlSecret === undefined ? undefined : refText(live.databaseUrlSecret), null)
  decisions.push({setting: 'database-url-secret', object: dep, ...db})
  const external = db.value === null ? undefined : inputs.databaseUrlSecret ?? live.databaseUrlSecret ?? undefined
  if (db.action === 'changed') {
    notes.push(`the database changes (${db.previous ?? 'in-cluster Postgres'} -> ${db.value ?? 'in-cluster Postgres'}): keys, teams, budgets and models live in the database, and nothing is copied; the gateway serves what the new one holds`)
    if (db.value !== null && live.storageSize !== undefined) notes.push(`the in-cluster Postgres (StatefulSet ${namespace}/${DB_NAME} and its volume) is left in place; delete it when its data is no longer needed`)
  }

  let storageClass: string | null = null
  let storageSize = DEFAULT_STORAGE_SIZE
  if (db.value === null) {
    const sts = obj('StatefulSet', DB_NAME)
    const sc = decide<string | null>(inputs.storageClass, live.storageClass, null)
    const size = decide(inputs.storageSize, live.storageSize, DEFAULT_STORAGE_SIZE)
    // a StatefulSet's volumeClaimTemplates cannot change (apps/validation ValidateStatefulSetUpdate)
    if (sc.action === 'changed') {
      throw new UsageError(`--storage-class ${sc.value ?? 'none'}: the database volume of StatefulSet ${namespace}/${DB_NAME} has class ${sc.previous ?? '(the cluster default)'}, and a StatefulSet's volume claim template cannot change`, {fix: `omit --storage-class (the volume keeps its class)`})
    }
    if (size.action === 'changed') {
      throw new UsageError(`--storage-size ${size.value}: the database volume of StatefulSet ${namespace}/${DB_NAME} is ${size.previous}, and a StatefulSet's volume claim template cannot change`, {
        fix: `omit --storage-size (the volume stays ${size.previous}); a claim can only grow, where its StorageClass allows expansion: kubectl -n ${namespace} patch pvc data-${DB_NAME}-0 -p '{"spec":{"resources":{"requests":{"storage":"${size.value}"}}}}'`,
      })
    }
    decisions.push({setting: 'storage-class', object: sts, ...sc}, {setting: 'storage-size', object: sts, ...size})
    storageClass = sc.value
    storageSize = size.value
  }

  const certificateArn = cert.value ?? undefined
  const exposure: ResolvedGatewaySettings['render']['exposure'] = httproute ? {kind: 'httproute', gatewayClass: cls.value!, hostname: hostname ?? undefined, certificateArn, tlsSecret: tlsSecret ?? undefined} : {kind: 'loadbalancer', internal, certificateArn}
  return {
    render: {
      replicas: replicas.value,
      image: image.value,
      resources: {requests: resourceListOf(requests.value), limits: resourceListOf(limits.value)},
      databaseUrlSecret: external,
      storageClass: storageClass ?? undefined,
      storageSize,
      exposure,
    },
    decisions,
    notes,
    warnings: exposureWarnings(exposure),
  }
}

const NONE_TEXT: Partial<Record<GatewaySettingName, string>> = {'gateway-class': 'none (LoadBalancer Service)', 'database-url-secret': 'none (in-cluster Postgres)', 'storage-class': 'none (cluster default)'}

/** A value as the table prints it. */
export function showGatewaySetting(setting: GatewaySettingName, v: GatewaySettingValue | undefined): string {
  return v === null || v === undefined ? (NONE_TEXT[setting] ?? 'none') : String(v)
}

/** Rows of the settings table both commands print: setting, value (old -> new when changed), action. */
export function gatewaySettingRows(ds: GatewaySettingDecision[]): Array<{setting: string; value: string; action: string; changed: boolean}> {
  return ds.map((d) => ({
    setting: d.setting,
    value: d.action === 'changed' ? `${showGatewaySetting(d.setting, d.previous)} -> ${showGatewaySetting(d.setting, d.value)}` : showGatewaySetting(d.setting, d.value),
    action: SETTING_ACTION_TEXT[d.action],
    changed: d.action === 'changed',
  }))
}
