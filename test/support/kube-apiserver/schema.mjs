// Schemas of the kinds the loopback API server serves, from packages rather than hand-written rules:
//  - built-in kinds: the validators `kubernetes-models` generates from the published Kubernetes
//    OpenAPI documents (types, required fields, enums, formats), and the field/type tables of
//    `@kubernetes/client-node` (generated from the same documents) for the set of known fields and
//    their Go types;
//  - custom resources: the CRD's own `openAPIV3Schema`, compiled with ajv.
// What kube-apiserver does with them:
//  - decoding (staging/src/k8s.io/apimachinery/pkg/runtime/serializer/json): a value of the wrong
//    JSON type in a built-in kind is a 400 BadRequest `Kind in version "v1" cannot be handled as a
//    Kind: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type
//    int32`; an unknown field is dropped with a `Warning: unknown field "spec.foo"` (fieldValidation
//    Warn, the default), ignored (Ignore), or refused (Strict: 400 `strict decoding error: unknown
//    field "spec.foo"`) - API concepts, "Field validation";
//  - custom resources: structural pruning drops fields the schema does not name unless
//    x-kubernetes-preserve-unknown-fields (apiextensions-apiserver pkg/apiserver/schema/pruning),
//    `default`s are applied (pkg/apiserver/schema/defaulting), and schema violations are 422 Invalid
//    (pkg/apiserver/validation/validation.go: `spec.x: Invalid value: "string": spec.x in body must
//    be of type integer: "string"`).
import {readdirSync} from 'node:fs'
import {createRequire} from 'node:module'
import {dirname, join} from 'node:path'
import {pathToFileURL} from 'node:url'

import Ajv from 'ajv'

import {ApiError, fieldError, fieldPath, invalid, notSupported, OMIT, required} from './errors.mjs'
import {clone, isMap} from './patch.mjs'

const require = createRequire(import.meta.url)
let models // kubernetes-models/_schemas directory listing
let k8s // @kubernetes/client-node (its model classes carry attributeTypeMap)

const pascal = (s) => s.charAt(0).toUpperCase() + s.slice(1)

/**
 * Validators of the custom resources aip writes, as the @kubernetes-models packages generate them
 * from each project's released CRDs. A CRD registered without an openAPIV3Schema (registerCrd in
 * tests) is checked with these: types, required fields, enums (no pruning: without the schema the
 * server preserves unknown fields).
 */
const PACKAGED_CRDS = {
  'keda.sh/v1alpha1/ScaledObject': '@kubernetes-models/keda/_schemas/ComGithubKedacoreKedaV2ApisKedaV1alpha1ScaledObject',
  'karpenter.sh/v1/NodePool': '@kubernetes-models/karpenter/_schemas/IoK8sSigsKarpenterPkgApisV1NodePool',
  'karpenter.k8s.aws/v1/EC2NodeClass': '@kubernetes-models/karpenter/_schemas/ComGithubAwsKarpenterProviderAwsPkgApisV1EC2NodeClass',
  'monitoring.coreos.com/v1/ServiceMonitor': '@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1ServiceMonitor',
  'monitoring.coreos.com/v1/PodMonitor': '@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PodMonitor',
  'monitoring.coreos.com/v1/PrometheusRule': '@kubernetes-models/prometheus-operator/_schemas/ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoringV1PrometheusRule',
  'gateway.networking.k8s.io/v1/HTTPRoute': '@kubernetes-models/gateway-api/_schemas/IoK8sSigsGatewayApiApisV1HTTPRoute',
}
const packaged = new Map()

/** The packaged validator of a custom resource kind, if one ships (loaded by loadBuiltinSchemas). */
export const packagedValidator = (group, version, kind) => packaged.get(`${group}/${version}/${kind}`)

