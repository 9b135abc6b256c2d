/** Plain JSON shapes of Kubernetes objects as aip handles them (no client-node model classes). */
export interface ObjectMeta {
  name: string
  namespace?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
  uid?: string
  resourceVersion?: string
  generation?: number
  creationTimestamp?: string
  deletionTimestamp?: string
  finalizers?: string[]
  ownerReferences?: Array<{apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean}>
  managedFields?: Array<Record<string, unknown>>
  [key: string]: unknown
}

export interface KubeObject {
  apiVersion: string
  kind: string
  metadata: ObjectMeta
  [key: string]: unknown
}

/** Enough to address one object. `namespace` is ignored for cluster-scoped kinds. */
export interface ObjectRef {
  apiVersion: string
  kind: string
  name: string
  namespace?: string
}

/** A kind, to list or watch. */
export interface KindRef {
  apiVersion: string
  kind: string
}

/** What discovery says about a kind. */
export interface ApiResourceInfo {
  apiVersion: string
  kind: string
  /** plural resource name (deployments) */
  name: string
  namespaced: boolean
  verbs: string[]
}

export interface WatchEvent<T = KubeObject> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'
  object: T
}

/** A Kubernetes `Status` body (errors). */
export interface KubeStatus {
  kind: 'Status'
  apiVersion: 'v1'
  status: 'Success' | 'Failure'
  message?: string
  reason?: string
  code?: number
  details?: {name?: string; group?: string; kind?: string; causes?: Array<{type?: string; message?: string; field?: string}>; retryAfterSeconds?: number}
}

/** `Kind/namespace/name` or `Kind/name`, as aip prints references. */
export function refString(ref: ObjectRef | KubeObject): string {
  const r = 'metadata' in ref ? {kind: ref.kind, name: ref.metadata.name, namespace: ref.metadata.namespace} : ref
  return r.namespace ? `${r.kind}/${r.namespace}/${r.name}` : `${r.kind}/${r.name}`
}

export function toRef(obj: KubeObject, defaultNamespace?: string): ObjectRef {
  return {apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace ?? defaultNamespace}
}
