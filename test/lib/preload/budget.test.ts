// The memory and connection budgets of a preload run (src/lib/preload/budget.ts).
import {describe, expect, it} from 'vitest'

import {Budget} from '../../../src/lib/preload/budget.js'

const tick = () => new Promise((r) => setImmediate(r))

describe('Budget', () => {
  it('grants up to its size, then serves waiters by priority, then in arrival order, strictly', async () => {
    const b = new Budget(10)
    const order: string[] = []
    expect(await b.acquire(6)).toBe(6)
    void b.acquire(6, 1).then(() => order.push('file1 6'))
    void b.acquire(2, 1).then(() => order.push('file1 2'))
    void b.acquire(5, 0).then(() => order.push('file0 5'))
    await tick()
    // 4 free: file0's 5 does not fit, and nothing behind it may pass it
    expect(order).toEqual([])
    b.release(6)
    await tick()
    expect(order).toEqual(['file0 5'])
    expect(b.inUse).toBe(5)
    b.release(5)
    await tick()
    expect(order).toEqual(['file0 5', 'file1 6', 'file1 2'])
    expect(b.inUse).toBe(8)
  })

  it('a request larger than the whole budget runs alone instead of waiting forever', async () => {
    const b = new Budget(4)
    expect(await b.acquire(9)).toBe(4)
    let got = 0
    void b.acquire(1).then((n) => (got = n))
    await tick()
    expect(got).toBe(0)
    b.release(4)
    await tick()
    expect(got).toBe(1)
  })

  it('an abort rejects the waiters of that signal with its reason and lets the others through', async () => {
    const b = new Budget(1)
    await b.acquire()
    const ac = new AbortController()
    const waiting = Array.from({length: 200}, () => b.acquire(1, 0, ac.signal).then(() => 'granted', (e: unknown) => e))
    let other = false
    void b.acquire(1, 5).then(() => (other = true))
    ac.abort(new Error('stop'))
    expect(new Set((await Promise.all(waiting)).map((e) => (e as Error).message))).toEqual(new Set(['stop']))
    b.release()
    await tick()
    expect(other).toBe(true)
  })
})
