/** Distribution summaries for the load tester. */
export interface Distribution {
  count: number
  min: number
  mean: number
  p50: number
  p90: number
  p95: number
  p99: number
  max: number
}

/**
 * Percentile with linear interpolation between the closest ranks (numpy's default, "type 7"):
 * p in [0, 1] over sorted values.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  if (sorted.length === 1) return sorted[0]!
  const h = (sorted.length - 1) * p
  const lo = Math.floor(h)
  const hi = Math.ceil(h)
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (h - lo)
}

export function distribution(values: readonly number[]): Distribution | null {
  if (values.length === 0) return null
  const s = [...values].sort((a, b) => a - b)
  return {
    count: s.length,
    min: s[0]!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
    p50: percentile(s, 0.5),
    p90: percentile(s, 0.9),
    p95: percentile(s, 0.95),
    p99: percentile(s, 0.99),
    max: s[s.length - 1]!,
  }
}
