// Semantic validation that kube-apiserver runs after decoding and defaulting, beyond what the
// OpenAPI schema says (schema.mjs has types, required fields and enums). Each rule names its
// source; messages are the real ones (staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go
// for names, labels and ports):
//  - ObjectMeta: apimachinery/pkg/api/validation/objectmeta.go (name, labels, annotations);
//  - names per kind: pkg/apis/core/validation ValidateServiceName (DNS-1035 label),
//    ValidateNamespaceName (DNS-1123 label), most others DNS-1123 subdomain, RBAC path segments;
//  - PodSpec/Container: pkg/apis/core/validation/validation.go ValidatePodSpec, validateContainers,
//    validateContainerPorts, ValidateVolumes, validateVolumeMounts, ValidateResourceRequirements;
//  - Service: ValidateService (ports, targetPort, port names, duplicates, type);
//  - Deployment/StatefulSet/DaemonSet/ReplicaSet: pkg/apis/apps/validation (selector required and
//    matching the template labels, restartPolicy Always, replicas >= 0);
//  - Job: pkg/apis/batch/validation (restartPolicy OnFailure/Never, counts >= 0).
import {duplicate, fieldPath, forbidden, invalid, notFound, notSupported, required, tooLong} from './errors.mjs'
import {parseQuantity} from './immutability.mjs'
import {isMap} from './patch.mjs'

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/
const IANA_SVC_NAME = /^[-a-z0-9]+$/
const CONFIG_KEY = /^[-._a-zA-Z0-9]+$/

const MSG = {
  label: "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
  subdomain: "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
  dns1035: "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')",
  qualifiedName: "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
  labelValue: "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
  configKey: "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
  port: 'must be between 1 and 65535, inclusive',
  nonNegative: 'must be greater than or equal to 0',
}

const isDns1123Label = (v) => (v.length > 63 ? ['must be no more than 63 characters'] : DNS1123_LABEL.test(v) ? [] : [MSG.label])
const isDns1123Subdomain = (v) => (v.length > 253 ? ['must be no more than 253 characters'] : DNS1123_SUBDOMAIN.test(v) ? [] : [MSG.subdomain])
const isDns1035Label = (v) => (v.length > 63 ? ['must be no more than 63 characters'] : DNS1035_LABEL.test(v) ? [] : [MSG.dns1035])
const isPathSegment = (v) => (v === '.' || v === '..' ? [`may not be '${v}'`] : /[/%]/.test(v) ? [`may not contain '${v.includes('/') ? '/' : '%'}'`] : [])

/** IsQualifiedName: [prefix/]name, prefix a DNS subdomain, name <= 63 characters. */
function qualifiedNameErrs(v) {
  const parts = v.split('/')
  let name = v
  const out = []
  if (parts.length === 2) {
    const [prefix] = parts
    name = parts[1]
    if (!prefix) out.push('prefix part must be non-empty')
    else for (const m of isDns1123Subdomain(prefix)) out.push(`prefix part ${m}`)
  } else if (parts.length > 2) return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
  if (!name) out.push('name part must be non-empty')
  else if (name.length > 63) out.push('name part must be no more than 63 characters')
  else if (!QUALIFIED_NAME.test(name)) out.push(MSG.qualifiedName)
  return out
}

/** The name rule of a kind (its registry's ValidateXName). */
function nameRule(r) {
  if (r.kind === 'Namespace') return isDns1123Label
  if (r.kind === 'Service') return isDns1035Label
  if (r.group === 'rbac.authorization.k8s.io') return isPathSegment
  return isDns1123Subdomain
}

export function validateLabels(labels, path, errs) {
  if (!isMap(labels)) return
  for (const [k, v] of Object.entries(labels)) {
    for (const m of qualifiedNameErrs(k)) errs.push(invalid(path, k, m))
    if (typeof v === 'string') {
      if (v.length > 63) errs.push(invalid(path, v, 'must be no more than 63 characters'))
      else if (!LABEL_VALUE.test(v)) errs.push(invalid(path, v, MSG.labelValue))
    }
  }
}

