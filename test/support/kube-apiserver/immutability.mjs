// Fields an update may not change, with kube-apiserver's messages (422 Invalid):
//  - apivalidation.ValidateImmutableField -> `<field>: Invalid value: <new>: field is immutable`
//    (apimachinery/pkg/api/validation/objectmeta.go, FieldImmutableErrorMsg);
//  - Job: spec.selector, spec.template (ValidateJobSpecUpdate; the template of a suspended Job that
//    never started may change its scheduling directives only), spec.completions (non-Indexed),
//    spec.completionMode, spec.podFailurePolicy ... (pkg/apis/batch/validation/validation.go);
//  - Deployment, ReplicaSet, DaemonSet: spec.selector (pkg/apis/apps/validation/validation.go);
//  - StatefulSet: everything in spec but replicas, ordinals, template, updateStrategy,
//    revisionHistoryLimit, persistentVolumeClaimRetentionPolicy, minReadySeconds
//    (ValidateStatefulSetUpdate);
//  - Service: clusterIP/clusterIPs[0] once allocated, unless the type changes to or from
//    ExternalName (pkg/apis/core/validation/validation.go validateClusterIPFlags);
//  - PersistentVolumeClaim: spec except resources.requests (which may not shrink) and
//    volumeAttributesClassName (ValidatePersistentVolumeClaimUpdate);
//  - Secret/ConfigMap with immutable: true: data (ValidateSecretUpdate / ValidateConfigMapUpdate);
//  - Namespace of an object, CustomResourceDefinition scope/group (not modelled: URLs pin them).
import {deepEqual, isMap} from './patch.mjs'
import {forbidden, invalid} from './errors.mjs'

const IMMUTABLE = 'field is immutable'

function immutable(errs, field, a, b) {
  if (!deepEqual(a ?? null, b ?? null)) errs.push(invalid(field, a ?? null, IMMUTABLE))
}

/** Field errors for updating `old` to `o` (both after defaults). */
export function immutableFieldErrors(r, o, old) {
  const errs = []
  const s = isMap(o.spec) ? o.spec : {}
  const was = isMap(old.spec) ? old.spec : {}
  const key = `${r.group}/${r.kind}`
  switch (key) {
    case 'batch/Job': {
      immutable(errs, 'spec.selector', s.selector, was.selector)
      // A suspended Job that never started may change the template's scheduling directives
      // (nodeSelector, affinity, tolerations, labels, annotations, schedulingGates): not modelled
      // beyond the plain rule.
      immutable(errs, 'spec.template', s.template, was.template)
      if ((s.completionMode ?? 'NonIndexed') === 'NonIndexed') immutable(errs, 'spec.completions', s.completions, was.completions)
      immutable(errs, 'spec.completionMode', s.completionMode, was.completionMode)
      break
    }
    case 'apps/Deployment':
    case 'apps/ReplicaSet':
    case 'apps/DaemonSet':
      immutable(errs, 'spec.selector', s.selector, was.selector)
      break
    case 'apps/StatefulSet': {
      const ALLOWED = ['replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds']
      const strip = (x) => Object.fromEntries(Object.entries(x).filter(([k]) => !ALLOWED.includes(k)))
      if (!deepEqual(strip(s), strip(was))) errs.push(forbidden('spec', "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
      break
    }
    case '/Service': {
      const needsIP = (x) => x.type !== 'ExternalName' && x.clusterIP !== 'None'
      if (was.clusterIP && needsIP(was) && needsIP(s) && s.type !== 'ExternalName') {
        if (s.clusterIP !== was.clusterIP) errs.push(invalid('spec.clusterIP', s.clusterIP ?? '', IMMUTABLE))
        if (Array.isArray(s.clusterIPs) && Array.isArray(was.clusterIPs) && s.clusterIPs[0] !== was.clusterIPs[0]) errs.push(invalid('spec.clusterIPs[0]', s.clusterIPs, 'may not change once set'))
      }
      break
    }
    case '/PersistentVolumeClaim': {
      const strip = (x) => {
        const c = structuredClone(x)
        delete c.volumeAttributesClassName
        if (isMap(c.resources)) delete c.resources.requests
        return c
      }
      if (!deepEqual(strip(s), strip(was))) errs.push(forbidden('spec', 'spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims'))
      const size = (x) => parseQuantity(x?.resources?.requests?.storage)
      if (size(s) !== undefined && size(was) !== undefined && size(s) < size(was)) errs.push(forbidden('spec.resources.requests.storage', 'field can not be less than previous value'))
      break
    }
    case '/Secret':
    case '/ConfigMap':
      if (old.immutable === true) {
        if (o.immutable !== true) errs.push(forbidden('immutable', 'field is immutable when `immutable` is set'))
        for (const f of ['data', 'binaryData', ...(r.kind === 'Secret' ? ['stringData'] : [])]) if (!deepEqual(o[f] ?? {}, old[f] ?? {})) errs.push(forbidden(f, 'field is immutable when `immutable` is set'))
      }
      break
    default:
  }
  return errs
}

const SUFFIX = {Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18}
/** A resource.Quantity as a number (apimachinery/pkg/api/resource/quantity.go), undefined if not one. */
export function parseQuantity(q) {
  if (typeof q === 'number') return q
  if (typeof q !== 'string') return undefined
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(q)
  if (!m) return undefined
  return Number(m[1]) * (m[2] ? 10 ** Number(m[2].slice(1)) : SUFFIX[m[3] ?? ''])
}
