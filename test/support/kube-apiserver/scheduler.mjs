// The default scheduler of the loopback API server (kube-scheduler's filter phase, as far as aip's
// pods need it). Every pod without spec.nodeName is filtered against every Node in the order of the
// default profile (pkg/scheduler/apis/config/v1/default_plugins.go): NodeUnschedulable,
// TaintToleration, NodeAffinity (nodeSelector + required node affinity), NodeResourcesFit. A pod
// that fits is bound to the first fitting node (Scheduled event); one that fits nowhere stays
// Pending with PodScheduled=False/Unschedulable and a FailedScheduling event whose message is
// FitError.Error() (pkg/scheduler/framework/types.go) followed by the preemption post-filter's
// (pkg/scheduler/framework/preemption/preemption.go): resource failures are Unschedulable (no
// lower-priority victims here), taint/affinity failures UnschedulableAndUnresolvable ("Preemption is
// not helpful for scheduling"). Unschedulable pods are retried when a Node is added or changes and
// when a bound pod goes away (the scheduling queue's cluster events).

const UNITS = {Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, n: 1e-9, u: 1e-6, m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18}

/** A resource.Quantity as a number of base units (cores, bytes, devices). */
export function quantity(q) {
  if (q === undefined || q === null) return 0
  if (typeof q === 'number') return q
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E)?$/.exec(String(q).trim())
  if (!m) return NaN
  return Number(m[1]) * (m[2] ? UNITS[m[2]] : 1)
}

/** The scheduler's view of a pod's requests (resource helpers PodRequests): containers summed, restartable init containers (sidecars) added, plain init containers as a max, plus overhead. */
export function podRequests(pod) {
  const req = (c) => {
    const r = c.resources ?? {}
    // API defaulting: a limit without a request sets the request (pkg/apis/core/v1/defaults.go)
    return {...(r.limits ?? {}), ...(r.requests ?? {})}
  }
  const add = (acc, r) => {
    for (const [k, v] of Object.entries(r)) acc[k] = (acc[k] ?? 0) + quantity(v)
    return acc
  }
  const spec = pod.spec ?? {}
  const sum = {}
  for (const c of spec.containers ?? []) add(sum, req(c))
  const sidecars = {}
  const initMax = {}
  for (const c of spec.initContainers ?? []) {
    if (c.restartPolicy === 'Always') {
      add(sum, req(c))
      add(sidecars, req(c))
    } else {
      const each = add({...sidecars}, req(c))
      for (const [k, v] of Object.entries(each)) initMax[k] = Math.max(initMax[k] ?? 0, v)
    }
  }
  for (const [k, v] of Object.entries(initMax)) sum[k] = Math.max(sum[k] ?? 0, v)
  add(sum, spec.overhead ?? {})
  for (const k of Object.keys(sum)) if (k.startsWith('hugepages-') === false && !(sum[k] > 0)) delete sum[k]
  return sum
}

/** Toleration matching (k8s.io/api/core/v1 toleration.go ToleratesTaint). */
export function tolerates(tol, taint) {
  if (tol.effect && tol.effect !== taint.effect) return false
  if ((tol.operator ?? 'Equal') === 'Exists') return !tol.key || tol.key === taint.key
  return tol.key === taint.key && (tol.value ?? '') === (taint.value ?? '')
}

/** One node selector requirement against a node's labels (component-helpers nodeaffinity). */
function requirementMatches(req, labels) {
  const has = Object.hasOwn(labels, req.key)
  const v = labels[req.key]
  switch (req.operator) {
    case 'In':
      return has && (req.values ?? []).includes(v)
    case 'NotIn':
      return !has || !(req.values ?? []).includes(v)
    case 'Exists':
      return has
    case 'DoesNotExist':
      return !has
    case 'Gt':
    case 'Lt': {
      if (!has || !/^-?\d+$/.test(v) || (req.values ?? []).length !== 1) return false
      const a = Number(v)
      const b = Number(req.values[0])
      return req.operator === 'Gt' ? a > b : a < b
    }
    default:
      return false
  }
}

function termMatches(term, node) {
  const exprs = term.matchExpressions ?? []
  const fields = term.matchFields ?? []
  if (!exprs.length && !fields.length) return false // an empty term matches no objects
  return exprs.every((r) => requirementMatches(r, node.metadata.labels ?? {})) && fields.every((r) => requirementMatches(r, {'metadata.name': node.metadata.name}))
}

/** NodeAffinity filter: every nodeSelector pair, and one of the required terms (ORed). */
export function nodeAffinityMatches(pod, node) {
  const labels = node.metadata.labels ?? {}
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms
  if (terms && !terms.some((t) => termMatches(t, node))) return false
  return true
}