function validateMeta(r, meta, errs) {
  if (!isMap(meta)) return
  if (meta.name) for (const m of nameRule(r)(meta.name)) errs.push(invalid('metadata.name', meta.name, m))
  validateLabels(meta.labels, 'metadata.labels', errs)
  if (isMap(meta.annotations)) {
    let size = 0
    for (const [k, v] of Object.entries(meta.annotations)) {
      for (const m of qualifiedNameErrs(k.toLowerCase())) errs.push(invalid('metadata.annotations', k, m))
      size += k.length + String(v).length
    }
    if (size > 256 * 1024) errs.push(tooLong('metadata.annotations', 256 * 1024))
  }
}

/** Bytes of a ConfigMap's data + binaryData (base64 decoded) or a Secret's data (decoded) + stringData. */
function payloadBytes(o) {
  let n = 0
  const bin = o.kind === 'Secret' ? ['data'] : ['binaryData']
  const text = o.kind === 'Secret' ? ['stringData'] : ['data']
  for (const f of text) for (const v of Object.values(isMap(o[f]) ? o[f] : {})) n += Buffer.byteLength(String(v))
  for (const f of bin) for (const v of Object.values(isMap(o[f]) ? o[f] : {})) n += Buffer.from(String(v), 'base64').length
  return n
}

const portOk = (p) => Number.isInteger(p) && p >= 1 && p <= 65535

