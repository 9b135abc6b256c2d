/**
 * The run's two budgets: memory (bytes held in part and range buffers) and Hub connections.
 * Waiters are served by priority (the file's place in the run, biggest first), then in arrival
 * order, strictly: a waiter that does not fit yet holds back the ones behind it, so the first
 * file gets what it asks for and finishes first (its CompleteMultipartUpload then overlaps the
 * other files' transfers, and fewer early ranges wait in memory for the in-order sha256).
 */
interface Waiter {
  n: number
  priority: number
  seq: number
  grant: () => void
  signal?: AbortSignal
  reject: (reason: unknown) => void
}

export class Budget {
  private used = 0
  private seq = 0
  private waiters: Waiter[] = []
  /** One abort listener per signal (not per waiter: a run can have hundreds waiting). */
  private readonly watched = new WeakSet<AbortSignal>()

  constructor(readonly max: number) {}

  get inUse(): number {
    return this.used
  }

  /**
   * Takes `n` units (clamped to the budget, so a request larger than all of it still runs, alone)
   * once they are free and no waiter ahead of it (lower priority number, or same and earlier) is
   * still waiting. Rejects with the signal's reason on abort.
   */
  acquire(n = 1, priority = 0, signal?: AbortSignal): Promise<number> {
    const take = Math.max(0, Math.min(n, this.max))
    if (signal?.aborted) return Promise.reject(signal.reason)
    if (this.waiters.length === 0 && this.used + take <= this.max) {
      this.used += take
      return Promise.resolve(take)
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {n: take, priority, seq: this.seq++, grant: () => resolve(take), reject, ...(signal ? {signal} : {})}
      // sorted by (priority, seq): insert before the first waiter that comes after it
      const at = this.waiters.findIndex((x) => x.priority > priority)
      if (at < 0) this.waiters.push(w)
      else this.waiters.splice(at, 0, w)
      if (signal && !this.watched.has(signal)) {
        this.watched.add(signal)
        signal.addEventListener('abort', () => this.abortWaiters(signal), {once: true})
      }
      this.drain()
    })
  }

  release(n = 1): void {
    this.used = Math.max(0, this.used - n)
    this.drain()
  }

  private drain(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.n <= this.max) {
      const w = this.waiters.shift()!
      this.used += w.n
      w.grant()
    }
  }

  private abortWaiters(signal: AbortSignal): void {
    const gone = this.waiters.filter((w) => w.signal === signal)
    this.waiters = this.waiters.filter((w) => w.signal !== signal)
    for (const w of gone) w.reject(signal.reason)
    this.drain()
  }
}
