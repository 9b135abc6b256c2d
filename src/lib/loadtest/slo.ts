/**
 * `aip model bench` as a CI gate: service-level objectives checked against a run's result, so a
 * pipeline fails (exit 1) when the endpoint errs too often or answers too slowly, and says by how
 * much.
 */
import {parseDuration} from '../config/parse.js'
import {AipError, UsageError} from '../errors.js'
import type {BenchResult} from './bench.js'

export interface Slo {
  /** Highest acceptable share of failed requests, 0..1. */
  maxErrorRate?: number
  /** Highest acceptable 95th percentile of time to first token, ms (streaming only). */
  maxTtftP95Ms?: number
}

export interface SloBreach {
  objective: 'error-rate' | 'ttft-p95'
  limit: number
  actual: number | null
  message: string
}

export interface SloReport extends Slo {
  passed: boolean
  breaches: SloBreach[]
}

/** "0.05", "5%" -> 0.05; a rate outside 0..1 (0..100%) is a usage error. */
export function parseRate(text: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$/.exec(text)
  const v = m ? Number(m[1]) / (m[2] ? 100 : 1) : Number.NaN
  if (!(v >= 0 && v <= 1)) throw new UsageError(`invalid ${what} "${text}"`, {fix: `give a fraction or a percentage, e.g. ${what} 0.01 or ${what} 1%`})
  return v
}

/** Flags -> objectives, checked before the run (a TTFT objective needs streaming). */
export function sloFromFlags(flags: {maxErrorRate?: string; maxTtftP95?: string; stream: boolean}): Slo {
  const slo: Slo = {}
  if (flags.maxErrorRate !== undefined) slo.maxErrorRate = parseRate(flags.maxErrorRate, '--max-error-rate')
  if (flags.maxTtftP95 !== undefined) {
    if (!flags.stream) throw new UsageError('--max-ttft-p95 needs streamed responses to measure time to first token', {fix: 'drop --no-stream, or drop --max-ttft-p95'})
    slo.maxTtftP95Ms = parseDuration(flags.maxTtftP95, '--max-ttft-p95')
  }
  return slo
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`
const dur = (ms: number) => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)}s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)}s` : `${ms.toFixed(ms < 10 ? 2 : 0)}ms`)

export function checkSlo(r: BenchResult, slo: Slo): SloReport {
  const breaches: SloBreach[] = []
  if (slo.maxErrorRate !== undefined) {
    const rate = r.requests > 0 ? r.failed / r.requests : 0
    if (rate > slo.maxErrorRate) {
      breaches.push({objective: 'error-rate', limit: slo.maxErrorRate, actual: rate, message: `error rate ${pct(rate)} > ${pct(slo.maxErrorRate)} (${r.failed} of ${r.requests} failed)`})
    }
  }
  if (slo.maxTtftP95Ms !== undefined) {
    const p95 = r.ttft ? r.ttft.p95 * 1000 : null
    if (p95 === null) breaches.push({objective: 'ttft-p95', limit: slo.maxTtftP95Ms, actual: null, message: `ttft p95 unmeasured (no successful streamed request) > ${dur(slo.maxTtftP95Ms)}`})
    else if (p95 > slo.maxTtftP95Ms) breaches.push({objective: 'ttft-p95', limit: slo.maxTtftP95Ms, actual: p95 / 1000, message: `ttft p95 ${dur(p95)} > ${dur(slo.maxTtftP95Ms)}`})
  }
  return {...slo, passed: breaches.length === 0, breaches}
}

/** The exit-1 error of a breached gate, naming every breach with its numbers. */
export function sloError(report: SloReport): AipError {
  return new AipError('FAILED', `SLO breached: ${report.breaches.map((b) => b.message).join('; ')}`, {
    fix: 'the endpoint misses its objectives (see the report above): check its replicas and load (aip metrics tail), or relax --max-error-rate / --max-ttft-p95',
    details: {slo: report},
  })
}
