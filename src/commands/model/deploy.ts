import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'
import {stringify} from 'yaml'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, storageFlags, vllmFlags, waitFlags} from '../../flags.js'
import {UsageError} from '../../lib/errors.js'
import {checkDeployPrerequisites, deployModel, type DeployResult, kubeClientFromConfig, lineProgress, listrProgress, parseSource, renderOptionsFromConfig, resolveEntry} from '../../lib/deploy/index.js'
import {type AipConfig, parseDuration} from '../../lib/config/index.js'
import type {Progress} from '../../lib/deploy/progress.js'
import type {KubeClient} from '../../lib/kube/index.js'
import {renderTable} from '../../lib/output/index.js'
import {YAML_OUTPUT} from '../../lib/output/yaml.js'

export default class ModelDeploy extends AipCommand {
  static override summary = 'Deploy a model: catalog NAME, --template FILE or hf:ORG/REPO'
  static override description = `Checks that the model fits the GPU (gpu-fit; --skip-fit to bypass), renders the objects (Deployment running vLLM, Service, ServiceAccount, NetworkPolicies, PodDisruptionBudget, the preload Job, KEDA ScaledObject or an HPA, ServiceMonitor and PrometheusRule when their CRDs exist), applies them with server-side apply (field manager "aip"), then waits for the weights and the rollout.
When the rollout stalls, the cause is read from pod status and events (ImagePullBackOff, Insufficient nvidia.com/gpu, OOMKilled, CrashLoopBackOff with the last log lines).
Rerunning converges on the same objects (unchanged objects report "unchanged").`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override examples = [
    '<%= config.bin %> model deploy qwen3-8b',
    '<%= config.bin %> model deploy qwen3-8b --max-model-len 16384 --gpu l4 --dry-run=server',
    '<%= config.bin %> model deploy --template ./my-model.yaml --diff',
    '<%= config.bin %> model deploy hf:Qwen/Qwen2.5-0.5B-Instruct --gpu l4 --max-model-len 8192',
    '<%= config.bin %> model deploy llama-3.1-8b-instruct -o yaml > manifests.yaml',
  ]

  static override args = {
    model: Args.string({description: 'catalog name (aip model list), hf:ORG/REPO, or a template file path', required: false}),
  }

  static override flags = {
    ...kubeFlags,
    ...waitFlags,
    template: Flags.string({char: 'f', description: 'deploy from a model template YAML file (same schema as templates/models/*.yaml)'}),
    name: Flags.string({description: 'deployment name (default: the entry name, or the repo name for hf:)', helpGroup: 'MODEL'}),
    'served-name': Flags.string({description: 'model name clients send in requests', helpGroup: 'MODEL'}),
    ...vllmFlags,
    'min-replicas': Flags.integer({description: 'autoscaling floor (0 allows scale to zero)', min: 0, helpGroup: 'MODEL'}),
    'max-replicas': Flags.integer({description: 'autoscaling ceiling', min: 1, helpGroup: 'MODEL'}),
    'idle-after': Flags.string({description: 'scale to zero after this long without requests, e.g. 30m (KEDA; sets --min-replicas 0)', helpGroup: 'MODEL'}),
    'hold-timeout': Flags.string({description: 'scale from zero: how long a request for the model at zero replicas is held before 503 + Retry-After, e.g. 5m (default: from the measured cold start, else the model size)', helpGroup: 'MODEL'}),
    ...storageFlags,
    'skip-fit': Flags.boolean({description: 'skip the gpu-fit preflight gate', default: false}),
    'dry-run': Flags.string({description: 'client: render only, contact nothing; server: the API server validates, stores nothing', options: ['client', 'server']}),
    diff: Flags.boolean({description: 'show what would change against the live objects; apply nothing', default: false}),
    output: Flags.string({char: 'o', description: 'print the rendered objects only (implies --dry-run=client unless --dry-run=server)', options: ['yaml', 'json']}),
    'force-conflicts': Flags.boolean({description: 'take over fields another field manager owns (server-side apply force)', default: false}),
    gateway: Flags.boolean({description: 'register the model with the gateway when one is installed (verified on every replica)', default: true, allowNo: true, helpGroup: 'GATEWAY'}),
    ...gatewayFlags,
  }

