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

/**
 * A whole file in order, read ahead as `rangeSize` ranges: every range whose memory slot is free is
 * being read at once, and chunk() hands the bytes on in file order (a range read early waits,
 * holding its slot, until the ones before it are used). Same chunk()/close() as HubFileReader.
 */
export class RangedReader {
  /** Per range: its bytes once read (created when first asked for or started). */
  private readonly ranges = new Map<number, {promise: Promise<Buffer[]>; resolve(b: Buffer[]): void; reject(e: unknown): void}>()
  private readonly count: number
  private readonly stop = new AbortController()
  private readonly signal: AbortSignal
  /** Ranges started (each holds a memory slot until it is used up or the reader closes). */
  private started = 0
  /** The range being handed on, and its chunks left. */
  private index = 0
  private current?: Buffer[]
  private closed = false
  private pumping = false

  constructor(
    private readonly ctx: RunContext,
    private readonly p: Planned,
    private readonly rangeSize: number,
  ) {
    this.count = Math.max(1, Math.ceil(p.sib.size / rangeSize))
    this.signal = ctx.signal ? AbortSignal.any([ctx.signal, this.stop.signal]) : this.stop.signal
  }

  private range(i: number) {
    let r = this.ranges.get(i)
    if (!r) {
      let resolve!: (b: Buffer[]) => void
      let reject!: (e: unknown) => void
      const promise = new Promise<Buffer[]>((res, rej) => {
        resolve = res
        reject = rej
      })
      promise.catch(() => undefined) // a range nobody waits for fails quietly
      r = {promise, resolve, reject}
      this.ranges.set(i, r)
    }
    return r
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
          const i = this.started++
          const start = i * this.rangeSize
          const r = this.range(i)
          readRange(this.ctx, this.p, start, Math.min(start + this.rangeSize, this.p.sib.size), this.signal).then(r.resolve, r.reject)
        }
      } catch (err) {
        // aborted while waiting for a slot: whoever waits for a range not started gets the reason
        for (const [i, r] of this.ranges) if (i >= this.started) r.reject(err)
      }
    })()
  }

  async chunk(max: number): Promise<Buffer> {
    for (;;) {
      if (this.closed) throw new Error(`read of ${this.p.sib.rfilename} after close`)
      if (this.current && this.current.length > 0) {
        let c = this.current[0]!
        if (c.length > max) {
          this.current[0] = c.subarray(max)
          c = c.subarray(0, max)
        } else this.current.shift()
        return c
      }
      if (this.current) {
        // the range is used up: its slot goes to the next range
        this.current = undefined
        this.ranges.delete(this.index)
        this.index++
        this.ctx.slots.release()
      }
      if (this.index >= this.count) throw new Error(`${this.p.sib.rfilename}: read past its ${this.p.sib.size} bytes`)
      this.pump()
      if (this.signal.aborted && this.started <= this.index) throw this.signal.reason
      this.current = [...(await this.range(this.index).promise)]
    }
  }

  /** Stops every read; the memory slots of started ranges not used up are given back once their reads stop. */
  close(): void {
    if (this.closed) return
    this.closed = true
    const closed = new Error('closed')
    this.stop.abort(closed)
    const held = this.started - this.index
    const pending = [...this.ranges].filter(([i]) => i >= this.index && i < this.started).map(([, r]) => r.promise)
    for (const [i, r] of this.ranges) if (i >= this.started) r.reject(closed)
    this.ranges.clear()
    this.current = undefined
    void Promise.allSettled(pending).then(() => {
      for (let i = 0; i < held; i++) this.ctx.slots.release()
    })
  }
}
