import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, modelNameArg, storageFlags, vllmFlags} from '../../flags.js'
import {parseDuration} from '../../lib/config/index.js'
import {kubeClientFromConfig, lineProgress, listrProgress} from '../../lib/deploy/index.js'
import type {GateResult, RolloutReport} from '../../lib/rollout/index.js'
import {renderTable} from '../../lib/output/index.js'

export default class ModelRollout extends AipCommand {
  static override summary = 'Roll a deployed model to a new spec safely: canary beside it, gated traffic steps, automatic abort'
  static override description = `The candidate is the model's current spec with the given deploy flags on top (--revision, --image, --max-model-len ...). It passes the gpu-fit gate and a GPU headroom check (namespace ResourceQuota, nodes and Karpenter NodePool limits), starts beside the stable as its own Deployment and Service (<name>-canary), and is warmed with a real completion before it takes any traffic. The gateway then sends it --steps percent of the model's requests (LiteLLM weights, verified on every gateway replica); before each step and before promotion both versions are read from Prometheus over --interval, and a breach of --max-error-rate, --max-ttft-p95 or --max-itl-p95 aborts: all traffic back to the stable, the candidate at zero replicas, exit 1 with the numbers. After the last step the stable Deployment takes the candidate's spec while the candidate serves, and the canary is removed.
The stable is untouched until the candidate serves 100%. The state lives in the cluster (ConfigMap aip-rollout-<name>): \`aip model rollout status NAME\` explains it, a rerun with the same flags resumes after Ctrl-C, \`aip model promote NAME\` skips the remaining steps, --abort stops it.
--surge 0 replaces in place instead (the stable's own rolling update, then the same gate; a breach rolls it back).`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override examples = [
    '<%= config.bin %> model rollout qwen3-8b --revision 9c3f2d1e... --dry-run',
    '<%= config.bin %> model rollout qwen3-8b --revision 9c3f2d1e... --steps 10,50,100 --interval 5m --max-error-rate 0.02 --max-ttft-p95 2s',
    '<%= config.bin %> model rollout qwen3-8b --image vllm/vllm-openai:v0.11.0 --surge 0',
    '<%= config.bin %> model rollout status qwen3-8b',
    '<%= config.bin %> model rollout qwen3-8b --abort',
  ]

  static override args = {
    name: modelNameArg('deployed model name (aip model list)'),
  }

  static override flags = {
    ...kubeFlags,
    template: Flags.string({char: 'f', description: 'the template the model was deployed from (default: its recorded revision, else the catalog entry)', helpGroup: 'MODEL'}),
    ...vllmFlags,
    'min-replicas': Flags.integer({description: 'autoscaling floor after promotion', min: 0, helpGroup: 'MODEL'}),
    'max-replicas': Flags.integer({description: 'autoscaling ceiling after promotion', min: 1, helpGroup: 'MODEL'}),
    ...storageFlags,
    steps: Flags.string({description: 'the candidate\'s share at each step, percent, ending at 100', default: '10,50,100', helpGroup: 'ROLLOUT'}),
    interval: Flags.string({description: 'how long each step runs before its gate, and the window the gate reads', default: '5m', helpGroup: 'ROLLOUT'}),
    'max-error-rate': Flags.string({description: 'abort when the candidate\'s error rate (non stop/length finishes) exceeds this (0.02 or 2%)', default: '0.02', helpGroup: 'ROLLOUT'}),
    'max-ttft-p95': Flags.string({description: 'abort when the candidate\'s p95 time to first token exceeds this (e.g. 2s)', helpGroup: 'ROLLOUT'}),
    'max-itl-p95': Flags.string({description: 'abort when the candidate\'s p95 inter-token latency exceeds this (e.g. 100ms)', helpGroup: 'ROLLOUT'}),
    surge: Flags.integer({description: '1: the candidate runs beside the stable (canary); 0: replace in place (rolling update, no second copy)', default: 1, min: 0, max: 1, helpGroup: 'ROLLOUT'}),
    abort: Flags.boolean({description: 'stop the rollout in progress: traffic back to the stable, the candidate to zero replicas', default: false, helpGroup: 'ROLLOUT'}),
    'dry-run': Flags.boolean({description: 'print the plan (steps, what changes, GPU headroom); change nothing', default: false}),
    'skip-fit': Flags.boolean({description: 'skip the gpu-fit gate for the candidate', default: false}),
    timeout: Flags.string({description: 'how long the candidate may take to become ready (default 15m)'}),
    prometheus: Flags.string({description: 'Prometheus base URL (default: config prometheus-url, else through the cluster)'}),
    ...gatewayFlags,
  }

