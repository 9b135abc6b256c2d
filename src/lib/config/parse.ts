import {UsageError} from '../errors.js'

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/
const UNIT_MS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}
/**
 * The longest delay a Node timer holds (a signed 32-bit count of ms, about 24.8 days); a longer one
 * fires at once with a TimeoutOverflowWarning
 * (https://nodejs.org/api/timers.html#settimeoutcallback-delay-args), so a longer wait is refused.
 */
export const MAX_DURATION_MS = 2 ** 31 - 1

/** "10m" -> 600000, "90s" -> 90000, "1h" -> 3600000, "500ms" -> 500; a bare number is seconds. */
export function parseDuration(text: string, what = 'duration'): number {
  const ms = parseDurationMs(text, what)
  if (ms > MAX_DURATION_MS) {
    throw new UsageError(`${what} "${text}" is longer than aip can wait (at most ${Math.floor(MAX_DURATION_MS / 3_600_000)}h, about 24 days)`, {fix: 'use a shorter duration such as 90s, 10m or 1h'})
  }
  return ms
}

function parseDurationMs(text: string, what: string): number {
  const compound = text.trim().match(/^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/)
  if (compound) {
    let total = 0
    for (const m of text.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!
    if (total > 0) return total
  }
  const m = text.trim().match(DURATION)
  if (!m || Number(m[1]) <= 0) {
    throw new UsageError(`invalid ${what} "${text}"`, {fix: 'use a positive duration such as 90s, 10m or 1h'})
  }
  return Number(m[1]) * UNIT_MS[m[2] ?? 's']!
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  ki: 1024,
  kib: 1024,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
  ti: 1024 ** 4,
  tib: 1024 ** 4,
}

/** "24GiB", "24Gi", "80GB", "81559MiB" -> bytes. */
export function parseBytes(text: string, what = 'size'): number {
  const m = text.trim().match(/^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/)
  const unit = m?.[2]?.toLowerCase() ?? ''
  const mult = BYTE_UNITS[unit]
  if (!m || mult === undefined || Number(m[1]) <= 0) {
    throw new UsageError(`invalid ${what} "${text}"`, {fix: 'use a positive size with a unit, e.g. 24GiB, 80GB or 46068MiB'})
  }
  return Math.round(Number(m[1]) * mult)
}
