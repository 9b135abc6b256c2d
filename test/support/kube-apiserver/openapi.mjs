// The OpenAPI documents kube-apiserver publishes, as far as clients read them:
//  - /openapi/v3: the index {paths: {"apis/apps/v1": {serverRelativeURL}}}, and one document per
//    group-version (staging/src/k8s.io/kube-openapi/pkg/handler3). kubectl reads it before it
//    sends an object: it looks for the PATCH operation of the object's kind
//    (`x-kubernetes-group-version-kind`) and, when that operation lists the `fieldValidation`
//    query parameter, leaves validation to the server and sends `fieldValidation=Strict`
//    (staging/src/k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go). Without these
//    documents `kubectl apply` fails unless run with --validate=false.
//  - /openapi/v2: the same as one Swagger 2.0 document, served as JSON (the protobuf form kubectl
//    asks for first is not served: 406, and client-go falls back / kubectl uses v3).
// Schemas: built-in kinds from @kubernetes/client-node's generated field tables (names, types,
// formats, int-or-string), custom resources from their CRD's openAPIV3Schema.
import {createHash} from 'node:crypto'

let k8s

export async function loadOpenApiTypes() {
  k8s ??= await import('@kubernetes/client-node')
}

const gvOf = (r) => (r.group ? `${r.group}/${r.version}` : r.version)
/** `apis/apps/v1`, `api/v1` */
export const gvPath = (r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`)
/** Component names as kube-apiserver writes them: io.k8s.api.apps.v1.Deployment, sh.keda.v1alpha1.ScaledObject */
function schemaName(r) {
  if (r.crd) return `${r.group.split('.').reverse().join('.')}.${r.version}.${r.kind}`
  if (r.group === 'apiextensions.k8s.io') return `io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.${r.version}.${r.kind}`
  if (r.group === 'apiregistration.k8s.io') return `io.k8s.kube-aggregator.pkg.apis.apiregistration.${r.version}.${r.kind}`
  return `io.k8s.api.${r.group ? r.group.split('.')[0] : 'core'}.${r.version}.${r.kind}`
}

function typeSchema(t, format, ref, defs) {
  if (t === 'string') return {type: 'string'}
  if (t === 'number') return format === 'int32' || format === 'int64' ? {type: 'integer', format} : {type: 'number', format: format || 'double'}
  if (t === 'boolean') return {type: 'boolean'}
  if (t === 'Date') return {type: 'string', format: 'date-time'}
  if (t === 'IntOrString') return {'x-kubernetes-int-or-string': true, format: 'int-or-string'}
  let m = /^Array<(.+)>$/.exec(t)
  if (m) return {type: 'array', items: typeSchema(m[1], '', ref, defs)}
  m = /^\{ \[key: string\]: (.+); \}$/.exec(t)
  if (m) return {type: 'object', additionalProperties: typeSchema(m[1], '', ref, defs)}
  if (k8s[t]?.attributeTypeMap) {
    classSchema(t, ref, defs)
    return {allOf: [{$ref: ref(t)}]}
  }
  return {}
}

function classSchema(cls, ref, defs) {
  if (defs[cls]) return
  defs[cls] = {type: 'object', properties: {}}
  for (const a of k8s[cls].attributeTypeMap) defs[cls].properties[a.baseName] = typeSchema(a.type, a.format, ref, defs)
}

/** Component schemas of a group-version's kinds, keyed as kube-apiserver names them. */
function schemasFor(resources, ref, customSchema) {
  const defs = {}
  const out = {}
  for (const r of resources) {
    const gvk = [{group: r.group, version: r.version, kind: r.kind}]
    if (r.crd) {
      out[schemaName(r)] = {...(customSchema(r) ?? {type: 'object', 'x-kubernetes-preserve-unknown-fields': true}), 'x-kubernetes-group-version-kind': gvk}
      continue
    }
    const cls = `${r.version[0].toUpperCase()}${r.version.slice(1)}${r.kind}`
    if (!k8s[cls]?.attributeTypeMap) continue
    classSchema(cls, ref, defs)
    out[schemaName(r)] = {...defs[cls], 'x-kubernetes-group-version-kind': gvk}
    delete defs[cls]
  }
  return {...out, ...defs}
}

const QUERY = (name, type = 'string') => ({name, in: 'query', schema: {type}, uniqueItems: true})
const PATCH_TYPES = ['application/json-patch+json', 'application/merge-patch+json', 'application/apply-patch+yaml']

/** The paths of one resource: collection and item, with the operations and parameters kubectl looks for. */
function pathsFor(r) {
  const base = `/${gvPath(r)}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.plural}`
  const ext = {'x-kubernetes-group-version-kind': {group: r.group, version: r.version, kind: r.kind}}
  const write = [QUERY('dryRun'), QUERY('fieldManager'), QUERY('fieldValidation')]
  const body = (types) => ({content: Object.fromEntries(types.map((t) => [t, {schema: {type: 'object'}}])), required: true})
  return {
    [base]: {
      get: {operationId: `list${r.kind}`, ...ext, 'x-kubernetes-action': 'list', parameters: [QUERY('labelSelector'), QUERY('fieldSelector'), QUERY('limit', 'integer'), QUERY('continue'), QUERY('resourceVersion'), QUERY('watch', 'boolean')], responses: {200: {description: 'OK'}}},
      post: {operationId: `create${r.kind}`, ...ext, 'x-kubernetes-action': 'post', parameters: write, requestBody: body(['*/*']), responses: {201: {description: 'Created'}}},
      delete: {operationId: `deletecollection${r.kind}`, ...ext, 'x-kubernetes-action': 'deletecollection', parameters: [QUERY('dryRun'), QUERY('labelSelector')], responses: {200: {description: 'OK'}}},
    },
    [`${base}/{name}`]: {
      get: {operationId: `read${r.kind}`, ...ext, 'x-kubernetes-action': 'get', responses: {200: {description: 'OK'}}},
      put: {operationId: `replace${r.kind}`, ...ext, 'x-kubernetes-action': 'put', parameters: write, requestBody: body(['*/*']), responses: {200: {description: 'OK'}}},
      // strategic merge patch is accepted but not advertised: kubectl then computes its patches
      // from its compiled-in types, not from these (field-table) schemas
      patch: {operationId: `patch${r.kind}`, ...ext, 'x-kubernetes-action': 'patch', parameters: [...write, QUERY('force', 'boolean')], requestBody: body(PATCH_TYPES), responses: {200: {description: 'OK'}}},
      delete: {operationId: `delete${r.kind}`, ...ext, 'x-kubernetes-action': 'delete', parameters: [QUERY('dryRun'), QUERY('gracePeriodSeconds', 'integer'), QUERY('propagationPolicy')], responses: {200: {description: 'OK'}}},
    },
  }
}

const hash = (doc) => createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase()

/** /openapi/v3/<gv> document (OpenAPI 3.0). */
export function v3Document(resources, customSchema) {
  const paths = {}
  for (const r of resources) Object.assign(paths, pathsFor(r))
  return {
    openapi: '3.0.0',
    info: {title: 'Kubernetes', version: 'v1.31.0'},
    paths,
    components: {schemas: schemasFor(resources, (c) => `#/components/schemas/${c}`, customSchema)},
  }
}