  async run(): Promise<(Omit<DeployResult, 'manifests'> | DeployResult) & {gateway?: unknown}> {
    const {args, flags} = await this.parse(ModelDeploy)
    const cfg = this.config_(flags)
    if (flags.output && flags.diff) throw new UsageError('-o and --diff cannot be combined', {fix: 'use -o yaml to print the objects, or --diff to compare them with the cluster'})
    const source = parseSource(args.model, flags.template)
    const hub = source.kind === 'hf' ? await this.hub(cfg.string('hf-endpoint')) : undefined
    const entry = await resolveEntry(
      source,
      {
        name: flags.name,
        gpu: flags.gpu,
        gpus: flags.gpus,
        maxModelLen: flags['max-model-len'],
        maxNumSeqs: flags['max-num-seqs'],
        servedName: flags['served-name'],
        revision: flags.revision,
        image: flags.image,
        dtype: flags.dtype,
        quantization: flags.quantization,
        kvCacheDtype: flags['kv-cache-dtype'],
        toolCallParser: flags['tool-call-parser'],
        minReplicas: flags['min-replicas'],
        maxReplicas: flags['max-replicas'],
        idleAfterSeconds: flags['idle-after'] === undefined ? undefined : Math.round(parseDuration(flags['idle-after'], '--idle-after') / 1000),
      },
      {hub, defaultGpu: cfg.string('gpu'), signal: this.signal},
    )
    const dryRun = (flags['dry-run'] as 'client' | 'server' | undefined) ?? (flags.output ? 'client' : undefined)
    const needsCluster = !(dryRun === 'client' && !flags.diff)
    const render = renderOptionsFromConfig(cfg)
    // every missing prerequisite (kubeconfig, bucket, the token Secret of a gated model) in one error
    const client = await checkDeployPrerequisites({
      entry,
      bucket: render.bucket,
      namespace: render.namespace,
      needsCluster,
      connect: () => kubeClientFromConfig(cfg, (r) => this.debugLog(`${r.method} ${r.path} -> ${r.status ?? r.error ?? ""} (${r.ms} ms)`), (m) => this.warn(m)),
    })
    const timeoutMs = flags.timeout ? parseDuration(flags.timeout, '--timeout') : (cfg.durationMs('timeout') ?? 15 * 60_000)
    const quiet = Boolean(flags.output) || this.jsonEnabled()
    const progress = quiet ? undefined : this.interactive && process.stderr.isTTY ? await listrProgress() : lineProgress((l) => this.info(l))
    let result: DeployResult
    let gateway: unknown
    try {
      // a rollout in progress owns the model's stable Deployment and gateway weights until it ends
      if (client && !dryRun && !flags.diff) {
        const {rolloutInProgress} = await import('../../lib/rollout/guard.js')
        const r = await rolloutInProgress(client, render.namespace, entry.name, {signal: this.signal})
        if (r) throw new UsageError(`a rollout of ${entry.name} is in progress (${r.phase}${r.weight === undefined ? '' : `, candidate at ${r.weight}%`}): a deploy would change the stable under it`, {fix: `finish it (aip model promote ${entry.name}) or abort it (aip model rollout ${entry.name} --abort) first; aip model rollout status ${entry.name} shows it`})
      }
      // the gateway is checked before anything is applied: a name conflict or an unreachable
      // gateway stops the deploy with the cluster unchanged
      if (flags.gateway && client && !dryRun && !flags.diff) {
        const {gatewayOptionsFromConfig, precheckRegistration} = await import('../../lib/gateway/index.js')
        await precheckRegistration(gatewayOptionsFromConfig(cfg, client, this.signal), render.namespace, entry.name, entry.servedModelName)
      }
      result = await deployModel({
        entry,
        render,
        skipFit: flags['skip-fit'],
        dryRun,
        diff: flags.diff,
        force: flags['force-conflicts'],
        wait: flags.wait,
        timeoutMs,
        signal: this.signal,
        progress,
        client,
        warn: (t) => this.warn(t),
        holdTimeoutSeconds: flags['hold-timeout'] === undefined ? undefined : Math.max(1, Math.round(parseDuration(flags['hold-timeout'], '--hold-timeout') / 1000)),
      })
      if (result.mode === 'apply' && flags.gateway && client) gateway = await this.register(cfg, client, result, progress)
    } finally {
      await progress?.close()
    }

    if (flags.output === 'yaml') {
      this.print(result.manifests.map((o) => stringify(o, YAML_OUTPUT)).join('---\n'))
      return result
    }
    if (flags.output === 'json') {
      if (!this.jsonEnabled()) this.print(JSON.stringify({apiVersion: 'v1', kind: 'List', items: result.manifests}, null, 2))
      return result
    }
    if (result.diff) {
      this.print(result.diff.changed ? result.diff.text : `no changes: the cluster matches ${entry.name}`)
    } else {
      this.print(
        renderTable(result.objects, [
          {header: 'kind', get: (o) => o.kind},
          {header: 'name', get: (o) => o.name},
          {header: 'action', get: (o) => o.action},
        ]),
      )
      if (result.wake && result.mode !== 'dry-run-client') this.info(`scale from zero: a request at zero replicas is held ${result.wake.holdSeconds}s (${result.wake.source === 'flag' ? '--hold-timeout' : result.wake.source === 'measured' ? `last cold start ${result.wake.measuredSeconds}s x 1.5` : `estimated cold start for this model size`}), then 503 + Retry-After ${result.wake.retryAfterSeconds}s`)
      if (result.mode === 'apply') this.print(result.waited ? `${entry.name} is serving at ${result.endpoint} (model "${entry.servedModelName}")` : `${entry.name} applied; follow it with: aip model status ${entry.name}`)
      const g = gateway as {action?: string; servedName?: string; replicas?: string[]} | undefined
      if (g?.action) this.print(`gateway: "${g.servedName}" ${g.action}, served by ${g.replicas?.length ?? 0} replica(s)`)
    }
    const {manifests: _m, ...summary} = result
    return gateway ? {...summary, gateway} : summary
  }

  /** After the rollout: the gateway serves the model on every replica (when a gateway is installed). */
  private async register(cfg: AipConfig, client: KubeClient, result: DeployResult, progress: Progress | undefined) {
    const {gatewayOptionsFromConfig, registerAfterChange} = await import('../../lib/gateway/index.js')
    return registerAfterChange(gatewayOptionsFromConfig(cfg, client, this.signal), {namespace: result.namespace, model: result.model, servedName: result.servedModelName}, progress, {done: 'is deployed', retry: 'rerun `aip model deploy` or `aip gateway reconcile`'})
  }

  private async hub(endpoint: string | undefined) {
    const {HubClient, hubConfigFromEnv} = await import('../../lib/hub/index.js')
    return new HubClient(hubConfigFromEnv(process.env, endpoint))
  }
}