/** Loads the validators and field tables of the built-in resources (once per process). */
export async function loadBuiltinSchemas(resources) {
  if (!models) {
    const dir = join(dirname(require.resolve('kubernetes-models/package.json')), '_schemas')
    models = {dir, files: new Set(readdirSync(dir))}
    k8s = await import('@kubernetes/client-node')
    for (const [k, mod] of Object.entries(PACKAGED_CRDS)) {
      // the packages export their models, not _schemas/: resolve the package, then the file
      const [scope, pkg, ...rest] = mod.split('/')
      const base = new URL('.', import.meta.resolve(`${scope}/${pkg}`))
      packaged.set(k, (await import(new URL(`${rest.join('/')}.js`, base).href)).validate)
    }
  }
  for (const r of resources) {
    if (r.schema || r.crd) continue
    const g = r.group ? pascal(r.group.split('.')[0]) : 'Core'
    const file = [...models.files].find((f) => new RegExp(`^IoK8s\\w*?${g}${pascal(r.version)}${r.kind}\\.js$`).test(f))
    const cls = `${pascal(r.version)}${r.kind}`
    const validate = file ? (await import(pathToFileURL(join(models.dir, file)).href)).validate : undefined
    r.schema = {validate, cls: k8s[cls]?.attributeTypeMap ? cls : undefined}
  }
}

// ---- built-in kinds -----------------------------------------------------------------------

const CLASS = /^(V\d\w*|Core\w+|Admissionregistration\w+|Apiextensions\w+|Apiregistration\w+|Storage\w+|Events\w+|Discovery\w+|Rbac\w+|Authentication\w+|Flowcontrol\w+|Resource\w+)$/
function attr(cls, key) {
  return k8s[cls]?.attributeTypeMap?.find((a) => a.baseName === key)
}
/** The Go type a client-node type name stands for (for decode error messages). */
function goType(t, format) {
  if (t === 'number') return format === 'int32' ? 'int32' : format === 'int64' ? 'int64' : 'float64'
  if (t === 'string') return 'string'
  if (t === 'boolean') return 'bool'
  if (t === 'IntOrString') return 'intstr.IntOrString'
  if (t === 'Date') return 'v1.Time'
  let m = /^Array<(.+)>$/.exec(t)
  if (m) return `[]${goType(m[1])}`
  m = /^\{ \[key: string\]: (.+); \}$/.exec(t)
  if (m) return `map[string]${goType(m[1])}`
  if (CLASS.test(t)) return `v1.${t.replace(/^(V\d(alpha\d|beta\d)?|Core(V\d)?|[A-Z][a-z]+V\d)/, '')}`
  return 'interface {}'
}
const classOf = (t) => (CLASS.test(t) ? t : undefined)
const itemClass = (t) => classOf(/^Array<(.+)>$/.exec(t)?.[1] ?? '')
const valueClass = (t) => classOf(/^\{ \[key: string\]: (.+); \}$/.exec(t)?.[1] ?? '')

/**
 * Drops the fields a built-in kind does not have (decoding skips them) and returns their paths as
 * kube-apiserver names them in warnings: `spec.template.spec.containers[0].foo`.
 */
function pruneBuiltin(obj, cls, path, out) {
  if (!isMap(obj) || !k8s[cls]?.attributeTypeMap) return
  for (const key of Object.keys(obj)) {
    const a = attr(cls, key)
    if (!a) {
      out.push(fieldPath([...path, key]))
      delete obj[key]
      continue
    }
    const v = obj[key]
    if (classOf(a.type)) pruneBuiltin(v, a.type, [...path, key], out)
    else if (itemClass(a.type) && Array.isArray(v)) v.forEach((x, i) => pruneBuiltin(x, itemClass(a.type), [...path, key, i], out))
    else if (valueClass(a.type) && isMap(v)) for (const [k, x] of Object.entries(v)) pruneBuiltin(x, valueClass(a.type), [...path, {key: k}], out)
  }
}

