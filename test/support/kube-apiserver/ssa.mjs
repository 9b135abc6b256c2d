// Server-side apply and field management, simplified but faithful for maps and scalars.
// https://kubernetes.io/docs/reference/using-api/server-side-apply/
//  - every field is owned by one or more managers (metadata.managedFields, fieldsType FieldsV1);
//  - an apply by manager M conflicts when it sets a field another manager owns to a different
//    value ("Conflicts"); force=true takes the field over; equal values are shared;
//  - fields M applied before and omits now are removed if no other manager owns them
//    ("Field management": "If you remove a field from a manifest and apply that manifest, ... the
//    field is removed");
//  - non-apply writes (create, update, merge/strategic/json patch) take ownership of the fields
//    they changed for their manager (operation Update) and never conflict.
// Lists: associative lists (x-kubernetes-list-type: map, +listType=map in the Go types: containers
// and env by name, ports by containerPort+protocol, ...) merge item by item, each item and each
// of its fields owned on its own (FieldsV1 `k:{"name":"c"}` with `.` for the item itself); every
// other list is atomic, owned and replaced as a whole. The list types come from `types` (see
// schema.mjs listTypes: the built-in table and a CRD's schema); without it every list is atomic.
import {clone, deepEqual, isMap} from './patch.mjs'

const SEP = '\u0000'
/** Fields nobody owns (the server sets them) — metadata.name/namespace are identity, not owned. */
const SKIP_TOP = new Set(['apiVersion', 'kind', 'status'])
const SKIP_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink'])

/** A list item's path segment: `k:{"name":"c"}` (its key fields, in the list's key order). */
const itemSeg = (item, keys, defaults = {}) => `k:${JSON.stringify(Object.fromEntries(keys.map((k) => [k, item[k] ?? defaults[k] ?? null])))}`
const isItemSeg = (seg) => typeof seg === 'string' && seg.startsWith('k:')
const KEY_DEFAULTS = {protocol: 'TCP'} // the schema default of the ports' protocol key (SMD uses key defaults)

/**
 * Leaf paths (arrays of segments) of an object: scalars, atomic lists and empty maps are leaves;
 * an associative list contributes one path per item (`..., k:{...}`) and the paths of its fields.
 */
export function leafPaths(obj, types) {
  const out = []
  const walk = (v, path, cur) => {
    if (isMap(v) && Object.keys(v).length > 0) {
      for (const [k, c] of Object.entries(v)) {
        if (path.length === 0 && SKIP_TOP.has(k)) continue
        if (path.length === 1 && path[0] === 'metadata' && SKIP_META.has(k)) continue
        walk(c, [...path, k], types?.field(cur, k))
      }
      return
    }
    const keys = Array.isArray(v) && types?.mapKeys(cur)
    if (keys && v.every((x) => isMap(x))) {
      const item = types.item(cur)
      for (const x of v) {
        const p = [...path, itemSeg(x, keys, KEY_DEFAULTS)]
        out.push(p)
        for (const [k, c] of Object.entries(x)) walk(c, [...p, k], types.field(item, k))
      }
    } else if (path.length > 0) out.push(path)
  }
  walk(obj, [], types?.root())
  return out
}

export const key = (path) => path.join(SEP)
export const unkey = (k) => k.split(SEP)
/** A field path as the conflict messages print it: .spec.template.spec.containers[name="c"].image */
export const dotted = (path) =>
  path
    .map((seg) =>
      isItemSeg(seg)
        ? `[${Object.entries(JSON.parse(seg.slice(2)))
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(',')}]`
        : `.${seg}`,
    )
    .join('')

const matches = (x, seg) => {
  const want = JSON.parse(seg.slice(2))
  return isMap(x) && Object.entries(want).every(([k, v]) => (x[k] ?? KEY_DEFAULTS[k] ?? null) === v)
}

export function getAt(obj, path) {
  let v = obj
  for (const p of path) {
    if (isItemSeg(p)) {
      if (!Array.isArray(v)) return undefined
      v = v.find((x) => matches(x, p))
    } else {
      if (!isMap(v)) return undefined
      v = v[p]
    }
  }
  return v
}

/** The item of `list` at `seg`, appended (with its key fields) when missing. */
function itemOf(list, seg) {
  let it = list.find((x) => matches(x, seg))
  if (!it) {
    it = Object.fromEntries(Object.entries(JSON.parse(seg.slice(2))).filter(([, v]) => v !== null))
    list.push(it)
  }
  return it
}

function setAt(obj, path, value) {
  let cur = obj
  for (let i = 0; i < path.length - 1; i++) {
    const p = path[i]
    const next = path[i + 1]
    if (isItemSeg(p)) cur = itemOf(cur, p)
    else {
      if (isItemSeg(next) ? !Array.isArray(cur[p]) : !isMap(cur[p])) cur[p] = isItemSeg(next) ? [] : {}
      cur = cur[p]
    }
  }
  const last = path[path.length - 1]
  if (isItemSeg(last)) itemOf(cur, last)
  else cur[last] = clone(value)
}

