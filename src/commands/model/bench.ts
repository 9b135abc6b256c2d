import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, optionalModelNameArg} from '../../flags.js'
import {parseDuration} from '../../lib/config/index.js'
import {AipError, UnauthorizedError, UsageError} from '../../lib/errors.js'
import type {BenchResult, Distribution} from '../../lib/loadtest/index.js'
import type {SloReport} from '../../lib/loadtest/slo.js'
import {renderKeyValues, renderTable} from '../../lib/output/index.js'

export default class ModelBench extends AipCommand {
  static override summary = 'Load-test an OpenAI-compatible model endpoint: TTFT, inter-token latency, tokens/s, latency percentiles, errors'
  static override description = `Sends --requests chat or completions requests with at most --concurrency in flight and reports what the endpoint delivers.
Target: --url BASE (e.g. http://localhost:8000) or NAME, a model deployed by aip: through the gateway when one is installed (--via gateway: its public URL or --gateway-url, the model's public name, the key from AIP_API_KEY), else (--via service) through the Kubernetes API server's service proxy (Service NAME, port "http", namespace -n/config namespace).
The API key comes from AIP_API_KEY or OPENAI_API_KEY and is never printed.`
  static override examples = [
    '<%= config.bin %> model bench qwen3-8b',
    '<%= config.bin %> model bench --url http://localhost:8000 --concurrency 16 --requests 500',
    '<%= config.bin %> model bench --url http://localhost:8000 --api completions --no-stream --json',
    '<%= config.bin %> model bench qwen3-8b --requests 100 --max-error-rate 1% --max-ttft-p95 2s   # CI gate: exit 1 on a breach',
  ]
  static override enableJsonFlag = true
  protected static override handlesInterrupt = true
  static override args = {name: optionalModelNameArg('model deployed by aip (alternative to --url)')}
  static override flags = {
    url: Flags.string({description: 'base URL of an OpenAI-compatible server (without /v1)'}),
    model: Flags.string({description: 'served model name to request (default: the first of GET /v1/models)'}),
    api: Flags.string({description: 'API to call', options: ['chat', 'completions'], default: 'chat'}),
    concurrency: Flags.integer({description: 'requests in flight at once', default: 8, min: 1}),
    requests: Flags.integer({description: 'total requests', default: 200, min: 1}),
    'prompt-tokens': Flags.integer({description: 'approximate prompt length in tokens', default: 512, min: 1}),
    'max-tokens': Flags.integer({description: 'max_tokens per request', default: 128, min: 1}),
    stream: Flags.boolean({description: 'stream responses (needed for TTFT and inter-token latency)', default: true, allowNo: true}),
    'request-timeout': Flags.string({description: 'per-request timeout', default: '120s'}),
    via: Flags.string({description: 'how NAME is reached: gateway (its URL, with AIP_API_KEY) or service (the API server\'s service proxy); default gateway when one is installed', options: ['gateway', 'service']}),
    'gateway-url': gatewayFlags['gateway-url'],
    'max-error-rate': Flags.string({description: 'CI gate: exit 1 when more than this share of requests fail, e.g. 0.01 or 1%', helpGroup: 'GATE'}),
    'max-ttft-p95': Flags.string({description: 'CI gate: exit 1 when the 95th percentile time to first token exceeds this, e.g. 500ms or 2s', helpGroup: 'GATE'}),
    kubeconfig: kubeFlags.kubeconfig,
    context: kubeFlags.context,
    namespace: kubeFlags.namespace,
  }

