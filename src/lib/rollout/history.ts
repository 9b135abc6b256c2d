/**
 * Revision history of a deployed model, kept in the cluster (so CI and a person see the same
 * thing): one ConfigMap per model in the model's namespace, `aip-history-<name>`, holding the last
 * HISTORY_LIMIT revisions. A revision is what one `model deploy` / `model rollout` promote / `model
 * rollback` applied: the rendered objects exactly as applied, the deploy inputs and a summary.
 *
 * Layout of the ConfigMap (readable with kubectl):
 *   data["revision-N.json"]            {revision, recordedAt, source, summary, options, digest, ...}
 *   binaryData["revision-N.objects.gz"] gzip of the JSON array of the objects
 *
 * Size: kube-apiserver rejects a ConfigMap whose data values plus binaryData bytes exceed 1 MiB
 * (ValidateConfigMap in pkg/apis/core/validation/validation.go: totalSize > core.MaxSecretSize).
 * The objects of one model are a few KiB gzipped, so 5 revisions fit easily; when they would not,
 * the OLDEST revisions are dropped first (the new one is always kept) and the caller is told
 * (`onNotice`); a new revision whose objects alone do not fit is kept without its objects
 * (`objectsOmitted`), and rolling back to it is refused.
 *
 * Concurrency: every write is an update carrying the resourceVersion that was read (optimistic
 * concurrency, https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions): a
 * 409 Conflict (or AlreadyExists on the first create) re-reads and retries, so two writers never
 * lose a revision and numbers stay unique and increasing.
 *
 * Secrets: objects of kind Secret and literal values of secret-looking environment variables are
 * refused (aip renders references, never values); option values under secret-looking keys are
 * dropped before they are stored.
 */
import {createHash} from 'node:crypto'
import {gunzipSync, gzipSync} from 'node:zlib'

import {AipError, ConflictError, NotFoundError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import {MANAGED_BY_LABEL, MANAGED_BY_VALUE, MODEL_LABEL} from '../kube/labels.js'
import type {KubeObject} from '../kube/types.js'

/** Revisions kept per model. */
export const HISTORY_LIMIT = 5
/** Label that marks a history ConfigMap (teardown and `model list` tell it apart by this). */
export const HISTORY_LABEL = 'aip.dev/history'
/** core.MaxSecretSize, the limit kube-apiserver applies to a ConfigMap's data + binaryData. */
export const CONFIGMAP_MAX_BYTES = 1024 * 1024
/** What history uses of it: headroom for keys and a revision written while another one is read. */
export const HISTORY_MAX_BYTES = CONFIGMAP_MAX_BYTES - 32 * 1024

export type RevisionSource = 'deploy' | 'rollout' | 'rollback'

/** What a revision runs, for `model history` and its diffs. */
export interface RevisionSummary {
  /** The catalog entry / deployment name. */
  model: string
  hfRepo: string
  /** Hub revision (commit sha or branch). */
  hfRevision: string
  image: string
  maxModelLen: number
  quantization?: string
  /** GPUs per replica (vLLM --tensor-parallel-size). */
  tensorParallel: number
  gpu: string
  /** Other deploy settings that differ from the catalog entry of the same name: setting -> value. */
  overrides?: Record<string, string>
}

export interface Revision {
  /** Increases by one per recorded revision (per history ConfigMap). */
  revision: number
  /** RFC 3339. */
  recordedAt: string
  source: RevisionSource
  summary: RevisionSummary
  /** The deploy inputs (catalog entry, render options): never secret values. */
  options: Record<string, unknown>
  /** The rendered objects exactly as applied ([] when `objectsOmitted`). */
  objects: KubeObject[]
  /** sha256 of the canonical JSON of the objects (a rerun of the same deploy has the same digest). */
  digest: string
  /** The revision this one restored (source rollback). */
  restoredFrom?: number
  /** Set when the objects did not fit the ConfigMap: this revision cannot be rolled back to. */
  objectsOmitted?: string
}

export interface RecordInput {
  source: RevisionSource
  summary: RevisionSummary
  options: Record<string, unknown>
  objects: KubeObject[]
  restoredFrom?: number
}

export interface RecordOptions {
  /** Told when old revisions were dropped to stay under the ConfigMap size limit. */
  onNotice?: (message: string) => void
  /** Clock (tests). */
  now?: () => Date
  signal?: AbortSignal
  /** Write attempts on conflicts (default 8). */
  attempts?: number
}

/** Name of the history ConfigMap of a model (dots of the entry name become dashes, as objectName does). */
export function historyName(model: string): string {
  return `aip-history-${model.replace(/\./g, '-')}`
}

export function historyLabels(model: string): Record<string, string> {
  return {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [MODEL_LABEL]: model, [HISTORY_LABEL]: 'true'}
}

/** True for the history ConfigMap (so listings of a model's objects can leave it out). */
export function isHistoryObject(obj: KubeObject): boolean {
  return obj.kind === 'ConfigMap' && obj.metadata.labels?.[HISTORY_LABEL] === 'true'
}

/** JSON with object keys sorted, so equal objects give equal digests whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export function objectsDigest(objects: KubeObject[]): string {
  return createHash('sha256').update(canonicalJson(objects)).digest('hex')
}

const SECRET_KEY = /(token|password|passwd|secret|api[-_]?key|master[-_]?key|credential|access[-_]?key|private[-_]?key)/i
/** Environment variable names that carry secrets (HF_TOKEN, LITELLM_MASTER_KEY, ...; not MAX_TOKENS). */
const SECRET_ENV = /(^|_)(TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|MASTER_?KEY|ACCESS_?KEY|SECRET_ACCESS_KEY|PRIVATE_?KEY|CREDENTIALS?)($|_)/i

/** `https://user:pass@host/` -> `https://host/` (credentials in an endpoint URL are not kept). */
function withoutUserinfo(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, '$1')
}

