import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../base-command.js'
import {kubeFlags} from '../flags.js'
import {awsCredentialHint} from '../lib/aws/credentials.js'
import {type CostGroupBy, type CostReport, type CostRow, costReport, defaultPriceCacheFile, loadPriceTable, parseSince, parseUntil, priceProvider, type PricesMode} from '../lib/cost/index.js'
import {AipError, UsageError} from '../lib/errors.js'
import {connectPrometheus} from '../lib/metrics/index.js'
import {renderKeyValues, renderTable} from '../lib/output/index.js'

export default class Cost extends AipCommand {
  static override summary = 'GPU-hours, idle GPU-hours, tokens and dollars per model, tenant or node, from Prometheus'
  static override description = `GPU-hours from kube-state-metrics GPU requests (pods bound to a node), priced by the node's instance type, region and capacity type (kube_node_labels): on-demand from the AWS Price List Query API, spot from EC2 DescribeSpotPriceHistory (mean of the zones), cached for 7 days in ~/.cache/aip/prices; without AWS credentials, or when AWS fails, an older cached price or the built-in table (each fallback named in a warning, with the date of the figures used); idle GPU-hours from dcgm-exporter utilisation under --idle-threshold; tokens from vLLM's counters, hence the cost per million tokens.

A source with no series in the window is named and its numbers shown as "-" (null in --json), never as 0.
--prices: auto (default) | aws (ask AWS now, ignoring the cache) | built-in (the package's table only: reproducible) | FILE (a table of the same shape; ./aws for a file named aws).
AWS_ENDPOINT_URL_PRICING and AWS_ENDPOINT_URL_EC2 (read by the AWS SDK) point the price APIs at other endpoints.
--budget USD: exit 1 when the window's total cost exceeds it (for CI).`
  static override examples = [
    '<%= config.bin %> cost',
    '<%= config.bin %> cost --since 30d --by tenant',
    '<%= config.bin %> cost --since 1d --budget 500 --json',
  ]
  static override enableJsonFlag = true
  static override flags = {
    since: Flags.string({description: 'window length, e.g. 1h, 7d, 4w', default: '7d'}),
    until: Flags.string({description: 'window end: RFC 3339 time or seconds since the epoch (default: now)'}),
    by: Flags.string({description: 'group by', options: ['model', 'tenant', 'node'], default: 'model'}),
    budget: Flags.string({description: 'fail (exit 1) when the total cost in USD exceeds this'}),
    prices: Flags.string({description: 'instance prices: auto | aws (refresh from AWS now) | built-in | FILE (price table JSON) [config: prices, default auto]'}),
    profile: Flags.string({description: 'AWS shared-config profile for the price APIs [config: profile]'}),
    step: Flags.string({description: 'sampling step for GPU requests and utilisation', default: '1m'}),
    'idle-threshold': Flags.integer({description: 'GPU utilisation percent below which a GPU counts as idle', default: 5, min: 1, max: 100}),
    prometheus: Flags.string({description: 'Prometheus base URL (default: config prometheus-url, else through the cluster)'}),
    kubeconfig: kubeFlags.kubeconfig,
    context: kubeFlags.context,
  }

