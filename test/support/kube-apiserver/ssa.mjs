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
// Simplification (documented in the SSA docs as the listType=atomic behaviour): every list is
// atomic, i.e. owned and replaced as a whole. Real associative lists (containers by name) merge
// per item; aip always applies whole objects, so atomic lists give the same result for it.
import {clone, deepEqual, isMap} from './patch.mjs'

const SEP = '\u0000'
/** Fields nobody owns (the server sets them) — metadata.name/namespace are identity, not owned. */
const SKIP_TOP = new Set(['apiVersion', 'kind', 'status'])
const SKIP_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink'])

/** Leaf paths (arrays of keys) of an object: scalars, lists and empty maps are leaves. */
export function leafPaths(obj) {
  const out = []
  const walk = (v, path) => {
    if (isMap(v) && Object.keys(v).length > 0) {
      for (const [k, c] of Object.entries(v)) {
        if (path.length === 0 && SKIP_TOP.has(k)) continue
        if (path.length === 1 && path[0] === 'metadata' && SKIP_META.has(k)) continue
        walk(c, [...path, k])
      }
    } else if (path.length > 0) out.push(path)
  }
  walk(obj, [])
  return out
}

export const key = (path) => path.join(SEP)
export const unkey = (k) => k.split(SEP)
export const dotted = (path) => '.' + path.join('.')

export function getAt(obj, path) {
  let v = obj
  for (const p of path) {
    if (!isMap(v)) return undefined
    v = v[p]
  }
  return v
}

function setAt(obj, path, value) {
  let cur = obj
  for (const p of path.slice(0, -1)) {
    if (!isMap(cur[p])) cur[p] = {}
    cur = cur[p]
  }
  cur[path[path.length - 1]] = clone(value)
}

function deleteAt(obj, path) {
  const stack = []
  let cur = obj
  for (const p of path.slice(0, -1)) {
    if (!isMap(cur[p])) return
    stack.push([cur, p])
    cur = cur[p]
  }
  delete cur[path[path.length - 1]]
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
  for (const k of keys) {
    let cur = root
    for (const p of unkey(k)) cur = cur[`f:${p}`] ??= {}
  }
  return root
}
export function fromFieldsV1(f) {
  const out = new Set()
  const walk = (node, path) => {
    const kids = Object.keys(node ?? {}).filter((k) => k.startsWith('f:'))
    if (kids.length === 0) {
      if (path.length) out.add(key(path))
      return
    }
    for (const k of kids) walk(node[k], [...path, k.slice(2)])
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
 * Applies `config` as `manager` onto `live` (undefined: create). Returns {object, conflicts} where
 * conflicts is [{manager, apiVersion, field}] when not forced.
 */
export function serverSideApply(live, config, manager, {force = false, apiVersion, now}) {
  const base = live ? clone(live) : {apiVersion: config.apiVersion, kind: config.kind, metadata: {}}
  const managers = readManagers(base)
  const applied = new Set(leafPaths(config).map(key))
  const conflicts = []
  for (const m of managers) {
    if (m.manager === manager && m.operation === 'Apply') continue
    for (const owned of m.fields) {
      for (const a of applied) {
        if (!overlaps(owned, a)) continue
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
    const others = managers.some((m) => m !== mine && [...m.fields].some((o) => overlaps(o, f)))
    if (!others && ![...applied].some((a) => overlaps(a, f))) deleteAt(out, unkey(f))
  }
  for (const a of applied) setAt(out, unkey(a), getAt(config, unkey(a)))
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
export function recordUpdate(before, after, manager, {apiVersion, now, subresource}) {
  const managers = readManagers(before ?? after)
  const oldLeaves = new Set(before ? leafPaths(before).map(key) : [])
  const newLeaves = leafPaths(after).map(key)
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
