import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {kubeFlags} from '../../flags.js'
import {parseDuration} from '../../lib/config/index.js'
import {AipError, toAipError, UsageError} from '../../lib/errors.js'
import {
  connectPrometheus,
  describeBreach,
  History,
  LiveScreen,
  type MetricsRow,
  ndjsonRecords,
  parseOverrides,
  promDuration,
  renderFrame,
  type Snapshot,
  tailMetrics,
  type Thresholds,
  watchKeys,
} from '../../lib/metrics/index.js'
import {ndjsonLine, redact} from '../../lib/output/index.js'

export interface TailResult {
  source: string
  time: string
  window: string
  models: string[]
  rows: MetricsRow[]
  breaches: Snapshot['breaches']
}

export default class MetricsTail extends AipCommand {
  static override summary = 'Live serving metrics per model from Prometheus (TTFT, tokens/s, queue, KV cache, GPU)'
  static override description = `Reads vLLM and DCGM metrics from Prometheus: --prometheus URL (or config prometheus-url), otherwise the service in config prometheus-service (default monitoring/prometheus-operated:9090) through the Kubernetes API server's service proxy.

On a terminal: a table redrawn in place with sparklines; values past --ttft-p95 / --kv-usage in red; q or Ctrl-C quits.
Without a terminal, or with --json: one NDJSON line per model per sample on stdout.
--once: one snapshot (a table, or the JSON envelope with --json); exit 1 when a threshold is breached.`
  static override examples = [
    '<%= config.bin %> metrics tail',
    '<%= config.bin %> metrics tail qwen3-8b --pods --window 5m',
    '<%= config.bin %> metrics tail --prometheus http://localhost:9090 --once --ttft-p95 2s --kv-usage 0.9',
    '<%= config.bin %> metrics tail --json | jq .generationTokensPerSecond',
  ]
  static override enableJsonFlag = true
  protected static override handlesInterrupt = true
  static override args = {model: Args.string({description: 'served model name (model_name label); default: all models'})}
  static override flags = {
    prometheus: Flags.string({description: 'Prometheus base URL (default: config prometheus-url, else through the cluster)'}),
    interval: Flags.string({description: 'refresh interval', default: '5s'}),
    window: Flags.string({description: 'rate/quantile window (PromQL range)', default: '1m'}),
    pods: Flags.boolean({description: 'one row per pod instead of per model', default: false}),
    once: Flags.boolean({description: 'print one snapshot and exit (non-zero when a threshold is breached)', default: false}),
    samples: Flags.integer({description: 'stop after this many samples (streaming mode)', min: 1}),
    'ttft-p95': Flags.string({description: 'threshold for TTFT p95, e.g. 2s'}),
    'kv-usage': Flags.string({description: 'threshold for KV-cache usage, a fraction, e.g. 0.9'}),
    promql: Flags.string({description: 'override a query: NAME=EXPR (names: ttft_p95, gen_tps, kv_usage, ...)', multiple: true}),
    kubeconfig: kubeFlags.kubeconfig,
    context: kubeFlags.context,
  }

  async run(): Promise<TailResult | undefined> {
    const {args, flags} = await this.parse(MetricsTail)
    const cfg = this.config_({'prometheus-url': flags.prometheus, kubeconfig: flags.kubeconfig, context: flags.context})
    const intervalMs = parseDuration(flags.interval, '--interval')
    const window = promDuration(parseDuration(flags.window, '--window'))
    const thresholds: Thresholds = {}
    if (flags['ttft-p95']) thresholds.ttftP95 = parseDuration(flags['ttft-p95'], '--ttft-p95') / 1000
    if (flags['kv-usage'] !== undefined) {
      const v = Number(flags['kv-usage'])
      if (!(v > 0 && v <= 1)) throw new UsageError(`--kv-usage must be a fraction in (0, 1], got "${flags['kv-usage']}"`, {fix: 'e.g. --kv-usage 0.9'})
      thresholds.kvUsage = v
    }
    const overrides = parseOverrides(flags.promql)
    const client = await connectPrometheus({url: cfg.string('prometheus-url'), service: cfg.string('prometheus-service'), kubeconfig: cfg.string('kubeconfig'), context: cfg.string('context')})
    const base = {model: args.model, window, pods: flags.pods, overrides, thresholds, intervalMs}

    if (flags.once) {
      let snap: Snapshot | undefined
      await tailMetrics(client, {...base, samples: 1, signal: this.signal}, {onSnapshot: (s) => void (snap = s)})
      if (!snap) throw toAipError(this.signal.reason ?? new Error('interrupted'))
      if (snap.rows.length === 0 || snap.rows.every((r) => r.state === 'no-samples')) this.warn('no samples yet: Prometheus has no rate data for these models in the window')
      this.print(renderFrame(snap, {c: this.c, thresholds, pods: flags.pods, source: client.describe}))
      if (snap.breaches.length > 0) {
        this.deferredError = new AipError('FAILED', `threshold breached: ${snap.breaches.map(describeBreach).join('; ')}`, {
          fix: 'the model is past its --ttft-p95/--kv-usage limits: add replicas or capacity, or relax the thresholds',
          details: {breaches: snap.breaches},
        })
      }
      return {source: client.describe, time: snap.time, window: snap.window, models: snap.models, rows: snap.rows, breaches: snap.breaches}
    }

    if (!this.interactive) {
      // Streaming NDJSON: one line per model per sample (a {"model": null, "state": "no-samples"}
      // line when Prometheus has no model at all), errors after the first sample on stderr.
      await tailMetrics(client, {...base, samples: flags.samples, signal: this.signal}, {
        onSnapshot: (s) => {
          const recs = ndjsonRecords(s)
          if (recs.length === 0) process.stdout.write(ndjsonLine({time: s.time, window: s.window, model: null, state: 'no-samples'}))
          for (const r of recs) process.stdout.write(ndjsonLine(r))
        },
        onError: (e) => process.stderr.write(redact(`Warning: refresh failed: ${toAipError(e).message}\n`)),
      })
      return undefined
    }

    // Live view on a terminal.
    const stop = new AbortController()
    const signal = AbortSignal.any([this.signal, stop.signal])
    const screen = new LiveScreen((t) => process.stdout.write(t))
    const history = new History(24)
    const restoreKeys = watchKeys(process.stdin, () => stop.abort())
    let last: Snapshot | undefined
    let lastError: string | undefined
    const draw = () => last && screen.draw(renderFrame(last, {c: this.c, thresholds, pods: flags.pods, history, source: client.describe, intervalMs, error: lastError}) + `\n${this.c.dim('q or Ctrl-C to quit')}`)
    try {
      await tailMetrics(client, {...base, samples: flags.samples, signal}, {
        onSnapshot: (s) => {
          last = s
          lastError = undefined
          history.add(s.rows)
          draw()
        },
        onError: (e) => {
          lastError = toAipError(e).message
          draw()
        },
      })
    } finally {
      restoreKeys()
      screen.close()
    }
    return undefined
  }
}
