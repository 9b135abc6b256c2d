/**
 * The sampling loop of `aip metrics tail`: one snapshot per interval until the signal aborts or
 * `samples` snapshots have been taken. The first refresh's errors are fatal (unreachable
 * Prometheus -> exit 5, unknown model -> exit 4, bad PromQL -> exit 2); later ones are handed to
 * `onError` and the loop keeps going, so a Prometheus restart does not end a live view.
 */
import type {PrometheusClient} from './prometheus.js'
import {collectSnapshot, type SampleOptions, type Snapshot, validateOverrides} from './sample.js'
import {sleep as abortableSleep} from '../sleep.js'

/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> => abortableSleep(ms, signal, {quiet: true})

export interface TailOptions extends SampleOptions {
  intervalMs: number
  /** Stop after this many snapshots (default: until aborted). */
  samples?: number
}

export interface TailHandlers {
  onSnapshot(s: Snapshot): void | Promise<void>
  onError?(e: unknown): void
}


/** Runs the loop; returns the number of snapshots delivered. */
export async function tailMetrics(client: PrometheusClient, opts: TailOptions, h: TailHandlers): Promise<number> {
  if (opts.overrides) await validateOverrides(client, opts.overrides, opts.signal)
  let n = 0
  while (!opts.signal?.aborted) {
    const started = Date.now()
    try {
      const s = await collectSnapshot(client, opts)
      n++
      await h.onSnapshot(s)
    } catch (error) {
      if (opts.signal?.aborted) break
      if (n === 0 || !h.onError) throw error
      h.onError(error)
    }
    if (opts.samples !== undefined && n >= opts.samples) break
    await abortableSleep(Math.max(0, opts.intervalMs - (Date.now() - started)), opts.signal, {quiet: true})
  }
  return n
}
