// Simulated controllers of the loopback API server: deployment + replicaset, job, the cloud
// controller's load-balancer finalizer, the namespace controller, the garbage collector, and
// generic finalizer clearers. They react to store events asynchronously, as real controllers do.
import {createHash, randomBytes} from 'node:crypto'

import {Kubelet} from './kubelet.mjs'
import {clone} from './patch.mjs'
import {Scheduler} from './scheduler.mjs'

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')
const rand5 = () => {
  const a = 'bcdfghjklmnpqrstvwxz2456789'
  let s = ''
  for (const b of randomBytes(5)) s += a[b % a.length]
  return s
}
let lastNano = 0n
const eventSuffix = () => {
  let n = BigInt(Date.now()) * 1_000_000n
  if (n <= lastNano) n = lastNano + 1n
  lastNano = n
  return n.toString(16)
}
const LB_FINALIZER = 'service.kubernetes.io/load-balancer-cleanup'

export class Controllers {
  constructor(server, opts) {
    this.s = server
    this.opts = opts
    this.enabled = opts.controllers !== false
    this.timers = new Set()
    this.depBehaviors = []
    this.jobBehaviors = []
    this.clearers = []
    this.stuck = new Set()
    this.scheduledClear = new Set()
    this.foregroundOwners = new Map()
    this.nsPending = new Set()
    this.stopped = false
    this.scheduler = new Scheduler(server, this)
    this.kubelet = new Kubelet(server, this, opts)
    server.store.listeners.add((ev) => this.onEvent(ev))
  }

