import {NotFoundError} from '../errors.js'
import type {KubeClient} from './client.js'
import {formatSelector} from './labels.js'
import type {KindRef, KubeObject, ObjectRef} from './types.js'
import {refString} from './types.js'

export interface ListOptions {
  /** Namespace for namespaced kinds (default: the client's namespace). */
  namespace?: string
  /** List namespaced kinds across all namespaces. */
  allNamespaces?: boolean
  fieldSelector?: string
  signal?: AbortSignal
}

/**
 * Lists objects of several kinds matching a label selector. Kinds the API server does not serve
 * (a CRD that is not installed) are skipped. Items get their apiVersion/kind filled in (list
 * responses omit them).
 */
export async function listByLabels(client: KubeClient, kinds: KindRef[], selector: string | Record<string, string>, opts: ListOptions = {}): Promise<KubeObject[]> {
  const labelSelector = formatSelector(selector)
  const lists = await Promise.all(
    kinds.map(async (k) => {
      const r = await client.resourceFor(k.apiVersion, k.kind)
      if (!r) return []
      const base = k.apiVersion.includes('/') ? `/apis/${k.apiVersion}` : `/api/${k.apiVersion}`
      const path = r.namespaced && !opts.allNamespaces ? `${base}/namespaces/${encodeURIComponent(opts.namespace ?? client.namespace)}/${r.name}` : `${base}/${r.name}`
      const list = await client.request<{items?: KubeObject[]}>('GET', path, {query: {labelSelector: labelSelector || undefined, fieldSelector: opts.fieldSelector}, signal: opts.signal})
      return (list.items ?? []).map((o) => ({...o, apiVersion: k.apiVersion, kind: k.kind}))
    }),
  )
  return lists.flat()
}

export type PropagationPolicy = 'Background' | 'Foreground' | 'Orphan'

export interface DeleteOptions {
  /** Default Background (dependents such as a Job's pods are collected). */
  propagationPolicy?: PropagationPolicy
  dryRun?: 'server'
  gracePeriodSeconds?: number
  signal?: AbortSignal
  /** Called after each object. */
  onProgress?: (r: DeleteResult) => void
}

export interface DeleteResult {
  ref: ObjectRef
  /** deleted: the API server accepted the delete (it may still be finalizing); not-found: already gone or kind not served. */
  result: 'deleted' | 'not-found'
  /** Set when the object is held by finalizers after the delete call. */
  finalizers?: string[]
}

/** Deletes objects one after the other, in the given order (the caller orders teardown phases). */
export async function deleteObjects(client: KubeClient, targets: Array<ObjectRef | KubeObject>, opts: DeleteOptions = {}): Promise<DeleteResult[]> {
  const out: DeleteResult[] = []
  for (const t of targets) {
    const ref: ObjectRef = 'metadata' in t ? {apiVersion: t.apiVersion, kind: t.kind, name: t.metadata.name, namespace: t.metadata.namespace} : t
    let res: DeleteResult
    const r = await client.resourceFor(ref.apiVersion, ref.kind)
    if (!r) {
      res = {ref, result: 'not-found'}
    } else {
      const full = {...ref, namespace: r.namespaced ? ref.namespace ?? client.namespace : undefined}
      try {
        const body = await client.request<KubeObject | {kind: 'Status'}>('DELETE', await client.pathFor(full), {
          query: {dryRun: opts.dryRun ? 'All' : undefined, gracePeriodSeconds: opts.gracePeriodSeconds},
          body: {kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: opts.propagationPolicy ?? 'Background'},
          signal: opts.signal,
        })
        const fin = body && 'metadata' in body ? (body as KubeObject).metadata.finalizers : undefined
        res = {ref: full, result: 'deleted', ...(fin && fin.length ? {finalizers: fin} : {})}
      } catch (error) {
        if (error instanceof NotFoundError) res = {ref: full, result: 'not-found'}
        else throw error
      }
    }
    opts.onProgress?.(res)
    out.push(res)
  }
  return out
}

export {refString}

export type PatchType = 'merge' | 'strategic' | 'json'
const PATCH_CONTENT: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
}

/** A non-apply patch (merge by default), e.g. `{metadata: {finalizers: null}}` to release a stuck object. */
export async function patchObject<T extends KubeObject = KubeObject>(client: KubeClient, ref: ObjectRef, patch: unknown, opts: {type?: PatchType; fieldManager?: string; dryRun?: 'server'; signal?: AbortSignal} = {}): Promise<T> {
  const r = await client.resourceFor(ref.apiVersion, ref.kind)
  const full = {...ref, namespace: r?.namespaced ? ref.namespace ?? client.namespace : undefined}
  return client.request<T>('PATCH', await client.pathFor(full), {
    body: patch,
    contentType: PATCH_CONTENT[opts.type ?? 'merge'],
    query: {fieldManager: opts.fieldManager, dryRun: opts.dryRun ? 'All' : undefined},
    signal: opts.signal,
  })
}

/** Container logs of a pod (the last `tailLines` lines; `previous` for the crashed instance). */
export async function readPodLogs(client: KubeClient, pod: {name: string; namespace?: string}, opts: {container?: string; tailLines?: number; previous?: boolean; signal?: AbortSignal} = {}): Promise<string[]> {
  const text = await client.request<string>('GET', `/api/v1/namespaces/${encodeURIComponent(pod.namespace ?? client.namespace)}/pods/${encodeURIComponent(pod.name)}/log`, {
    query: {container: opts.container, tailLines: opts.tailLines, previous: opts.previous ? 'true' : undefined},
    text: true,
    signal: opts.signal,
  })
  return text === '' ? [] : text.replace(/\n$/, '').split('\n')
}
