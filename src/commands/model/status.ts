
import {AipCommand} from '../../base-command.js'
import {kubeFlags, modelNameArg} from '../../flags.js'
import {kubeClientFromConfig, modelStatus, type ModelStatus} from '../../lib/deploy/index.js'
import {fixFor} from '../../lib/kube/wait.js'
import {formatDuration, renderKeyValues, renderTable} from '../../lib/output/index.js'

export default class ModelStatusCommand extends AipCommand {
  static override summary = 'Show a deployed model: objects, conditions, pods, events, endpoint'
  static override description = 'When the model is not ready, the likely cause is read from pod status and events (unschedulable, image pull, OOM, crash loop with the last log lines).'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> model status qwen3-8b', '<%= config.bin %> model status qwen3-8b -n team-a --json']

  static override args = {
    name: modelNameArg(),
  }

  static override flags = {...kubeFlags}

  async run(): Promise<ModelStatus> {
    const {args, flags} = await this.parse(ModelStatusCommand)
    const client = await kubeClientFromConfig(this.config_(flags))
    const s = await modelStatus(client, args.name, {namespace: client.namespace, signal: this.signal})
    const c = this.c
    const color = s.status === 'Ready' ? c.green : s.status === 'Failed' ? c.red : c.yellow
    this.print(
      renderKeyValues([
        ['model', s.name],
        ['namespace', s.namespace],
        ['status', color(s.status)],
        ['replicas', `${s.ready}/${s.desired} ready`],
        ['endpoint', s.endpoint],
        ['revision', s.revision],
        ['autoscaling', s.scaling.autoscaler === 'none' ? 'none (fixed replicas)' : `${s.scaling.autoscaler} min ${s.scaling.min} max ${s.scaling.max}${s.scaling.pausedReplicas !== undefined ? ` (paused at ${s.scaling.pausedReplicas})` : ''}`],
        ['idle after', s.scaling.idleAfterSeconds === undefined ? undefined : formatDuration(s.scaling.idleAfterSeconds * 1000)],
        ['idle since', s.scaling.idleSince],
        ['last cold start', s.scaling.lastColdStart ? `${formatDuration(s.scaling.lastColdStart.seconds * 1000)} (${s.scaling.lastColdStart.pod}, ready at ${s.scaling.lastColdStart.readyAt})` : undefined],
        ['wake on request', s.scaling.wake ? `held up to ${s.scaling.wake.holdSeconds ?? '?'}s at the KEDA HTTP interceptor (${s.scaling.wake.httpScaledObject}), then 503 + Retry-After${s.scaling.wake.recordedColdStartSeconds ? `; recorded cold start ${s.scaling.wake.recordedColdStartSeconds}s` : ''}` : s.scaling.min === 0 && s.scaling.autoscaler === 'ScaledObject' ? 'no (the KEDA HTTP add-on is not in front of this model)' : undefined],
        ['preload', s.preload ? `${s.preload.job} (${s.preload.status})` : undefined],
      ]),
    )
    this.print('\nObjects:\n' + renderTable(s.objects, [{header: 'kind', get: (o) => o.kind}, {header: 'name', get: (o) => o.name}, {header: 'status', get: (o) => o.status}]))
    if (s.conditions.length > 0) this.print('\nConditions:\n' + renderTable(s.conditions, [{header: 'type', get: (x) => x.type}, {header: 'status', get: (x) => x.status}, {header: 'reason', get: (x) => x.reason}, {header: 'message', get: (x) => x.message}]))
    if (s.pods.length > 0) this.print('\nPods:\n' + renderTable(s.pods, [{header: 'name', get: (p) => p.name}, {header: 'phase', get: (p) => p.phase}, {header: 'ready', get: (p) => (p.ready ? 'yes' : 'no')}, {header: 'restarts', get: (p) => p.restarts}, {header: 'reason', get: (p) => p.reason}, {header: 'node', get: (p) => p.node}]))
    if (s.events.length > 0) this.print('\nEvents:\n' + renderTable(s.events, [{header: 'type', get: (e) => e.type}, {header: 'reason', get: (e) => e.reason}, {header: 'object', get: (e) => e.object}, {header: 'message', get: (e) => e.message}]))
    if (s.diagnosis) {
      this.print(`\n${c.yellow('Cause:')} ${s.diagnosis.message}\n${c.dim('Fix:')} ${fixFor(s.diagnosis)}`)
      if (s.diagnosis.logTail?.length) this.print(`Last log lines of ${s.diagnosis.pod}/${s.diagnosis.container}:\n` + s.diagnosis.logTail.map((l) => `  ${l}`).join('\n'))
    }
    return s
  }
}
