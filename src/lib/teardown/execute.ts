/**
 * The teardown executor: runs a plan's phases in order. Every phase derives its remaining work
 * from what still exists (an object already gone is done; one replaced after the plan — another
 * uid — is left alone), so a rerun after an interruption or a lost API server continues where the
 * last run stopped. Deletes carry a uid precondition; nothing the plan did not list is deleted.
 * The end state is verified before success is reported.
 */
import type {EKSClient} from '@aws-sdk/client-eks'
import {setMaxListeners} from 'node:events'
import type {S3Client} from '@aws-sdk/client-s3'

import {deleteCluster, deleteNodegroup, findCluster, type WaitOptions as EksWaitOptions} from '../aws/eks.js'
import {AipError, ConflictError, InterruptedError, NotFoundError, TimeoutError, UnreachableError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import type {KubeObject, ObjectRef} from '../kube/types.js'
import {refString} from '../kube/types.js'
import {discoverKinds, isBookkeeping, isManaged, type ListableKind, listManaged, listNamespaceContent} from './inventory.js'
import type {PhaseId, PlanItem, PlanPhase, TeardownPlan} from './plan.js'
import {sleep} from '../sleep.js'
import {httpTimeouts} from '../http/timeouts.js'

export interface TeardownEvent {
  phase: PhaseId | 'verify'
  status: 'start' | 'progress' | 'done'
  message: string
}

export interface ExecuteOptions {
  client: KubeClient
  eks?: {client: EKSClient; region: string; wait?: Omit<EksWaitOptions, 'signal' | 'onProgress'>}
  s3?: S3Client
  /** Limit of each wait for deletion (default 15 minutes). */
  timeoutMs?: number
  /** Remove finalizers of objects still held after the wait (their controllers are gone). */
  forceFinalizers?: boolean
  signal?: AbortSignal
  /**
   * Phase retries while the API server is unreachable: until it has been away for `outageMs`
   * (default: the HTTP timeout policy, 30 s) or after `attempts` (default: no limit), first
   * retry after `delayMs` (default 1 s, doubling up to 5 s).
   */
  reconnect?: {attempts?: number; delayMs?: number; outageMs?: number}
  onEvent?: (e: TeardownEvent) => void
}

export interface PhaseResult {
  id: PhaseId
  title: string
  deleted: string[]
  /** Already gone when the phase ran (an earlier, interrupted run deleted them). */
  alreadyGone: string[]
  /** Left alone: replaced after the plan, or a namespace holding objects created after the plan. */
  skipped: Array<{ref: string; reason: string}>
  /** Objects whose finalizers were removed (--force-finalizers). */
  forced: string[]
}

export interface TeardownResult {
  phases: PhaseResult[]
  /** aip-managed objects left that the plan did not list (created after it was shown). */
  leftovers: string[]
  kept: Array<{what: string; reason: string}>
  verified: boolean
}

const STUCK_FIX = 'the controller that owns the finalizer is gone or failing: fix it, or rerun with --force-finalizers to remove the finalizers (what they guard, e.g. a cloud load balancer, may be left behind)'


class Executor {
  private kinds?: ListableKind[]
  private removedWebhooks = new Set<string>()

  constructor(
    private readonly plan: TeardownPlan,
    private readonly o: ExecuteOptions,
  ) {}

  private emit(phase: TeardownEvent['phase'], status: TeardownEvent['status'], message: string): void {
    this.o.onEvent?.({phase, status, message})
  }

  private get client(): KubeClient {
    return this.o.client
  }

  private async get(ref: ObjectRef): Promise<KubeObject | undefined> {
    const {getObject} = await import('../kube/client.js')
    try {
      return await getObject(this.client, ref)
    } catch (error) {
      // the kind is no longer served (its CRD went): the object went with it
      if (error instanceof NotFoundError) return undefined
      throw error
    }
  }

  private async listKinds(): Promise<ListableKind[]> {
    this.kinds ??= await discoverKinds(this.client, this.o.signal)
    return this.kinds
  }

  async run(): Promise<TeardownResult> {
    const results: PhaseResult[] = []
    for (const phase of this.plan.phases) {
      if (this.o.signal?.aborted) throw this.o.signal.reason ?? new InterruptedError()
      this.emit(phase.id, 'start', `${phase.title} (${phase.items.length})`)
      const r = await this.withReconnect(phase, () => this.runPhase(phase))
      const parts = [r.deleted.length && `${r.deleted.length} deleted`, r.alreadyGone.length && `${r.alreadyGone.length} already gone`, r.skipped.length && `${r.skipped.length} left alone`, r.forced.length && `${r.forced.length} finalizers forced`].filter(Boolean)
      this.emit(phase.id, 'done', parts.join(', ') || 'nothing to do')
      results.push(r)
    }
    this.emit('verify', 'start', 'verifying the end state')
    const verify = await this.withReconnect({id: 'delete-namespaces', title: 'verification', items: []}, () => this.verify(results))
    this.emit('verify', 'done', verify.leftovers.length ? `done; ${verify.leftovers.length} aip objects created after the plan were left in place` : 'nothing the plan listed remains')
    return {phases: results, leftovers: verify.leftovers, kept: this.plan.kept, verified: true}
  }

  /**
   * Reruns an idempotent phase while the API server is unreachable, saying so once as it happens
   * (through the client's outage tracker, shared with the waits); past the outage bound a clear
   * exit-5 error that says a rerun continues, never a stuck finalizer.
   */
  private async withReconnect<T>(phase: PlanPhase, fn: () => Promise<T>): Promise<T> {
    const attempts = this.o.reconnect?.attempts ?? Number.POSITIVE_INFINITY
    const outageMs = this.o.reconnect?.outageMs ?? httpTimeouts().idleMs
    let delay = this.o.reconnect?.delayMs ?? 1000
    let since: number | undefined
    for (let i = 1; ; i++) {
      try {
        const r = await fn()
        if (since !== undefined) this.client.outage?.back()
        return r
      } catch (error) {
        // a wait already gave the outage its whole bound (kube/wait.ts): no second round of retries
        const waited = error instanceof UnreachableError && (error.details as {outage?: boolean} | undefined)?.outage === true
        if (!(error instanceof UnreachableError) || waited || phase.items.some((it) => it.target !== 'kube')) {
          if (error instanceof UnreachableError) throw this.lost(phase, error)
          throw error
        }
        since ??= Date.now()
        const down = Math.max(this.client.outage?.lost(error) ?? 0, Date.now() - since)
        if (i >= attempts || down >= outageMs) throw this.lost(phase, error)
        if (!this.client.outage) this.emit(phase.id, 'progress', `API server unreachable (${error.message}); retrying`)
        await sleep(Math.min(delay, Math.max(0, outageMs - down)), this.o.signal)
        delay = Math.min(delay * 2, 5000)
      }
    }
  }

  private lost(phase: PlanPhase, error: UnreachableError): UnreachableError {
    return new UnreachableError(`lost the API during "${phase.title}": ${error.message}`, {
      fix: 'check the cluster (aip cluster status), then rerun `aip teardown`: it continues where it stopped',
      cause: error,
      details: {...error.details, phase: phase.id},
    })
  }

  private newResult(phase: PlanPhase): PhaseResult {
    return {id: phase.id, title: phase.title, deleted: [], alreadyGone: [], skipped: [], forced: []}
  }

  private async runPhase(phase: PlanPhase): Promise<PhaseResult> {
    switch (phase.id) {
      case 'scale-models':
        return this.scale(phase)
      case 'delete-namespaces':
        return this.deleteNamespaces(phase)
      case 'delete-nodegroups':
      case 'delete-cluster':
        return this.eksPhase(phase)
      case 'delete-bucket':
        return this.bucketPhase(phase)
      default:
        return this.deleteAndWait(phase, phase.items)
    }
  }

  private async scale(phase: PlanPhase): Promise<PhaseResult> {
    const r = this.newResult(phase)
    for (const it of phase.items) {
      const live = await this.get(it.ref)
      const name = refString(it.ref)
      if (!live) {
        r.alreadyGone.push(name)
        continue
      }
      if (it.uid && live.metadata.uid !== it.uid) {
        r.skipped.push({ref: name, reason: 'replaced after the plan was shown'})
        continue
      }
      const body =
        it.ref.kind === 'ScaledObject'
          ? {metadata: {annotations: {'autoscaling.keda.sh/paused-replicas': '0'}}}
          : {spec: {replicas: 0}}
      try {
        await this.client.request('PATCH', await this.client.pathFor(it.ref), {body, contentType: 'application/merge-patch+json', signal: this.o.signal})
        r.deleted.push(name)
        this.emit(phase.id, 'progress', `${name}: ${it.detail ?? 'scaled to 0'}`)
      } catch (error) {
        if (error instanceof NotFoundError) r.alreadyGone.push(name)
        else throw error
      }
    }
    return r
  }

  /** DELETE with a uid precondition; a denying webhook listed in the plan is removed first. */
  private async deleteOne(it: PlanItem): Promise<'deleted' | 'gone' | 'replaced'> {
    const path = await this.client.pathFor(it.ref)
    const body = {kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background', ...(it.uid ? {preconditions: {uid: it.uid}} : {})}
    for (let attempt = 0; ; attempt++) {
      try {
        await this.client.request('DELETE', path, {body, signal: this.o.signal})
        return 'deleted'
      } catch (error) {
        if (error instanceof NotFoundError) return 'gone'
        if (error instanceof ConflictError && /precondition|UID/i.test(error.message)) return 'replaced'
        const webhook = /webhook "([^"]+)"/.exec((error as Error).message)?.[1]
        if (webhook && attempt === 0 && (await this.removePlannedWebhook(webhook))) continue
        if (webhook) {
          throw new AipError('FAILED', `deleting ${refString(it.ref)} is blocked by admission webhook "${webhook}": ${(error as Error).message}`, {
            fix: `the webhook's service is down; fix it, or delete its webhook configuration (kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations) and rerun`,
            cause: error,
          })
        }
        throw error
      }
    }
  }

  /** A delete was denied by webhook `name`: remove its configuration now if the plan lists it. */
  private async removePlannedWebhook(name: string): Promise<boolean> {
    const phase = this.plan.phases.find((p) => p.id === 'remove-webhooks')
    for (const it of phase?.items ?? []) {
      const live = await this.get(it.ref)
      if (!live || (it.uid && live.metadata.uid !== it.uid)) continue
      const hooks = (live.webhooks as Array<{name: string}> | undefined) ?? []
      if (!hooks.some((h) => h.name === name)) continue
      this.emit('remove-webhooks', 'progress', `${refString(it.ref)} blocks deletion (webhook ${name}): removing it now`)
      await this.deleteOne(it)
      this.removedWebhooks.add(refString(it.ref))
      return true
    }
    return false
  }

  private async deleteAndWait(phase: PlanPhase, items: PlanItem[]): Promise<PhaseResult> {
    const r = this.newResult(phase)
    const waitFor = await this.startDeletes(phase, items, r, (name, live) => `${name} deleted${live.metadata.finalizers?.length ? `, waiting for finalizers ${live.metadata.finalizers.join(', ')}` : ''}`)
    if (phase.id === 'remove-webhooks') return r // no finalizers; nothing to wait for
    await this.waitGoneOrForce(phase, waitFor, r)
    return r
  }

  /**
   * Issues the deletes of a phase (objects already terminating are not deleted again) and sorts
   * each item into the result: gone already, skipped (replaced after the plan was shown: a
   * different uid, or the delete's uid precondition failed), or deleted. Returns what to wait for.
   */
  private async startDeletes(phase: PlanPhase, items: PlanItem[], r: PhaseResult, progress: (name: string, live: KubeObject) => string): Promise<PlanItem[]> {
    const started: PlanItem[] = []
    for (const it of items) {
      const name = refString(it.ref)
      const live = await this.get(it.ref)
      if (!live) {
        r.alreadyGone.push(name)
        continue
      }
      if (it.uid && live.metadata.uid !== it.uid) {
        r.skipped.push({ref: name, reason: 'replaced after the plan was shown'})
        continue
      }
      if (!live.metadata.deletionTimestamp) {
        const res = await this.deleteOne(it)
        if (res === 'gone') {
          r.alreadyGone.push(name)
          continue
        }
        if (res === 'replaced') {
          r.skipped.push({ref: name, reason: 'replaced after the plan was shown'})
          continue
        }
        this.emit(phase.id, 'progress', progress(name, live))
      }
      r.deleted.push(name)
      started.push(it)
    }
    return started
  }

  private async waitGoneOrForce(phase: PlanPhase, items: PlanItem[], r: PhaseResult, holdersOf?: (it: PlanItem) => Promise<KubeObject[]>): Promise<void> {
    if (items.length === 0) return
    let stuck = await this.waitGone(phase, items, this.o.timeoutMs ?? 15 * 60_000)
    if (stuck.length === 0) return
    const describe = async (s: Array<{it: PlanItem; last?: KubeObject}>) => {
      const out: Array<{ref: string; finalizers: string[]; holders: Array<{ref: string; finalizers: string[]}>}> = []
      for (const x of s) {
        const holders = holdersOf ? (await holdersOf(x.it)).map((h) => ({ref: refString(h), finalizers: h.metadata.finalizers ?? []})) : []
        out.push({ref: refString(x.it.ref), finalizers: x.last?.metadata.finalizers ?? [], holders})
      }
      return out
    }
    if (!this.o.forceFinalizers) {
      const d = await describe(stuck)
      const text = d
        .map((x) => {
          const own = x.finalizers.length ? ` held by finalizer ${x.finalizers.join(', ')}` : ''
          const hold = x.holders.length ? ` held by ${x.holders.map((h) => `${h.ref} (finalizer ${h.finalizers.join(', ')})`).join(', ')}` : ''
          return `${x.ref}${own}${hold}` + (own || hold ? '' : ' still terminating')
        })
        .join('; ')
      throw new TimeoutError(`timed out during "${phase.title}": ${text}`, {fix: STUCK_FIX, details: {phase: phase.id, stuck: d}})
    }
    // --force-finalizers: patch the finalizers away (the objects themselves and what holds a namespace)
    for (const s of stuck) {
      const targets: KubeObject[] = holdersOf ? await holdersOf(s.it) : []
      if (s.last?.metadata.finalizers?.length && s.it.ref.kind !== 'Namespace') targets.push(s.last)
      for (const t of targets) {
        await this.stripFinalizers(t)
        r.forced.push(`${refString(t)} (${(t.metadata.finalizers ?? []).join(', ')})`)
        this.emit(phase.id, 'progress', `removed finalizers ${(t.metadata.finalizers ?? []).join(', ')} from ${refString(t)} (--force-finalizers)`)
      }
    }
    stuck = await this.waitGone(phase, stuck.map((s) => s.it), this.o.timeoutMs ?? 15 * 60_000)
    if (stuck.length > 0) {
      const d = await describe(stuck)
      throw new TimeoutError(`still present after removing finalizers: ${d.map((x) => x.ref).join(', ')}`, {fix: 'see what holds them with kubectl describe; rerun `aip teardown --force-finalizers`', details: {phase: phase.id, stuck: d}})
    }
  }

  private async stripFinalizers(o: KubeObject): Promise<void> {
    const ref = {apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, namespace: o.metadata.namespace}
    try {
      await this.client.request('PATCH', await this.client.pathFor(ref), {
        body: {metadata: {finalizers: null, ...(o.metadata.uid ? {uid: o.metadata.uid} : {})}},
        contentType: 'application/merge-patch+json',
        signal: this.o.signal,
      })
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error
    }
  }

  /** Watch-based wait for each item to be gone (or replaced); returns those still present at the limit. */
  private async waitGone(phase: PlanPhase, items: PlanItem[], timeoutMs: number): Promise<Array<{it: PlanItem; last?: KubeObject}>> {
    const {watchObjectUntil} = await import('../kube/wait.js')
    const remaining = new Set(items.map((i) => refString(i.ref)))
    const stuck: Array<{it: PlanItem; last?: KubeObject}> = []
    await Promise.all(
      items.map(async (it) => {
        let last: KubeObject | undefined
        try {
          await watchObjectUntil<true>(
            this.client,
            it.ref,
            (obj) => {
              if (!obj || (it.uid && obj.metadata.uid !== it.uid)) return {done: true, value: true}
              last = obj
              const fin = obj.metadata.finalizers ?? []
              return {done: false, message: fin.length ? `finalizers: ${fin.join(', ')}` : 'terminating'}
            },
            {timeoutMs, signal: this.o.signal},
          )
          remaining.delete(refString(it.ref))
          if (remaining.size > 0 && remaining.size <= 5) this.emit(phase.id, 'progress', `${refString(it.ref)} gone; waiting for ${[...remaining].join(', ')}`)
        } catch (error) {
          if (error instanceof TimeoutError) {
            stuck.push({it, last: last ?? (await this.get(it.ref))})
            return
          }
          if (error instanceof NotFoundError) return // kind no longer served: gone with its CRD
          throw error
        }
      }),
    )
    return stuck
  }

  private async deleteNamespaces(phase: PlanPhase): Promise<PhaseResult> {
    const r = this.newResult(phase)
    const go: PlanItem[] = []
    const kinds = await this.listKinds()
    for (const it of phase.items) {
      const name = it.ref.name
      const live = await this.get(it.ref)
      if (!live) {
        r.alreadyGone.push(refString(it.ref))
        continue
      }
      if (it.uid && live.metadata.uid !== it.uid) {
        r.skipped.push({ref: refString(it.ref), reason: 'replaced after the plan was shown'})
        continue
      }
      if (!live.metadata.deletionTimestamp && !this.o.eks) {
        // nothing the plan did not list may go with the namespace
        const known = new Set(this.plan.namespaceContent[name] ?? [])
        const content = await listNamespaceContent(this.client, kinds, name, this.o.signal)
        const fresh = content.filter((o) => !isBookkeeping(o) && !known.has(o.metadata.uid ?? '') && !this.isPlanned(o))
        if (fresh.length > 0) {
          r.skipped.push({ref: refString(it.ref), reason: `holds objects created after the plan was shown: ${fresh.slice(0, 5).map(refString).join(', ')}${fresh.length > 5 ? ` and ${fresh.length - 5} more` : ''}`})
          continue
        }
      }
      go.push(it)
    }
    const sub = await this.startDeletes(phase, go, r, (name) => `${name} deleted, waiting for its content to go`)
    await this.waitGoneOrForce(phase, sub, r, async (it) => {
      // what holds a namespace: objects inside it that are being deleted and still carry finalizers
      const content = await listNamespaceContent(this.client, kinds, it.ref.name, this.o.signal)
      return content.filter((o) => (o.metadata.finalizers ?? []).length > 0 && o.metadata.deletionTimestamp)
    })
    return r
  }

  private isPlanned(o: KubeObject): boolean {
    return this.plan.phases.some((p) => p.items.some((i) => i.uid && i.uid === o.metadata.uid))
  }

  private async eksPhase(phase: PlanPhase): Promise<PhaseResult> {
    const r = this.newResult(phase)
    const eks = this.o.eks
    if (!eks) throw new AipError('FAILED', 'the plan deletes EKS resources but no EKS client was given', {fix: 'rerun with --cluster'})
    const wait = {...eks.wait, signal: this.o.signal, onProgress: (p: {resource: string; name: string; status: string; message?: string}) => this.emit(phase.id, 'progress', `${p.resource} ${p.name}: ${p.status}${p.message ? ` (${p.message})` : ''}`)}
    if (phase.id === 'delete-nodegroups') {
      await Promise.all(
        phase.items.map(async (it) => {
          await deleteNodegroup(eks.client, this.plan.clusterName, it.ref.name, eks.region, wait)
          r.deleted.push(`Nodegroup ${it.ref.name}`)
        }),
      )
    } else {
      await deleteCluster(eks.client, this.plan.clusterName, eks.region, wait)
      r.deleted.push(`Cluster ${this.plan.clusterName}`)
    }
    return r
  }

  private async bucketPhase(phase: PlanPhase): Promise<PhaseResult> {
    const r = this.newResult(phase)
    const s3 = this.o.s3
    if (!s3) throw new AipError('FAILED', 'the plan deletes a bucket but no S3 client was given', {fix: 'rerun with --delete-bucket NAME'})
    for (const it of phase.items) {
      const n = await emptyAndDeleteBucket(s3, it.ref.name, (m) => this.emit(phase.id, 'progress', m), this.o.signal)
      if (n === undefined) r.alreadyGone.push(`Bucket ${it.ref.name}`)
      else r.deleted.push(`Bucket ${it.ref.name} (${n} objects)`)
    }
    return r
  }

  private async verify(results: PhaseResult[]): Promise<{leftovers: string[]}> {
    const remaining: string[] = []
    const skippedNs = new Set(results.flatMap((r) => (r.id === 'delete-namespaces' ? r.skipped.map((s) => s.ref) : [])))
    for (const p of this.plan.phases) {
      if (p.id === 'scale-models') continue
      for (const it of p.items) {
        if (it.target === 'kube') {
          const live = await this.get(it.ref)
          if (live && (!it.uid || live.metadata.uid === it.uid)) remaining.push(refString(it.ref) + (skippedNs.has(refString(it.ref)) ? ' (kept: it holds objects created after the plan)' : ''))
        } else if (it.target === 'eks' && it.ref.kind === 'Cluster') {
          if (await findCluster(this.o.eks!.client, it.ref.name, this.o.eks!.region, {signal: this.o.signal})) remaining.push(`EKS cluster ${it.ref.name}`)
        } else if (it.target === 's3') {
          if (await bucketExists(this.o.s3!, it.ref.name)) remaining.push(`S3 bucket ${it.ref.name}`)
        }
      }
    }
    if (remaining.length > 0) {
      throw new AipError('FAILED', `teardown incomplete; still present: ${remaining.join(', ')}`, {
        fix: 'rerun `aip teardown` to plan again (objects created after the plan are only deleted once a plan lists them)',
        details: {remaining},
      })
    }
    // aip objects the plan did not list (created after it was shown) are left in place, and named
    const leftovers: string[] = []
    const clusterGone = this.plan.phases.some((p) => p.id === 'delete-cluster')
    if (!clusterGone) {
      const managed = await listManaged(this.client, await this.listKinds(), this.o.signal)
      const keptNs = new Set(this.plan.kept.map((k) => k.what))
      for (const o of managed) {
        if (isBookkeeping(o) || !isManaged(o)) continue
        if (keptNs.has(refString(o))) continue
        leftovers.push(refString(o))
      }
    }
    return {leftovers}
  }
}

