// Server defaults that clients see on the objects they read back (and in a server-side dry run's
// result, so `kubectl diff`/`aip --diff` must not show them as changes). They follow:
//  - pkg/apis/core/v1/defaults.go: SetDefaults_PodSpec, _Pod, _Container, _ContainerPort, _Probe,
//    _HTTPGetAction, _Volume, _SecretVolumeSource, _ConfigMapVolumeSource, _Service, _EnvVar
//    (ObjectFieldSelector), _PersistentVolumeClaimSpec;
//  - pkg/apis/apps/v1/defaults.go: SetDefaults_Deployment, _StatefulSet, _DaemonSet;
//  - pkg/apis/batch/v1/defaults.go: SetDefaults_Job;
//  - the registry strategies (PrepareForCreate): Job selector and labels
//    (pkg/registry/batch/job/strategy.go generateSelector), Service clusterIP allocation and
//    ipFamilies (pkg/registry/core/service/storage/alloc.go), nodePort allocation.
import {randomInt} from 'node:crypto'

import {isMap} from './patch.mjs'

const obj = (o, k) => (isMap(o[k]) ? o[k] : (o[k] = {}))

/** imagePullPolicy: Always for `:latest` or no tag, else IfNotPresent (a digest counts as a tag). */
function pullPolicy(image) {
  if (typeof image !== 'string') return 'IfNotPresent'
  if (image.includes('@')) return 'IfNotPresent'
  const last = image.split('/').pop()
  const tag = last.includes(':') ? last.split(':').pop() : ''
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent'
}

function probe(p) {
  if (!isMap(p)) return
  p.timeoutSeconds ??= 1
  p.periodSeconds ??= 10
  p.successThreshold ??= 1
  p.failureThreshold ??= 3
  if (isMap(p.httpGet)) p.httpGet.scheme ??= 'HTTP'
}

function container(c) {
  if (!isMap(c)) return
  c.terminationMessagePath ??= '/dev/termination-log'
  c.terminationMessagePolicy ??= 'File'
  c.imagePullPolicy ??= pullPolicy(c.image)
  for (const p of Array.isArray(c.ports) ? c.ports : []) if (isMap(p)) p.protocol ??= 'TCP'
  for (const e of Array.isArray(c.env) ? c.env : []) if (isMap(e?.valueFrom?.fieldRef)) e.valueFrom.fieldRef.apiVersion ??= 'v1'
  probe(c.livenessProbe)
  probe(c.readinessProbe)
  probe(c.startupProbe)
  // SetDefaults_Pod: requests default to limits for each resource with a limit and no request
  if (isMap(c.resources?.limits)) {
    const req = obj(c.resources, 'requests')
    for (const [k, v] of Object.entries(c.resources.limits)) req[k] ??= v
  }
}

/** A PodSpec (of a Pod or of a workload's template). */
export function podSpec(s) {
  if (!isMap(s)) return
  s.dnsPolicy ??= 'ClusterFirst'
  s.restartPolicy ??= 'Always'
  s.securityContext ??= {}
  s.terminationGracePeriodSeconds ??= 30
  s.schedulerName ??= 'default-scheduler'
  for (const c of [...(Array.isArray(s.initContainers) ? s.initContainers : []), ...(Array.isArray(s.containers) ? s.containers : [])]) container(c)
  for (const v of Array.isArray(s.volumes) ? s.volumes : []) {
    if (!isMap(v)) continue
    const sources = Object.keys(v).filter((k) => k !== 'name')
    if (sources.length === 0) v.emptyDir = {}
    if (isMap(v.secret)) v.secret.defaultMode ??= 420
    if (isMap(v.configMap)) v.configMap.defaultMode ??= 420
    if (isMap(v.projected)) v.projected.defaultMode ??= 420
    if (isMap(v.hostPath)) v.hostPath.type ??= ''
  }
}

function template(spec) {
  if (isMap(spec?.template)) podSpec(spec.template.spec)
}

const rand = (lo, hi) => randomInt(lo, hi + 1)

/**
 * Defaults for `o` of resource `r`. `old` is the stored object on updates: values the registry
 * allocated (clusterIP, nodePorts) carry over when the update omits them (service/storage
 * rest.go patchAllocatedValues).
 */
