// Built-in resources the loopback API server serves, as discovery lists them
// (`kubectl api-resources` on a 1.31 cluster, reduced to what aip touches). `categories` are the
// discovery categories (`kubectl get all` lists the resources in category "all").
const RW = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']

/** @type {Array<{group: string, version: string, kind: string, plural: string, namespaced: boolean, shortNames?: string[], subresources?: string[], verbs?: string[]}>} */
export const BUILTIN = [
  {group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'], subresources: ['status', 'finalize'], verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']},
  {group: '', version: 'v1', kind: 'Pod', plural: 'pods', categories: ['all'], namespaced: true, shortNames: ['po'], subresources: ['status', 'log']},
  {group: '', version: 'v1', kind: 'Service', plural: 'services', categories: ['all'], namespaced: true, shortNames: ['svc'], subresources: ['status'], verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']},
  {group: '', version: 'v1', kind: 'ServiceAccount', plural: 'serviceaccounts', namespaced: true, shortNames: ['sa']},
  {group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm']},
  {group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true},
  {group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev']},
  {group: '', version: 'v1', kind: 'ResourceQuota', plural: 'resourcequotas', namespaced: true, shortNames: ['quota'], subresources: ['status']},
  {group: '', version: 'v1', kind: 'LimitRange', plural: 'limitranges', namespaced: true, shortNames: ['limits']},
  {group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'], subresources: ['status']},
  {group: '', version: 'v1', kind: 'PersistentVolumeClaim', plural: 'persistentvolumeclaims', namespaced: true, shortNames: ['pvc'], subresources: ['status']},
  {group: '', version: 'v1', kind: 'PersistentVolume', plural: 'persistentvolumes', namespaced: false, shortNames: ['pv'], subresources: ['status']},
  {group: '', version: 'v1', kind: 'Endpoints', plural: 'endpoints', namespaced: true, shortNames: ['ep']},
  {group: 'apps', version: 'v1', kind: 'Deployment', plural: 'deployments', categories: ['all'], namespaced: true, shortNames: ['deploy'], subresources: ['status', 'scale']},
  {group: 'apps', version: 'v1', kind: 'ReplicaSet', plural: 'replicasets', categories: ['all'], namespaced: true, shortNames: ['rs'], subresources: ['status', 'scale']},
  {group: 'apps', version: 'v1', kind: 'StatefulSet', plural: 'statefulsets', categories: ['all'], namespaced: true, shortNames: ['sts'], subresources: ['status', 'scale']},
  {group: 'apps', version: 'v1', kind: 'DaemonSet', plural: 'daemonsets', categories: ['all'], namespaced: true, shortNames: ['ds'], subresources: ['status']},
  {group: 'batch', version: 'v1', kind: 'Job', plural: 'jobs', categories: ['all'], namespaced: true, subresources: ['status']},
  {group: 'networking.k8s.io', version: 'v1', kind: 'NetworkPolicy', plural: 'networkpolicies', namespaced: true, shortNames: ['netpol']},
  {group: 'policy', version: 'v1', kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets', namespaced: true, shortNames: ['pdb'], subresources: ['status']},
  {group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role', plural: 'roles', namespaced: true},
  {group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding', plural: 'rolebindings', namespaced: true},
  {group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole', plural: 'clusterroles', namespaced: false},
  {group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding', plural: 'clusterrolebindings', namespaced: false},
  {group: 'autoscaling', version: 'v2', kind: 'HorizontalPodAutoscaler', plural: 'horizontalpodautoscalers', categories: ['all'], namespaced: true, shortNames: ['hpa'], subresources: ['status']},
  {group: 'admissionregistration.k8s.io', version: 'v1', kind: 'ValidatingWebhookConfiguration', plural: 'validatingwebhookconfigurations', categories: ['api-extensions'], namespaced: false},
  {group: 'admissionregistration.k8s.io', version: 'v1', kind: 'MutatingWebhookConfiguration', plural: 'mutatingwebhookconfigurations', categories: ['api-extensions'], namespaced: false},
  {group: 'apiregistration.k8s.io', version: 'v1', kind: 'APIService', plural: 'apiservices', categories: ['api-extensions'], namespaced: false, subresources: ['status']},
  {group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', categories: ['api-extensions'], namespaced: false, shortNames: ['crd', 'crds'], subresources: ['status']},
  {group: 'storage.k8s.io', version: 'v1', kind: 'StorageClass', plural: 'storageclasses', namespaced: false, shortNames: ['sc']},
  {group: 'storage.k8s.io', version: 'v1', kind: 'CSIDriver', plural: 'csidrivers', namespaced: false},
  {group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true},
].map((r) => ({verbs: RW, subresources: [], shortNames: [], categories: [], ...r}))

export {RW}
