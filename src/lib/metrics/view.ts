/**
 * The live view model of `aip metrics tail`: sample history for sparklines, formatting of each
 * value (null -> "-"), threshold colouring, the in-place redraw of a TTY screen and the keyboard
 * watcher (q / Ctrl-C). Output goes through a `write` function so tests capture frames.
 */
import type {ChalkInstance} from 'chalk'

import {type Column, formatBytes, formatDuration, renderTable} from '../output/index.js'
import type {Breach, MetricsRow, Snapshot, Thresholds} from './sample.js'

const SPARK = '▁▂▃▄▅▆▇█'

/** Unicode sparkline of the values (null = gap), scaled between their min and max. */
export function sparkline(values: ReadonlyArray<number | null>): string {
  const nums = values.filter((v): v is number => v !== null && Number.isFinite(v))
  if (nums.length === 0) return ' '.repeat(values.length)
  const min = Math.min(...nums)
  const max = Math.max(...nums)
  return values
    .map((v) => {
      if (v === null || !Number.isFinite(v)) return ' '
      if (max === min) return SPARK[v === 0 ? 0 : 3]
      return SPARK[Math.min(SPARK.length - 1, Math.floor(((v - min) / (max - min)) * (SPARK.length - 1) + 0.5))]
    })
    .join('')
}

export function rowKey(r: Pick<MetricsRow, 'model' | 'namespace' | 'pod'>): string {
  return r.pod ? `${r.model}/${r.namespace ?? ''}/${r.pod}` : r.model
}

/** Recent values per row, for sparklines. */
export class History {
  private readonly series = new Map<string, {gen: Array<number | null>; ttft: Array<number | null>}>()
  constructor(readonly length = 20) {}

  add(rows: readonly MetricsRow[]): void {
    const seen = new Set<string>()
    for (const r of rows) {
      const k = rowKey(r)
      seen.add(k)
      const s = this.series.get(k) ?? {gen: [], ttft: []}
      s.gen.push(r.generationTokensPerSecond)
      s.ttft.push(r.ttftP95)
      if (s.gen.length > this.length) s.gen.shift()
      if (s.ttft.length > this.length) s.ttft.shift()
      this.series.set(k, s)
    }
    for (const k of this.series.keys()) if (!seen.has(k)) this.series.delete(k)
  }

  get(r: MetricsRow): {gen: Array<number | null>; ttft: Array<number | null>} {
    return this.series.get(rowKey(r)) ?? {gen: [], ttft: []}
  }
}

export const fmt = {
  seconds: (v: number | null) => (v === null ? '-' : formatDuration(v * 1000)),
  rate: (v: number | null) => (v === null ? '-' : v >= 100 ? v.toFixed(0) : v.toFixed(1)),
  percent: (v: number | null) => (v === null ? '-' : `${(v * 100).toFixed(0)}%`),
  count: (v: number | null) => (v === null ? '-' : String(Math.round(v))),
}

function gpuMem(r: MetricsRow): string {
  if (r.gpuMemoryUsedBytes === null) return '-'
  return r.gpuMemoryTotalBytes === null ? formatBytes(r.gpuMemoryUsedBytes) : `${formatBytes(r.gpuMemoryUsedBytes)}/${formatBytes(r.gpuMemoryTotalBytes)}`
}

export interface RenderOptions {
  c: ChalkInstance
  thresholds?: Thresholds
  history?: History
  pods?: boolean
}

/** The table of one snapshot (used for the live frame and for `--once` without --json). */
export function renderRows(rows: readonly MetricsRow[], o: RenderOptions): string {
  const {c, thresholds: t = {}, history} = o
  const hot = (text: string, breach: boolean) => (breach ? c.red.bold(text) : text)
  const pair = (a: string, b: string) => (a === '-' && b === '-' ? '-' : `${a}/${b}`)
  const cols: Array<Column<MetricsRow>> = [{header: 'model', get: (r) => r.model}]
  if (o.pods) cols.push({header: 'pod', get: (r) => (r.pod ? `${r.namespace ? r.namespace + '/' : ''}${r.pod}` : '-')})
  cols.push(
    {header: 'repl', get: (r) => fmt.count(r.replicas), align: 'right'},
    {
      header: 'ttft p50/p95',
      get: (r) => (r.state === 'no-samples' && r.ttftP95 === null ? c.dim('no samples yet') : pair(fmt.seconds(r.ttftP50), hot(fmt.seconds(r.ttftP95), t.ttftP95 !== undefined && r.ttftP95 !== null && r.ttftP95 > t.ttftP95))),
      align: 'right',
    },
  )
  if (history) cols.push({header: 'ttft trend', get: (r) => c.cyan(sparkline(history.get(r).ttft))})
  cols.push({header: 'itl p50/p95', get: (r) => pair(fmt.seconds(r.itlP50), fmt.seconds(r.itlP95)), align: 'right'})
  cols.push({header: 'gen tok/s', get: (r) => fmt.rate(r.generationTokensPerSecond), align: 'right'})
  if (history) cols.push({header: 'gen trend', get: (r) => c.green(sparkline(history.get(r).gen))})
  cols.push(
    {header: 'prompt tok/s', get: (r) => fmt.rate(r.promptTokensPerSecond), align: 'right'},
    {header: 'run/wait', get: (r) => pair(fmt.count(r.requestsRunning), fmt.count(r.requestsWaiting)), align: 'right'},
    {header: 'kv', get: (r) => hot(fmt.percent(r.kvCacheUsage), t.kvUsage !== undefined && r.kvCacheUsage !== null && r.kvCacheUsage > t.kvUsage), align: 'right'},
    {header: 'ok/s', get: (r) => fmt.rate(r.successPerSecond), align: 'right'},
    {header: 'err%', get: (r) => (r.errorRatio === null ? '-' : hot(`${(r.errorRatio * 100).toFixed(1)}%`, r.errorRatio > 0)), align: 'right'},
    {header: 'gpu', get: (r) => (r.gpuUtilPercent === null ? '-' : `${r.gpuUtilPercent.toFixed(0)}%`), align: 'right'},
    {header: 'gpu mem', get: gpuMem},
  )
  return renderTable(rows, cols)
}

