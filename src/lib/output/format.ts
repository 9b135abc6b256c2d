const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']

/** 1536 -> "1.5 KiB"; binary units, as nvidia-smi and kubectl quantities use. */
export function formatBytes(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return String(n)
  const neg = n < 0
  let v = Math.abs(n)
  let i = 0
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024
    i++
  }
  const s = i === 0 ? String(Math.round(v)) : v.toFixed(digits)
  return `${neg ? '-' : ''}${s} ${UNITS[i]}`
}

/** 8_190_735_360 -> "8.19B" */
export function formatCount(n: number): string {
  const abs = Math.abs(n)
  if (abs >= 1e12) return `${(n / 1e12).toFixed(2)}T`
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)}B`
  if (abs >= 1e6) return `${(n / 1e6).toFixed(1)}M`
  if (abs >= 1e3) return `${(n / 1e3).toFixed(1)}K`
  return String(n)
}

/** 32768 -> "32768", 131072 -> "131072" (tokens stay exact, grouped for readability on a TTY). */
export function formatTokens(n: number): string {
  return Number.isFinite(n) ? Math.floor(n).toString() : '-'
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)}s`
  const m = Math.floor(s / 60)
  const rs = Math.round(s - m * 60)
  if (m < 60) return `${m}m${rs.toString().padStart(2, '0')}s`
  return `${Math.floor(m / 60)}h${(m % 60).toString().padStart(2, '0')}m`
}