/** ajv instancePath `/spec/ports/0/port` -> ['spec', 'ports', 0, 'port'] (indexes where the data is a list). */
function partsOf(instancePath, data) {
  const parts = []
  let cur = data
  for (const raw of instancePath.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(cur)) {
      parts.push(Number(seg))
      cur = cur[Number(seg)]
    } else {
      parts.push(seg)
      cur = cur?.[seg]
    }
  }
  return parts
}
const jsonType = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v)

/** The decode error of a value of the wrong JSON type, as sigs.k8s.io/json words it. */
function decodeError(r, rootCls, obj, parts) {
  let cls = rootCls
  let struct = rootCls
  let a
  for (const p of parts) {
    if (typeof p === 'number' || (p && typeof p === 'object')) continue
    a = attr(cls, p)
    if (!a) break
    struct = cls
    cls = classOf(a.type) ?? itemClass(a.type) ?? valueClass(a.type) ?? cls
  }
  let v = obj
  for (const p of parts) v = v?.[typeof p === 'object' ? p.key : p]
  const goPath = parts.filter((p) => typeof p === 'string').join('.')
  const structName = goType(struct).replace(/^v1\./, '')
  return new ApiError(400, 'BadRequest', `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: json: cannot unmarshal ${jsonType(v)} into Go struct field ${structName}.${goPath} of type ${a ? goType(a.type, a.format) : 'interface {}'}`)
}

/**
 * Decoding of a built-in kind: unknown fields pruned (returned, for warnings or Strict), wrong JSON
 * types refused with the decoder's 400. `obj` is changed in place.
 */
export function decodeBuiltin(r, obj) {
  const unknown = []
  if (!r.schema?.cls) return unknown
  pruneBuiltin(obj, r.schema.cls, [], unknown)
  if (r.schema.validate && !r.schema.validate(obj)) {
    const typeErr = r.schema.validate.errors.find((e) => e.keyword === 'type' && !e.instancePath.startsWith('/status'))
    if (typeErr) throw decodeError(r, r.schema.cls, obj, partsOf(typeErr.instancePath, obj))
  }
  return unknown
}

/** Schema errors (required, enum, formats) of a built-in kind after defaulting, as field errors. */
export function builtinSchemaErrors(r, obj) {
  const v = r.schema?.validate
  if (!v || v(obj)) return []
  const out = []
  for (const e of v.errors) {
    if (e.keyword === 'type' || e.instancePath.startsWith('/status') || e.instancePath.startsWith('/metadata/managedFields')) continue
    const parts = partsOf(e.instancePath, obj)
    let val = obj
    for (const p of parts) val = val?.[p]
    if (e.keyword === 'required') out.push(required(fieldPath([...parts, e.params.missingProperty])))
    else if (e.keyword === 'enum') out.push(notSupported(fieldPath(parts), val, e.params.allowedValues))
    else out.push(invalid(fieldPath(parts), val, e.message))
  }
  return out
}

// ---- custom resources -----------------------------------------------------------------------

const ajv = new Ajv({strict: false, allErrors: true, useDefaults: true, validateFormats: false})
const compiled = new Map()

/** The CRD's openAPIV3Schema as plain JSON Schema for ajv (Kubernetes extensions translated). */
function toJsonSchema(s) {
  if (!isMap(s)) return s
  const out = {}
  for (const [k, v] of Object.entries(s)) {
    if (k.startsWith('x-kubernetes-') || k === 'nullable' || k === 'format') continue
    if (k === 'properties' || k === 'patternProperties' || k === 'definitions') out[k] = Object.fromEntries(Object.entries(v).map(([pk, pv]) => [pk, toJsonSchema(pv)]))
    else if (['items', 'additionalProperties', 'not'].includes(k)) out[k] = typeof v === 'boolean' ? v : toJsonSchema(v)
    else if (['allOf', 'anyOf', 'oneOf'].includes(k)) out[k] = v.map(toJsonSchema)
    else out[k] = v
  }
  if (s['x-kubernetes-int-or-string'] && !s.type) out.type = ['integer', 'string']
  if (s.nullable && out.type) out.type = [...(Array.isArray(out.type) ? out.type : [out.type]), 'null']
  // metadata of a custom resource is ObjectMeta, validated by the server, not by the CRD schema
  return out
}

