/**
 * What exists: discovery of every listable kind (as `kubectl api-resources --verbs=list,delete`),
 * aip-managed objects across the cluster, and the full content of a namespace (to see objects
 * aip does not manage before deleting the namespace that holds them).
 */
import {MANAGED_BY_LABEL, MANAGED_BY_VALUE} from '../kube/labels.js'
import type {KubeClient} from '../kube/client.js'
import type {KubeObject} from '../kube/types.js'

export interface ListableKind {
  apiVersion: string
  kind: string
  plural: string
  namespaced: boolean
  group: string
}

/** Aggregated metrics APIs hold no objects; events are noise; leases/endpoints are controller bookkeeping. */
const SKIP_GROUPS = new Set(['metrics.k8s.io', 'external.metrics.k8s.io', 'custom.metrics.k8s.io', 'events.k8s.io'])
const SKIP_KINDS = new Set(['Event', 'Endpoints', 'EndpointSlice', 'Lease', 'ControllerRevision', 'ComponentStatus', 'Binding', 'TokenReview', 'SelfSubjectReview'])

interface ResourceList {
  resources?: Array<{name: string; kind: string; namespaced: boolean; verbs?: string[]}>
}

/** Every kind that can be listed and deleted, in its preferred version. */
export async function discoverKinds(client: KubeClient, signal?: AbortSignal): Promise<ListableKind[]> {
  const out: ListableKind[] = []
  const add = (apiVersion: string, group: string, list: ResourceList) => {
    for (const r of list.resources ?? []) {
      if (r.name.includes('/')) continue
      const verbs = r.verbs ?? []
      if (!verbs.includes('list') || !verbs.includes('delete')) continue
      if (SKIP_KINDS.has(r.kind)) continue
      out.push({apiVersion, kind: r.kind, plural: r.name, namespaced: r.namespaced, group})
    }
  }
  add('v1', '', await client.request<ResourceList>('GET', '/api/v1', {signal}))
  const groups = await client.request<{groups?: Array<{name: string; preferredVersion?: {groupVersion: string}; versions?: Array<{groupVersion: string}>}>}>('GET', '/apis', {signal})
  const lists = await Promise.all(
    (groups.groups ?? [])
      .filter((g) => !SKIP_GROUPS.has(g.name))
      .map(async (g) => {
        const gv = g.preferredVersion?.groupVersion ?? g.versions?.[0]?.groupVersion
        if (!gv) return undefined
        try {
          return {gv, group: g.name, list: await client.request<ResourceList>('GET', `/apis/${gv}`, {signal})}
        } catch {
          return undefined // an aggregated API that is down: nothing we can list there
        }
      }),
  )
  for (const l of lists) if (l) add(l.gv, l.group, l.list)
  return out
}

function collectionPath(k: ListableKind, namespace?: string): string {
  const base = k.apiVersion.includes('/') ? `/apis/${k.apiVersion}` : `/api/${k.apiVersion}`
  return namespace && k.namespaced ? `${base}/namespaces/${encodeURIComponent(namespace)}/${k.plural}` : `${base}/${k.plural}`
}

async function listKind(client: KubeClient, k: ListableKind, opts: {namespace?: string; labelSelector?: string; signal?: AbortSignal}): Promise<KubeObject[]> {
  try {
    const list = await client.request<{items?: KubeObject[]}>('GET', collectionPath(k, opts.namespace), {query: {labelSelector: opts.labelSelector}, signal: opts.signal})
    return (list.items ?? []).map((o) => ({...o, apiVersion: k.apiVersion, kind: k.kind}))
  } catch (error) {
    // a kind we may not list (RBAC) or that vanished (CRD removed meanwhile): nothing to act on
    const name = (error as Error).name
    if (name === 'UnauthorizedError' || name === 'NotFoundError') return []
    throw error
  }
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  await Promise.all(
    Array.from({length: Math.min(limit, items.length)}, async () => {
      while (next < items.length) {
        const i = next++
        out[i] = await fn(items[i]!)
      }
    }),
  )
  return out
}

/** Every object labelled app.kubernetes.io/managed-by=aip, cluster-wide. */
export async function listManaged(client: KubeClient, kinds: ListableKind[], signal?: AbortSignal): Promise<KubeObject[]> {
  const sel = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`
  const lists = await mapLimited(kinds, 8, (k) => listKind(client, k, {labelSelector: sel, signal}))
  return lists.flat()
}

/** Every object of any kind in one namespace. */
export async function listNamespaceContent(client: KubeClient, kinds: ListableKind[], namespace: string, signal?: AbortSignal): Promise<KubeObject[]> {
  const lists = await mapLimited(
    kinds.filter((k) => k.namespaced),
    8,
    (k) => listKind(client, k, {namespace, signal}),
  )
  return lists.flat()
}

/** Every object of listed kinds cluster-wide (e.g. all LoadBalancer Services with --cluster). */
export async function listAllOf(client: KubeClient, kinds: ListableKind[], signal?: AbortSignal): Promise<KubeObject[]> {
  const lists = await mapLimited(kinds, 8, (k) => listKind(client, k, {signal}))
  return lists.flat()
}

export function isManaged(o: KubeObject): boolean {
  return o.metadata.labels?.[MANAGED_BY_LABEL] === MANAGED_BY_VALUE
}

/**
 * Objects Kubernetes creates by itself in every namespace, or that controllers own: they go with
 * their owner or namespace and are no reason to keep a namespace.
 */
export function isBookkeeping(o: KubeObject): boolean {
  if ((o.metadata.ownerReferences ?? []).length > 0) return true
  if (o.kind === 'ServiceAccount' && o.metadata.name === 'default') return true
  if (o.kind === 'ConfigMap' && o.metadata.name === 'kube-root-ca.crt') return true
  if (o.kind === 'Secret' && (o as {type?: string}).type === 'kubernetes.io/service-account-token') return true
  return false
}