  async run(): Promise<RolloutReport> {
    const {args, flags} = await this.parse(ModelRollout)
    const cfg = this.config_(flags)
    const {parseSteps, parseErrorRate, runRollout, abortRollout, describeMetrics} = await import('../../lib/rollout/index.js')
    const {rolloutDepsFromConfig} = await import('../../lib/rollout/context.js')
    const steps = parseSteps(flags.steps)
    const intervalMs = parseDuration(flags.interval, '--interval')
    const limits = {
      maxErrorRate: parseErrorRate(flags['max-error-rate']),
      ...(flags['max-ttft-p95'] ? {maxTtftP95: parseDuration(flags['max-ttft-p95'], '--max-ttft-p95') / 1000} : {}),
      ...(flags['max-itl-p95'] ? {maxItlP95: parseDuration(flags['max-itl-p95'], '--max-itl-p95') / 1000} : {}),
    }
    const client = await kubeClientFromConfig(cfg, (r) => this.debugLog(`${r.method} ${r.path} -> ${r.status ?? r.error ?? ''} (${r.ms} ms)`), (m) => this.warn(m))
    const progress = this.jsonEnabled() ? undefined : this.interactive && process.stderr.isTTY ? await listrProgress() : lineProgress((l) => this.info(l))
    const onGate = (g: GateResult) => {
      if (g.verdict === 'baseline') this.info(`baseline (stable, ${g.window}): ${describeMetrics(g.stable)}`)
      else this.info(`gate at ${g.weight}% (${g.window}): ${g.verdict}\n  candidate: ${describeMetrics(g.candidate)}\n  stable:    ${describeMetrics(g.stable)}`)
    }
    const deps = rolloutDepsFromConfig(cfg, client, {
      signal: this.signal,
      progress,
      warn: (t) => this.warn(t),
      onGate,
      prometheusUrl: flags.prometheus,
      timeoutMs: flags.timeout ? parseDuration(flags.timeout, '--timeout') : undefined,
    })
    let result: RolloutReport
    try {
      result = flags.abort
        ? await abortRollout(deps, args.name)
        : await runRollout(deps, {
            name: args.name,
            template: flags.template,
            overrides: {
              gpu: flags.gpu,
              gpus: flags.gpus,
              maxModelLen: flags['max-model-len'],
              maxNumSeqs: flags['max-num-seqs'],
              revision: flags.revision,
              image: flags.image,
              dtype: flags.dtype,
              quantization: flags.quantization,
              kvCacheDtype: flags['kv-cache-dtype'],
              toolCallParser: flags['tool-call-parser'],
              minReplicas: flags['min-replicas'],
              maxReplicas: flags['max-replicas'],
            },
            steps,
            intervalMs,
            limits,
            surge: flags.surge !== 0,
            skipFit: flags['skip-fit'],
            dryRun: flags['dry-run'],
          })
    } finally {
      await progress?.close()
    }
    this.render(result)
    return result
  }

  private render(r: RolloutReport): void {
    if (r.phase === 'planned') {
      this.print(`plan for ${r.model} in ${r.namespace} (${r.mode === 'canary' ? 'canary beside the stable' : 'in place, --surge 0'}):`)
      this.print(`  changes: ${r.changes.join('; ')}`)
      this.print(`  steps:   ${r.plan}`)
      this.print(`  gates:   after each step, both versions over ${Math.round(r.intervalMs / 1000)}s: ${r.limitsText}`)
      if (r.capacity) this.print(`  GPUs:    ${r.capacity.needGpus} for ${r.capacity.replicas} candidate replica(s): ${r.capacity.fits ? 'fit' : `do not fit (${r.capacity.reason})`}`)
      this.print('nothing was changed (--dry-run)')
      return
    }
    const gates = r.gates.filter((g) => g.verdict !== 'baseline')
    if (gates.length > 0) {
      this.print(
        renderTable(gates, [
          {header: 'step', get: (g) => `${g.weight}%`},
          {header: 'verdict', get: (g) => g.verdict},
          {header: 'candidate err', get: (g) => (g.candidate.errorRate === null ? '-' : `${(g.candidate.errorRate * 100).toFixed(1)}%`)},
          {header: 'candidate ttft p95', get: (g) => (g.candidate.ttftP95 === null ? '-' : `${g.candidate.ttftP95.toFixed(3)}s`)},
          {header: 'stable err', get: (g) => (g.stable.errorRate === null ? '-' : `${(g.stable.errorRate * 100).toFixed(1)}%`)},
          {header: 'stable ttft p95', get: (g) => (g.stable.ttftP95 === null ? '-' : `${g.stable.ttftP95.toFixed(3)}s`)},
        ]),
      )
    }
    this.print(r.phase === 'promoted' ? `${r.model}: promoted (${r.changes.join('; ')})` : `${r.model}: ${r.phase}${r.reason ? ` (${r.reason})` : ''}`)
  }
}