  stop() {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  later(ms, fn) {
    if (this.stopped) return
    const t = setTimeout(() => {
      this.timers.delete(t)
      if (this.stopped) return
      try {
        fn()
      } catch {
        // a controller error must not take the server down; the next event retries
      }
    }, ms)
    this.timers.add(t)
    t.unref?.()
  }

  R(apiVersion, kind) {
    return this.s.byKind(apiVersion, kind)
  }
  get(apiVersion, kind, ns, name) {
    const r = this.R(apiVersion, kind)
    return r && this.s.store.getR(r, ns, name)
  }
  update(obj) {
    const r = this.R(obj.apiVersion, obj.kind)
    return this.s.store.write(r, obj)
  }

  setDeploymentBehavior(ns, name, b) {
    this.depBehaviors.unshift({ns, name, b})
  }
  setJobBehavior(ns, name, b) {
    this.jobBehaviors.unshift({ns, name, b})
  }
  behaviorFor(list, ns, name, def) {
    const m = list.find((x) => (x.ns === '*' || x.ns === ns) && (x.name === '*' || x.name === name))
    return m ? m.b : def
  }
  clearFinalizerAfter(kind, finalizer, delayMs) {
    this.clearers.push({kind, finalizer, delayMs})
    // objects already being deleted
    for (const o of this.s.store.objects.values()) if (o.kind === kind && o.metadata.deletionTimestamp) this.maybeClear(o)
  }
  stuckFinalizer(kind, finalizer, on) {
    const k = `${kind}|${finalizer}`
    if (on) this.stuck.add(k)
    else {
      this.stuck.delete(k)
      for (const o of this.s.store.objects.values()) if (o.kind === kind && o.metadata.deletionTimestamp) this.maybeClear(o)
    }
  }

  /** An event in the store: run the controllers that care. */
  onEvent(ev) {
    if (!this.enabled || this.stopped) return
    const o = ev.obj
    const kind = o.kind
    if (kind === 'Deployment' && ev.type !== 'DELETED' && !o.metadata.deletionTimestamp && o.metadata.generation !== o.status?.observedGeneration) {
      this.later(0, () => this.reconcileDeployment(o.metadata.namespace, o.metadata.name))
    }
    if (kind === 'ReplicaSet' && ev.type !== 'DELETED' && !o.metadata.deletionTimestamp && (ev.type === 'ADDED' || o.spec?.replicas !== ev.old?.spec?.replicas)) {
      this.later(0, () => this.reconcileReplicaSet(o.metadata.namespace, o.metadata.name))
    }
    if (kind === 'Pod' || kind === 'Node') this.scheduler.onEvent(ev)
    // a pod that starts terminating no longer counts for its ReplicaSet (a replacement is made now)
    if (kind === 'Pod' && (ev.type === 'DELETED' || (o.metadata.deletionTimestamp && !ev.old?.metadata?.deletionTimestamp))) {
      const rsRef = (o.metadata.ownerReferences ?? []).find((x) => x.kind === 'ReplicaSet')
      if (rsRef) this.later(0, () => this.reconcileReplicaSet(o.metadata.namespace, rsRef.name))
    }
    if (kind === 'Job' && ev.type === 'ADDED') this.later(0, () => this.startJob(o.metadata.namespace, o.metadata.name))
    if (kind === 'Service' && ev.type !== 'DELETED') this.serviceController(o)
    if (ev.type === 'MODIFIED' && o.metadata.deletionTimestamp) this.maybeClear(o)
    if (ev.type === 'DELETED') {
      for (const [uid, owner] of this.foregroundOwners) this.later(0, () => this.checkForeground(uid, owner))
    }
    const ns = o.metadata.namespace
    if (ns && this.nsTerminating(ns)) this.namespaceDeleting(ns)
  }

  // ---- events (core/v1 Event objects, as kubectl describe shows them) ----

  event(obj, type, reason, message, component = 'kubelet', {aggregate = false} = {}) {
    const ns = obj.metadata.namespace ?? 'default'
    if (!this.get('v1', 'Namespace', undefined, ns)) return
    const ts = now()
    if (aggregate) {
      // the event recorder's correlator: the same event again bumps count and lastTimestamp
      const evR = this.R('v1', 'Event')
      const same = this.s.store.listR(evR, ns).find((e) => e.involvedObject?.uid === obj.metadata.uid && e.reason === reason && e.message === message)
      if (same) {
        const u = clone(same)
        u.count = (u.count ?? 1) + 1
        u.lastTimestamp = ts
        this.s.store.write(evR, u)
        return
      }
    }
    this.s.createInternal({
      apiVersion: 'v1',
      kind: 'Event',
      // client-go's recorder names events <object>.<UnixNano in hex>: a list sorts them by time
      metadata: {name: `${obj.metadata.name}.${eventSuffix()}`, namespace: ns},
      involvedObject: {kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, uid: obj.metadata.uid, apiVersion: obj.apiVersion, resourceVersion: obj.metadata.resourceVersion},
      reason,
      message,
      type,
      count: 1,
      firstTimestamp: ts,
      lastTimestamp: ts,
      source: {component},
      reportingComponent: component,
      reportingInstance: '',
    })
  }

  // ---- deployments -------------------------------------------------------------------------

  reconcileDeployment(ns, name) {
    const dep = this.get('apps/v1', 'Deployment', ns, name)
    if (!dep || dep.metadata.deletionTimestamp) return
    const template = dep.spec?.template ?? {}
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10).replace(/[^a-z0-9]/g, 'a')
    const rsName = `${name}-${hash}`
    const replicas = dep.spec?.replicas ?? 1
    const owned = this.s.store.listR(this.R('apps/v1', 'ReplicaSet'), ns).filter((rs) => (rs.metadata.ownerReferences ?? []).some((x) => x.uid === dep.metadata.uid))
    let rs = owned.find((x) => x.metadata.name === rsName)
    // the new ReplicaSet's revision is the old ones' maximum + 1, also when the template returns to
    // an existing ReplicaSet (kubectl rollout undo): its annotation is bumped (getNewReplicaSet in
    // pkg/controller/deployment/sync.go, SetNewReplicaSetAnnotations with maxOldRevision+1)
    const maxOld = Math.max(0, ...owned.filter((x) => x.metadata.name !== rsName).map((x) => Number(x.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0)))
    const revision = String(maxOld + 1)
    let created = false
    if (!rs) {
      const labels = {...(template.metadata?.labels ?? {}), 'pod-template-hash': hash}
      rs = this.s.createInternal({
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: {
          name: rsName,
          namespace: ns,
          labels,
          annotations: {'deployment.kubernetes.io/desired-replicas': String(replicas), 'deployment.kubernetes.io/revision': revision},
          ownerReferences: [{apiVersion: 'apps/v1', kind: 'Deployment', name, uid: dep.metadata.uid, controller: true, blockOwnerDeletion: true}],
        },
        spec: {replicas, selector: {matchLabels: {...(dep.spec?.selector?.matchLabels ?? {}), 'pod-template-hash': hash}}, template: {...clone(template), metadata: {...(template.metadata ?? {}), labels}}},
        status: {replicas: 0, observedGeneration: 1},
      })
      created = true
      this.event(dep, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${rsName} from 0 to ${replicas}`, 'deployment-controller')
    } else if (rs.spec.replicas !== replicas || Number(rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0) <= maxOld) {
      const u = clone(rs)
      u.spec.replicas = replicas
      if (Number(u.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0) <= maxOld) u.metadata.annotations = {...(u.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': revision}
      rs = this.update(u)
    }
    for (const old of owned) {
      if (old.metadata.name === rsName || old.spec.replicas === 0) continue
      // Recreate-like rollout: old replica sets scale to zero at once (rolling surge not modelled)
      const u = clone(old)
      u.spec.replicas = 0
      this.update(u)
      this.event(dep, 'Normal', 'ScalingReplicaSet', `Scaled down replica set ${old.metadata.name} from ${old.spec.replicas} to 0`, 'deployment-controller')
    }
    const d = clone(this.get('apps/v1', 'Deployment', ns, name))
    d.metadata.annotations = {...(d.metadata.annotations ?? {}), 'deployment.kubernetes.io/revision': rs.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? revision}
    this.update(d)
    this.updateDeploymentStatus(ns, name, created ? `Created new replica set "${rsName}"` : undefined, true)
    // spec.progressDeadlineSeconds (default 600): a rollout that makes no progress for that long
    // gets Progressing=False, reason ProgressDeadlineExceeded (what kubectl rollout status fails on)
    const deadline = (dep.spec?.progressDeadlineSeconds ?? 600) * 1000
    const gen = dep.metadata.generation
    this.later(deadline, () => this.checkProgressDeadline(ns, name, gen, rsName))
  }

  checkProgressDeadline(ns, name, generation, rsName) {
    const dep = this.get('apps/v1', 'Deployment', ns, name)
    if (!dep || dep.metadata.generation !== generation || dep.metadata.deletionTimestamp) return
    const prog = (dep.status?.conditions ?? []).find((c) => c.type === 'Progressing')
    if (!prog || prog.reason === 'NewReplicaSetAvailable' || prog.reason === 'ProgressDeadlineExceeded') return
    const u = clone(dep)
    const t = now()
    u.status.conditions = u.status.conditions.map((c) => (c.type === 'Progressing' ? {type: 'Progressing', status: 'False', lastUpdateTime: t, lastTransitionTime: t, reason: 'ProgressDeadlineExceeded', message: `ReplicaSet "${rsName}" has timed out progressing.`} : c))
    this.update(u)
  }

  reconcileReplicaSet(ns, name) {
    const rs = this.get('apps/v1', 'ReplicaSet', ns, name)
    if (!rs || rs.metadata.deletionTimestamp) return
    const podR = this.R('v1', 'Pod')
    const pods = this.s.store.listR(podR, ns).filter((p) => (p.metadata.ownerReferences ?? []).some((x) => x.uid === rs.metadata.uid) && !p.metadata.deletionTimestamp)
    const want = rs.spec?.replicas ?? 1
    const depRef = (rs.metadata.ownerReferences ?? []).find((x) => x.kind === 'Deployment')
    for (let i = pods.length; i < want; i++) {
      const pod = this.s.createInternal({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: {
          name: `${name}-${rand5()}`,
          namespace: ns,
          labels: clone(rs.spec?.template?.metadata?.labels ?? {}),
          ownerReferences: [{apiVersion: 'apps/v1', kind: 'ReplicaSet', name, uid: rs.metadata.uid, controller: true, blockOwnerDeletion: true}],
        },
        spec: clone(rs.spec?.template?.spec ?? {containers: []}),
        status: {phase: 'Pending', qosClass: 'Burstable'},
      })
      this.event(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`, 'replicaset-controller')
    }
    for (const extra of pods.slice(want)) this.s.deleteObject(podR, extra, 'Background')
    this.updateReplicaSetStatus(ns, name)
    if (depRef) this.updateDeploymentStatus(ns, depRef.name)
  }