function validatePortNumOrName(v, path, errs) {
  if (typeof v === 'number') {
    if (!portOk(v)) errs.push(invalid(path, v, MSG.port))
  } else if (typeof v === 'string') {
    if (v.length > 15) errs.push(invalid(path, v, 'must be no more than 15 characters'))
    else if (!IANA_SVC_NAME.test(v)) errs.push(invalid(path, v, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"))
    else if (!/[a-z]/.test(v)) errs.push(invalid(path, v, 'must contain at least one letter (a-z)'))
  }
}

function validateContainers(list, path, volumes, errs, {init = false} = {}) {
  if (!Array.isArray(list)) return
  const names = new Set()
  list.forEach((c, i) => {
    const p = (...x) => fieldPath([...path, i, ...x])
    if (!isMap(c)) return
    if (!c.name) errs.push(required(p('name')))
    else {
      for (const m of isDns1123Label(c.name)) errs.push(invalid(p('name'), c.name, m))
      if (names.has(c.name)) errs.push(duplicate(p('name'), c.name))
      names.add(c.name)
    }
    if (!c.image) errs.push(required(p('image')))
    if (c.imagePullPolicy && !['Always', 'IfNotPresent', 'Never'].includes(c.imagePullPolicy)) errs.push(notSupported(p('imagePullPolicy'), c.imagePullPolicy, ['Always', 'IfNotPresent', 'Never']))
    const portNames = new Set()
    ;(Array.isArray(c.ports) ? c.ports : []).forEach((port, j) => {
      if (!isMap(port)) return
      if (!portOk(port.containerPort)) errs.push(invalid(p('ports', j, 'containerPort'), port.containerPort ?? 0, MSG.port))
      if (port.hostPort !== undefined && port.hostPort !== 0 && !portOk(port.hostPort)) errs.push(invalid(p('ports', j, 'hostPort'), port.hostPort, MSG.port))
      if (port.protocol && !['TCP', 'UDP', 'SCTP'].includes(port.protocol)) errs.push(notSupported(p('ports', j, 'protocol'), port.protocol, ['SCTP', 'TCP', 'UDP']))
      if (port.name !== undefined) {
        validatePortNumOrName(String(port.name), p('ports', j, 'name'), errs)
        if (portNames.has(port.name)) errs.push(duplicate(p('ports', j, 'name'), port.name))
        portNames.add(port.name)
      }
    })
    ;(Array.isArray(c.env) ? c.env : []).forEach((e, j) => {
      if (isMap(e) && !e.name) errs.push(required(p('env', j, 'name')))
    })
    ;(Array.isArray(c.volumeMounts) ? c.volumeMounts : []).forEach((m, j) => {
      if (!isMap(m)) return
      if (!m.name) errs.push(required(p('volumeMounts', j, 'name')))
      else if (!volumes.has(m.name)) errs.push(notFound(p('volumeMounts', j, 'name'), m.name))
      if (!m.mountPath) errs.push(required(p('volumeMounts', j, 'mountPath')))
    })
    // ValidateResourceRequirements: a request may not exceed its limit
    const req = isMap(c.resources?.requests) ? c.resources.requests : {}
    const lim = isMap(c.resources?.limits) ? c.resources.limits : {}
    for (const [k, v] of Object.entries(req)) {
      if (parseQuantity(v) === undefined) errs.push(invalid(fieldPath([...path, i, 'resources', 'requests', {key: k}]), v, "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"))
      else if (lim[k] !== undefined && parseQuantity(lim[k]) !== undefined && parseQuantity(v) > parseQuantity(lim[k])) errs.push(invalid(fieldPath([...path, i, 'resources', 'requests']), v, `must be less than or equal to ${k} limit of ${lim[k]}`))
    }
    if (init && c.readinessProbe) errs.push(forbidden(p('readinessProbe'), 'may not be set for init containers without restartPolicy=Always'))
  })
}

/** ValidatePodSpec (the parts aip's manifests exercise). */
export function validatePodSpec(spec, path, errs, {restartPolicies, claimTemplates = []} = {}) {
  if (!isMap(spec)) return
  // a StatefulSet's pods also mount its volumeClaimTemplates by name (pkg/apis/apps/validation)
  const volumes = new Set(claimTemplates)
  ;(Array.isArray(spec.volumes) ? spec.volumes : []).forEach((v, i) => {
    if (!isMap(v)) return
    if (!v.name) errs.push(required(fieldPath([...path, 'volumes', i, 'name'])))
    else {
      for (const m of isDns1123Label(v.name)) errs.push(invalid(fieldPath([...path, 'volumes', i, 'name']), v.name, m))
      if (volumes.has(v.name)) errs.push(duplicate(fieldPath([...path, 'volumes', i, 'name']), v.name))
      volumes.add(v.name)
    }
  })
  if (Array.isArray(spec.containers) && spec.containers.length === 0) errs.push(required(fieldPath([...path, 'containers'])))
  validateContainers(spec.containers, [...path, 'containers'], volumes, errs)
  validateContainers(spec.initContainers, [...path, 'initContainers'], volumes, errs, {init: true})
  const rp = spec.restartPolicy
  if (restartPolicies && rp && !restartPolicies.includes(rp)) errs.push(notSupported(fieldPath([...path, 'restartPolicy']), rp, restartPolicies))
  else if (rp && !['Always', 'OnFailure', 'Never'].includes(rp)) errs.push(notSupported(fieldPath([...path, 'restartPolicy']), rp, ['Always', 'OnFailure', 'Never']))
  if (spec.dnsPolicy && !['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'].includes(spec.dnsPolicy)) errs.push(notSupported(fieldPath([...path, 'dnsPolicy']), spec.dnsPolicy, ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None']))
  if (spec.serviceAccountName) for (const m of isDns1123Subdomain(spec.serviceAccountName)) errs.push(invalid(fieldPath([...path, 'serviceAccountName']), spec.serviceAccountName, m))
  if (spec.terminationGracePeriodSeconds !== undefined && spec.terminationGracePeriodSeconds < 0) errs.push(invalid(fieldPath([...path, 'terminationGracePeriodSeconds']), spec.terminationGracePeriodSeconds, MSG.nonNegative))
  ;(Array.isArray(spec.tolerations) ? spec.tolerations : []).forEach((t, i) => {
    if (isMap(t) && t.operator && !['Equal', 'Exists'].includes(t.operator)) errs.push(notSupported(fieldPath([...path, 'tolerations', i, 'operator']), t.operator, ['Equal', 'Exists']))
    if (isMap(t) && t.effect && !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(t.effect)) errs.push(notSupported(fieldPath([...path, 'tolerations', i, 'effect']), t.effect, ['NoExecute', 'NoSchedule', 'PreferNoSchedule']))
  })
  if (isMap(spec.nodeSelector)) validateLabels(spec.nodeSelector, fieldPath([...path, 'nodeSelector']), errs)
}

/** Whether a label selector (matchLabels + matchExpressions) selects `labels`. */
function selects(sel, labels) {
  if (!isMap(sel)) return false
  const l = labels ?? {}
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(l, e.key)
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(l[e.key]))) return false
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(l[e.key])) return false
    if (e.operator === 'Exists' && !has) return false
    if (e.operator === 'DoesNotExist' && has) return false
  }
  return true
}
const emptySelector = (sel) => !isMap(sel) || (Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0)