/** Structural pruning (apiextensions-apiserver pkg/apiserver/schema/pruning/algorithm.go). */
function pruneCustom(v, s, path, out, root = false) {
  if (!isMap(s)) return
  if (isMap(v)) {
    if (s['x-kubernetes-preserve-unknown-fields'] && !s.properties) return
    for (const key of Object.keys(v)) {
      if (root && ['apiVersion', 'kind', 'metadata'].includes(key)) continue
      const ps = s.properties?.[key] ?? (isMap(s.additionalProperties) ? s.additionalProperties : undefined)
      if (ps) pruneCustom(v[key], ps, [...path, s.properties?.[key] ? key : {key}], out)
      else if (!s['x-kubernetes-preserve-unknown-fields'] && s.additionalProperties !== true) {
        out.push(fieldPath([...path, key]))
        delete v[key]
      }
    }
  } else if (Array.isArray(v) && isMap(s.items)) v.forEach((x, i) => pruneCustom(x, s.items, [...path, i], out))
}

/** Structural pruning of a custom resource in place; returns the paths of the dropped fields. */
export function pruneCustomResource(schema, obj) {
  const unknown = []
  if (isMap(schema)) pruneCustom(obj, schema, [], unknown, true)
  return unknown
}

/**
 * A custom resource: prune unknown fields (returned), apply schema defaults, and return the
 * schema's field errors in apiextensions' message form.
 */
export function checkCustom(schema, obj) {
  if (!isMap(schema)) return {unknown: [], errors: []}
  const unknown = pruneCustomResource(schema, obj)
  const key = JSON.stringify(schema)
  let v = compiled.get(key)
  if (!v) {
    const js = toJsonSchema(schema)
    if (js.properties?.metadata) js.properties = {...js.properties, metadata: {type: 'object'}}
    v = ajv.compile(js)
    compiled.set(key, v)
  }
  const data = clone(obj)
  const errors = v(data) ? [] : customErrors(v.errors, data)
  // defaults ajv filled in (useDefaults) go to the stored object
  mergeDefaults(obj, data)
  return {unknown, errors}
}

/** ajv errors of a custom resource as apiextensions words them (pkg/apiserver/validation). */
export function customErrors(ajvErrors, data) {
  const errors = []
  for (const e of ajvErrors ?? []) {
    if (['anyOf', 'oneOf', 'if'].includes(e.keyword) || e.instancePath.startsWith('/status') || e.instancePath.startsWith('/metadata')) continue
    const parts = partsOf(e.instancePath, data)
    let val = data
    for (const p of parts) val = val?.[p]
    const f = fieldPath(parts)
    if (e.keyword === 'required') errors.push(required(fieldPath([...parts, e.params.missingProperty])))
    else if (e.keyword === 'type') {
      const t = jsonType(val) === 'bool' ? 'boolean' : Number.isInteger(val) ? 'integer' : jsonType(val)
      errors.push(fieldError('TypeInvalid', f, t, `${f} in body must be of type ${[e.params.type].flat().join('/')}: "${t}"`))
    } else if (e.keyword === 'enum') errors.push(notSupported(f, val, e.params.allowedValues))
    else if (e.keyword === 'minimum') errors.push(invalid(f, val, `${f} in body should be greater than or equal to ${e.params.limit}`))
    else if (e.keyword === 'maximum') errors.push(invalid(f, val, `${f} in body should be less than or equal to ${e.params.limit}`))
    else if (e.keyword === 'pattern') errors.push(invalid(f, val, `${f} in body should match '${e.params.pattern}'`))
    else if (e.keyword === 'minItems') errors.push(invalid(f, OMIT, `${f} in body should have at least ${e.params.limit} items`))
    else if (e.keyword === 'maxLength') errors.push(fieldError('TooLong', f, OMIT, `may not be more than ${e.params.limit} bytes`))
    else errors.push(invalid(f, val, `${f} in body ${e.message ?? e.keyword}`))
  }
  return errors
}

