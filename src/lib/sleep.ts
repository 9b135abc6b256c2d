import {InterruptedError} from './errors.js'

/**
 * Waits `ms`; when `signal` aborts first, rejects with the signal's reason (an InterruptedError by
 * default), or with `{quiet: true}` resolves early instead (loops that simply stop on Ctrl-C).
 */
export function sleep(ms: number, signal?: AbortSignal, opts: {quiet?: boolean} = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const stop = () => (opts.quiet ? resolve() : reject(signal?.reason ?? new InterruptedError()))
    if (signal?.aborted) return stop()
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = () => {
      clearTimeout(t)
      stop()
    }
    signal?.addEventListener('abort', onAbort, {once: true})
  })
}