export async function executeTeardown(plan: TeardownPlan, opts: ExecuteOptions): Promise<TeardownResult> {
  // one signal watches many parallel waits and list requests
  if (opts.signal) setMaxListeners(0, opts.signal)
  return new Executor(plan, opts).run()
}

async function bucketExists(s3: S3Client, bucket: string): Promise<boolean> {
  const {HeadBucketCommand} = await import('@aws-sdk/client-s3')
  try {
    await s3.send(new HeadBucketCommand({Bucket: bucket}))
    return true
  } catch (error) {
    const {s3Status} = await import('../aws/s3.js')
    if (s3Status(error) === 404 || (error as Error).name === 'NoSuchBucket' || (error as Error).name === 'NotFound') return false
    throw error
  }
}

/** Deletes every object (and version, and pending upload) of the bucket, then the bucket; undefined when it is already gone. */
export async function emptyAndDeleteBucket(s3: S3Client, bucket: string, progress: (m: string) => void, signal?: AbortSignal): Promise<number | undefined> {
  const sdk = await import('@aws-sdk/client-s3')
  const {toS3Error, isNotImplemented} = await import('../aws/s3.js')
  if (!(await bucketExists(s3, bucket))) return undefined
  let deleted = 0
  const del = async (keys: Array<{Key: string; VersionId?: string}>) => {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000)
      const out = await s3.send(new sdk.DeleteObjectsCommand({Bucket: bucket, Delete: {Objects: batch, Quiet: true}}), {abortSignal: signal as never})
      if (out.Errors?.length) throw new AipError('FAILED', `could not delete ${out.Errors.length} objects of bucket ${bucket}: ${out.Errors[0]!.Key}: ${out.Errors[0]!.Message}`, {fix: 'check the bucket policy (s3:DeleteObject) and rerun'})
      deleted += batch.length
    }
  }
  try {
    // versions (a versioned bucket cannot be deleted while old versions remain)
    try {
      let keyMarker: string | undefined
      let versionMarker: string | undefined
      do {
        const out = await s3.send(new sdk.ListObjectVersionsCommand({Bucket: bucket, KeyMarker: keyMarker, VersionIdMarker: versionMarker}), {abortSignal: signal as never})
        const keys = [...(out.Versions ?? []), ...(out.DeleteMarkers ?? [])].filter((v) => v.Key).map((v) => ({Key: v.Key!, VersionId: v.VersionId && v.VersionId !== 'null' ? v.VersionId : undefined}))
        if (keys.length) await del(keys)
        keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined
        versionMarker = out.IsTruncated ? out.NextVersionIdMarker : undefined
      } while (keyMarker)
    } catch (error) {
      if (!isNotImplemented(error) && (error as Error).name !== 'NotImplemented') throw error
    }
    let token: string | undefined
    do {
      const out = await s3.send(new sdk.ListObjectsV2Command({Bucket: bucket, ContinuationToken: token}), {abortSignal: signal as never})
      const keys = (out.Contents ?? []).filter((c) => c.Key).map((c) => ({Key: c.Key!}))
      if (keys.length) await del(keys)
      progress(`bucket ${bucket}: ${deleted} objects deleted`)
      token = out.IsTruncated ? out.NextContinuationToken : undefined
    } while (token)
    try {
      const ups = await s3.send(new sdk.ListMultipartUploadsCommand({Bucket: bucket}), {abortSignal: signal as never})
      for (const u of ups.Uploads ?? []) await s3.send(new sdk.AbortMultipartUploadCommand({Bucket: bucket, Key: u.Key!, UploadId: u.UploadId!}))
    } catch (error) {
      if (!isNotImplemented(error)) throw error
    }
    await s3.send(new sdk.DeleteBucketCommand({Bucket: bucket}), {abortSignal: signal as never})
  } catch (error) {
    throw toS3Error(error, {bucket, action: 'delete'})
  }
  return deleted
}
