/**
 * Progress for a preload: a TTY view redrawn on stderr (per-file bars, total bytes, rate, ETA),
 * plain lines every few seconds without a TTY, or NDJSON events on stdout with --json.
 */
import {formatBytes, formatDuration, ndjsonLine} from '../output/index.js'
import type {PreloadEvent} from './pipeline.js'

export type ProgressMode = 'tty' | 'plain' | 'ndjson' | 'none'

export interface ProgressSink {
  write(text: string): void
}

interface FileState {
  path: string
  size: number
  done: number
}

/** Bytes/s over a sliding window of samples. */
export class RateMeter {
  private samples: Array<{t: number; bytes: number}> = []
  constructor(private readonly windowMs = 5000) {}
  add(bytes: number, t = Date.now()): void {
    this.samples.push({t, bytes})
    while (this.samples.length > 2 && t - this.samples[0]!.t > this.windowMs) this.samples.shift()
  }
  rate(): number {
    if (this.samples.length < 2) return 0
    const a = this.samples[0]!
    const b = this.samples[this.samples.length - 1]!
    return b.t > a.t ? ((b.bytes - a.bytes) / (b.t - a.t)) * 1000 : 0
  }
}

export class PreloadProgress {
  private files = new Map<string, FileState>()
  private total = 0
  private done = 0
  private filesTotal = 0
  private filesDone = 0
  private meter = new RateMeter()
  private lastPlain = 0
  private lastDraw = 0
  private drawnLines = 0
  private startedAt = Date.now()

  constructor(
    private readonly mode: ProgressMode,
    private readonly out: ProgressSink,
    private readonly opts: {plainIntervalMs?: number; columns?: number} = {},
  ) {}

  handle(e: PreloadEvent): void {
    if (this.mode === 'ndjson') {
      this.out.write(ndjsonLine({...e, time: new Date().toISOString()}))
      return
    }
    switch (e.event) {
      case 'plan':
        this.total = e.bytes
        this.done = e.skipBytes
        this.filesTotal = e.files
        this.filesDone = e.skipFiles
        this.meter.add(this.done)
        this.line(`${e.repo}@${e.revision} -> ${e.uri} (commit ${e.commit.slice(0, 12)}): ${e.files} files, ${formatBytes(e.bytes)}${e.skipFiles ? `; ${e.skipFiles} already complete (${formatBytes(e.skipBytes)})` : ''}`)
        break
      case 'file-start':
        this.files.set(e.path, {path: e.path, size: e.size, done: 0})
        if (e.resumeParts > 0) this.line(`resuming ${e.path}: ${e.resumeParts} parts already uploaded`)
        break
      case 'part': {
        const f = this.files.get(e.path)
        if (f) f.done += e.bytes
        this.done += e.bytes
        this.meter.add(this.done)
        break
      }
      case 'file-done':
        if (!this.files.has(e.path) || this.files.get(e.path)!.done < e.size) {
          this.done += e.size - (this.files.get(e.path)?.done ?? 0)
          this.meter.add(this.done)
        }
        this.files.delete(e.path)
        this.filesDone++
        if (this.mode === 'plain') this.line(`done ${e.path} (${formatBytes(e.size)}, sha256 ${e.sha256.slice(0, 12)})`)
        break
      case 'retry':
        this.line(`retry ${e.what}${e.path ? ` ${e.path}` : ''}${e.offset !== undefined ? ` from byte ${e.offset}` : ''}${e.partNumber ? ` part ${e.partNumber}` : ''} (attempt ${e.attempt}): ${e.reason}`)
        break
      case 'abort-upload':
        this.line(`aborted unfinished upload of ${e.path} (${e.reason})`)
        break
      case 'marker':
        this.clear()
        break
      case 'progress':
        break
      default:
        break
    }
    this.tick()
  }

  private eta(): string {
    const r = this.meter.rate()
    if (r <= 0) return '--'
    return formatDuration(((this.total - this.done) / r) * 1000)
  }

  private summary(): string {
    const pct = this.total > 0 ? Math.floor((this.done / this.total) * 100) : 100
    return `${formatBytes(this.done)} / ${formatBytes(this.total)} (${pct}%)  ${formatBytes(this.meter.rate())}/s  ETA ${this.eta()}  files ${this.filesDone}/${this.filesTotal}`
  }

  private tick(): void {
    const now = Date.now()
    if (this.mode === 'plain' && now - this.lastPlain >= (this.opts.plainIntervalMs ?? 5000)) {
      this.lastPlain = now
      this.out.write(`progress ${this.summary()}\n`)
    }
    if (this.mode === 'tty' && now - this.lastDraw >= 100) {
      this.lastDraw = now
      this.draw()
    }
  }

  private bar(frac: number, width: number): string {
    const n = Math.max(0, Math.min(width, Math.round(frac * width)))
    return '█'.repeat(n) + '░'.repeat(width - n)
  }

  private draw(): void {
    const cols = this.opts.columns ?? 100
    const lines: string[] = []
    for (const f of [...this.files.values()].slice(0, 8)) {
      const name = f.path.length > 40 ? '…' + f.path.slice(-39) : f.path.padEnd(40)
      lines.push(`  ${name} ${this.bar(f.size ? f.done / f.size : 1, 20)} ${formatBytes(f.done)}/${formatBytes(f.size)}`.slice(0, cols))
    }
    lines.push(`${this.bar(this.total ? this.done / this.total : 1, 30)} ${this.summary()}`.slice(0, cols))
    this.clear()
    this.out.write(lines.join('\n') + '\n')
    this.drawnLines = lines.length
  }

  private clear(): void {
    if (this.mode !== 'tty' || this.drawnLines === 0) return
    this.out.write(`\u001B[${this.drawnLines}A\u001B[0J`)
    this.drawnLines = 0
  }

  private line(text: string): void {
    if (this.mode === 'none' || this.mode === 'ndjson') return
    this.clear()
    this.out.write(text + '\n')
  }

  /** Final line (human modes). */
  finish(text: string): void {
    this.clear()
    if (this.mode === 'tty' || this.mode === 'plain') this.out.write(text + '\n')
  }

  get elapsedMs(): number {
    return Date.now() - this.startedAt
  }
}
