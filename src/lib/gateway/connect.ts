/**
 * How aip reaches the gateway: the admin API at its public URL (the NLB's address from the
 * Service, or the HTTPRoute's hostname) or at `--gateway-url` (a port-forward); the master key from
 * AIP_GATEWAY_MASTER_KEY or Secret litellm-master-key read through the API server; and every proxy
 * replica on its own through the API server's pod proxy
 * (/api/v1/namespaces/NS/pods/POD:4000/proxy/...), so a change is verified on each replica and not
 * only on the one the load balancer picked.
 */
import {AipError, NotFoundError, UnauthorizedError, UnreachableError} from '../errors.js'
import type {KubeClient, KubeObject} from '../kube/index.js'
import {formatSelector} from '../kube/labels.js'
import {type AdminEndpoint, LitellmAdmin} from './admin.js'
import {LITELLM_NAME, LITELLM_PORT, LITELLM_SELECTOR, MASTER_KEY_SECRET} from './render.js'

export interface Replica {
  pod: string
  admin: LitellmAdmin
}

export interface GatewayConnection {
  namespace: string
  /** The admin API: the public URL, --gateway-url, or (no address yet) one replica via the pod proxy. */
  admin: LitellmAdmin
  url?: string
  /** How the admin API is reached: 'url' (--gateway-url / config), 'public' (the Service/route address), 'pod-proxy'. */
  via: 'url' | 'public' | 'pod-proxy'
  /** The ready proxy replicas, each reached on its own. */
  replicas(signal?: AbortSignal): Promise<Replica[]>
}

export interface ConnectOptions {
  client: KubeClient
  namespace: string
  /** --gateway-url / config gateway-url */
  url?: string
  /** AIP_GATEWAY_MASTER_KEY */
  masterKey?: string
  signal?: AbortSignal
  /** Per-request timeout of admin calls (default 30 s). */
  timeoutMs?: number
}

/** The gateway's Deployment, or undefined when no gateway is installed in the namespace. */
export async function gatewayDeployment(client: KubeClient, namespace: string): Promise<KubeObject | undefined> {
  const {getObject} = await import('../kube/index.js')
  return getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: LITELLM_NAME, namespace})
}

export function notInstalled(namespace: string): NotFoundError {
  return new NotFoundError(`no gateway is installed in namespace ${namespace}`, {fix: 'run `aip gateway install` (or `aip cluster bootstrap --gateway`), or set gateway-namespace'})
}

/** The master key: the environment, else the Secret (never printed, never stored). */
export async function readMasterKey(client: KubeClient, namespace: string, env?: string, signal?: AbortSignal): Promise<string> {
  if (env) return env
  let secret: {data?: Record<string, string>}
  try {
    secret = await client.request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${MASTER_KEY_SECRET}`, {signal})
  } catch (error) {
    if (error instanceof NotFoundError) throw new NotFoundError(`the gateway's master key Secret ${namespace}/${MASTER_KEY_SECRET} does not exist`, {fix: 'run `aip gateway install` to create it, or set AIP_GATEWAY_MASTER_KEY'})
    if (error instanceof UnauthorizedError) throw new UnauthorizedError(`not allowed to read Secret ${namespace}/${MASTER_KEY_SECRET} (the gateway's master key)`, {fix: 'set AIP_GATEWAY_MASTER_KEY, or ask a cluster admin for "get secrets" in the gateway namespace'})
    throw error
  }
  const b64 = secret.data?.['master-key']
  if (!b64) throw new AipError('FAILED', `Secret ${namespace}/${MASTER_KEY_SECRET} has no "master-key"`, {fix: 'rerun `aip gateway install` (it keeps existing keys and adds missing ones)'})
  return Buffer.from(b64, 'base64').toString('utf8').trim()
}

