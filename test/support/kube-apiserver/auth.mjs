// Authentication and authorization of the loopback API server, as an EKS control plane does them.
//  - Authentication (staging/src/k8s.io/apiserver/pkg/authentication): a bearer token maps to a
//    user (name, groups). A request whose token is unknown is 401 Unauthorized, with the Status body
//    kube-apiserver writes (handlers/responsewriters: message "Unauthorized", reason Unauthorized).
//    A request without credentials is anonymous (system:anonymous, group system:unauthenticated)
//    when anonymous auth is on, else 401 too. EKS tokens (`aws eks get-token`: "k8s-aws-v1." + a
//    presigned STS GetCallerIdentity URL) are tokens like any other here: register the one the test
//    `aws` script prints.
//  - Authorization (plugin/pkg/auth/authorizer/rbac): the group system:masters may do anything;
//    everyone else gets what the RBAC objects in the store grant: ClusterRoleBindings (cluster-wide)
//    and RoleBindings (their namespace) to Roles/ClusterRoles, matched by verb, API group, resource
//    (and resource/subresource), resourceName, or nonResourceURL. The bootstrap ClusterRoles
//    (cluster-admin, admin, edit, view, system:discovery, system:public-info-viewer) are created at
//    start, reduced to the resources aip touches. A denial is 403 Forbidden with the message of
//    responsewriters.forbiddenMessage wrapped by apierrors.NewForbidden:
//      deployments.apps "x" is forbidden: User "u" cannot create resource "deployments" in API group "apps" in the namespace "ns"
import {randomBytes} from 'node:crypto'

const READ = ['get', 'list', 'watch']
const WRITE = ['create', 'delete', 'deletecollection', 'patch', 'update']