  async run(): Promise<BenchResult & {slo?: SloReport}> {
    const {args, flags} = await this.parse(ModelBench)
    if (!args.name && !flags.url) throw new UsageError('give a model NAME or --url', {fix: 'e.g. `aip model bench qwen3-8b` or `aip model bench --url http://localhost:8000`'})
    if (args.name && flags.url) throw new UsageError('give either a model NAME or --url, not both', {fix: 'drop one of them'})
    const timeoutMs = parseDuration(flags['request-timeout'], '--request-timeout')
    const {checkSlo, sloError, sloFromFlags} = await import('../../lib/loadtest/slo.js')
    const slo = sloFromFlags({maxErrorRate: flags['max-error-rate'], maxTtftP95: flags['max-ttft-p95'], stream: flags.stream})
    const {directEndpoint, serviceProxyEndpoint} = await import('../../lib/metrics/transport.js')
    const {runBench} = await import('../../lib/loadtest/index.js')
    const {apiKeyFor, checkModelService} = await import('../../lib/loadtest/cluster.js')
    const envKey = process.env.AIP_API_KEY || process.env.OPENAI_API_KEY || undefined
    if (flags.via && flags.url) throw new UsageError('--via applies to a model NAME, not to --url', {fix: 'drop --via, or give NAME instead of --url'})
    let ep
    let model = flags.model
    if (flags.url) {
      ep = directEndpoint(flags.url.replace(/\/v1\/?$/, ''), '--url')
    } else {
      const cfg = this.config_({kubeconfig: flags.kubeconfig, context: flags.context, namespace: flags.namespace, 'gateway-url': flags['gateway-url']})
      const namespace = cfg.string('namespace') ?? 'aip-models'
      let route: {url: string; servedName: string} | undefined
      if (flags.via !== 'service') {
        const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
        const {gatewayOptionsFromConfig, gatewayRouteFor} = await import('../../lib/gateway/index.js')
        // without a usable kubeconfig and no explicit --via, the service path reports what is missing
        const client = await kubeClientFromConfig(cfg).catch((error: unknown) => {
          if (flags.via === 'gateway') throw error
          return undefined
        })
        if (client) route = await gatewayRouteFor(gatewayOptionsFromConfig(cfg, client, this.signal), namespace, args.name!)
        if (!route && flags.via === 'gateway') throw new UsageError(`--via gateway: no gateway is installed in ${cfg.string('gateway-namespace') ?? 'aip-gateway'}`, {fix: 'install one (aip gateway install), or use --via service'})
      }
      if (route) {
        if (!envKey) throw new UnauthorizedError('benchmarking through the gateway needs an API key', {fix: 'create one (aip key create --team TEAM --models ...) and set AIP_API_KEY; or --via service'})
        ep = directEndpoint(route.url)
        model ??= route.servedName
      } else {
        ep = await checkModelService(args.name!, {namespace, kubeconfig: cfg.string('kubeconfig'), context: cfg.string('context')}, this.signal)
      }
    }
    const {apiKey, warning} = apiKeyFor(ep, envKey)
    if (warning) this.warn(warning)
    this.info(`benchmarking ${ep.describe}: ${flags.requests} ${flags.api} requests, concurrency ${flags.concurrency}${flags.stream ? ', streaming' : ''}`)
    let lastShown = 0
    const result = await runBench(ep, {
      api: flags.api as 'chat' | 'completions',
      model,
      concurrency: flags.concurrency,
      requests: flags.requests,
      promptTokens: flags['prompt-tokens'],
      maxTokens: flags['max-tokens'],
      stream: flags.stream,
      apiKey,
      timeoutMs,
      signal: this.signal,
      onProgress: (done, total, failed) => {
        if (!this.interactive) return
        const now = Date.now()
        if (now - lastShown < 200 && done < total) return
        lastShown = now
        process.stderr.write(`\r${done}/${total} requests${failed ? `, ${failed} failed` : ''}${done === total ? '\n' : ''}`)
      },
    })
    const gated = Object.keys(slo).length > 0 ? {...result, slo: checkSlo(result, slo)} : result
    this.print(renderBench(result))
    if (result.succeeded === 0) {
      const kinds = Object.entries(result.errors).map(([k, n]) => `${k}: ${n}`).join(', ')
      this.deferredError = new AipError('FAILED', `all ${result.requests} requests failed (${kinds})`, {fix: `first error: ${Object.values(result.errorExamples)[0] ?? 'unknown'}`})
    } else if (result.failed > 0) {
      this.warn(`${result.failed} of ${result.requests} requests failed (${Object.entries(result.errors).map(([k, n]) => `${k}: ${n}`).join(', ')})`)
    }
    if ('slo' in gated && !gated.slo.passed) this.deferredError ??= sloError(gated.slo)
    return gated
  }
}

const ms = (s: number | undefined) => (s === undefined ? '-' : s >= 10 ? `${s.toFixed(1)}s` : `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)}ms`)

function renderBench(r: BenchResult): string {
  const head = renderKeyValues([
    ['target', r.target],
    ['model', `${r.model} (${r.api}${r.stream ? ', stream' : ''})`],
    ['requests', `${r.succeeded} ok, ${r.failed} failed of ${r.requests} (concurrency ${r.concurrency})`],
    ['duration', `${r.durationSeconds.toFixed(2)}s (${r.requestsPerSecond.toFixed(2)} req/s)`],
    ['output tokens/s', `${r.outputTokensPerSecond.toFixed(1)} aggregate (${r.outputTokens} tokens${r.tokensFromUsage ? ', from usage' : ', counted from chunks'})`],
  ])
  const rows: Array<{name: string; d: Distribution | null; f: (v: number) => string}> = [
    {name: 'ttft', d: r.ttft, f: ms},
    {name: 'inter-token latency', d: r.interTokenLatency, f: ms},
    {name: 'request latency', d: r.latency, f: ms},
    {name: 'tokens/s per request', d: r.perRequestTokensPerSecond, f: (v) => v.toFixed(1)},
  ]
  const table = renderTable(rows, [
    {header: 'metric', get: (x) => x.name},
    {header: 'p50', get: (x) => (x.d ? x.f(x.d.p50) : '-'), align: 'right'},
    {header: 'p90', get: (x) => (x.d ? x.f(x.d.p90) : '-'), align: 'right'},
    {header: 'p99', get: (x) => (x.d ? x.f(x.d.p99) : '-'), align: 'right'},
    {header: 'mean', get: (x) => (x.d ? x.f(x.d.mean) : '-'), align: 'right'},
    {header: 'max', get: (x) => (x.d ? x.f(x.d.max) : '-'), align: 'right'},
  ])
  const errors = Object.entries(r.errors)
  const errText = errors.length === 0 ? '' : '\n\n' + renderTable(errors, [
    {header: 'error', get: ([k]) => k},
    {header: 'count', get: ([, n]) => n, align: 'right'},
    {header: 'example', get: ([k]) => r.errorExamples[k] ?? ''},
  ])
  return `${head}\n\n${table}${errText}`
}
