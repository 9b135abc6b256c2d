/** Reading one Hub file for the preload: sequential, resuming a dropped connection with Range. */
import {AipError, networkErrorCode} from '../errors.js'
import type {HubClient} from '../hub/index.js'

/**
 * Sequential reader over a Hub file that survives dropped connections: on a stream error it reopens
 * the file with `Range: bytes=OFFSET-` and continues, up to `retries` times in a row. Chunks are the
 * socket's own Buffers (node:http), handed on without copying.
 */
export class HubFileReader {
  private iter?: AsyncIterator<Buffer>
  private stream?: import('node:stream').Readable
  private leftover?: Buffer
  /** Bytes received from the network so far (the offset to resume at). */
  private received = 0
  private failures = 0
  private closed = false
  constructor(
    private readonly hub: HubClient,
    private readonly repo: string,
    private readonly path: string,
    private readonly commit: string,
    private readonly size: number,
    private readonly retries: number,
    private readonly signal: AbortSignal | undefined,
    private readonly onRetry: (attempt: number, offset: number, reason: string) => void,
  ) {}

  private async open(): Promise<void> {
    const f = await this.hub.streamFile(this.repo, this.path, this.commit, {start: this.received, signal: this.signal})
    this.stream = f.stream
    this.iter = f.stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  }

  private drop(): void {
    this.stream?.destroy()
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
          if (this.received < this.size) throw Object.assign(new Error(`stream ended at ${this.received} of ${this.size} bytes`), {code: 'ECONNRESET'})
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

  close(): void {
    this.closed = true
    this.drop()
  }
}
