import {distance} from 'fastest-levenshtein'

/** The candidate closest to `input` (edit distance, or prefix/substring match), if close enough. */
export function closest(input: string, candidates: readonly string[]): string | undefined {
  return suggest(input, candidates, 1)[0]
}

/** Up to `n` candidates close to `input`, best first. */
export function suggest(input: string, candidates: readonly string[], n = 3): string[] {
  const q = input.toLowerCase()
  const scored = candidates
    .map((c) => {
      const l = c.toLowerCase()
      let d = distance(q, l)
      if (l.startsWith(q) || q.startsWith(l)) d = Math.min(d, 1)
      else if (l.includes(q) || q.includes(l)) d = Math.min(d, 2)
      return {c, d}
    })
    .filter(({c, d}) => d <= Math.max(2, Math.floor(Math.max(c.length, q.length) / 3)))
    .sort((a, b) => a.d - b.d || a.c.localeCompare(b.c))
  return scored.slice(0, n).map((s) => s.c)
}
