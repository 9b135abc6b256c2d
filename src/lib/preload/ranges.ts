/**
 * Reading a Hub file as byte ranges over several connections at once (as hf_transfer does): one
 * connection per range, from the run's global connection budget, a dropped one resuming inside its
 * range. A CDN edge paces each connection; several ranges at once add up.
 *
 * Budgets, always taken in this order so that nothing waits in a circle: a memory slot (a range's
 * bytes will be held until they are used), then a connection (while the range is being read).
 */
import type {RunContext} from './context.js'
import type {Planned} from './types.js'

/** The bytes [start, end) of a file over one Hub connection from the budget (its own Range request). */
export async function readRange(ctx: RunContext, p: Planned, start: number, end: number, signal: AbortSignal | undefined): Promise<Buffer[]> {
  await ctx.connections.acquire(signal)
  const reader = ctx.newReader(p, {start, end})
  try {
    return await reader.take(end - start, () => undefined)
  } finally {
    reader.close()
    ctx.connections.release()
  }
}

/** One range of a RangedReader: its chunks as they arrive, until done or failed. */
interface Range {
  chunks: Buffer[]
  done: boolean
  error?: unknown
  /** Wakes chunk() when something arrived. */
  wake?: () => void
}

/**
 * A whole file in order, read ahead as `rangeSize` ranges: every range whose memory slot is free is
 * being read at once, and chunk() hands the bytes on in file order, those of the range in front as
 * they arrive (so a PutObject streams while its ranges are still coming in); a range read early
 * waits, holding its slot, until the ones before it are used. Same chunk()/close() as HubFileReader.
 */
export class RangedReader {
  private readonly ranges = new Map<number, Range>()
  private readonly count: number
  private readonly stop = new AbortController()
  private readonly signal: AbortSignal
  /** Ranges started (each holds a memory slot until it is used up or the reader closes). */
  private started = 0
  /** The range being handed on. */
  private index = 0
  private closed = false
  private pumping = false
  /** Reads still running (close() gives their slots back once they stop). */
  private readonly reads = new Set<Promise<void>>()

  constructor(
    private readonly ctx: RunContext,
    private readonly p: Planned,
    private readonly rangeSize: number,
  ) {
    this.count = Math.max(1, Math.ceil(p.sib.size / rangeSize))
    this.signal = ctx.signal ? AbortSignal.any([ctx.signal, this.stop.signal]) : this.stop.signal
  }

  private range(i: number): Range {
    let r = this.ranges.get(i)
    if (!r) this.ranges.set(i, (r = {chunks: [], done: false}))
    return r
  }

  private static wake(r: Range): void {
    const w = r.wake
    r.wake = undefined
    w?.()
  }

  /** Reads range i into its chunk list over one connection from the budget. */
  private read(i: number): void {
    const r = this.range(i)
    const start = i * this.rangeSize
    const end = Math.min(start + this.rangeSize, this.p.sib.size)
    const run = (async () => {
      await this.ctx.connections.acquire(this.signal)
      const reader = this.ctx.newReader(this.p, {start, end})
      try {
        for (let got = 0; got < end - start; ) {
          const c = await reader.chunk(end - start - got)
          got += c.length
          r.chunks.push(c)
          RangedReader.wake(r)
        }
        r.done = true
      } finally {
        reader.close()
        this.ctx.connections.release()
      }
    })()
      .catch((err: unknown) => {
        r.error = err
      })
      .finally(() => {
        RangedReader.wake(r)
        this.reads.delete(run)
      })
    this.reads.add(run)
  }

  /** Starts ranges in file order while memory slots are free, until every range has started. */
  private pump(): void {
    if (this.pumping) return
    this.pumping = true
    void (async () => {
      try {
        while (this.started < this.count && !this.closed) {
          await this.ctx.slots.acquire(this.signal)
          if (this.closed) {
            this.ctx.slots.release()
            return
          }
          this.read(this.started++)
        }
      } catch (err) {
        // aborted while waiting for a slot: whoever waits for a range not started gets the reason
        for (const [i, r] of this.ranges) {
          if (i < this.started) continue
          r.error = err
          RangedReader.wake(r)
        }
      }
    })()
  }

  async chunk(max: number): Promise<Buffer> {
    this.pump()
    for (;;) {
      if (this.closed) throw new Error(`read of ${this.p.sib.rfilename} after close`)
      if (this.index >= this.count) throw new Error(`${this.p.sib.rfilename}: read past its ${this.p.sib.size} bytes`)
      const r = this.range(this.index)
      if (r.chunks.length > 0) {
        let c = r.chunks[0]!
        if (c.length > max) {
          r.chunks[0] = c.subarray(max)
          c = c.subarray(0, max)
        } else r.chunks.shift()
        return c
      }
      if (r.error !== undefined) throw r.error
      if (r.done) {
        // used up: its slot goes to the next range
        this.ranges.delete(this.index++)
        this.ctx.slots.release()
        continue
      }
      if (this.signal.aborted && this.index >= this.started) throw this.signal.reason
      await new Promise<void>((resolve) => (r.wake = resolve))
    }
  }

  /** Stops every read; the memory slots of started ranges not used up are given back once their reads stop. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stop.abort(new Error('closed'))
    const held = this.started - this.index
    for (const r of this.ranges.values()) RangedReader.wake(r)
    this.ranges.clear()
    void Promise.allSettled([...this.reads]).then(() => {
      for (let i = 0; i < held; i++) this.ctx.slots.release()
    })
  }
}