  // ---- pods: scheduling and the kubelet (scheduler.mjs, kubelet.mjs) ---------------------------

  /** The behaviour the kubelet plays for a pod: its Deployment's (by name), its Job's, or the default. */
  planFor(pod) {
    const ns = pod.metadata.namespace
    const refs = pod.metadata.ownerReferences ?? []
    const jobRef = refs.find((x) => x.kind === 'Job')
    if (jobRef) return {job: jobRef.name, b: this.behaviorFor(this.jobBehaviors, ns, jobRef.name, this.opts.jobBehavior ?? {outcome: 'succeed', delayMs: 20})}
    const rsRef = refs.find((x) => x.kind === 'ReplicaSet')
    const rs = rsRef && this.get('apps/v1', 'ReplicaSet', ns, rsRef.name)
    const depName = (rs?.metadata.ownerReferences ?? []).find((x) => x.kind === 'Deployment')?.name ?? rsRef?.name ?? pod.metadata.name
    return {b: this.behaviorFor(this.depBehaviors, ns, depName, this.opts.deploymentBehavior ?? {mode: 'ready', readyDelayMs: 20})}
  }

  /** After a pod's status changed: its ReplicaSet's and Deployment's status follow. */
  podChanged(pod) {
    const ns = pod.metadata.namespace
    const rsRef = (pod.metadata.ownerReferences ?? []).find((x) => x.kind === 'ReplicaSet')
    if (!rsRef) return
    this.updateReplicaSetStatus(ns, rsRef.name)
    const rs = this.get('apps/v1', 'ReplicaSet', ns, rsRef.name)
    const depRef = (rs?.metadata.ownerReferences ?? []).find((x) => x.kind === 'Deployment')
    if (depRef) this.updateDeploymentStatus(ns, depRef.name)
  }

