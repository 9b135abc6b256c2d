import {EventEmitter} from 'node:events'

import {Chalk} from 'chalk'
import {describe, expect, it} from 'vitest'

import {UsageError} from '../../../src/lib/errors.js'
import {combinedQuery, buildQueries, foldSamples, History, LiveScreen, METRIC_KEYS, parseOverrides, renderRows, sparkline, watchKeys} from '../../../src/lib/metrics/index.js'

const row = (model: string, over: Record<string, unknown> = {}) => foldSamples([{labels: {aip_metric: 'running', model_name: model}, value: 1}, ...Object.entries(over).map(([k, v]) => ({labels: {aip_metric: k, model_name: model}, value: v as number}))], false)[0]!

describe('metrics view model', () => {
  it('sparklines scale between min and max, gaps for missing samples', () => {
    expect(sparkline([0, 5, 10])).toBe('▁▅█')
    expect(sparkline([1, null, 1])).toBe('▄ ▄')
    expect(sparkline([null, null])).toBe('  ')
  })

  it('colours values past thresholds, shows "-" for missing values, "no samples yet" rows', () => {
    const c = new Chalk({level: 1})
    const hot = row('a', {ttft_p95: 3, kv_usage: 0.95, gen_tps: 10})
    const cold = row('b', {ttft_p95: 1, kv_usage: 0.5, gen_tps: 10})
    const empty = row('c')
    const h = new History()
    h.add([hot, cold, empty])
    const text = renderRows([hot, cold, empty], {c, thresholds: {ttftP95: 2, kvUsage: 0.9}, history: h})
    const lines = text.split('\n')
    expect(lines[1]).toContain(c.red.bold('3.0s'))
    expect(lines[1]).toContain(c.red.bold('95%'))
    expect(lines[2]).not.toContain('\u001B[31')
    expect(lines[3]).toContain('no samples yet')
    expect(empty.kvCacheUsage).toBeNull()
  })

  it('redraws in place on the alternate screen and restores the terminal', () => {
    let out = ''
    const s = new LiveScreen((t) => (out += t))
    s.draw('frame 1')
    s.draw('frame 2')
    s.close()
    expect(out.startsWith('\u001B[?1049h\u001B[?25l\u001B[H')).toBe(true)
    expect(out.match(/\u001B\[H/g)).toHaveLength(2)
    expect(out.endsWith('\u001B[?25h\u001B[?1049lframe 2\n')).toBe(true)
  })

  it('q and Ctrl-C quit; raw mode is restored', () => {
    const input = Object.assign(new EventEmitter(), {isTTY: true, modes: [] as boolean[], setRawMode(m: boolean) {
      this.modes.push(m)
    }, resume() {}, pause() {}})
    let quits = 0
    const restore = watchKeys(input, () => quits++)
    input.emit('data', Buffer.from('x'))
    input.emit('data', Buffer.from('q'))
    input.emit('data', Buffer.from('\u0003'))
    restore()
    input.emit('data', Buffer.from('q'))
    expect(quits).toBe(2)
    expect(input.modes).toEqual([true, false])
  })

  it('one combined query tags every metric; overrides are validated by name', () => {
    const q = combinedQuery(buildQueries({window: '1m', pods: false, overrides: parseOverrides(['gen_tps=sum by (model_name) (rate(x[1m]))'])}))
    for (const k of METRIC_KEYS) expect(q).toContain(`"aip_metric", "${k}"`)
    expect(q).toContain('rate(x[1m])')
    expect(q).toContain('vllm:kv_cache_usage_perc) or max by (model_name) (vllm:gpu_cache_usage_perc)')
    expect(() => parseOverrides(['nope'])).toThrow(UsageError)
    const err = (() => {
      try {
        parseOverrides(['gen_tp=up'])
      } catch (error) {
        return error as UsageError
      }
    })()
    expect(err?.fix).toMatch(/^did you mean gen_tps/)
  })
})
