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
  /** discovery categories (e.g. ['all']) */
  categories?: string[]
  /** the version's openAPIV3Schema; default: preserve unknown fields (then a packaged validator of the kind applies, if one ships) */
  schema?: Record<string, any>
}

/** What the kubelet does with a Deployment's pods once the scheduler bound them to a node (scheduling itself is real: scheduler.mjs). */
export type DeploymentBehavior =
  | {mode: 'ready'; readyDelayMs?: number}
  | {mode: 'ImagePullBackOff' | 'ErrImagePull'; delayMs?: number; image?: string}
  | {mode: 'CrashLoopBackOff'; delayMs?: number; restartCount?: number; exitCode?: number}
  | {mode: 'OOMKilled'; delayMs?: number; restartCount?: number}
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
  /** the admin's bearer token (group system:masters), written into the kubeconfig (default: a random one); unknown tokens get 401 */
  token?: string
  /** more users: token -> user name and groups (bind them to roles with RBAC objects, or use api.addUser) */
  users?: Array<{token: string; name: string; groups?: string[]}>
  /** requests without a token are system:anonymous (RBAC then allows only /version, /healthz...) instead of 401 (default false) */
  anonymousAuth?: boolean
  /** create the bootstrap ClusterRoles/Bindings (cluster-admin, admin, edit, view, system:discovery...) (default true) */
  rbac?: boolean
  /** serve HTTPS with a generated CA written into the kubeconfig (default true); false: plain http */
  tls?: boolean
  /** Nodes registered at start (fixtures: nodes.mjs); without a fitting node pods stay Pending (FailedScheduling) */
  nodes?: KObject[]
  /** kubelet timings: image pull and container start (default 5 ms each); readiness follows after the behaviour's readyDelayMs */
  kubelet?: {pullMs?: number; startMs?: number}
  /** milliseconds one simulated second lasts, for termination grace periods (default 1: the default 30 s grace takes 30 ms) */
  timeScaleMs?: number
  /** namespaces that exist at start (default ['default', 'kube-system', 'kube-public']) */
  namespaces?: string[]
  /** default deployment behaviour (default {mode:'ready', readyDelayMs: 20}) */
  deploymentBehavior?: DeploymentBehavior
  /** default job behaviour (default {outcome:'succeed', delayMs: 20}): how long the Job's pod runs once started, and how it ends */
  jobBehavior?: JobBehavior
  /** delay before the simulated cloud controller clears the LB finalizer of a deleted Service (default 20) */
  lbCleanupDelayMs?: number
  /** no load balancer controller: LoadBalancer Services never get an address (EKS with untagged subnets, no controller) */
  noLoadBalancerController?: boolean
  /** watch event history kept for resume (default 1000 events); older resourceVersions get 410 */
  historyLimit?: number
  /** watch event history also expires by age, as etcd compaction does (default 300000 ms, kube-apiserver's --etcd-compaction-interval) */
  historyTtlMs?: number
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

export interface UserSpec {
  name: string
  /** default: a random token */
  token?: string
  groups?: string[]
  /** ClusterRoleBindings to these ClusterRoles (e.g. ['view'] for a read-only user) */
  clusterRoles?: string[]
  /** RoleBindings in a namespace to ClusterRoles (e.g. {'team-a': 'edit'}) */
  namespaceRoles?: Record<string, string | string[]>
  /** namespace of the kubeconfig context written for the user */
  namespace?: string
}

export interface KubeApiServer {
  /** https://127.0.0.1:PORT (http:// with tls: false) */
  url: string
  port: number
  /** a kubeconfig file (cluster with certificate-authority-data, the admin's token, context) in a temp dir */
  kubeconfigPath: string
  contextName: string
  /** the admin's token (group system:masters) */
  token: string
  /** base64 PEM of the cluster CA (certificate-authority-data), as DescribeCluster returns it; undefined with tls: false */
  caData?: string
  caCert?: string
  /** fetch() with the cluster CA trusted and the admin's token (init.token: another one, or null for none) */
  fetch(pathOrUrl: string, init?: RequestInit & {token?: string | null}): Promise<Response>
  /** register a Node (fixtures: nodes.mjs); pending pods are retried */
  addNode(node: KObject): KObject
  removeNode(name: string): void
  /** a user with a token, bound to roles; returns its token and a kubeconfig for it */
  addUser(u: UserSpec): {token: string; kubeconfigPath: string; name: string; groups: string[]}
  /** accept a token for a user (e.g. the one a test `aws eks get-token` prints) */
  addToken(token: string, user: {name: string; groups?: string[]}): void
  /** write a kubeconfig for this server: the admin's token, another token, or an exec plugin */
  writeKubeconfig(path: string, o?: {token?: string; user?: string; namespace?: string; exec?: {command: string; args?: string[]}}): string
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