/** /openapi/v3 index: one entry per served group-version. */
export function v3Index(allResources, customSchema) {
  const byGv = new Map()
  for (const r of allResources) {
    const k = gvPath(r)
    if (!byGv.has(k)) byGv.set(k, [])
    byGv.get(k).push(r)
  }
  const paths = {}
  for (const [k, rs] of byGv) paths[k] = {serverRelativeURL: `/openapi/v3/${k}?hash=${hash(v3Document(rs, customSchema))}`}
  return {paths}
}

/** /openapi/v2 (Swagger 2.0, JSON) over every served resource. */
export function v2Document(allResources, customSchema) {
  const paths = {}
  for (const r of allResources) {
    for (const [p, ops] of Object.entries(pathsFor(r))) {
      paths[p] = Object.fromEntries(
        Object.entries(ops).map(([m, op]) => {
          const {requestBody, parameters = [], ...rest} = op
          return [m, {...rest, consumes: requestBody ? Object.keys(requestBody.content) : undefined, parameters: [...parameters.map(({schema, ...q}) => ({...q, type: schema.type})), ...(requestBody ? [{name: 'body', in: 'body', required: true, schema: {type: 'object'}}] : [])]}]
        }),
      )
    }
  }
  return {swagger: '2.0', info: {title: 'Kubernetes', version: 'v1.31.0'}, paths, definitions: schemasFor(allResources, (c) => `#/definitions/${c}`, customSchema)}
}

export {gvOf}