function deleteAt(obj, path) {
  const stack = []
  let cur = obj
  for (const p of path.slice(0, -1)) {
    if (isItemSeg(p)) {
      if (!Array.isArray(cur)) return
      cur = cur.find((x) => matches(x, p))
      if (!cur) return
      continue
    }
    if (!isMap(cur[p]) && !Array.isArray(cur[p])) return
    stack.push([cur, p])
    cur = cur[p]
  }
  const last = path[path.length - 1]
  if (isItemSeg(last)) {
    if (!Array.isArray(cur)) return
    const i = cur.findIndex((x) => matches(x, last))
    if (i >= 0) cur.splice(i, 1)
    return
  }
  if (!isMap(cur)) return
  delete cur[last]
  // prune maps left empty (below the top-level sections)
  for (let i = stack.length - 1; i >= 1; i--) {
    const [parent, k] = stack[i]
    if (isMap(parent[k]) && Object.keys(parent[k]).length === 0) delete parent[k]
    else break
  }
}

/** FieldsV1 ({"f:spec":{"f:replicas":{}}}) <-> set of path keys. */
export function toFieldsV1(keys) {
  const root = {}
  const set = new Set(keys)
  for (const k of keys) {
    let cur = root
    for (const p of unkey(k)) cur = cur[isItemSeg(p) ? p : `f:${p}`] ??= {}
  }
  // an item (or map) owned itself and through its fields: `.` marks the node itself
  const mark = (node, path) => {
    for (const [seg, child] of Object.entries(node)) {
      if (seg === '.') continue
      const p = [...path, isItemSeg(seg) ? seg : seg.slice(2)]
      if (Object.keys(child).length && set.has(key(p))) child['.'] = {}
      mark(child, p)
    }
  }
  mark(root, [])
  return root
}
export function fromFieldsV1(f) {
  const out = new Set()
  const walk = (node, path) => {
    const kids = Object.keys(node ?? {}).filter((k) => k.startsWith('f:') || k.startsWith('k:'))
    if (kids.length === 0 || '.' in (node ?? {})) {
      if (path.length) out.add(key(path))
    }
    for (const k of kids) walk(node[k], [...path, k.startsWith('k:') ? k : k.slice(2)])
  }
  walk(f, [])
  return out
}

/** Managers of an object: [{manager, operation, apiVersion, time, fields:Set}] */
export function readManagers(obj) {
  return (obj?.metadata?.managedFields ?? []).map((m) => ({manager: m.manager, operation: m.operation, apiVersion: m.apiVersion, time: m.time, subresource: m.subresource, fields: fromFieldsV1(m.fieldsV1)}))
}

export function writeManagers(obj, managers, now) {
  const entries = managers
    .filter((m) => m.fields.size > 0)
    .map((m) => ({
      manager: m.manager,
      operation: m.operation,
      apiVersion: m.apiVersion,
      time: m.time ?? now,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1([...m.fields].sort()),
      ...(m.subresource ? {subresource: m.subresource} : {}),
    }))
  if (entries.length) obj.metadata.managedFields = entries
  else delete obj.metadata.managedFields
}

const overlaps = (a, b) => a === b || a.startsWith(b + SEP) || b.startsWith(a + SEP)
/**
 * Whether owning `o` keeps field `f` in the object: the same field, a field inside it, or an
 * atomic value around it. Owning a list item (`..., k:{...}`) keeps the item, not the fields of
 * it that nobody owns.
 */
const keeps = (o, f) => o === f || o.startsWith(f + SEP) || (f.startsWith(o + SEP) && !isItemSeg(unkey(o).pop()))

/**
 * Applies `config` as `manager` onto `live` (undefined: create). Returns {object, conflicts} where
 * conflicts is [{manager, apiVersion, field}] when not forced.
 */