/** A workload's selector and template (ValidateDeploymentSpec & co.). */
function validateWorkload(r, spec, errs, {restartPolicies, needsSelector = true, kindName}) {
  if (!isMap(spec)) return
  if (spec.replicas !== undefined && spec.replicas < 0) errs.push(invalid('spec.replicas', spec.replicas, MSG.nonNegative))
  if (needsSelector) {
    if (isMap(spec.selector) && emptySelector(spec.selector)) errs.push(invalid('spec.selector', spec.selector, `empty selector is invalid for ${kindName}`))
    if (isMap(spec.selector)) validateLabels(spec.selector.matchLabels, 'spec.selector.matchLabels', errs)
    const labels = spec.template?.metadata?.labels
    // a missing selector selects nothing (LabelSelectorAsSelector(nil) = labels.Nothing())
    if (isMap(spec.template) && !(isMap(spec.selector) && emptySelector(spec.selector)) && !selects(spec.selector, labels)) {
      errs.push(invalid('spec.template.metadata.labels', labels ?? {}, '`selector` does not match template `labels`'))
    }
  }
  if (isMap(spec.template)) {
    validateLabels(spec.template.metadata?.labels, 'spec.template.metadata.labels', errs)
    const claimTemplates = (Array.isArray(spec.volumeClaimTemplates) ? spec.volumeClaimTemplates : []).map((t) => t?.metadata?.name).filter(Boolean)
    validatePodSpec(spec.template.spec, ['spec', 'template', 'spec'], errs, {restartPolicies, claimTemplates})
  }
  if (spec.revisionHistoryLimit !== undefined && spec.revisionHistoryLimit < 0) errs.push(invalid('spec.revisionHistoryLimit', spec.revisionHistoryLimit, MSG.nonNegative))
  if (spec.minReadySeconds !== undefined && spec.minReadySeconds < 0) errs.push(invalid('spec.minReadySeconds', spec.minReadySeconds, MSG.nonNegative))
}

function validateService(spec, errs) {
  if (!isMap(spec)) return
  const types = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort']
  if (spec.type && !types.includes(spec.type)) errs.push(notSupported('spec.type', spec.type, types))
  if (spec.sessionAffinity && !['ClientIP', 'None'].includes(spec.sessionAffinity)) errs.push(notSupported('spec.sessionAffinity', spec.sessionAffinity, ['ClientIP', 'None']))
  const ports = Array.isArray(spec.ports) ? spec.ports : []
  if (ports.length === 0 && spec.type !== 'ExternalName' && spec.clusterIP !== 'None') errs.push(required('spec.ports'))
  const seen = new Set()
  const names = new Set()
  ports.forEach((p, i) => {
    if (!isMap(p)) return
    const f = (x) => `spec.ports[${i}].${x}`
    if (ports.length > 1 && !p.name) errs.push(required(f('name')))
    if (p.name) {
      for (const m of isDns1123Label(p.name)) errs.push(invalid(f('name'), p.name, m))
      if (names.has(p.name)) errs.push(duplicate(f('name'), p.name))
      names.add(p.name)
    }
    if (!portOk(p.port)) errs.push(invalid(f('port'), p.port ?? 0, MSG.port))
    if (p.protocol && !['TCP', 'UDP', 'SCTP'].includes(p.protocol)) errs.push(notSupported(f('protocol'), p.protocol, ['SCTP', 'TCP', 'UDP']))
    if (p.targetPort !== undefined) validatePortNumOrName(p.targetPort, f('targetPort'), errs)
    if (p.nodePort !== undefined && p.nodePort !== 0 && !portOk(p.nodePort)) errs.push(invalid(f('nodePort'), p.nodePort, MSG.port))
    const k = `${p.port}/${p.protocol ?? 'TCP'}`
    if (seen.has(k)) errs.push(duplicate(`spec.ports[${i}]`, p))
    seen.add(k)
  })
  if (isMap(spec.selector)) validateLabels(spec.selector, 'spec.selector', errs)
}

