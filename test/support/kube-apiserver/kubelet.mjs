// The kubelets of the loopback cluster: what happens to a pod once the scheduler bound it to a
// node, and when it is deleted. Timings are configurable (StartOptions.kubelet) so tests stay fast.
//  - start (pkg/kubelet/kuberuntime/kuberuntime_manager.go SyncPod): Pulling -> Pulled -> Created ->
//    Started events per container, phase Running, then Ready once the readiness delay passed;
//    or the failure modes aip diagnoses (ImagePullBackOff, CrashLoopBackOff, OOMKilled);
//    a Job's pod runs for its delay and terminates Succeeded or Failed.
//  - graceful deletion (pkg/registry/core/pod/strategy.go CheckGracefulDelete, and the kubelet's
//    killPod): DELETE of a bound, non-terminal pod sets metadata.deletionTimestamp (now + grace) and
//    deletionGracePeriodSeconds (the request's gracePeriodSeconds, else the pod's
//    spec.terminationGracePeriodSeconds, default 30); the kubelet sends Killing events, and after the
//    grace period the pod is removed. Unbound or terminal pods, and gracePeriodSeconds=0, go at once.
//    One simulated second lasts StartOptions.timeScaleMs milliseconds (default 1).
import {randomBytes} from 'node:crypto'

import {clone} from './patch.mjs'

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')

export class Kubelet {
  constructor(server, controllers, opts) {
    this.s = server
    this.c = controllers
    this.pullMs = opts.kubelet?.pullMs ?? 5
    this.startMs = opts.kubelet?.startMs ?? 5
    this.timeScaleMs = opts.timeScaleMs ?? 1
  }

  /** Reads the pod; applies fn to a copy and writes it while it is the same, live pod. */
  mutate(pod, fn) {
    const cur = this.c.get('v1', 'Pod', pod.metadata.namespace, pod.metadata.name)
    if (!cur || cur.metadata.uid !== pod.metadata.uid || cur.metadata.deletionTimestamp) return undefined
    const u = clone(cur)
    u.status ??= {}
    fn(u)
    const w = this.c.update(u)
    this.c.podChanged(w)
    return w
  }

  /** Runs a pod bound to a node, per the behaviour its owner was given. */
  run(pod) {
    const plan = this.c.planFor(pod)
    const b = plan.b
    if (b.mode === 'none') return
    const containers = pod.spec?.containers ?? []
    const image = (c) => b.image ?? c.image ?? 'unknown'
    const ev = (w, type, reason, msg) => this.c.event(w, type, reason, msg, 'kubelet')
    this.c.later(0, () => {
      const cur = this.c.get('v1', 'Pod', pod.metadata.namespace, pod.metadata.name)
      if (cur && !cur.metadata.deletionTimestamp) for (const c of containers) ev(cur, 'Normal', 'Pulling', `Pulling image "${image(c)}"`)
    })
    if (b.mode === 'ImagePullBackOff' || b.mode === 'ErrImagePull') {
      this.c.later(this.pullMs + (b.delayMs ?? 10), () => {
        const w = this.mutate(pod, (u) => {
          u.status.phase = 'Pending'
          u.status.conditions = this.conditions(u, {initialized: true, ready: false})
          u.status.containerStatuses = containers.map((c) => ({name: c.name, image: image(c), imageID: '', ready: false, started: false, restartCount: 0, state: {waiting: {reason: b.mode, message: `Back-off pulling image "${image(c)}"`}}}))
        })
        if (!w) return
        const img = image(containers[0] ?? {})
        ev(w, 'Warning', 'Failed', `Failed to pull image "${img}": rpc error: code = NotFound desc = failed to pull and unpack image "${img}": not found`)
        ev(w, 'Warning', 'Failed', 'Error: ErrImagePull')
        ev(w, 'Normal', 'BackOff', `Back-off pulling image "${img}"`)
        ev(w, 'Warning', 'Failed', 'Error: ImagePullBackOff')
      })
      return
    }
    this.c.later(this.pullMs, () => {
      const cur = this.c.get('v1', 'Pod', pod.metadata.namespace, pod.metadata.name)
      if (!cur || cur.metadata.deletionTimestamp) return
      for (const c of containers) {
        ev(cur, 'Normal', 'Pulled', `Successfully pulled image "${image(c)}" in ${this.pullMs}ms (${this.pullMs}ms including waiting). Image size: ${1_000_000 + (image(c).length * 7919) % 9_000_000} bytes.`)
        ev(cur, 'Normal', 'Created', `Created container ${c.name}`)
      }
    })
    this.c.later(this.pullMs + this.startMs, () => {
      const t = now()
      const w = this.mutate(pod, (u) => {
        u.status.phase = 'Running'
        u.status.startTime ??= t
        u.status.hostIP = this.hostIp(u)
        u.status.podIP = '10.0.' + (1 + Math.floor(Math.random() * 250)) + '.' + (1 + Math.floor(Math.random() * 250))
        u.status.podIPs = [{ip: u.status.podIP}]
        u.status.conditions = this.conditions(u, {initialized: true, ready: false, unready: containers.map((c) => c.name)})
        u.status.containerStatuses = containers.map((c) => ({name: c.name, image: image(c), imageID: `${image(c)}@sha256:${'0'.repeat(64)}`, containerID: `containerd://${randomBytes(32).toString('hex')}`, ready: false, started: true, restartCount: 0, state: {running: {startedAt: t}}}))
      })
      if (!w) return
      for (const c of containers) ev(w, 'Normal', 'Started', `Started container ${c.name}`)
      if (plan.job) return this.c.later(b.delayMs ?? 20, () => this.c.completeJobPod(w, b))
      if (b.mode === 'ready') return this.c.later(b.readyDelayMs ?? 20, () => this.ready(pod))
      this.c.later(b.delayMs ?? 10, () => this.crash(pod, b))
    })
  }