  /** The scheduler's binding (pods/binding): spec.nodeName, PodScheduled=True, Scheduled event; then the node's kubelet takes over. */
  bindPod(pod, node) {
    const cur = this.get('v1', 'Pod', pod.metadata.namespace, pod.metadata.name)
    if (!cur || cur.spec?.nodeName) return
    const u = clone(cur)
    const t = now()
    u.spec.nodeName = node.metadata.name
    u.status = {
      ...(u.status ?? {}),
      phase: 'Pending',
      conditions: [{type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: t}],
      containerStatuses: (u.spec.containers ?? []).map((c) => ({name: c.name, image: c.image, imageID: '', ready: false, started: false, restartCount: 0, state: {waiting: {reason: 'ContainerCreating'}}})),
    }
    const w = this.update(u)
    this.podChanged(w)
    this.event(w, 'Normal', 'Scheduled', `Successfully assigned ${w.metadata.namespace}/${w.metadata.name} to ${node.metadata.name}`, 'default-scheduler')
    this.kubelet.run(w)
  }

  /** A failed scheduling cycle: PodScheduled=False/Unschedulable and a FailedScheduling event (repeats aggregate into its count). */
  markUnschedulable(pod, message) {
    const cur = this.get('v1', 'Pod', pod.metadata.namespace, pod.metadata.name)
    if (!cur) return
    const prev = (cur.status?.conditions ?? []).find((c) => c.type === 'PodScheduled')
    let w = cur
    if (!prev || prev.status !== 'False' || prev.message !== message) {
      const u = clone(cur)
      u.status = {...(u.status ?? {}), phase: 'Pending', conditions: [{type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message, lastProbeTime: null, lastTransitionTime: prev?.status === 'False' ? prev.lastTransitionTime : now()}]}
      w = this.update(u)
    }
    this.event(w, 'Warning', 'FailedScheduling', message, 'default-scheduler', {aggregate: true})
  }

  defaultLogs(pod) {
    const cs = pod.status?.containerStatuses?.[0]
    const last = cs?.lastState?.terminated
    if (last?.reason === 'OOMKilled') return 'INFO 05-01 10:00:00 [model_runner.py:1120] Loading model weights took 15.2 GiB\nINFO 05-01 10:00:05 [worker.py:267] Memory profiling takes 3.1 seconds\nKilled\n'
    if (last) return 'INFO 05-01 10:00:00 [api_server.py:912] vLLM API server version 0.8.5\nERROR 05-01 10:00:03 [engine.py:400] ValueError: The model\'s max seq len (32768) is larger than the maximum number of tokens that can be stored in KV cache (16384).\nTraceback (most recent call last):\nValueError: The model\'s max seq len (32768) is larger than the maximum number of tokens that can be stored in KV cache (16384).\n'
    return 'INFO 05-01 10:00:00 [api_server.py:912] vLLM API server version 0.8.5\nINFO:     Application startup complete.\n'
  }

