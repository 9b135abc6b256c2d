// Patch formats: JSON merge patch (RFC 7386), a simplified strategic merge patch, JSON patch (RFC 6902).

export const clone = (o) => (o === undefined ? undefined : structuredClone(o))
export const isMap = (v) => v !== null && typeof v === 'object' && !Array.isArray(v)

export function deepEqual(a, b) {
  if (a === b) return true
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]))
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]))
}

/** RFC 7386: maps merge, null deletes, everything else (lists too) replaces. */
export function mergePatch(target, patch) {
  if (!isMap(patch)) return clone(patch)
  const out = isMap(target) ? clone(target) : {}
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]
    else out[k] = mergePatch(out[k], v)
  }
  return out
}

/**
 * Strategic merge patch (apimachinery/pkg/util/strategicpatch): like a merge patch, except lists
 * with a patch merge key merge item by item on it (containers, env and volumes by name, container
 * ports by containerPort, Service ports by port, volumeMounts by mountPath: the first list-map key
 * of `types`, see schema.mjs listTypes), `$patch: delete` in such an item removes it, and
 * metadata.finalizers merges as a set. Other lists are replaced. Without `types`, lists of items
 * with a `name` merge by name. A `null` list (e.g. {"metadata":{"finalizers":null}}) deletes the field.
 */
export function strategicMergePatch(target, patch, path = '', types, cur = types?.root()) {
  if (!isMap(patch)) return clone(patch)
  const out = isMap(target) ? clone(target) : {}
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k.startsWith('$setElementOrder') || k.startsWith('$retainKeys')) continue
    const p = `${path}.${k}`
    const c = types?.field(cur, k)
    const mergeKey = types ? types.mapKeys(c)?.[0] : 'name'
    if (v === null) delete out[k]
    else if (Array.isArray(v) && Array.isArray(out[k]) && p === '.metadata.finalizers') out[k] = [...new Set([...out[k], ...v])]
    else if (Array.isArray(v) && Array.isArray(out[k]) && mergeKey && v.every((x) => isMap(x) && x[mergeKey] !== undefined)) {
      const list = out[k].map((x) => clone(x))
      for (const item of v) {
        const i = list.findIndex((x) => isMap(x) && x[mergeKey] === item[mergeKey])
        if (item.$patch === 'delete') {
          if (i >= 0) list.splice(i, 1)
        } else if (i >= 0) list[i] = strategicMergePatch(list[i], item, p, types, types?.item(c))
        else list.push(clone(item))
      }
      out[k] = list
    } else out[k] = strategicMergePatch(out[k], v, p, types, c)
  }
  return out
}

export class JsonPatchError extends Error {}

function ptr(path) {
  if (path === '') return []
  if (!path.startsWith('/')) throw new JsonPatchError(`invalid JSON pointer "${path}"`)
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** RFC 6902 add/remove/replace/test/copy/move. */
export function jsonPatch(target, ops) {
  let doc = clone(target)
  if (!Array.isArray(ops)) throw new JsonPatchError('a JSON patch must be an array of operations')
  const parentOf = (parts) => {
    let cur = doc
    for (const p of parts.slice(0, -1)) {
      cur = cur?.[Array.isArray(cur) ? Number(p) : p]
      if (cur === undefined) throw new JsonPatchError(`doc is missing path: "/${parts.join('/')}"`)
    }
    return cur
  }
  const get = (parts) => parts.reduce((c, p) => (c == null ? undefined : c[Array.isArray(c) ? Number(p) : p]), doc)
  for (const op of ops) {
    const parts = ptr(op.path)
    const last = parts[parts.length - 1]
    if (op.op === 'test') {
      if (!deepEqual(get(parts), op.value)) throw new JsonPatchError(`testing value ${op.path} failed`)
      continue
    }
    let value = op.value
    if (op.op === 'copy' || op.op === 'move') {
      const from = ptr(op.from)
      value = clone(get(from))
      if (op.op === 'move') {
        const fp = parentOf(from)
        const fl = from[from.length - 1]
        if (Array.isArray(fp)) fp.splice(Number(fl), 1)
        else delete fp[fl]
      }
    }
    if (parts.length === 0) {
      doc = clone(value)
      continue
    }
    const parent = parentOf(parts)
    if (op.op === 'remove') {
      if (get(parts) === undefined) throw new JsonPatchError(`unable to remove nonexistent key: ${last}: missing value`)
      if (Array.isArray(parent)) parent.splice(Number(last), 1)
      else delete parent[last]
    } else if (op.op === 'replace') {
      if (get(parts) === undefined) throw new JsonPatchError(`replace operation does not apply: doc is missing key: ${op.path}: missing value`)
      if (Array.isArray(parent)) parent[Number(last)] = clone(value)
      else parent[last] = clone(value)
    } else if (op.op === 'add' || op.op === 'copy' || op.op === 'move') {
      if (Array.isArray(parent)) parent.splice(last === '-' ? parent.length : Number(last), 0, clone(value))
      else parent[last] = clone(value)
    } else throw new JsonPatchError(`unexpected operation "${op.op}"`)
  }
  return doc
}
