// Label and field selectors as the API server parses them
// (k8s.io/apimachinery/pkg/labels/selector.go, pkg/fields/selector.go).

export class SelectorError extends Error {}

/** Splits on commas that are not inside parentheses. */
function splitTop(s) {
  const out = []
  let depth = 0
  let cur = ''
  for (const ch of s) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  if (cur.trim() !== '') out.push(cur)
  return out.map((x) => x.trim()).filter(Boolean)
}

const KEY = /^([a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?\/)?[a-z0-9A-Z]([-a-z0-9A-Z_.]*[a-z0-9A-Z])?$/

/** Parses a label selector into predicates over a labels map. Supports =, ==, !=, in, notin, exists, !key. */
export function parseLabelSelector(sel) {
  if (!sel) return () => true
  const reqs = splitTop(sel).map((term) => {
    let m
    if ((m = /^(\S+)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term))) {
      const [, key, op, list] = m
      if (!KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}"`)
      const vals = new Set(list.split(',').map((v) => v.trim()).filter((v) => v !== ''))
      return op === 'in' ? (l) => key in l && vals.has(l[key]) : (l) => !(key in l) || !vals.has(l[key])
    }
    if ((m = /^(\S+?)\s*(==|!=|=)\s*(\S*)$/.exec(term))) {
      const [, key, op, val] = m
      if (!KEY.test(key)) throw new SelectorError(`unable to parse requirement: invalid label key "${key}"`)
      return op === '!=' ? (l) => l[key] !== val : (l) => key in l && l[key] === val
    }
    if ((m = /^!\s*(\S+)$/.exec(term))) {
      const key = m[1]
      return (l) => !(key in l)
    }
    if (KEY.test(term)) return (l) => term in l
    throw new SelectorError(`unable to parse requirement: found '${term}', expected: in, notin, =, ==, !=, gt, lt`)
  })
  return (labels) => reqs.every((r) => r(labels ?? {}))
}

/** Field paths the API server accepts per kind (metadata.name/namespace everywhere). */
const FIELDS = {
  Pod: ['status.phase', 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'status.podIP', 'status.nominatedNodeName'],
  Event: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type'],
  Secret: ['type'],
  Namespace: ['status.phase'],
  Node: ['spec.unschedulable'],
  Job: ['status.successful'],
  ReplicaSet: ['status.replicas'],
}

function getPath(obj, path) {
  if (path === 'source') return obj.source?.component ?? ''
  let v = obj
  for (const p of path.split('.')) v = v == null ? undefined : v[p]
  return v == null ? '' : String(v)
}

/** Parses a field selector for a kind; unsupported fields throw (400 BadRequest). */
export function parseFieldSelector(sel, kind) {
  if (!sel) return () => true
  const allowed = new Set(['metadata.name', 'metadata.namespace', ...(FIELDS[kind] ?? [])])
  const reqs = splitTop(sel).map((term) => {
    const m = /^([^=!]+?)\s*(==|!=|=)\s*(.*)$/.exec(term)
    if (!m) throw new SelectorError(`invalid selector: '${term}'; can't understand '${term}'`)
    const [, field, op, val] = m
    if (!allowed.has(field)) throw new SelectorError(`field label not supported: ${field}`)
    return op === '!=' ? (o) => getPath(o, field) !== val : (o) => getPath(o, field) === val
  })
  return (obj) => reqs.every((r) => r(obj))
}
