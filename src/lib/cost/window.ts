import {UsageError} from '../errors.js'

const UNIT_S: Record<string, number> = {s: 1, m: 60, h: 3600, d: 86_400, w: 604_800}

/** A window length such as 90m, 1h, 7d, 4w (or compound 1d12h) in whole seconds. */
export function parseSince(text: string, what = '--since'): number {
  const t = text.trim()
  if (/^(?:\d+[smhdw])+$/.test(t)) {
    let total = 0
    for (const m of t.matchAll(/(\d+)([smhdw])/g)) total += Number(m[1]) * UNIT_S[m[2]!]!
    if (total > 0) return total
  }
  throw new UsageError(`invalid ${what} "${text}"`, {fix: 'use a duration such as 1h, 7d or 4w'})
}

/** --until: RFC 3339 time or seconds since the epoch; default now. Seconds since the epoch (float). */
export function parseUntil(text: string | undefined, now = Date.now()): number {
  if (text === undefined) return now / 1000
  const t = text.trim()
  // seconds since the epoch, or an RFC 3339 time; either way no later than now (a minute of clock skew allowed)
  const ms = /^\d+(?:\.\d+)?$/.test(t) ? Number(t) * 1000 : Date.parse(t)
  if (!/^\d+(?:\.\d+)?$|^\d{4}-\d{2}-\d{2}/.test(t) || Number.isNaN(ms)) throw new UsageError(`invalid --until "${text}"`, {fix: 'use an RFC 3339 time such as 2026-01-31T00:00:00Z, or seconds since the epoch'})
  if (ms > now + 60_000) throw new UsageError(`--until ${text} is in the future`, {fix: 'use a time up to now'})
  return ms / 1000
}