  podsOf(rs) {
    return this.s.store.listR(this.R('v1', 'Pod'), rs.metadata.namespace).filter((p) => (p.metadata.ownerReferences ?? []).some((x) => x.uid === rs.metadata.uid))
  }
  isReady(p) {
    return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True') && !p.metadata.deletionTimestamp
  }

  updateReplicaSetStatus(ns, name) {
    const rs = this.get('apps/v1', 'ReplicaSet', ns, name)
    if (!rs) return
    const pods = this.podsOf(rs)
    const ready = pods.filter((p) => this.isReady(p)).length
    const status = {replicas: pods.length, fullyLabeledReplicas: pods.length, readyReplicas: ready, availableReplicas: ready, observedGeneration: rs.metadata.generation}
    if (JSON.stringify(rs.status) === JSON.stringify(status)) return
    const u = clone(rs)
    u.status = status
    this.update(u)
  }

  /**
   * Deployment status as the deployment controller writes it (pkg/controller/deployment/sync.go):
   * observedGeneration, replicas, updatedReplicas, readyReplicas, availableReplicas,
   * unavailableReplicas and the Available/Progressing conditions with their real reasons.
   */
  updateDeploymentStatus(ns, name, createdMsg, reconciled = false) {
    const dep = this.get('apps/v1', 'Deployment', ns, name)
    if (!dep || dep.metadata.deletionTimestamp) return
    const owned = this.s.store.listR(this.R('apps/v1', 'ReplicaSet'), ns).filter((rs) => (rs.metadata.ownerReferences ?? []).some((x) => x.uid === dep.metadata.uid))
    const hashOf = (rs) => rs.metadata.labels?.['pod-template-hash']
    const newest = owned.sort((a, b) => Number(b.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0) - Number(a.metadata.annotations?.['deployment.kubernetes.io/revision'] ?? 0))[0]
    if (!newest) return
    const all = owned.flatMap((rs) => this.podsOf(rs).filter((p) => !p.metadata.deletionTimestamp))
    const updated = this.podsOf(newest).filter((p) => !p.metadata.deletionTimestamp)
    const ready = all.filter((p) => this.isReady(p)).length
    const desired = dep.spec?.replicas ?? 1
    const t = now()
    const prev = dep.status?.conditions ?? []
    const cond = (type, status, reason, message) => {
      const p = prev.find((c) => c.type === type)
      const same = p && p.status === status
      return {type, status, lastUpdateTime: p && p.reason === reason ? p.lastUpdateTime : t, lastTransitionTime: same ? p.lastTransitionTime : t, reason, message}
    }
    const maxUnavailable = 0.25 // default RollingUpdate maxUnavailable 25%, rounded down
    const minAvailable = desired - Math.floor(desired * maxUnavailable)
    const available = ready >= minAvailable
    const complete = updated.length === desired && all.length === desired && ready === desired
    const exceeded = prev.find((c) => c.type === 'Progressing' && c.reason === 'ProgressDeadlineExceeded')
    const progressing = complete
      ? cond('Progressing', 'True', 'NewReplicaSetAvailable', `ReplicaSet "${newest.metadata.name}" has successfully progressed.`)
      : createdMsg
        ? cond('Progressing', 'True', 'NewReplicaSetCreated', createdMsg)
        : exceeded
          ? exceeded
          : cond('Progressing', 'True', 'ReplicaSetUpdated', `ReplicaSet "${newest.metadata.name}" is progressing.`)
    const status = {
      // only a sync of the Deployment observes its generation (syncDeploymentStatus): a pod's status
      // change that lands between a spec change and its sync must not report the new generation as
      // observed while the new ReplicaSet is not there yet (a rollout wait would end on old pods)
      observedGeneration: reconciled ? dep.metadata.generation : dep.status?.observedGeneration ?? dep.metadata.generation,
      replicas: all.length,
      updatedReplicas: updated.length,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(all.length - ready > 0 ? {unavailableReplicas: all.length - ready} : {}),
      conditions: [
        available ? cond('Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.') : cond('Available', 'False', 'MinimumReplicasUnavailable', 'Deployment does not have minimum availability.'),
        progressing,
      ],
    }
    if (!ready) delete status.readyReplicas
    if (!ready) delete status.availableReplicas
    const strip = (s) => JSON.stringify({...s, conditions: (s?.conditions ?? []).map((c) => ({...c, lastUpdateTime: 0, lastTransitionTime: 0}))})
    if (strip(dep.status) === strip(status)) return
    void hashOf
    const u = clone(dep)
    u.status = status
    this.update(u)
  }