/**
 * Option values under secret-looking keys are dropped (references such as {name, key} objects
 * stay), and credentials in URLs are cut out.
 */
export function scrubOptions<T>(value: T): T {
  if (typeof value === 'string') return withoutUserinfo(value) as T
  if (Array.isArray(value)) return value.map((v) => scrubOptions(v)) as T
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue
      if (SECRET_KEY.test(k) && typeof v === 'string') continue
      out[k] = scrubOptions(v)
    }
    return out as T
  }
  return value
}

/** Refuses Secrets and literal values of secret-looking env vars (render only references them). */
function checkNoSecrets(objects: KubeObject[]): void {
  for (const o of objects) {
    if (o.kind === 'Secret') throw new AipError('FAILED', `revision history never stores Secrets (got Secret ${o.metadata.name})`, {fix: 'leave Secrets out of the objects recorded; reference them from the pod spec'})
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) return v.forEach(walk)
      if (!v || typeof v !== 'object') return
      const r = v as Record<string, unknown>
      if (Array.isArray(r.env)) {
        for (const e of r.env as Array<{name?: string; value?: unknown}>) {
          if (e && typeof e.value === 'string' && e.value !== '' && SECRET_ENV.test(e.name ?? '')) {
            throw new AipError('FAILED', `revision history never stores secret values: ${o.kind} ${o.metadata.name} sets env ${e.name} literally`, {fix: 'reference the value from a Secret (valueFrom.secretKeyRef)'})
          }
        }
      }
      for (const x of Object.values(r)) walk(x)
    }
    walk(o)
  }
}

interface ConfigMap extends KubeObject {
  data?: Record<string, string>
  binaryData?: Record<string, string>
}

type StoredMeta = Omit<Revision, 'objects'>

const META_KEY = /^revision-(\d+)\.json$/
const metaKey = (n: number): string => `revision-${n}.json`
const objectsKey = (n: number): string => `revision-${n}.objects.gz`

