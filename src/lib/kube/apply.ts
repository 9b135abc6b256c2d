/**
 * Server-side apply (https://kubernetes.io/docs/reference/using-api/server-side-apply/) with field
 * manager `aip`, server-side dry run, and `kubectl diff`-style diffs of live vs. merged objects.
 */
import {createRequire} from 'node:module'

import {ConflictError, NotFoundError} from '../errors.js'
import type {KubeClient} from './client.js'
import {getObject} from './client.js'
import {YAML_OUTPUT} from '../output/yaml.js'
import {FIELD_MANAGER} from './labels.js'
import type {KubeObject, ObjectRef} from './types.js'
import {refString} from './types.js'

export interface ApplyOptions {
  /** Take ownership of fields another manager owns (--force-conflicts). */
  force?: boolean
  /** 'server': the API server validates and merges but stores nothing (dryRun=All). */
  dryRun?: 'server'
  /** Default FIELD_MANAGER ('aip'). */
  fieldManager?: string
  signal?: AbortSignal
  /** Called after each object is applied. */
  onProgress?: (r: ApplyResult) => void
}

export interface ApplyResult {
  ref: ObjectRef
  /** As kubectl prints it: created, configured, unchanged. */
  action: 'created' | 'configured' | 'unchanged'
  /** The object as the API server returned it. */
  object: KubeObject
}

/** Fields that change on every write or belong to the server: left out of comparisons and diffs. */
export function normalizeForDiff(obj: KubeObject | undefined): KubeObject | undefined {
  if (!obj) return undefined
  const copy = JSON.parse(JSON.stringify(obj)) as KubeObject
  delete copy.status
  const m = copy.metadata ?? ({} as KubeObject['metadata'])
  for (const k of ['managedFields', 'resourceVersion', 'generation', 'uid', 'creationTimestamp', 'selfLink']) delete m[k]
  return copy
}

async function withNamespace(client: KubeClient, obj: KubeObject): Promise<{body: KubeObject; ref: ObjectRef; path: string}> {
  const r = await client.resourceFor(obj.apiVersion, obj.kind)
  if (!r) {
    throw new NotFoundError(`the API server does not serve ${obj.kind} (${obj.apiVersion}) needed by ${refString(obj)}`, {
      fix: `install the CRD or controller that provides ${obj.kind}, or deploy without it`,
      details: {apiVersion: obj.apiVersion, kind: obj.kind},
    })
  }
  const namespace = r.namespaced ? obj.metadata.namespace ?? client.namespace : undefined
  const body: KubeObject = {...obj, metadata: {...obj.metadata, ...(namespace ? {namespace} : {})}}
  if (!r.namespaced) delete body.metadata.namespace
  const ref: ObjectRef = {apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace}
  return {body, ref, path: await client.pathFor(ref)}
}

