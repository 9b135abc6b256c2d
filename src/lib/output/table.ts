import {visibleWidth} from './terminal.js'

export interface Column<T> {
  header: string
  get: (row: T) => string | number | undefined | null
  align?: 'left' | 'right'
}

/** kubectl-style table: upper-case headers, columns separated by 3 spaces, no borders. */
export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => {
    const v = c.get(r)
    return v === undefined || v === null || v === '' ? '-' : String(v)
  }))
  const headers = columns.map((c) => c.header.toUpperCase())
  const widths = columns.map((_, i) => Math.max(visibleWidth(headers[i]!), ...cells.map((row) => visibleWidth(row[i]!))))
  const line = (vals: string[]) =>
    vals
      .map((v, i) => {
        const pad = ' '.repeat(Math.max(0, widths[i]! - visibleWidth(v)))
        if (i === vals.length - 1 && columns[i]!.align !== 'right') return v
        return columns[i]!.align === 'right' ? pad + v : v + pad
      })
      .join('   ')
      .trimEnd()
  return [line(headers), ...cells.map(line)].join('\n')
}

/** Two-column "key: value" block, keys aligned. */
export function renderKeyValues(pairs: ReadonlyArray<[string, string | number | undefined]>): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length))
  return pairs.map(([k, v]) => `${(k + ':').padEnd(w + 1)} ${v === undefined || v === '' ? '-' : v}`).join('\n')
}
