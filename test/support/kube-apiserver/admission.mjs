// The write path of kube-apiserver between the HTTP body and storage, in its order
// (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go, update.go, patch.go and
// pkg/registry/rest/create.go BeforeCreate / update.go BeforeUpdate):
//   decode (unknown fields, JSON types) -> defaults -> strategy PrepareForCreate/PrepareForUpdate
//   (status reset or kept, generated fields) -> Validate / ValidateUpdate (schema, semantic rules,
//   immutable fields) -> storage.
// Field validation (`fieldValidation` query parameter, API concepts "Field validation"): Warn (the
// default) drops unknown fields and answers a `Warning: 299 - "unknown field \"spec.foo\""` header
// each; Ignore drops them silently; Strict refuses the request with 400 BadRequest. A server-side
// apply patch is always strict about its fields: an unknown one is 400 `failed to create typed
// patch object (ns/name; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema`
// (apimachinery managedfields/internal/structuredmerge.go; BadRequest since kubernetes#119178).
import {applyDefaults, prepareForCreate} from './defaults.mjs'
import {ApiError, invalidError} from './errors.mjs'
import {immutableFieldErrors} from './immutability.mjs'
import {isMap} from './patch.mjs'
import {builtinSchemaErrors, checkCustom, crdSchema, customErrors, decodeBuiltin, loadBuiltinSchemas, packagedValidator, pruneCustomResource} from './schema.mjs'
import {semanticErrors} from './validation.mjs'

const gvOf = (r) => (r.group ? `${r.group}/${r.version}` : r.version)

export class Admission {
  constructor(server) {
    this.s = server
  }

  init() {
    return loadBuiltinSchemas(this.s.resources)
  }

  /** The CRD schema of a custom resource (undefined: preserve everything, validate nothing). */
  customSchema(r) {
    const crdR = this.s.byKind('apiextensions.k8s.io/v1', 'CustomResourceDefinition')
    return crdSchema(this.s.store.getR(crdR, undefined, `${r.plural}.${r.group}`), r.version)
  }

  /** Schema errors of a custom resource: its CRD's schema, else the packaged validator of its kind. */
  customResourceErrors(r, o) {
    const schema = this.customSchema(r)
    const preserveAll = !schema || (schema['x-kubernetes-preserve-unknown-fields'] && !schema.properties)
    if (!preserveAll) return checkCustom(schema, o).errors
    const v = packagedValidator(r.group, r.version, r.kind)
    return v && !v(o) ? customErrors(v.errors, o) : []
  }

  /**
   * Decodes a request body in place: unknown fields dropped (warned about, or refused under Strict
   * and for apply patches of built-in kinds), wrong JSON types of built-in kinds refused (400).
   * `warnings` collects the Warning header values.
   */
  decode(r, obj, {fieldValidation = 'Warn', apply = false, warnings}) {
    if (!isMap(obj)) return
    const status = obj.status
    let unknown = []
    if (r.crd) unknown = pruneCustomResource(this.customSchema(r), obj)
    else {
      // status is decoded too (and then reset by the strategy); drop it before looking at fields
      delete obj.status
      unknown = decodeBuiltin(r, obj)
      if (status !== undefined) obj.status = status
      if (apply && unknown.length) {
        const gvk = `${gvOf(r).includes('/') ? gvOf(r) : `/${gvOf(r)}`}, Kind=${r.kind}`
        const errs = unknown.map((f) => `.${f}: field not declared in schema`)
        throw new ApiError(400, 'BadRequest', `failed to create typed patch object (${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}; ${gvk}): ${errs.length === 1 ? errs[0] : `errors:\n  ${errs.join('\n  ')}`}`)
      }
    }
    if (!unknown.length) return
    if (fieldValidation === 'Strict') throw new ApiError(400, 'BadRequest', `${r.kind} in version "${r.version}" cannot be handled as a ${r.kind}: strict decoding error: ${unknown.map((f) => `unknown field "${f}"`).join(', ')}`)
    if (fieldValidation !== 'Ignore') for (const f of unknown) warnings.push(`unknown field "${f}"`)
  }

  /**
   * Defaults, the strategy's create/update preparation and validation of `o` (`old`: the stored
   * object on updates). Throws 422 Invalid with every field error.
   */
  admit(r, o, old) {
    if (!old) prepareForCreate(r, o)
    applyDefaults(r, o, old)
    // custom resources: schema defaults, then the schema's errors (apiextensions validation)
    const errs = r.crd ? this.customResourceErrors(r, o) : builtinSchemaErrors(r, o)
    errs.push(...semanticErrors(r, o))
    if (old) errs.push(...immutableFieldErrors(r, o, old))
    const seen = new Set()
    const unique = errs.filter((e) => {
      const k = `${e.field}|${e.body}`
      if (seen.has(k)) return false
      seen.add(k)
      return true
    })
    if (unique.length) throw invalidError(r, o.metadata?.name, unique)
    return o
  }
}

/**
 * Kinds whose strategy resets status on create and keeps the stored status on updates of the main
 * resource (status is written through /status only): every built-in kind with a status
 * subresource (e.g. pkg/registry/apps/deployment/strategy.go PrepareForCreate/PrepareForUpdate),
 * and custom resources whose CRD enables subresources.status. Nodes keep what they are created
 * with (the kubelet registers a node with its status).
 */
export function statusIsSubresource(r) {
  return r.subresources.includes('status') && r.kind !== 'Node'
}

/**
 * Kinds whose strategy sets metadata.generation (1 on create, +1 when spec changes): workloads,
 * policies, CRDs and custom resources. ConfigMaps, Services, Pods (before 1.33), Namespaces ...
 * have none.
 */
export function hasGeneration(r) {
  return !!r.crd || ['apps', 'batch', 'policy', 'networking.k8s.io', 'autoscaling', 'apiextensions.k8s.io', 'admissionregistration.k8s.io'].includes(r.group)
}
