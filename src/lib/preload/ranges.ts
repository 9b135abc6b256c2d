/**
 * Reading a Hub file as byte ranges over several connections at once (as hf_transfer does): one
 * connection per range, from the run's global connection budget, a dropped one resuming inside its
 * range. A CDN edge paces each connection; several ranges at once add up. Ranges are smaller than
 * S3 parts (`rangeSize`, default 2 MiB, against 8 MiB parts): many connections then hold few bytes
 * each, and the bytes that wait in memory for the in-order sha256 stay capped by the memory budget.
 *
 * Budgets, always taken in this order so that nothing waits in a circle: memory (a part's bytes,
 * or a range's for a streamed PutObject, held until hashed and sent), then a connection (only
 * while a range is being read; a connection never waits for memory).
 */
import {Readable} from 'node:stream'

import type {RunContext} from './context.js'
import type {Planned} from './types.js'

/** The bytes [start, end) of a file as they arrive over one connection; any number of walkers follow it. */
export class RangeBuf {
  chunks: Buffer[] = []
  done = false
  error?: unknown
  private wakers: Array<() => void> = []
  constructor(
    readonly start: number,
    readonly end: number,
  ) {}

  get size(): number {
    return this.end - this.start
  }

  push(c: Buffer): void {
    this.chunks.push(c)
    this.wake()
  }

  finish(): void {
    this.done = true
    this.wake()
  }

  fail(err: unknown): void {
    if (this.done) return
    this.error ??= err
    this.wake()
  }

  private wake(): void {
    const w = this.wakers
    this.wakers = []
    for (const f of w) f()
  }

  /** Chunk i once it has arrived; undefined past the last one; throws when the read failed. */
  async at(i: number): Promise<Buffer | undefined> {
    for (;;) {
      if (i < this.chunks.length) return this.chunks[i]
      if (this.error !== undefined) throw this.error
      if (this.done) return undefined
      await new Promise<void>((r) => this.wakers.push(r))
    }
  }

  /** Lets the bytes go (hashed and sent): nobody reads this range again. */
  drop(): void {
    this.chunks = []
  }
}

/** [start, end) cut into ranges of at most `rangeSize` bytes. */
export function cutRanges(start: number, end: number, rangeSize: number): RangeBuf[] {
  const out: RangeBuf[] = []
  for (let s = start; s < end; s += rangeSize) out.push(new RangeBuf(s, Math.min(s + rangeSize, end)))
  if (out.length === 0) out.push(new RangeBuf(start, end))
  return out
}

/**
 * Fills `r` over one Hub connection from the budget (taken in priority order, after memory);
 * a failure lands in `r.error` for its walkers. Resolves when the read has stopped either way.
 */
export function fillRange(ctx: RunContext, p: Planned, r: RangeBuf, signal: AbortSignal | undefined): Promise<void> {
  return (async () => {
    await ctx.connections.acquire(1, p.priority ?? 0, signal)
    try {
      const reader = ctx.newReader(p, {start: r.start, end: r.end})
      try {
        for (let got = 0; got < r.size; ) {
          const c = await reader.chunk(r.size - got)
          got += c.length
          r.push(c)
        }
        r.finish()
        await reader.finish() // the connection goes back to the pool for the next range
      } finally {
        reader.close()
      }
    } finally {
      ctx.connections.release()
    }
  })().catch((err: unknown) => r.fail(err))
}

/** The chunks of `ranges` in file order, as they arrive; each walk starts from the first byte. */
export async function* walk(ranges: RangeBuf[]): AsyncGenerator<Buffer> {
  for (const r of ranges) {
    for (let i = 0; ; i++) {
      const c = await r.at(i)
      if (c === undefined) break
      yield c
    }
  }
}

/**
 * A request body over `ranges` in order, streaming while they are still being read. A range that
 * fails goes to `onError` (which must stop the request: pipe() ignores a source's errors), never
 * to an unhandled 'error' event.
 */
export function rangesBody(ranges: RangeBuf[], onError: (err: unknown) => void): Readable {
  const body = Readable.from(walk(ranges), {objectMode: false, highWaterMark: 256 * 1024})
  body.on('error', onError)
  return body
}

/**
 * A whole file in order, read ahead as `rangeSize` ranges: every range whose memory the budget
 * grants is being read at once, and chunk() hands the bytes on in file order, those of the range
 * in front as they arrive (so a PutObject streams while its ranges are still coming in); a range
 * read early waits, holding its memory, until the ones before it are used. Same chunk()/close() as
 * HubFileReader.
 */
export class RangedReader {
  private readonly ranges: RangeBuf[]
  private readonly stop = new AbortController()
  private readonly signal: AbortSignal
  /** Ranges started (each holds its size of the memory budget until used up or the reader closes). */
  private started = 0
  /** The range being handed on, and the next chunk of it. */
  private index = 0
  private pos = 0
  private leftover?: Buffer
  private closed = false
  private pumping = false
  /** Reads still running (close() gives their memory back once they stop). */
  private readonly fills: Array<Promise<void>> = []

  constructor(
    private readonly ctx: RunContext,
    private readonly p: Planned,
    rangeSize: number,
  ) {
    this.ranges = cutRanges(0, p.sib.size, rangeSize)
    this.signal = ctx.signal ? AbortSignal.any([ctx.signal, this.stop.signal]) : this.stop.signal
  }

  /** Starts ranges in file order while the memory budget grants them, until every range has started. */
  private pump(): void {
    if (this.pumping) return
    this.pumping = true
    void (async () => {
      try {
        while (this.started < this.ranges.length && !this.closed) {
          const r = this.ranges[this.started]!
          await this.ctx.memory.acquire(r.size, this.p.priority ?? 0, this.signal)
          if (this.closed) {
            this.ctx.memory.release(r.size)
            return
          }
          this.started++
          this.fills.push(fillRange(this.ctx, this.p, r, this.signal))
        }
      } catch (err) {
        // aborted while waiting for memory: whoever waits for a range not started gets the reason
        for (const r of this.ranges.slice(this.started)) r.fail(err)
      }
    })()
  }

  async chunk(max: number): Promise<Buffer> {
    this.pump()
    for (;;) {
      if (this.closed) throw new Error(`read of ${this.p.sib.rfilename} after close`)
      if (this.leftover) {
        let c = this.leftover
        this.leftover = undefined
        if (c.length > max) {
          this.leftover = c.subarray(max)
          c = c.subarray(0, max)
        }
        return c
      }
      const r = this.ranges[this.index]
      if (!r) throw new Error(`${this.p.sib.rfilename}: read past its ${this.p.sib.size} bytes`)
      const c = await r.at(this.pos)
      if (c === undefined) {
        // used up: its memory goes to the next range
        r.drop()
        this.ctx.memory.release(r.size)
        this.index++
        this.pos = 0
        continue
      }
      r.chunks[this.pos++] = EMPTY // handed on: not held here any longer
      this.leftover = c
    }
  }

  /** Stops every read; the memory of started ranges not used up is given back once their reads stop. */
  close(): void {
    if (this.closed) return
    this.closed = true
    this.stop.abort(new Error('closed'))
    const held = this.ranges.slice(this.index, this.started)
    for (const r of this.ranges) r.fail(new Error('closed'))
    void Promise.allSettled(this.fills).then(() => {
      for (const r of held) {
        r.drop()
        this.ctx.memory.release(r.size)
      }
    })
  }
}

const EMPTY = Buffer.alloc(0)