function configMapPath(namespace: string, name?: string): string {
  return `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps${name ? `/${encodeURIComponent(name)}` : ''}`
}

async function readConfigMap(client: KubeClient, namespace: string, model: string, signal?: AbortSignal): Promise<ConfigMap | undefined> {
  try {
    return await client.request<ConfigMap>('GET', configMapPath(namespace, historyName(model)), {signal})
  } catch (error) {
    if (error instanceof NotFoundError && (error.details as {status?: number} | undefined)?.status === 404) return undefined
    throw error
  }
}

/** Revisions stored in a history ConfigMap, newest first. */
function parse(cm: ConfigMap | undefined): Revision[] {
  if (!cm) return []
  const out: Revision[] = []
  for (const [k, text] of Object.entries(cm.data ?? {})) {
    const m = META_KEY.exec(k)
    if (!m) continue
    let meta: StoredMeta
    try {
      meta = JSON.parse(text) as StoredMeta
    } catch {
      continue // hand-edited: skip what cannot be read rather than fail every command
    }
    const blob = cm.binaryData?.[objectsKey(Number(m[1]))]
    let objects: KubeObject[] = []
    if (blob && !meta.objectsOmitted) {
      try {
        objects = JSON.parse(gunzipSync(Buffer.from(blob, 'base64')).toString('utf8')) as KubeObject[]
      } catch {
        meta = {...meta, objectsOmitted: 'the stored objects cannot be read'}
      }
    } else if (!meta.objectsOmitted) {
      meta = {...meta, objectsOmitted: 'the stored objects are missing'}
    }
    out.push({...meta, revision: Number(m[1]), objects})
  }
  return out.sort((a, b) => b.revision - a.revision)
}

/** Bytes kube-apiserver counts against the 1 MiB limit: data values plus decoded binaryData. */
export function configMapDataBytes(cm: Pick<ConfigMap, 'data' | 'binaryData'>): number {
  let n = 0
  for (const v of Object.values(cm.data ?? {})) n += Buffer.byteLength(v)
  for (const v of Object.values(cm.binaryData ?? {})) n += Buffer.from(v, 'base64').length
  return n
}

interface Encoded {
  revision: number
  meta: string
  blob?: string
}

function encode(r: Revision): Encoded {
  const {objects, ...meta} = r
  return {revision: r.revision, meta: JSON.stringify(meta), blob: r.objectsOmitted ? undefined : gzipSync(Buffer.from(JSON.stringify(objects))).toString('base64')}
}

function toData(list: Encoded[]): Pick<ConfigMap, 'data' | 'binaryData'> {
  const data: Record<string, string> = {}
  const binaryData: Record<string, string> = {}
  for (const e of list) {
    data[metaKey(e.revision)] = e.meta
    if (e.blob) binaryData[objectsKey(e.revision)] = e.blob
  }
  return {data, binaryData}
}

/**
 * Records a revision: none when the objects equal the newest revision's (a rerun of deploy records
 * nothing; the newest is returned). Keeps the newest HISTORY_LIMIT revisions within the size limit.
 */