function mergeDefaults(target, withDefaults) {
  if (!isMap(target) || !isMap(withDefaults)) return
  for (const [k, v] of Object.entries(withDefaults)) {
    if (!(k in target)) target[k] = v
    else if (isMap(target[k])) mergeDefaults(target[k], v)
    else if (Array.isArray(target[k]) && Array.isArray(v)) target[k].forEach((x, i) => mergeDefaults(x, v[i]))
  }
}

/** The served version's schema of a CRD object (spec.versions[].schema.openAPIV3Schema). */
export function crdSchema(crd, version) {
  return crd?.spec?.versions?.find((v) => v.name === version)?.schema?.openAPIV3Schema
}

// ---- list types for server-side apply ----------------------------------------------------------

/**
 * Associative lists of the built-in kinds and their keys (`+listType=map` / `+listMapKey` in
 * k8s.io/api core/v1 and meta/v1 types.go, published as x-kubernetes-list-map-keys); every other
 * list is atomic. Keyed by client-node class and field.
 */
const LIST_MAP_KEYS = {
  'V1PodSpec.containers': ['name'],
  'V1PodSpec.initContainers': ['name'],
  'V1PodSpec.ephemeralContainers': ['name'],
  'V1PodSpec.volumes': ['name'],
  'V1PodSpec.imagePullSecrets': ['name'],
  'V1PodSpec.hostAliases': ['ip'],
  'V1PodSpec.topologySpreadConstraints': ['topologyKey', 'whenUnsatisfiable'],
  'V1PodSpec.resourceClaims': ['name'],
  'V1PodSpec.schedulingGates': ['name'],
  'V1Container.ports': ['containerPort', 'protocol'],
  'V1Container.env': ['name'],
  'V1Container.volumeMounts': ['mountPath'],
  'V1Container.volumeDevices': ['devicePath'],
  'V1ServiceSpec.ports': ['port', 'protocol'],
  'V1ObjectMeta.ownerReferences': ['uid'],
}

/**
 * The type walker ssa.mjs uses for list types: built-in kinds through client-node's field tables
 * and LIST_MAP_KEYS, custom resources through their CRD schema (x-kubernetes-list-type: map with
 * x-kubernetes-list-map-keys).
 */
export function listTypes(r, customSchema) {
  if (r.crd) {
    const schema = customSchema
    if (!isMap(schema)) return undefined
    return {
      root: () => schema,
      field: (s, name) => (isMap(s) ? (s.properties?.[name] ?? (isMap(s.additionalProperties) ? s.additionalProperties : undefined)) : undefined),
      item: (s) => (isMap(s) ? s.items : undefined),
      mapKeys: (s) => (isMap(s) && s['x-kubernetes-list-type'] === 'map' ? s['x-kubernetes-list-map-keys'] : undefined),
    }
  }
  const cls = r.schema?.cls
  if (!cls || !k8s) return undefined
  return {
    root: () => ({t: cls}),
    field: (c, name) => {
      if (!c) return undefined
      if (classOf(c.t)) {
        const a = attr(c.t, name)
        return a ? {t: a.type, owner: c.t, field: name} : undefined
      }
      const v = /^\{ \[key: string\]: (.+); \}$/.exec(c.t)?.[1]
      return v ? {t: v} : undefined
    },
    item: (c) => (c ? {t: /^Array<(.+)>$/.exec(c.t)?.[1] ?? ''} : undefined),
    mapKeys: (c) => (c && /^Array</.test(c.t) ? LIST_MAP_KEYS[`${c.owner}.${c.field}`] : undefined),
  }
}