const isTerminal = (p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed'

export class Scheduler {
  /** @param {any} server the KubeApiServer @param {any} controllers for later()/event() */
  constructor(server, controllers) {
    this.s = server
    this.c = controllers
    this.pending = new Set() // "ns/name" of unschedulable pods
    this.queued = new Set()
  }

  nodes() {
    return this.s.store.listR(this.s.byKind('v1', 'Node'))
  }
  pods() {
    return this.s.store.listR(this.s.byKind('v1', 'Pod'))
  }

  /** A store event: pods to schedule, and the cluster events that make unschedulable pods worth retrying. */
  onEvent(ev) {
    const o = ev.obj
    if (o.kind === 'Pod') {
      const key = `${o.metadata.namespace}/${o.metadata.name}`
      if (ev.type === 'DELETED') {
        this.pending.delete(key)
        if (ev.old?.spec?.nodeName) this.retryPending()
        return
      }
      if (!o.spec?.nodeName && !o.metadata.deletionTimestamp && !isTerminal(o) && (o.spec?.schedulerName ?? 'default-scheduler') === 'default-scheduler') {
        if (ev.type === 'ADDED') this.enqueue(o.metadata.namespace, o.metadata.name)
      } else if (ev.type === 'ADDED' && o.spec?.nodeName && !isTerminal(o) && !o.status?.containerStatuses) {
        // created bound (spec.nodeName set, as DaemonSet and static pods are): the node's kubelet runs it
        this.c.kubelet.run(o)
      } else if (ev.old && !isTerminal(ev.old) && isTerminal(o) && o.spec?.nodeName) this.retryPending() // resources freed
      return
    }
    if (o.kind === 'Node' && ev.type !== 'DELETED') {
      const changed = ev.type === 'ADDED' || JSON.stringify([ev.old?.metadata?.labels, ev.old?.spec, ev.old?.status?.allocatable]) !== JSON.stringify([o.metadata.labels, o.spec, o.status?.allocatable])
      if (changed) this.retryPending()
    }
  }

  retryPending() {
    for (const key of this.pending) {
      const [ns, name] = key.split('/')
      this.enqueue(ns, name)
    }
  }

  enqueue(ns, name) {
    const key = `${ns}/${name}`
    if (this.queued.has(key)) return
    this.queued.add(key)
    this.c.later(0, () => {
      this.queued.delete(key)
      this.schedule(ns, name)
    })
  }

  /** Why `node` cannot take `pod`, as the failing plugin reports it; [] when it fits. */
  filter(pod, node, req, used) {
    // NodeUnschedulable (a cordoned node), unless the pod tolerates node.kubernetes.io/unschedulable
    if (node.spec?.unschedulable && !(pod.spec?.tolerations ?? []).some((t) => tolerates(t, {key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule'}))) return {reasons: ['node(s) were unschedulable'], resolvable: false}
    // TaintToleration: the first NoSchedule/NoExecute taint no toleration matches
    const taint = (node.spec?.taints ?? []).find((t) => (t.effect === 'NoSchedule' || t.effect === 'NoExecute') && !(pod.spec?.tolerations ?? []).some((tol) => tolerates(tol, t)))
    if (taint) return {reasons: [`node(s) had untolerated taint {${taint.key}: ${taint.value ?? ''}}`], resolvable: false}
    if (!nodeAffinityMatches(pod, node)) return {reasons: ["node(s) didn't match Pod's node affinity/selector"], resolvable: false}
    // NodeResourcesFit (noderesources/fit.go fitsRequest): pod count first, then each requested resource
    const alloc = node.status?.allocatable ?? {}
    const reasons = []
    if ((used.pods ?? 0) + 1 > quantity(alloc.pods ?? '110')) reasons.push('Too many pods')
    const order = ['cpu', 'memory', 'ephemeral-storage', ...Object.keys(req).filter((k) => !['cpu', 'memory', 'ephemeral-storage'].includes(k)).sort()]
    for (const k of order) {
      if (!(req[k] > 0)) continue
      const have = quantity(alloc[k] ?? 0)
      if ((used[k] ?? 0) + req[k] > have + 1e-9) reasons.push(`Insufficient ${k}`)
    }
    return {reasons, resolvable: true}
  }

  /** Requests of the pods bound to each node (terminating pods still hold theirs until removed). */
  usage() {
    const by = new Map()
    for (const p of this.pods()) {
      const n = p.spec?.nodeName
      if (!n || isTerminal(p)) continue
      const u = by.get(n) ?? {pods: 0}
      u.pods++
      for (const [k, v] of Object.entries(podRequests(p))) u[k] = (u[k] ?? 0) + v
      by.set(n, u)
    }
    return by
  }

  /** One scheduling cycle for a pod: bind it or record why not. */
  schedule(ns, name) {
    const podR = this.s.byKind('v1', 'Pod')
    const pod = this.s.store.getR(podR, ns, name)
    const key = `${ns}/${name}`
    if (!pod || pod.spec?.nodeName || pod.metadata.deletionTimestamp || isTerminal(pod)) {
      this.pending.delete(key)
      return
    }
    const nodes = this.nodes().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))
    const req = podRequests(pod)
    const usage = this.usage()
    const histogram = new Map()
    const preemption = new Map()
    let chosen
    for (const node of nodes) {
      const {reasons, resolvable} = this.filter(pod, node, req, usage.get(node.metadata.name) ?? {pods: 0})
      if (!reasons.length) {
        chosen = node
        break
      }
      for (const r of reasons) histogram.set(r, (histogram.get(r) ?? 0) + 1)
      const p = resolvable ? 'No preemption victims found for incoming pod' : 'Preemption is not helpful for scheduling'
      preemption.set(p, (preemption.get(p) ?? 0) + 1)
    }
    if (chosen) {
      this.pending.delete(key)
      this.c.bindPod(pod, chosen)
      return
    }
    const list = (m) =>
      [...m.entries()]
        .map(([r, n]) => `${n} ${r}`)
        .sort()
        .join(', ')
    // ErrNoNodesAvailable when the cluster has no node at all (schedule_one.go)
    const message = nodes.length === 0 ? 'no nodes available to schedule pods' : `0/${nodes.length} nodes are available: ${list(histogram)}. preemption: 0/${nodes.length} nodes are available: ${list(preemption)}.`
    this.pending.add(key)
    this.c.markUnschedulable(pod, message)
  }
}
