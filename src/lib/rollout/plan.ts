/**
 * The pure part of `aip model rollout`: the steps, the gate limits and how a measured window is
 * judged. No I/O here (unit-tested in test/lib/rollout/plan.test.ts).
 */
import {createHash} from 'node:crypto'

import {UsageError} from '../errors.js'

export interface GateLimits {
  /** errors / finished requests over the interval, a fraction */
  maxErrorRate: number
  /** seconds */
  maxTtftP95?: number
  /** seconds */
  maxItlP95?: number
}

/** What Prometheus says about one track over the interval. null: no value (no requests finished / no histogram samples). */
export interface TrackMetrics {
  /** finished requests per second (successes + errors) */
  requestsPerSecond: number | null
  errorRate: number | null
  ttftP95: number | null
  itlP95: number | null
  /** no-data: no finished request of this track in the window (a named condition, never a pass or a zero) */
  state: 'ok' | 'no-data'
}

export interface Breach {
  metric: 'errorRate' | 'ttftP95' | 'itlP95'
  value: number
  limit: number
}

export type Verdict = 'pass' | 'breach' | 'no-data' | 'baseline'

export interface GateResult {
  /** the candidate's share while the window was measured */
  weight: number
  at: string
  window: string
  candidate: TrackMetrics
  stable: TrackMetrics
  /** baseline: before any traffic reached the candidate, only the stable is read (for comparison) */
  verdict: Verdict
  breaches: Breach[]
}

/** `10,50,100` -> [10, 50, 100]: whole percentages, strictly rising, ending at 100. */
export function parseSteps(text: string): number[] {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean)
  const steps = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : Number.NaN))
  const fix = 'pass rising whole percentages ending at 100, e.g. --steps 10,50,100'
  if (steps.length === 0 || steps.some((s) => !Number.isInteger(s) || s < 1 || s > 100)) throw new UsageError(`invalid --steps "${text}": every step is a whole percentage from 1 to 100`, {fix})
  for (let i = 1; i < steps.length; i++) if (steps[i]! <= steps[i - 1]!) throw new UsageError(`invalid --steps "${text}": steps must rise (${steps[i - 1]} then ${steps[i]})`, {fix})
  if (steps[steps.length - 1] !== 100) throw new UsageError(`invalid --steps "${text}": the last step must be 100 (the candidate serves everything before it is promoted)`, {fix})
  return steps
}

export function parseErrorRate(text: string): number {
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text.trim())
  const v = pct ? Number(pct[1]) / 100 : Number(text)
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new UsageError(`invalid --max-error-rate "${text}"`, {fix: 'a fraction from 0 to 1 (0.02) or a percentage (2%)'})
  return v
}

/**
 * Judges one window. The candidate breaches when a measured value is above its limit; a candidate
 * without finished requests in the window is `no-data` (it cannot pass on nothing). A latency limit
 * with no histogram value while requests did finish is not judged (vLLM exports the histograms with
 * the counters, so this only happens for an override that names a missing series).
 */
export function judge(candidate: TrackMetrics, limits: GateLimits): {verdict: 'pass' | 'breach' | 'no-data'; breaches: Breach[]} {
  if (candidate.state === 'no-data') return {verdict: 'no-data', breaches: []}
  const breaches: Breach[] = []
  if (candidate.errorRate !== null && candidate.errorRate > limits.maxErrorRate) breaches.push({metric: 'errorRate', value: candidate.errorRate, limit: limits.maxErrorRate})
  if (limits.maxTtftP95 !== undefined && candidate.ttftP95 !== null && candidate.ttftP95 > limits.maxTtftP95) breaches.push({metric: 'ttftP95', value: candidate.ttftP95, limit: limits.maxTtftP95})
  if (limits.maxItlP95 !== undefined && candidate.itlP95 !== null && candidate.itlP95 > limits.maxItlP95) breaches.push({metric: 'itlP95', value: candidate.itlP95, limit: limits.maxItlP95})
  return {verdict: breaches.length > 0 ? 'breach' : 'pass', breaches}
}

/** "error rate 10.0% > 2.0%; TTFT p95 3.20s > 2.00s" */
export function describeBreaches(breaches: Breach[]): string {
  return breaches
    .map((b) => (b.metric === 'errorRate' ? `error rate ${pct(b.value)} > ${pct(b.limit)}` : `${b.metric === 'ttftP95' ? 'TTFT' : 'ITL'} p95 ${secs(b.value)} > ${secs(b.limit)}`))
    .join('; ')
}

export function pct(v: number | null): string {
  return v === null ? '-' : `${(v * 100).toFixed(1)}%`
}

export function secs(v: number | null): string {
  return v === null ? '-' : v < 1 ? `${Math.round(v * 1000)}ms` : `${v.toFixed(2)}s`
}

/** One line per track for progress and status: "candidate: 3.0 req/s, errors 0.0%, TTFT p95 180ms, ITL p95 24ms". */
export function describeMetrics(m: TrackMetrics): string {
  if (m.state === 'no-data') return 'no data (no finished requests in the window)'
  return `${m.requestsPerSecond === null ? '-' : m.requestsPerSecond.toFixed(2)} req/s, errors ${pct(m.errorRate)}, TTFT p95 ${secs(m.ttftP95)}, ITL p95 ${secs(m.itlP95)}`
}

/** What a rerun must repeat to resume the same rollout (the candidate's flags, the steps and the gates). */
export interface RolloutIdentity {
  overrides: Record<string, unknown>
  steps: number[]
  intervalMs: number
  limits: GateLimits
  surge: boolean
}

/** A short stable hash of the identity: a rerun with the same flags resumes, other flags are refused. */
export function fingerprint(id: RolloutIdentity): string {
  const o = Object.fromEntries(Object.entries(id.overrides).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)).sort(([a], [b]) => a.localeCompare(b)))
  return createHash('sha256').update(JSON.stringify({o, s: id.steps, i: id.intervalMs, l: id.limits, u: id.surge})).digest('hex').slice(0, 12)
}

/** The weight moves of a canary rollout, for --dry-run and status: "0 -> 10 -> 50 -> 100 -> promote". */
export function describeSteps(steps: number[]): string {
  return ['0', ...steps.map(String), 'promote'].join(' -> ')
}

/** "error rate <= 2.0%, TTFT p95 <= 2.00s" */
export function describeLimits(l: GateLimits): string {
  return [`error rate <= ${pct(l.maxErrorRate)}`, ...(l.maxTtftP95 !== undefined ? [`TTFT p95 <= ${secs(l.maxTtftP95)}`] : []), ...(l.maxItlP95 !== undefined ? [`ITL p95 <= ${secs(l.maxItlP95)}`] : [])].join(', ')
}
