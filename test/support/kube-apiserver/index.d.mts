/** Types of the loopback Kubernetes API server (index.mjs, plain JS so benches can import it). */

export interface KObject {
  apiVersion: string
  kind: string
  metadata: {name: string; namespace?: string; [k: string]: any}
  [k: string]: any
}

export interface CrdSpec {
  group: string
  version: string
  kind: string
  /** default: lower-case kind + 's' */
  plural?: string
  /** default true */
  namespaced?: boolean
  shortNames?: string[]
}

export type DeploymentBehavior =
  | {mode: 'ready'; readyDelayMs?: number}
  | {mode: 'ImagePullBackOff' | 'ErrImagePull'; delayMs?: number; image?: string}
  | {mode: 'CrashLoopBackOff'; delayMs?: number; restartCount?: number; exitCode?: number}
  | {mode: 'OOMKilled'; delayMs?: number; restartCount?: number}
  | {mode: 'Unschedulable'; delayMs?: number; message?: string}
  | {mode: 'none'}

export interface JobBehavior {
  outcome: 'succeed' | 'fail'
  delayMs?: number
  /** terminated message of the failing pod */
  message?: string
  exitCode?: number
}

export interface RequestRecord {
  method: string
  path: string
  query: Record<string, string>
  status: number
  contentType?: string
  watch: boolean
  at: number
}

export interface RequestMatch {
  method?: string
  /** prefix of the URL path (no query) */
  pathPrefix?: string
  /** regular expression tested against the path */
  path?: RegExp
  /** match watch requests only (true) or non-watch only (false) */
  watch?: boolean
  test?: (r: {method: string; path: string; query: Record<string, string>}) => boolean
}

export interface StartOptions {
  /** default 0 (any free port) */
  port?: number
  /** kubeconfig context/cluster/user name (default 'aip-test') */
  contextName?: string
  /** namespace written into the kubeconfig context (default: none) */
  contextNamespace?: string
  /** bearer token written into the kubeconfig; when set, other tokens get 401 */
  token?: string
  /** namespaces that exist at start (default ['default', 'kube-system', 'kube-public']) */
  namespaces?: string[]
  /** default deployment behaviour (default {mode:'ready', readyDelayMs: 20}) */
  deploymentBehavior?: DeploymentBehavior
  /** default job behaviour (default {outcome:'succeed', delayMs: 20}) */
  jobBehavior?: JobBehavior
  /** delay before the simulated cloud controller clears the LB finalizer of a deleted Service (default 20) */
  lbCleanupDelayMs?: number
  /** watch event history kept for resume (default 1000 events); older resourceVersions get 410 */
  historyLimit?: number
  /** interval of BOOKMARK events on watches with allowWatchBookmarks=true (default 1000 ms) */
  bookmarkIntervalMs?: number
  /** run the simulated controllers (default true) */
  controllers?: boolean
}

export interface Faults {
  /** the next `count` matching requests answer `status` (429 sets Retry-After: retryAfterSeconds, default 1) */
  failNext(count: number, opts: {status: number; retryAfterSeconds?: number; match?: RequestMatch; reason?: string; message?: string}): void
  /** the next `count` matching requests get their connection destroyed (ECONNRESET) */
  dropNext(count: number, match?: RequestMatch): void
  /** end every open watch stream abruptly (client sees a dropped connection) */
  dropWatches(): void
  /** 403 Forbidden for a verb (get, list, watch, create, update, patch, delete, deletecollection, or '*') on a resource (plural, e.g. 'deployments', or '*') in a namespace (or everywhere) */
  forbid(rule: {verb: string; resource: string; namespace?: string; user?: string}): void
  /** answer 401 Unauthorized to everything */
  unauthorized(on: boolean): void
  /** mark a webhook service unreachable: webhook configurations pointing at it fail matching requests (failurePolicy Fail) */
  webhookUnreachable(serviceNamespace: string, serviceName: string, on?: boolean): void
  /** remove every fault */
  clear(): void
}

export interface Store {
  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KObject | undefined
  list(apiVersion: string, kind: string, namespace?: string): KObject[]
  /** create or replace (bumps resourceVersion, emits watch events, runs no admission) */
  put(obj: KObject): KObject
  /** merge status into an object (as a controller's status update) */
  setStatus(apiVersion: string, kind: string, namespace: string | undefined, name: string, status: Record<string, any>): KObject | undefined
  /** remove finalizers (all, or the named one) as a controller does; completes a pending delete */
  removeFinalizer(apiVersion: string, kind: string, namespace: string | undefined, name: string, finalizer?: string): void
  /** delete as the API would (finalizers respected, GC of dependents) */
  remove(apiVersion: string, kind: string, namespace: string | undefined, name: string, propagationPolicy?: 'Background' | 'Foreground' | 'Orphan'): void
  /** the current global resourceVersion */
  resourceVersion(): number
  /** every stored object */
  all(): KObject[]
}

export interface KubeApiServer {
  url: string
  port: number
  /** a kubeconfig file (cluster + user + context) in a temp dir */
  kubeconfigPath: string
  contextName: string
  store: Store
  faults: Faults
  /** every request answered, in order */
  requests: RequestRecord[]
  clearRequests(): void
  /** serve a CRD: discovery, CRUD, watch; also stores the CustomResourceDefinition object (Established) */
  registerCrd(spec: CrdSpec): KObject
  unregisterCrd(group: string, kind: string): void
  /** behaviour of Deployments named `name` (or '*' for all) in namespace (or '*') */
  setDeploymentBehavior(namespace: string, name: string, b: DeploymentBehavior): void
  setJobBehavior(namespace: string, name: string, b: JobBehavior): void
  /** container log text for pods whose name starts with podPrefix */
  setPodLogs(namespace: string, podPrefix: string, text: string): void
  /** where the service proxy sends requests for Service `name` port `port` (name or number): a loopback URL */
  setServiceBackend(namespace: string, name: string, port: string | number, target: string): void
  /** where the pod proxy sends requests for pod `name` port `port` (number): a loopback URL */
  setPodBackend(namespace: string, name: string, port: string | number, target: string): void
  /** simulated controller: clear `finalizer` from objects of `kind` after delayMs once they are being deleted */
  clearFinalizerAfter(kind: string, finalizer: string, delayMs: number): void
  /** never clear `finalizer` on `kind` (overrides the built-in LB cleanup too) */
  stuckFinalizer(kind: string, finalizer: string, on?: boolean): void
  /** resolve when `cond` holds for an object, checked on every change */
  waitFor(pred: (store: Store) => boolean, timeoutMs?: number): Promise<void>
  /** forget the watch history (as etcd compaction): watches from an older resourceVersion get 410 Expired */
  compact(): void
  /** close the listener and every connection; the store is kept (API server goes away) */
  goDown(): Promise<void>
  /** listen again on the same port */
  comeBack(): Promise<void>
  stop(): Promise<void>
}

export function startKubeApiServer(opts?: StartOptions): Promise<KubeApiServer>