export function applyDefaults(r, o, old) {
  if (!isMap(o)) return o
  const spec = isMap(o.spec) ? o.spec : undefined
  const key = `${r.group}/${r.kind}`
  switch (key) {
    case '/Pod':
      podSpec(spec)
      if (spec) spec.enableServiceLinks ??= true
      break
    case 'apps/Deployment':
      if (!spec) break
      spec.replicas ??= 1
      spec.strategy ??= {}
      spec.strategy.type ??= 'RollingUpdate'
      if (spec.strategy.type === 'RollingUpdate') {
        spec.strategy.rollingUpdate ??= {}
        spec.strategy.rollingUpdate.maxUnavailable ??= '25%'
        spec.strategy.rollingUpdate.maxSurge ??= '25%'
      }
      spec.revisionHistoryLimit ??= 10
      spec.progressDeadlineSeconds ??= 600
      template(spec)
      break
    case 'apps/ReplicaSet':
      if (spec) spec.replicas ??= 1
      template(spec)
      break
    case 'apps/StatefulSet':
      if (!spec) break
      spec.replicas ??= 1
      spec.podManagementPolicy ??= 'OrderedReady'
      spec.updateStrategy ??= {type: 'RollingUpdate'}
      if (spec.updateStrategy.type === 'RollingUpdate') spec.updateStrategy.rollingUpdate ??= {partition: 0}
      spec.revisionHistoryLimit ??= 10
      spec.persistentVolumeClaimRetentionPolicy ??= {whenDeleted: 'Retain', whenScaled: 'Retain'}
      for (const pvc of Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : []) if (isMap(pvc?.spec)) pvc.spec.volumeMode ??= 'Filesystem'
      template(spec)
      break
    case 'apps/DaemonSet':
      if (!spec) break
      spec.updateStrategy ??= {type: 'RollingUpdate'}
      if (spec.updateStrategy.type === 'RollingUpdate') spec.updateStrategy.rollingUpdate ??= {maxUnavailable: 1, maxSurge: 0}
      spec.revisionHistoryLimit ??= 10
      template(spec)
      break
    case 'batch/Job':
      if (!spec) break
      if (spec.completions === undefined && spec.parallelism === undefined) {
        spec.completions = 1
        spec.parallelism = 1
      }
      spec.parallelism ??= 1
      spec.backoffLimit ??= spec.backoffLimitPerIndex !== undefined ? 2147483647 : 6
      spec.completionMode ??= 'NonIndexed'
      spec.suspend ??= false
      if (!spec.podFailurePolicy) spec.podReplacementPolicy ??= 'TerminatingOrFailed'
      template(spec)
      break
    case '/Service':
      service(o, old)
      break
    case '/PersistentVolumeClaim':
      if (spec) spec.volumeMode ??= 'Filesystem'
      break
    default:
  }
  return o
}

function service(o, old) {
  const spec = isMap(o.spec) ? o.spec : (o.spec = {})
  spec.type ??= 'ClusterIP'
  spec.sessionAffinity ??= 'None'
  for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
    if (!isMap(p)) continue
    p.protocol ??= 'TCP'
    p.targetPort ??= p.port
  }
  if (spec.type === 'ExternalName') return
  if (['ClusterIP', 'NodePort', 'LoadBalancer'].includes(spec.type)) spec.internalTrafficPolicy ??= 'Cluster'
  if (['NodePort', 'LoadBalancer'].includes(spec.type)) spec.externalTrafficPolicy ??= 'Cluster'
  if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true
  const was = old?.spec
  // allocated values survive an update that omits them (rest.go patchAllocatedValues)
  if (was && was.clusterIP && !spec.clusterIP && was.type !== 'ExternalName') {
    spec.clusterIP = was.clusterIP
    spec.clusterIPs ??= was.clusterIPs
  }
  if (!spec.clusterIP) spec.clusterIP = `10.100.${rand(0, 255)}.${rand(1, 254)}`
  spec.clusterIPs ??= [spec.clusterIP]
  if (spec.clusterIP === 'None') {
    spec.ipFamilies ??= ['IPv4']
    spec.ipFamilyPolicy ??= 'SingleStack'
  } else {
    spec.ipFamilies ??= was?.spec?.ipFamilies ?? ['IPv4']
    spec.ipFamilyPolicy ??= 'SingleStack'
  }
  if (['NodePort', 'LoadBalancer'].includes(spec.type) && (spec.type !== 'LoadBalancer' || spec.allocateLoadBalancerNodePorts !== false)) {
    for (const p of Array.isArray(spec.ports) ? spec.ports : []) {
      if (!isMap(p) || p.nodePort) continue
      const prev = (was?.ports ?? []).find((x) => x.port === p.port && (x.protocol ?? 'TCP') === p.protocol)
      p.nodePort = prev?.nodePort ?? rand(30000, 32767)
    }
  }
}

/**
 * What a registry strategy does on create beyond defaults (PrepareForCreate): the Job controller's
 * selector `batch.kubernetes.io/controller-uid=<uid>` and the template labels that go with it
 * (pkg/registry/batch/job/strategy.go generateSelector), unless spec.manualSelector.
 */
export function prepareForCreate(r, o) {
  if (r.group === 'batch' && r.kind === 'Job' && isMap(o.spec) && o.spec.manualSelector !== true) {
    const uid = o.metadata.uid
    const tpl = obj(o.spec, 'template')
    const meta = obj(tpl, 'metadata')
    meta.labels = {...(meta.labels ?? {}), 'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': o.metadata.name, 'controller-uid': uid, 'job-name': o.metadata.name}
    const sel = obj(o.spec, 'selector')
    obj(sel, 'matchLabels')['batch.kubernetes.io/controller-uid'] ??= uid
  }
}