/** Field errors of `o` (already defaulted) for resource `r`. */
export function semanticErrors(r, o) {
  const errs = []
  validateMeta(r, o.metadata, errs)
  const spec = o.spec
  switch (`${r.group}/${r.kind}`) {
    case '/Pod':
      validatePodSpec(spec, ['spec'], errs)
      break
    case 'apps/Deployment':
      validateWorkload(r, spec, errs, {restartPolicies: ['Always'], kindName: 'deployment'})
      if (isMap(spec?.strategy) && spec.strategy.type && !['Recreate', 'RollingUpdate'].includes(spec.strategy.type)) errs.push(notSupported('spec.strategy.type', spec.strategy.type, ['Recreate', 'RollingUpdate']))
      break
    case 'apps/ReplicaSet':
      validateWorkload(r, spec, errs, {restartPolicies: ['Always'], kindName: 'replicaset'})
      break
    case 'apps/StatefulSet':
      validateWorkload(r, spec, errs, {restartPolicies: ['Always'], kindName: 'statefulset'})
      break
    case 'apps/DaemonSet':
      validateWorkload(r, spec, errs, {restartPolicies: ['Always'], kindName: 'daemonset'})
      break
    case 'batch/Job':
      validateWorkload(r, spec, errs, {restartPolicies: ['OnFailure', 'Never'], needsSelector: false})
      for (const k of ['parallelism', 'completions', 'backoffLimit', 'ttlSecondsAfterFinished']) if (spec?.[k] !== undefined && spec[k] < 0) errs.push(invalid(`spec.${k}`, spec[k], MSG.nonNegative))
      if (spec?.activeDeadlineSeconds !== undefined && spec.activeDeadlineSeconds <= 0) errs.push(invalid('spec.activeDeadlineSeconds', spec.activeDeadlineSeconds, 'must be greater than 0'))
      break
    case '/Service':
      validateService(spec, errs)
      break
    case '/ConfigMap':
    case '/Secret':
      for (const f of ['data', 'binaryData', 'stringData']) for (const k of Object.keys(isMap(o[f]) ? o[f] : {})) if (!CONFIG_KEY.test(k)) errs.push(invalid(`${f}[${k}]`, k, MSG.configKey))
      // ValidateConfigMap / ValidateSecret (pkg/apis/core/validation/validation.go): the data values
      // plus the (decoded) binary values must not exceed core.MaxSecretSize, 1 MiB; the field is "",
      // the whole object
      if (payloadBytes(o) > 1024 * 1024) errs.push(tooLong('', 1024 * 1024))
      break
    case '/PersistentVolumeClaim':
      if (isMap(spec)) {
        if (!Array.isArray(spec.accessModes) || spec.accessModes.length === 0) errs.push(required('spec.accessModes', 'at least 1 access mode is required'))
        if (!spec.dataSource && !spec.dataSourceRef && spec.resources?.requests?.storage === undefined) errs.push(required('spec.resources[storage]'))
      }
      break
    default:
  }
  return errs
}
