/** Reading a Hub file (or one byte range of it) for the preload, resuming a dropped connection with Range. */
import {AipError, networkErrorCode} from '../errors.js'
import type {HubClient} from '../hub/index.js'

/**
 * Sequential reader over a Hub file, or over the bytes [range.start, range.end) of it, that survives
 * dropped connections: on a stream error it reopens with `Range: bytes=OFFSET-` (`bytes=OFFSET-LAST`
 * for a range) and continues, up to `retries` times in a row. Chunks are the socket's own Buffers
 * (node:http), handed on without copying.
 */
export class HubFileReader {
  private iter?: AsyncIterator<Buffer>
  private stream?: import('node:stream').Readable
  private leftover?: Buffer
  /** The file offset reached so far (where to resume). */
  private received: number
  /** Where this reader stops (exclusive): the range's end, else the file's size. */
  private readonly limit: number
  private failures = 0
  private closed = false
  /** The response was read to its end (its keep-alive connection went back to the agent). */
  private ended = false
  constructor(
    private readonly hub: HubClient,
    private readonly repo: string,
    private readonly path: string,
    private readonly commit: string,
    private readonly size: number,
    private readonly retries: number,
    private readonly signal: AbortSignal | undefined,
    private readonly onRetry: (attempt: number, offset: number, reason: string) => void,
    private readonly range?: {start: number; end: number},
  ) {
    this.received = range?.start ?? 0
    this.limit = range?.end ?? size
  }

  private async open(): Promise<void> {
    const f = await this.hub.streamFile(this.repo, this.path, this.commit, {start: this.received, ...(this.range ? {end: this.limit - 1} : {}), signal: this.signal})
    if (this.range && f.status !== 206 && !(this.received === 0 && this.limit === this.size)) {
      // RFC 9110 lets a server ignore Range and send the whole file (200): not the bytes asked for.
      f.stream.destroy()
      throw new AipError('FAILED', `the Hub ignored a Range request for ${this.repo}/${this.path}`, {fix: 'use a Hub endpoint that supports HTTP Range requests, or pass --connections 1'})
    }
    this.stream = f.stream
    this.iter = f.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  }

  private drop(): void {
    if (!this.ended) this.stream?.destroy()
    this.stream = undefined
    this.iter = undefined
  }

  private async next(): Promise<Buffer | undefined> {
    for (;;) {
      if (this.signal?.aborted) throw this.signal.reason
      if (this.closed) throw new Error(`read of ${this.path} after close`)
      try {
        if (!this.iter) await this.open()
        const {done, value} = await this.iter!.next()
        if (done) {
          if (this.received < this.limit) throw Object.assign(new Error(`stream ended at ${this.received} of ${this.limit} bytes`), {code: 'ECONNRESET'})
          this.ended = true
          return undefined
        }
        const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array)
        this.received += chunk.length
        this.failures = 0
        return chunk
      } catch (err) {
        if (this.signal?.aborted) throw this.signal.reason
        if (err instanceof AipError || this.closed) throw err
        this.drop()
        if (++this.failures > this.retries) {
          throw new AipError('FAILED', `download of ${this.repo}/${this.path} kept failing at byte ${this.received} of ${this.size}: ${(err as Error).message}`, {
            fix: 'check the network and rerun: the preload resumes where it stopped',
            cause: err,
          })
        }
        const reason = networkErrorCode(err) ?? (err as Error).message ?? 'stream error'
        this.onRetry(this.failures, this.received, reason)
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** (this.failures - 1))))
      }
    }
  }

  /**
   * The next chunk of at most `max` bytes (a view of the received Buffer, split at `max`); throws
   * when the file ends early. Bytes past the listed size are never returned.
   */
  async chunk(max: number): Promise<Buffer> {
    let c = this.leftover ?? (await this.next())
    this.leftover = undefined
    if (!c) throw new AipError('FAILED', `${this.repo}/${this.path} is shorter than the ${this.size} bytes the Hub listed`, {fix: 'retry the preload'})
    if (c.length > max) {
      this.leftover = c.subarray(max)
      c = c.subarray(0, max)
    }
    return c
  }

  /** The next n bytes of the file as a list of chunks (no copy), passing each to `onChunk`. */
  async take(n: number, onChunk: (c: Buffer) => void): Promise<Buffer[]> {
    const out: Buffer[] = []
    let got = 0
    while (got < n) {
      const c = await this.chunk(n - got)
      onChunk(c)
      out.push(c)
      got += c.length
    }
    return out
  }

  /**
   * After the last byte of a range: reads the response to its end, so that node:http hands the
   * keep-alive connection back to the agent for the next range (destroying a response that has
   * not seen its end closes the socket: a new TCP and TLS handshake for every range).
   */
  async finish(): Promise<void> {
    if (!this.iter || this.ended || this.received < this.limit) return
    try {
      const {done} = await this.iter.next()
      if (done) this.ended = true
    } catch {
      // the connection went away after the last byte: nothing lost
    }
  }

  close(): void {
    this.closed = true
    this.drop()
  }
}