  async run(): Promise<CostReport & {budget?: {usd: number; exceeded: boolean}}> {
    const {flags} = await this.parse(Cost)
    const windowSeconds = parseSince(flags.since, '--since')
    const stepSeconds = parseSince(flags.step, '--step')
    if (stepSeconds > windowSeconds) throw new UsageError(`--step ${flags.step} is longer than --since ${flags.since}`, {fix: 'use a step shorter than the window, e.g. --step 1m'})
    let budget: number | undefined
    if (flags.budget !== undefined) {
      budget = Number(flags.budget.replace(/^\$/, ''))
      if (!Number.isFinite(budget) || budget < 0) throw new UsageError(`invalid --budget "${flags.budget}"`, {fix: 'pass a number of US dollars, e.g. --budget 250'})
    }
    const end = parseUntil(flags.until)
    const cfg = this.config_({'prometheus-url': flags.prometheus, kubeconfig: flags.kubeconfig, context: flags.context, prices: flags.prices, profile: flags.profile})
    const pricesFlag = cfg.string('prices') ?? 'auto'
    const mode: PricesMode = pricesFlag === 'auto' || pricesFlag === 'aws' || pricesFlag === 'built-in' ? pricesFlag : 'file'
    // a price table FILE is read (and refused) before Prometheus is asked anything
    if (mode === 'file') loadPriceTable(pricesFlag)
    const profile = cfg.string('profile')
    const prices = priceProvider({
      mode,
      file: pricesFlag,
      cacheFile: defaultPriceCacheFile(),
      credentials: awsCredentialHint(process.env, profile),
      aws: async () => {
        // auto asks AWS because a credential source is configured (a profile, ~/.aws/config...); when
        // that source yields nothing, the SDK's chain would go on to probe the EC2 instance metadata
        // service, a connect timeout off EC2. Only --prices aws runs the full chain.
        if (mode === 'auto' && process.env.AWS_EC2_METADATA_DISABLED === undefined) process.env.AWS_EC2_METADATA_DISABLED = 'true'
        const {awsPriceFetcher} = await import('../lib/aws/pricing.js')
        return awsPriceFetcher({profile})
      },
    })
    const client = await connectPrometheus({url: cfg.string('prometheus-url'), service: cfg.string('prometheus-service'), kubeconfig: cfg.string('kubeconfig'), context: cfg.string('context')})
    const report = await costReport(client, {windowSeconds, end, stepSeconds, by: flags.by as CostGroupBy, idleThresholdPercent: flags['idle-threshold'], prices, signal: this.signal})

    for (const m of report.missing) this.warn(`missing data: ${m.source}: ${m.detail} (its numbers are shown as "-", not 0)`)
    for (const w of report.warnings) this.warn(w)
    this.printReport(report)

    let exceeded: boolean | undefined
    if (budget !== undefined) {
      const cost = report.total.costUsd
      if (cost === null) {
        this.deferredError = new AipError('FAILED', `cannot check --budget ${budget}: no GPU cost in the window (kube-state-metrics missing)`, {fix: 'make Prometheus scrape kube-state-metrics, or check --prometheus'})
      } else {
        exceeded = cost > budget
        if (exceeded) this.deferredError = new AipError('FAILED', `cost $${cost.toFixed(2)} over ${flags.since} exceeds the budget $${budget.toFixed(2)}`, {fix: 'scale idle models down (aip model scale NAME --min 0), or raise --budget'})
        else this.print(`Budget: $${cost.toFixed(2)} of $${budget.toFixed(2)}`)
      }
    }
    return {...report, ...(budget === undefined ? {} : {budget: {usd: budget, exceeded: exceeded ?? false}})}
  }

  private printReport(r: CostReport): void {
    const money = (v: number | null) => (v === null ? null : `$${v.toFixed(2)}`)
    const hours = (v: number | null) => (v === null ? null : v.toFixed(2))
    const cols = [
      {header: r.by, get: (x: CostRow) => x.key},
      ...(r.by === 'node' ? [{header: 'instance', get: (x: CostRow) => (x.instanceType ? `${x.instanceType} ${x.capacityType ?? ''}`.trim() : null)}] : []),
      {header: 'pods', get: (x: CostRow) => x.pods, align: 'right' as const},
      {header: 'gpu-h', get: (x: CostRow) => hours(x.gpuHours), align: 'right' as const},
      {header: 'idle gpu-h', get: (x: CostRow) => (x.idleGpuHours === null ? null : `${hours(x.idleGpuHours)}${x.idleShare === null ? '' : ` (${Math.round(x.idleShare * 100)}%)`}`), align: 'right' as const},
      {header: 'tokens', get: (x: CostRow) => x.tokens, align: 'right' as const},
      {header: 'cost', get: (x: CostRow) => money(x.costUsd), align: 'right' as const},
      {header: '$/1M tok', get: (x: CostRow) => (x.costPerMillionTokensUsd === null ? null : `$${x.costPerMillionTokensUsd.toFixed(2)}`), align: 'right' as const},
    ]
    this.print(renderKeyValues([
      ['window', `${r.window.start} .. ${r.window.end} (${r.window.stepSeconds}s steps)`],
      ['prometheus', r.source],
      ['prices', pricesLine(r.prices)],
    ]))
    this.print('\n' + renderTable([...r.rows, r.total], cols))
    if (r.total.unpricedGpuHours > 0) this.print(`(cost leaves out ${r.total.unpricedGpuHours.toFixed(2)} GPU-hours on instances without a price: see the warnings; idle % is of the GPU-hours DCGM sampled)`)
    else this.print('(idle % is of the GPU-hours DCGM sampled; "-" = no data, see the warnings)')
    this.print('\nSources:\n' + renderKeyValues(Object.entries(r.sources) as Array<[string, string]>))
  }
}

function pricesLine(p: CostReport['prices']): string {
  if (p.source === 'built-in') return `built-in, dated ${p.date} (${p.description})`
  if (p.source === 'file') return `${p.file}, dated ${p.date} (${p.description})`
  const per = p.instances.flatMap((i) => [i.onDemand && `${i.instanceType} on-demand: ${i.onDemand.source} ${i.onDemand.date}`, i.spot && `${i.instanceType} spot: ${i.spot.source} ${i.spot.date}`].filter(Boolean))
  return `${p.source}, dated ${p.date}${per.length > 0 ? ` (${per.join('; ')})` : ''}`
}