  // ---- jobs ---------------------------------------------------------------------------------

  startJob(ns, name) {
    const job = this.get('batch/v1', 'Job', ns, name)
    if (!job || job.metadata.deletionTimestamp) return
    const uid = job.metadata.uid
    const labels = {'batch.kubernetes.io/controller-uid': uid, 'batch.kubernetes.io/job-name': name, 'controller-uid': uid, 'job-name': name}
    const pod = this.s.createInternal({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {name: `${name}-${rand5()}`, namespace: ns, labels: {...(job.spec?.template?.metadata?.labels ?? {}), ...labels}, ownerReferences: [{apiVersion: 'batch/v1', kind: 'Job', name, uid, controller: true, blockOwnerDeletion: true}]},
      spec: clone(job.spec?.template?.spec ?? {containers: []}),
      status: {phase: 'Pending', qosClass: 'Burstable'},
    })
    this.event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata.name}`, 'job-controller')
    const j = clone(job)
    j.spec = {...j.spec, selector: j.spec?.selector ?? {matchLabels: {'batch.kubernetes.io/controller-uid': uid}}}
    j.status = {active: 1, ready: 0, startTime: now(), uncountedTerminatedPods: {}}
    this.update(j)
    // the pod is scheduled like any other and run by its node's kubelet, which calls completeJobPod
  }

  /** The kubelet: a Job's container exited after its run time; the job controller records the outcome. */
  completeJobPod(pod, b) {
    if (b.outcome === 'none') return
    const ns = pod.metadata.namespace
    const name = (pod.metadata.ownerReferences ?? []).find((x) => x.kind === 'Job')?.name
    const p = this.get('v1', 'Pod', ns, pod.metadata.name)
    const cur = name && this.get('batch/v1', 'Job', ns, name)
    if (!p || !cur || p.metadata.deletionTimestamp) return
    const t = now()
    const ok = b.outcome === 'succeed'
    const containers = p.spec?.containers ?? []
    const pu = clone(p)
    pu.status = {
      ...pu.status,
      phase: ok ? 'Succeeded' : 'Failed',
      conditions: (pu.status.conditions ?? []).map((c) => (c.type === 'Ready' || c.type === 'ContainersReady' ? {...c, status: 'False', reason: 'PodCompleted', lastTransitionTime: t} : c)),
      containerStatuses: containers.map((c) => ({
        name: c.name,
        image: c.image,
        ready: false,
        restartCount: 0,
        state: {terminated: ok ? {exitCode: 0, reason: 'Completed', startedAt: t, finishedAt: t} : {exitCode: b.exitCode ?? 1, reason: 'Error', message: b.message ?? 'job failed', startedAt: t, finishedAt: t}},
      })),
    }
    this.update(pu)
    const ju = clone(cur)
    if (ok) {
      ju.status = {startTime: cur.status?.startTime, completionTime: t, succeeded: 1, ready: 0, uncountedTerminatedPods: {}, conditions: [{type: 'SuccessCriteriaMet', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: t, lastTransitionTime: t}, {type: 'Complete', status: 'True', reason: 'CompletionsReached', message: 'Reached expected number of succeeded pods', lastProbeTime: t, lastTransitionTime: t}]}
      this.update(ju)
      this.event(ju, 'Normal', 'Completed', 'Job completed', 'job-controller')
    } else {
      ju.status = {startTime: cur.status?.startTime, failed: (cur.spec?.backoffLimit ?? 6) + 1, ready: 0, uncountedTerminatedPods: {}, conditions: [{type: 'FailureTarget', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: t, lastTransitionTime: t}, {type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded', message: 'Job has reached the specified backoff limit', lastProbeTime: t, lastTransitionTime: t}]}
      this.update(ju)
      this.event(ju, 'Warning', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit', 'job-controller')
    }
  }

  // ---- services of type LoadBalancer (the cloud controller's service controller) -------------

  serviceController(svc) {
    if (svc.spec?.type !== 'LoadBalancer') return
    const fins = svc.metadata.finalizers ?? []
    if (svc.metadata.deletionTimestamp) {
      if (fins.includes(LB_FINALIZER) && !this.stuck.has(`Service|${LB_FINALIZER}`)) this.scheduleClear(svc, LB_FINALIZER, this.opts.lbCleanupDelayMs ?? 20)
      return
    }
    if (fins.includes(LB_FINALIZER) && svc.status?.loadBalancer?.ingress?.length) return
    if (this.opts.noLoadBalancerController) return
    this.later(0, () => {
      const cur = this.get('v1', 'Service', svc.metadata.namespace, svc.metadata.name)
      if (!cur || cur.metadata.deletionTimestamp) return
      const u = clone(cur)
      if (!(u.metadata.finalizers ?? []).includes(LB_FINALIZER)) u.metadata.finalizers = [...(u.metadata.finalizers ?? []), LB_FINALIZER]
      u.status = {loadBalancer: {ingress: [{hostname: `a${randomBytes(8).toString('hex')}-${randomBytes(4).toString('hex')}.elb.us-east-1.amazonaws.com`}]}}
      this.update(u)
      this.event(u, 'Normal', 'EnsuredLoadBalancer', 'Ensured load balancer', 'service-controller')
    })
  }

  // ---- finalizer clearers -----------------------------------------------------------------------

  maybeClear(o) {
    for (const c of this.clearers) {
      if (c.kind === o.kind && (o.metadata.finalizers ?? []).includes(c.finalizer) && !this.stuck.has(`${o.kind}|${c.finalizer}`)) this.scheduleClear(o, c.finalizer, c.delayMs)
    }
    if (o.kind === 'Service') this.serviceController(o)
  }

  scheduleClear(o, finalizer, delayMs) {
    const k = `${o.metadata.uid}|${finalizer}`
    if (this.scheduledClear.has(k)) return
    this.scheduledClear.add(k)
    this.later(delayMs, () => {
      this.scheduledClear.delete(k)
      if (this.stuck.has(`${o.kind}|${finalizer}`)) return
      this.s.publicStore.removeFinalizer(o.apiVersion, o.kind, o.metadata.namespace, o.metadata.name, finalizer)
    })
  }

  // ---- garbage collector (ownerReferences) ----------------------------------------------------

  dependentsOf(owner) {
    const out = []
    for (const o of this.s.store.objects.values()) if ((o.metadata.ownerReferences ?? []).some((x) => x.uid === owner.metadata.uid)) out.push(o)
    return out
  }
  hasDependents(owner) {
    return this.dependentsOf(owner).length > 0
  }
  orphanDependents(owner) {
    for (const d of this.dependentsOf(owner)) {
      const u = clone(d)
      u.metadata.ownerReferences = u.metadata.ownerReferences.filter((x) => x.uid !== owner.metadata.uid)
      if (!u.metadata.ownerReferences.length) delete u.metadata.ownerReferences
      this.update(u)
    }
  }
  /** Background: dependents are deleted after the owner is gone (asynchronously, as the GC does). */
  collectDependents(owner, policy) {
    if (policy === 'Orphan') return
    this.later(0, () => {
      for (const d of this.dependentsOf(owner)) {
        const r = this.R(d.apiVersion, d.kind)
        const cur = this.s.store.getR(r, d.metadata.namespace, d.metadata.name)
        if (!cur || cur.metadata.deletionTimestamp) continue
        const others = (cur.metadata.ownerReferences ?? []).filter((x) => x.uid !== owner.metadata.uid && this.ownerExists(x, cur.metadata.namespace))
        if (others.length) {
          const u = clone(cur)
          u.metadata.ownerReferences = u.metadata.ownerReferences.filter((x) => x.uid !== owner.metadata.uid)
          this.update(u)
        } else this.s.deleteObject(r, cur, 'Background')
      }
    })
  }
  ownerExists(ref, ns) {
    for (const o of this.s.store.objects.values()) if (o.metadata.uid === ref.uid && (!o.metadata.namespace || o.metadata.namespace === ns)) return true
    return false
  }
  /** Foreground: the owner waits (finalizer foregroundDeletion) until its dependents are gone. */
  foreground(owner) {
    this.foregroundOwners.set(owner.metadata.uid, owner)
    this.later(0, () => {
      for (const d of this.dependentsOf(owner)) {
        const r = this.R(d.apiVersion, d.kind)
        if (!d.metadata.deletionTimestamp) this.s.deleteObject(r, d, 'Foreground')
      }
      this.checkForeground(owner.metadata.uid, owner)
    })
  }
  checkForeground(uid, owner) {
    if (!this.foregroundOwners.has(uid)) return
    if (this.hasDependents(owner)) return
    this.foregroundOwners.delete(uid)
    this.s.publicStore.removeFinalizer(owner.apiVersion, owner.kind, owner.metadata.namespace, owner.metadata.name, 'foregroundDeletion')
  }

  // ---- namespace controller -----------------------------------------------------------------------

  nsTerminating(ns) {
    const n = this.get('v1', 'Namespace', undefined, ns)
    return !!n?.metadata.deletionTimestamp
  }

  namespaceDeleting(ns) {
    if (this.nsPending.has(ns)) return
    this.nsPending.add(ns)
    this.later(0, () => {
      this.nsPending.delete(ns)
      this.reconcileNamespace(ns)
    })
  }

  /**
   * The namespace controller (pkg/controller/namespace/deletion/namespaced_resources_deleter.go):
   * delete all content, report what remains in status conditions (NamespaceContentRemaining,
   * NamespaceFinalizersRemaining), and remove the "kubernetes" finalizer once the namespace is
   * empty, which removes the namespace.
   */
  reconcileNamespace(ns) {
    const nsR = this.R('v1', 'Namespace')
    const n = this.s.store.getR(nsR, undefined, ns)
    if (!n || !n.metadata.deletionTimestamp) return
    const content = () => [...this.s.store.objects.values()].filter((o) => o.metadata.namespace === ns && o.kind !== 'Event')
    for (const o of content()) {
      if (o.metadata.deletionTimestamp) continue
      const r = this.R(o.apiVersion, o.kind)
      if (r) this.s.deleteObject(r, o, 'Background')
    }
    // events go with the namespace
    const remaining = content()
    if (remaining.length === 0) {
      const evR = this.R('v1', 'Event')
      for (const e of this.s.store.listR(evR, ns)) this.s.store.removeNow(evR, e)
      this.s.store.removeNow(nsR, n)
      return
    }
    const byRes = new Map()
    const byFin = new Map()
    for (const o of remaining) {
      const r = this.R(o.apiVersion, o.kind)
      const k = `${r.plural}.${r.group}`
      byRes.set(k, (byRes.get(k) ?? 0) + 1)
      for (const f of o.metadata.finalizers ?? []) byFin.set(f, (byFin.get(f) ?? 0) + 1)
    }
    const t = now()
    const contentMsg = `Some resources are remaining: ${[...byRes.entries()].sort().map(([k, c]) => `${k} has ${c} resource instances`).join(', ')}`
    const finMsg = byFin.size ? `Some content in the namespace has finalizers remaining: ${[...byFin.entries()].sort().map(([f, c]) => `${f} in ${c} resource instances`).join(', ')}` : 'All content-preserving finalizers finished'
    const conditions = [
      {type: 'NamespaceDeletionDiscoveryFailure', status: 'False', reason: 'ResourcesDiscovered', message: 'All resources successfully discovered', lastTransitionTime: t},
      {type: 'NamespaceDeletionGroupVersionParsingFailure', status: 'False', reason: 'ParsedGroupVersions', message: 'All legacy kube types successfully parsed', lastTransitionTime: t},
      {type: 'NamespaceDeletionContentFailure', status: 'False', reason: 'ContentDeleted', message: 'All content successfully deleted, may be waiting on finalization', lastTransitionTime: t},
      {type: 'NamespaceContentRemaining', status: 'True', reason: 'SomeResourcesRemain', message: contentMsg, lastTransitionTime: t},
      {type: 'NamespaceFinalizersRemaining', status: byFin.size ? 'True' : 'False', reason: byFin.size ? 'SomeFinalizersRemain' : 'ContentHasNoFinalizers', message: finMsg, lastTransitionTime: t},
    ]
    const same = JSON.stringify((n.status?.conditions ?? []).map((c) => [c.type, c.status, c.message])) === JSON.stringify(conditions.map((c) => [c.type, c.status, c.message]))
    if (same) return
    const u = clone(n)
    u.status = {phase: 'Terminating', conditions}
    this.s.store.write(nsR, u)
  }
}