// bootstrap policy (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go), reduced to the
// groups and resources this server serves
const VIEW_RULES = [
  {apiGroups: [''], resources: ['configmaps', 'endpoints', 'persistentvolumeclaims', 'persistentvolumeclaims/status', 'pods', 'pods/log', 'pods/status', 'replicationcontrollers', 'services', 'services/status', 'serviceaccounts', 'resourcequotas', 'resourcequotas/status', 'limitranges', 'events', 'namespaces', 'namespaces/status'], verbs: READ},
  {apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'deployments/status', 'replicasets', 'replicasets/scale', 'replicasets/status', 'statefulsets', 'statefulsets/scale', 'statefulsets/status', 'daemonsets', 'daemonsets/status'], verbs: READ},
  {apiGroups: ['batch'], resources: ['jobs', 'jobs/status', 'cronjobs', 'cronjobs/status'], verbs: READ},
  {apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers', 'horizontalpodautoscalers/status'], verbs: READ},
  {apiGroups: ['policy'], resources: ['poddisruptionbudgets', 'poddisruptionbudgets/status'], verbs: READ},
  {apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses', 'ingresses/status'], verbs: READ},
  {apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: READ},
]
const EDIT_RULES = [
  {apiGroups: [''], resources: ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'pods/eviction', 'configmaps', 'endpoints', 'persistentvolumeclaims', 'replicationcontrollers', 'replicationcontrollers/scale', 'secrets', 'serviceaccounts', 'services', 'services/proxy'], verbs: WRITE},
  {apiGroups: [''], resources: ['secrets', 'services/proxy', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy'], verbs: READ},
  {apiGroups: ['apps'], resources: ['deployments', 'deployments/scale', 'replicasets', 'replicasets/scale', 'statefulsets', 'statefulsets/scale', 'daemonsets'], verbs: WRITE},
  {apiGroups: ['batch'], resources: ['jobs', 'cronjobs'], verbs: WRITE},
  {apiGroups: ['autoscaling'], resources: ['horizontalpodautoscalers'], verbs: WRITE},
  {apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: WRITE},
  {apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: WRITE},
  {apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: WRITE},
  ...VIEW_RULES,
]
const ADMIN_RULES = [{apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: [...READ, ...WRITE]}, {apiGroups: ['authorization.k8s.io'], resources: ['localsubjectaccessreviews'], verbs: ['create']}, ...EDIT_RULES]

const bootstrapLabels = {'kubernetes.io/bootstrapping': 'rbac-defaults'}
const clusterRole = (name, rules, extraLabels = {}) => ({apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: {name, labels: {...bootstrapLabels, ...extraLabels}, annotations: {'rbac.authorization.kubernetes.io/autoupdate': 'true'}}, rules})
const binding = (name, role, subjects) => ({apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: {name, labels: bootstrapLabels, annotations: {'rbac.authorization.kubernetes.io/autoupdate': 'true'}}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role}, subjects})
const group = (name) => ({apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name})

/** The RBAC objects a new cluster has (what `kubectl get clusterroles` lists first on EKS). */
export function bootstrapPolicy() {
  return [
    clusterRole('cluster-admin', [{apiGroups: ['*'], resources: ['*'], verbs: ['*']}, {nonResourceURLs: ['*'], verbs: ['*']}]),
    clusterRole('admin', ADMIN_RULES, {'kubernetes.io/bootstrapping': 'rbac-defaults'}),
    clusterRole('edit', EDIT_RULES, {'rbac.authorization.k8s.io/aggregate-to-admin': 'true'}),
    clusterRole('view', VIEW_RULES, {'rbac.authorization.k8s.io/aggregate-to-edit': 'true'}),
    clusterRole('system:discovery', [{nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'], verbs: ['get']}]),
    clusterRole('system:public-info-viewer', [{nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get']}]),
    binding('cluster-admin', 'cluster-admin', [group('system:masters')]),
    binding('system:discovery', 'system:discovery', [group('system:authenticated')]),
    binding('system:public-info-viewer', 'system:public-info-viewer', [group('system:authenticated'), group('system:unauthenticated')]),
  ]
}

export const ADMIN_USER = 'kubernetes-admin'

export class Auth {
  /**
   * @param {any} server the KubeApiServer (store access)
   * @param {{token?: string, anonymousAuth?: boolean, users?: Array<{token: string, name: string, groups?: string[]}>}} opts
   */
  constructor(server, opts) {
    this.s = server
    this.anonymous = opts.anonymousAuth ?? false
    this.tokens = new Map()
    // the cluster creator: EKS maps it to system:masters (access entry with AmazonEKSClusterAdminPolicy)
    this.adminToken = opts.token ?? `aip-loopback-${randomBytes(12).toString('hex')}`
    this.addUser({token: this.adminToken, name: ADMIN_USER, groups: ['system:masters']})
    for (const u of opts.users ?? []) this.addUser(u)
  }

  addUser(u) {
    if (!u.token) throw new Error('a user needs a token')
    const user = {name: u.name, groups: [...new Set([...(u.groups ?? []), 'system:authenticated'])]}
    this.tokens.set(u.token, user)
    return user
  }

  removeToken(token) {
    this.tokens.delete(token)
  }

  /** The user of a request; null for 401 (a bad token, or no token without anonymous auth). */
  authenticate(req) {
    const h = req.headers.authorization
    if (!h) return this.anonymous ? {name: 'system:anonymous', groups: ['system:unauthenticated']} : null
    const m = /^Bearer\s+(\S+)\s*$/i.exec(h)
    if (!m) return null
    return this.tokens.get(m[1]) ?? null
  }

  /** The rules that apply to a user in a namespace (cluster-wide bindings, plus the namespace's RoleBindings). */
  rulesFor(user, ns) {
    const rb = (kind) => this.s.byKind('rbac.authorization.k8s.io/v1', kind)
    const subjectMatches = (s) => (s.kind === 'User' && s.name === user.name) || (s.kind === 'Group' && user.groups.includes(s.name)) || (s.kind === 'ServiceAccount' && user.name === `system:serviceaccount:${s.namespace}:${s.name}`)
    const roleRules = (ref, bindingNs) => {
      if (ref.kind === 'ClusterRole') return this.s.store.getR(rb('ClusterRole'), undefined, ref.name)?.rules ?? []
      return this.s.store.getR(rb('Role'), bindingNs, ref.name)?.rules ?? []
    }
    const rules = []
    for (const b of this.s.store.listR(rb('ClusterRoleBinding'))) if ((b.subjects ?? []).some(subjectMatches)) rules.push(...roleRules(b.roleRef ?? {}))
    if (ns) for (const b of this.s.store.listR(rb('RoleBinding'), ns)) if ((b.subjects ?? []).some(subjectMatches)) rules.push(...roleRules(b.roleRef ?? {}, ns))
    return rules
  }

  /**
   * @param {{name: string, groups: string[]}} user
   * @param {{verb: string, group?: string, resource?: string, subresource?: string, namespace?: string, name?: string, path?: string}} a
   */
  allowed(user, a) {
    if (user.groups.includes('system:masters')) return true
    const rules = this.rulesFor(user, a.resource ? a.namespace : undefined)
    const verbOk = (r) => (r.verbs ?? []).some((v) => v === '*' || v === a.verb)
    if (!a.resource) {
      return rules.some((r) => verbOk(r) && (r.nonResourceURLs ?? []).some((u) => u === '*' || u === a.path || (u.endsWith('*') && a.path.startsWith(u.slice(0, -1)))))
    }
    const full = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
    return rules.some(
      (r) =>
        verbOk(r) &&
        (r.apiGroups ?? []).some((g) => g === '*' || g === a.group) &&
        (r.resources ?? []).some((x) => x === '*' || x === full || (a.subresource && x === `*/${a.subresource}`)) &&
        (!(r.resourceNames ?? []).length || (a.name && r.resourceNames.includes(a.name))),
    )
  }

  /** responsewriters.forbiddenMessage, as NewForbidden wraps it. */
  forbiddenMessage(user, a) {
    if (!a.resource) return `forbidden: User "${user.name}" cannot ${a.verb} path "${a.path}"`
    const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource
    const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope'
    const qualified = a.group ? `${a.resource}.${a.group}` : a.resource
    return `${qualified}${a.name ? ` "${a.name}"` : ''} is forbidden: User "${user.name}" cannot ${a.verb} resource "${res}" in API group "${a.group ?? ''}" ${scope}`
  }
}