export function describeBreach(b: Breach): string {
  const what = b.metric === 'ttftP95' ? 'TTFT p95' : 'KV-cache usage'
  const v = b.metric === 'ttftP95' ? `${fmt.seconds(b.value)} > ${fmt.seconds(b.limit)}` : `${fmt.percent(b.value)} > ${fmt.percent(b.limit)}`
  return `${b.model}${b.pod ? ` (${b.pod})` : ''}: ${what} ${v}`
}

/** The text of one live frame (or the --once table): header, table or "no samples yet", breaches. */
export function renderFrame(s: Snapshot, o: RenderOptions & {source: string; intervalMs?: number; error?: string}): string {
  const {c} = o
  const head = `${c.bold('aip metrics tail')}  ${c.dim(`${o.source} · window ${s.window}${o.intervalMs ? ` · every ${formatDuration(o.intervalMs)}` : ''} · ${s.time.slice(11, 19)}Z`)}`
  const lines = [head, '']
  if (s.rows.length === 0) lines.push(c.dim('no samples yet: Prometheus has no vLLM metrics (vllm:num_requests_running) so far'))
  else lines.push(renderRows(s.rows, o))
  if (s.breaches.length > 0) {
    lines.push('')
    for (const b of s.breaches) lines.push(c.red(`! ${describeBreach(b)}`))
  }
  if (o.error) lines.push('', c.yellow(`last refresh failed: ${o.error}`))
  return lines.join('\n')
}

/** NDJSON records: one object per row per sample, `time` first. */
export function ndjsonRecords(s: Snapshot): Array<{time: string; window: string} & MetricsRow> {
  return s.rows.map((r) => ({time: s.time, window: s.window, ...r}))
}

const ESC = '\u001B['

/**
 * In-place redraw on a terminal: the alternate screen (as top/htop do), cursor hidden, each frame
 * drawn from the home position with every line cleared to its end. `close()` restores the screen
 * and cursor and prints the last frame on the normal screen so it stays visible.
 */
export class LiveScreen {
  private last = ''
  private open = false
  constructor(private readonly write: (s: string) => void) {}

  draw(frame: string): void {
    if (!this.open) {
      this.write(`${ESC}?1049h${ESC}?25l`)
      this.open = true
    }
    this.last = frame
    this.write(`${ESC}H` + frame.split('\n').map((l) => l + `${ESC}K`).join('\n') + `\n${ESC}J`)
  }

  close(): void {
    if (!this.open) return
    this.open = false
    this.write(`${ESC}?25h${ESC}?1049l`)
    if (this.last) this.write(this.last + '\n')
  }
}

export interface KeyInput {
  isTTY?: boolean
  setRawMode?: (mode: boolean) => unknown
  on(event: 'data', fn: (d: Buffer | string) => void): unknown
  off(event: 'data', fn: (d: Buffer | string) => void): unknown
  resume(): unknown
  pause(): unknown
}

/** Calls `onQuit` on `q`, `Q`, Ctrl-C (0x03, raw mode swallows SIGINT) or Ctrl-D; returns a restore function. */
export function watchKeys(input: KeyInput, onQuit: () => void): () => void {
  const raw = Boolean(input.isTTY && input.setRawMode)
  if (raw) input.setRawMode!(true)
  const onData = (d: Buffer | string) => {
    const s = typeof d === 'string' ? d : d.toString('utf8')
    if (/[qQ\u0003\u0004]/.test(s)) onQuit()
  }
  input.on('data', onData)
  input.resume()
  return () => {
    input.off('data', onData)
    if (raw) input.setRawMode!(false)
    input.pause()
  }
}