  hostIp(pod) {
    const node = this.c.get('v1', 'Node', undefined, pod.spec?.nodeName)
    return node?.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '10.0.1.23'
  }

  conditions(u, {initialized, ready, unready = []}) {
    const t = now()
    const prev = (type) => (u.status.conditions ?? []).find((c) => c.type === type)
    const cond = (type, status, extra = {}) => ({type, status, lastProbeTime: null, lastTransitionTime: prev(type)?.status === status ? prev(type).lastTransitionTime : t, ...extra})
    const why = ready ? {} : {reason: 'ContainersNotReady', message: `containers with unready status: [${unready.join(' ')}]`}
    return [
      cond('PodReadyToStartContainers', 'True'),
      cond('Initialized', initialized ? 'True' : 'False'),
      cond('Ready', ready ? 'True' : 'False', why),
      cond('ContainersReady', ready ? 'True' : 'False', why),
      cond('PodScheduled', 'True'),
    ]
  }

  ready(pod) {
    this.mutate(pod, (u) => {
      u.status.conditions = this.conditions(u, {initialized: true, ready: true})
      u.status.containerStatuses = (u.status.containerStatuses ?? []).map((cs) => ({...cs, ready: true}))
    })
  }

  crash(pod, b) {
    const t = now()
    const oom = b.mode === 'OOMKilled'
    const w = this.mutate(pod, (u) => {
      const names = (u.spec?.containers ?? []).map((c) => c.name)
      u.status.conditions = this.conditions(u, {initialized: true, ready: false, unready: names})
      u.status.containerStatuses = (u.status.containerStatuses ?? []).map((cs) => ({
        ...cs,
        ready: false,
        started: false,
        restartCount: b.restartCount ?? 4,
        state: {waiting: {reason: 'CrashLoopBackOff', message: `back-off 1m20s restarting failed container=${cs.name} pod=${u.metadata.name}_${u.metadata.namespace}(${u.metadata.uid})`}},
        lastState: {terminated: {exitCode: oom ? 137 : b.exitCode ?? 1, reason: oom ? 'OOMKilled' : 'Error', startedAt: t, finishedAt: t, containerID: `containerd://${randomBytes(32).toString('hex')}`}},
      }))
    })
    if (!w) return
    const first = w.spec?.containers?.[0]?.name ?? 'main'
    this.c.event(w, 'Warning', 'BackOff', `Back-off restarting failed container ${first} in pod ${w.metadata.name}_${w.metadata.namespace}(${w.metadata.uid})`, 'kubelet')
  }

  /** The grace period a DELETE gets (CheckGracefulDelete): 0 means remove now. */
  gracePeriod(pod, requested) {
    if (!pod.spec?.nodeName) return 0 // never scheduled: nothing to stop
    const phase = pod.status?.phase
    if (phase === 'Succeeded' || phase === 'Failed') return 0
    if (requested !== undefined && requested !== null && requested !== '') return Math.max(0, Number(requested))
    return pod.spec?.terminationGracePeriodSeconds ?? 30
  }

  /**
   * Starts a graceful deletion; returns the updated pod, or undefined when the pod goes at once.
   * A second DELETE may only shorten the grace period (pod strategy: "only shorten").
   */
  terminate(r, pod, requested) {
    const grace = this.gracePeriod(pod, requested)
    if (grace === 0) return undefined
    const prev = pod.metadata.deletionGracePeriodSeconds
    if (pod.metadata.deletionTimestamp && prev !== undefined && prev <= grace) return pod
    const o = clone(pod)
    o.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d+Z$/, 'Z')
    o.metadata.deletionGracePeriodSeconds = grace
    const w = this.s.store.write(r, o)
    this.c.podChanged(w)
    for (const c of w.spec?.containers ?? []) this.c.event(w, 'Normal', 'Killing', `Stopping container ${c.name}`, 'kubelet')
    const uid = w.metadata.uid
    this.c.later(grace * this.timeScaleMs, () => {
      const cur = this.c.get('v1', 'Pod', w.metadata.namespace, w.metadata.name)
      if (!cur || cur.metadata.uid !== uid) return
      if ((cur.metadata.finalizers ?? []).length) {
        // the kubelet is done; the object stays until its finalizers are removed
        const u = clone(cur)
        u.metadata.deletionGracePeriodSeconds = 0
        this.s.store.write(r, u)
        return
      }
      this.s.store.removeNow(r, cur)
      this.s.afterRemoved(r, cur)
    })
    return w
  }
}