export function serverSideApply(live, config, manager, {force = false, apiVersion, now, types}) {
  const base = live ? clone(live) : {apiVersion: config.apiVersion, kind: config.kind, metadata: {}}
  const managers = readManagers(base)
  const applied = new Set(leafPaths(config, types).map(key))
  const conflicts = []
  for (const m of managers) {
    if (m.manager === manager && m.operation === 'Apply') continue
    for (const owned of m.fields) {
      for (const a of applied) {
        if (!overlaps(owned, a)) continue
        // an item of an associative list owned as such (`k:{...}`) holds no value: owning it and
        // setting one of its fields do not conflict; two owners of the same item share it
        const shorter = unkey(owned.length <= a.length ? owned : a)
        if (isItemSeg(shorter[shorter.length - 1])) continue
        const path = unkey(owned.length >= a.length ? owned : a)
        if (!deepEqual(getAt(base, path), getAt(config, path))) conflicts.push({manager: m.manager, apiVersion: m.apiVersion, field: dotted(unkey(owned)), owned, a})
      }
    }
  }
  if (conflicts.length && !force) return {conflicts: dedupe(conflicts)}
  // force: conflicting fields move to this manager
  for (const c of conflicts) {
    const m = managers.find((x) => x.manager === c.manager && x.apiVersion === c.apiVersion)
    for (const f of [...(m?.fields ?? [])]) if (overlaps(f, c.a)) m.fields.delete(f)
  }
  let mine = managers.find((m) => m.manager === manager && m.operation === 'Apply')
  const previously = mine ? new Set(mine.fields) : new Set()
  const out = base
  // fields this manager stops applying: removed when nobody else owns them
  for (const f of previously) {
    if (applied.has(f)) continue
    const others = managers.some((m) => m !== mine && [...m.fields].some((o) => keeps(o, f)))
    if (!others && ![...applied].some((a) => keeps(a, f))) deleteAt(out, unkey(f))
  }
  for (const a of applied) setAt(out, unkey(a), getAt(config, unkey(a)))
  orderLikeConfig(out, config, types)
  if (!mine) {
    mine = {manager, operation: 'Apply', apiVersion, fields: new Set()}
    managers.push(mine)
  }
  const changedOwnership = !sameSet(mine.fields, applied)
  mine.fields = applied
  mine.apiVersion = apiVersion
  if (changedOwnership || !live) mine.time = now
  for (const k of ['labels', 'annotations']) if (isMap(out.metadata?.[k]) && Object.keys(out.metadata[k]).length === 0) delete out.metadata[k]
  writeManagers(out, managers, now)
  return {object: out, conflicts: []}
}

/**
 * Associative lists keep the applied configuration's item order, then the items only other
 * managers own, in their previous order (structured-merge-diff merges lists in the order of the
 * applied object).
 */
function orderLikeConfig(out, config, types) {
  if (!types) return
  const walk = (o, c, cur) => {
    if (isMap(o) && isMap(c)) {
      for (const k of Object.keys(c)) walk(o[k], c[k], types.field(cur, k))
      return
    }
    const keys = Array.isArray(o) && Array.isArray(c) && types.mapKeys(cur)
    if (!keys) return
    const segs = c.filter(isMap).map((x) => itemSeg(x, keys, KEY_DEFAULTS))
    const first = segs.map((sg) => o.find((x) => matches(x, sg))).filter(Boolean)
    const rest = o.filter((x) => !first.includes(x))
    o.splice(0, o.length, ...first, ...rest)
    const item = types.item(cur)
    for (const x of c) if (isMap(x)) walk(o.find((y) => matches(y, itemSeg(x, keys, KEY_DEFAULTS))), x, item)
  }
  walk(out, config, types.root())
}

function sameSet(a, b) {
  return a.size === b.size && [...a].every((x) => b.has(x))
}

function dedupe(conflicts) {
  const seen = new Set()
  return conflicts.filter((c) => {
    const k = c.manager + c.field
    if (seen.has(k)) return false
    seen.add(k)
    return true
  })
}

/** A non-apply write by `manager`: it takes the fields whose value changed (operation Update). */
export function recordUpdate(before, after, manager, {apiVersion, now, subresource, types}) {
  const managers = readManagers(before ?? after)
  const oldLeaves = new Set(before ? leafPaths(before, types).map(key) : [])
  const newLeaves = leafPaths(after, types).map(key)
  const changed = new Set()
  for (const k of newLeaves) if (!before || !oldLeaves.has(k) || !deepEqual(getAt(before, unkey(k)), getAt(after, unkey(k)))) changed.add(k)
  const removed = [...oldLeaves].filter((k) => getAt(after, unkey(k)) === undefined)
  for (const m of managers) {
    for (const f of [...m.fields]) if ([...changed].some((c) => overlaps(c, f)) || removed.includes(f)) m.fields.delete(f)
  }
  if (changed.size) {
    let mine = managers.find((m) => m.manager === manager && m.operation === 'Update' && (m.subresource ?? '') === (subresource ?? ''))
    if (!mine) {
      mine = {manager, operation: 'Update', apiVersion, fields: new Set(), subresource}
      managers.push(mine)
    }
    for (const c of changed) mine.fields.add(c)
    mine.time = now
  }
  writeManagers(after, managers, now)
  return after
}

/** The Status message of an apply conflict, formatted as the API server writes it. */
export function conflictMessage(conflicts) {
  const n = conflicts.length
  const byMgr = new Map()
  for (const c of conflicts) {
    const k = `"${c.manager}" using ${c.apiVersion}`
    if (!byMgr.has(k)) byMgr.set(k, [])
    byMgr.get(k).push(c.field)
  }
  if (n === 1) return `Apply failed with 1 conflict: conflict with ${[...byMgr.keys()][0]}: ${conflicts[0].field}`
  // structured-merge-diff Conflicts.Error(): grouped by manager, managers sorted
  const parts = [...byMgr.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, fields]) => `conflicts with ${k}:\n${fields.map((f) => `- ${f}`).join('\n')}`)
  return `Apply failed with ${n} conflicts: ${parts.join('\n')}`
}