export async function recordRevision(client: KubeClient, namespace: string, name: string, input: RecordInput, opts: RecordOptions = {}): Promise<Revision> {
  checkNoSecrets(input.objects)
  const digest = objectsDigest(input.objects)
  const options = scrubOptions(input.options)
  const attempts = opts.attempts ?? 8
  for (let attempt = 1; ; attempt++) {
    const cm = await readConfigMap(client, namespace, name, opts.signal)
    const existing = parse(cm)
    const newest = existing[0]
    if (newest && newest.digest === digest) return newest
    const revision: Revision = {
      revision: (newest?.revision ?? 0) + 1,
      recordedAt: (opts.now?.() ?? new Date()).toISOString(),
      source: input.source,
      summary: input.summary,
      options,
      objects: input.objects,
      digest,
      ...(input.restoredFrom !== undefined ? {restoredFrom: input.restoredFrom} : {}),
    }
    let fresh = encode(revision)
    // the newest HISTORY_LIMIT (the new one first), re-encoded from what was read
    const kept: Encoded[] = existing.slice(0, HISTORY_LIMIT - 1).map((r) => encode(r))
    const dropped: number[] = []
    if (configMapDataBytes(toData([fresh])) > HISTORY_MAX_BYTES) {
      revision.objectsOmitted = `the objects (${fresh.blob?.length ?? 0} bytes as base64) exceed the ConfigMap size limit`
      fresh = encode(revision)
      opts.onNotice?.(`revision ${revision.revision} of ${name}: its objects are too large for the history ConfigMap and are not kept (rollback to it will be refused)`)
    }
    while (kept.length > 0 && configMapDataBytes(toData([fresh, ...kept])) > HISTORY_MAX_BYTES) dropped.push(kept.pop()!.revision)
    if (dropped.length) opts.onNotice?.(`history of ${name}: dropped revision(s) ${dropped.sort((a, b) => a - b).join(', ')} to stay under the 1 MiB ConfigMap limit`)
    const body: ConfigMap = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        ...(cm ? {resourceVersion: cm.metadata.resourceVersion} : {}),
        name: historyName(name),
        namespace,
        labels: {...(cm?.metadata.labels ?? {}), ...historyLabels(name)},
        annotations: {...(cm?.metadata.annotations ?? {}), 'aip.dev/history-limit': String(HISTORY_LIMIT)},
      },
      ...toData([fresh, ...kept]),
    }
    try {
      if (cm) await client.request('PUT', configMapPath(namespace, historyName(name)), {body, signal: opts.signal})
      else await client.request('POST', configMapPath(namespace), {body, signal: opts.signal})
      return revision
    } catch (error) {
      // 409: Conflict (someone wrote since we read) or AlreadyExists (someone created it first)
      if (!(error instanceof ConflictError) || attempt >= attempts) {
        if (error instanceof ConflictError) throw new ConflictError(`could not record revision history of ${name}: the ConfigMap ${namespace}/${historyName(name)} kept changing (${attempts} attempts)`, {fix: 'retry the command', cause: error})
        throw error
      }
      await new Promise((r) => setTimeout(r, Math.min(1000, 20 * 2 ** attempt) * (0.5 + Math.random())))
    }
  }
}

/** The revisions of a model, newest first ([] when none was recorded). */
export async function listRevisions(client: KubeClient, namespace: string, name: string, opts: {signal?: AbortSignal} = {}): Promise<Revision[]> {
  return parse(await readConfigMap(client, namespace, name, opts.signal))
}

/** One revision by number; NotFoundError (exit 4) listing the available numbers. */
export async function getRevision(client: KubeClient, namespace: string, name: string, n: number, opts: {signal?: AbortSignal} = {}): Promise<Revision> {
  const all = await listRevisions(client, namespace, name, opts)
  const hit = all.find((r) => r.revision === n)
  if (hit) return hit
  throw new NotFoundError(
    all.length ? `${name} has no revision ${n} (available: ${all.map((r) => r.revision).sort((a, b) => a - b).join(', ')})` : `${name} has no recorded revisions in namespace ${namespace}`,
    {fix: all.length ? `pick one of them: aip model history ${name}` : `deploy it first: aip model deploy ${name}`, details: {available: all.map((r) => r.revision)}},
  )
}

/** Deletes the history ConfigMap (model delete); false when there was none. */
export async function deleteHistory(client: KubeClient, namespace: string, name: string, opts: {signal?: AbortSignal} = {}): Promise<boolean> {
  try {
    await client.request('DELETE', configMapPath(namespace, historyName(name)), {signal: opts.signal})
    return true
  } catch (error) {
    if (error instanceof NotFoundError) return false
    throw error
  }
}