function conflictError(ref: ObjectRef, error: ConflictError): ConflictError {
  const causes = ((error.details?.causes as Array<{message?: string; field?: string}> | undefined) ?? []).filter((c) => c.field || c.message)
  const managers = [...new Set(causes.map((c) => /conflict with "([^"]+)"/.exec(c.message ?? '')?.[1]).filter(Boolean))] as string[]
  const fields = causes.map((c) => c.field).filter(Boolean) as string[]
  const who = managers.length ? `field manager ${managers.map((m) => `"${m}"`).join(', ')}` : 'another field manager'
  return new ConflictError(`${refString(ref)}: ${who} owns ${fields.length ? fields.join(', ') : 'fields aip sets'} with a different value`, {
    fix: 'rerun with --force-conflicts to take ownership of these fields (the other manager may set them back)',
    cause: error,
    details: {ref, managers, fields, message: error.message},
  })
}

async function applyOne(client: KubeClient, obj: KubeObject, opts: ApplyOptions): Promise<{ref: ObjectRef; live?: KubeObject; result: KubeObject}> {
  const {body, ref, path} = await withNamespace(client, obj)
  const live = await getObject(client, ref)
  try {
    const result = await client.request<KubeObject>('PATCH', path, {
      query: {fieldManager: opts.fieldManager ?? FIELD_MANAGER, force: opts.force ? 'true' : undefined, dryRun: opts.dryRun ? 'All' : undefined},
      body: JSON.stringify(body),
      contentType: 'application/apply-patch+yaml',
      signal: opts.signal,
    })
    return {ref, live, result}
  } catch (error) {
    if (error instanceof ConflictError && (error.details as {reason?: string} | undefined)?.reason === 'Conflict') throw conflictError(ref, error)
    throw error
  }
}

/**
 * Applies objects in order with server-side apply (field manager 'aip'). Each result says whether
 * the object was created, changed or already as applied. A conflict with another manager throws a
 * ConflictError naming the manager and the fields (unless `force`).
 */
export async function applyObjects(client: KubeClient, objects: KubeObject[], opts: ApplyOptions = {}): Promise<ApplyResult[]> {
  const out: ApplyResult[] = []
  for (const obj of objects) {
    const {ref, live, result} = await applyOne(client, obj, opts)
    const action: ApplyResult['action'] = !live ? 'created' : JSON.stringify(normalizeForDiff(live)) === JSON.stringify(normalizeForDiff(result)) ? 'unchanged' : 'configured'
    const r = {ref, action, object: result}
    opts.onProgress?.(r)
    out.push(r)
  }
  return out
}

export interface ObjectDiff {
  ref: ObjectRef
  action: 'create' | 'update' | 'unchanged'
  /** Unified diff of this object (empty when unchanged). */
  diff: string
}

export interface DiffResult {
  changed: boolean
  /** All object diffs concatenated, as `kubectl diff` prints them. */
  diff: string
  objects: ObjectDiff[]
}

/**
 * What applying would change, as `kubectl diff --server-side` shows it: the live object against the
 * result of a server-side dry-run apply, both as YAML with sorted keys, without managedFields,
 * resourceVersion, generation, uid, creationTimestamp and status.
 */
export async function diffObjects(client: KubeClient, objects: KubeObject[], opts: Pick<ApplyOptions, 'force' | 'fieldManager' | 'signal'> = {}): Promise<DiffResult> {
  // Loaded when a diff is asked for, with require as config/index.ts does: the bundle turns
  // `await import('yaml')` (a CommonJS package) into a chunk with a default export only, so
  // `const {stringify} = await import('yaml')` failed at run time with `stringify is not a function`
  // (test/e2e/bundle.test.ts checks every dynamic import of the bundle for this).
  const {stringify} = createRequire(import.meta.url)('yaml') as typeof import('yaml')
  const y = (o: KubeObject | undefined): string => (o ? stringify(o, {...YAML_OUTPUT, sortMapEntries: true}) : '')
  const objs: ObjectDiff[] = []
  for (const obj of objects) {
    const {ref, live, result} = await applyOne(client, obj, {...opts, dryRun: 'server'})
    const a = y(normalizeForDiff(live))
    const b = y(normalizeForDiff(result))
    const group = ref.apiVersion.replace('/', '.')
    const file = [group, ref.kind, ref.namespace, ref.name].filter(Boolean).join('.')
    const diff = a === b ? '' : unifiedDiff(a, b, `LIVE/${file}`, `MERGED/${file}`)
    objs.push({ref, action: !live ? 'create' : diff ? 'update' : 'unchanged', diff})
  }
  const diff = objs.map((o) => o.diff).filter(Boolean).join('')
  return {changed: diff !== '', diff, objects: objs}
}

/** A unified diff (3 lines of context) of two texts, from an LCS of their lines. */
export function unifiedDiff(a: string, b: string, nameA: string, nameB: string, context = 3): string {
  const A = a === '' ? [] : a.replace(/\n$/, '').split('\n')
  const B = b === '' ? [] : b.replace(/\n$/, '').split('\n')
  const n = A.length
  const m = B.length
  // LCS table from the end (objects are a few hundred lines at most).
  const L: Uint32Array[] = Array.from({length: n + 1}, () => new Uint32Array(m + 1))
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) L[i][j] = A[i] === B[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1])
  type Op = {t: ' ' | '-' | '+'; s: string; ai: number; bi: number}
  const ops: Op[] = []
  let i = 0
  let j = 0
  while (i < n || j < m) {
    if (i < n && j < m && A[i] === B[j]) ops.push({t: ' ', s: A[i], ai: i++, bi: j++})
    else if (j < m && (i >= n || L[i][j + 1] >= L[i + 1][j])) ops.push({t: '+', s: B[j], ai: i, bi: j++})
    else ops.push({t: '-', s: A[i], ai: i++, bi: j})
  }
  const out: string[] = [`diff -u -N ${nameA} ${nameB}`, `--- ${nameA}`, `+++ ${nameB}`]
  let k = 0
  while (k < ops.length) {
    while (k < ops.length && ops[k].t === ' ') k++
    if (k >= ops.length) break
    const start = Math.max(0, k - context)
    let end = k
    let lastChange = k
    while (end < ops.length && (ops[end].t !== ' ' || end - lastChange <= context * 2)) {
      if (ops[end].t !== ' ') lastChange = end
      end++
    }
    end = Math.min(ops.length, lastChange + context + 1)
    const hunk = ops.slice(start, end)
    const aLen = hunk.filter((o) => o.t !== '+').length
    const bLen = hunk.filter((o) => o.t !== '-').length
    const aStart = aLen ? hunk[0].ai + 1 : hunk[0].ai
    const bStart = bLen ? hunk[0].bi + 1 : hunk[0].bi
    out.push(`@@ -${aStart},${aLen} +${bStart},${bLen} @@`)
    for (const o of hunk) out.push(o.t + o.s)
    k = end
  }
  return out.join('\n') + '\n'
}