/** The public URL from the Service's load balancer or the Gateway/HTTPRoute, if it has one yet. */
export async function publicUrl(client: KubeClient, namespace: string): Promise<string | undefined> {
  const {getObject, hasApiResource} = await import('../kube/index.js')
  const svc = await getObject(client, {apiVersion: 'v1', kind: 'Service', name: LITELLM_NAME, namespace})
  const spec = svc?.spec as {type?: string; ports?: Array<{port: number; name?: string}>} | undefined
  if (svc && spec?.type === 'LoadBalancer') {
    const ing = ((svc.status as {loadBalancer?: {ingress?: Array<{hostname?: string; ip?: string}>}} | undefined)?.loadBalancer?.ingress ?? [])[0]
    const host = ing?.hostname ?? ing?.ip
    if (!host) return undefined
    const port = spec.ports?.[0]?.port ?? 80
    return port === 443 ? `https://${host}` : port === 80 ? `http://${host}` : `http://${host}:${port}`
  }
  if (!(await hasApiResource(client, 'gateway.networking.k8s.io/v1', 'HTTPRoute'))) return undefined
  const route = await getObject(client, {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', name: LITELLM_NAME, namespace})
  const gw = await getObject(client, {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', name: LITELLM_NAME, namespace})
  const https = ((gw?.spec as {listeners?: Array<{protocol?: string}>} | undefined)?.listeners ?? []).some((l) => l.protocol === 'HTTPS')
  const host = (route?.spec as {hostnames?: string[]} | undefined)?.hostnames?.[0] ?? ((gw?.status as {addresses?: Array<{value?: string}>} | undefined)?.addresses ?? [])[0]?.value
  return host ? `${https ? 'https' : 'http'}://${host}` : undefined
}

function isReady(p: KubeObject): boolean {
  const s = p.status as {conditions?: Array<{type: string; status: string}>; podIP?: string} | undefined
  return !p.metadata.deletionTimestamp && Boolean(s?.podIP) && (s?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
}

/** Every ready LiteLLM pod, each with an admin client through the API server's pod proxy. */
export async function replicaAdmins(client: KubeClient, namespace: string, masterKey: string, opts: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<Replica[]> {
  const {listByLabels} = await import('../kube/index.js')
  const {kubeConfigFetch} = await import('../metrics/transport.js')
  const pods = await listByLabels(client, [{apiVersion: 'v1', kind: 'Pod'}], formatSelector(LITELLM_SELECTOR), {namespace, signal: opts.signal})
  const ready = pods.filter(isReady).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
  const fetch = await kubeConfigFetch(client.kubeConfig)
  return ready.map((p) => {
    const ep: AdminEndpoint = {
      base: `${client.server}/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(p.metadata.name)}:${LITELLM_PORT}/proxy`,
      fetch,
      describe: `pod ${namespace}/${p.metadata.name} (via the API server's pod proxy)`,
      keyHeader: 'x-litellm-api-key',
      unreachableFix: `check the pod: kubectl -n ${namespace} describe pod ${p.metadata.name}; it may be restarting`,
    }
    return {pod: p.metadata.name, admin: new LitellmAdmin(ep, masterKey, opts.timeoutMs)}
  })
}

/** Connects to an installed gateway; NotFoundError (exit 4) when none is installed. */
export async function connectGateway(opts: ConnectOptions): Promise<GatewayConnection> {
  const {client, namespace} = opts
  const dep = await gatewayDeployment(client, namespace)
  if (!dep) throw notInstalled(namespace)
  const masterKey = await readMasterKey(client, namespace, opts.masterKey, opts.signal)
  const replicas = (signal?: AbortSignal) => replicaAdmins(client, namespace, masterKey, {signal, timeoutMs: opts.timeoutMs})
  if (opts.url) {
    const base = opts.url.replace(/\/+$/, '')
    return {namespace, url: base, via: 'url', admin: new LitellmAdmin({base, fetch: (u, i) => fetch(u, i), describe: base}, masterKey, opts.timeoutMs), replicas}
  }
  const url = await publicUrl(client, namespace)
  if (url) return {namespace, url, via: 'public', admin: new LitellmAdmin({base: url, fetch: (u, i) => fetch(u, i), describe: url, unreachableFix: `check the load balancer (kubectl -n ${namespace} get svc ${LITELLM_NAME}), or pass --gateway-url with a port-forward`}, masterKey, opts.timeoutMs), replicas}
  // no address yet (the load balancer is provisioning): any replica takes admin writes (they go to
  // the shared database)
  const reps = await replicas(opts.signal)
  if (reps.length === 0) {
    throw new UnreachableError(`the gateway in ${namespace} has no public address and no ready replica`, {fix: `check it: aip gateway status; kubectl -n ${namespace} get pods`})
  }
  return {namespace, via: 'pod-proxy', admin: reps[0]!.admin, replicas}
}
