/**
 * `aip gpu-fit` has a fast path (src/fast/, dist/fast/gpu-fit.js) that runs the command without
 * oclif's Config; AIP_FAST_PATH=0 forces the oclif path. Both must give the same stdout, stderr
 * and exit code for every invocation: successes, the CI gate's exit 3, usage errors (exit 2),
 * --json envelopes, and one invocation per flag of the command as oclif's manifest lists it (so
 * flags added later are covered without editing this file).
 */
import {existsSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {beforeAll, describe, expect, it} from 'vitest'

import {isolatedEnv, ROOT, runCli} from '../support/cli.js'

const config = join(ROOT, 'test/fixtures/configs/qwen3-8b/config.json')

// Which CommonJS files the process loaded (oclif's vendor bundle is one), written at exit.
let probe: string
beforeAll(() => {
  probe = join(tmpdir(), 'aip-loaded-probe.cjs')
  writeFileSync(probe, "process.on('exit', () => require('node:fs').writeFileSync(process.env.AIP_PROBE_OUT, JSON.stringify(Object.keys(require.cache))))\n")
})

let n = 0
async function both(args: string[], extraEnv: NodeJS.ProcessEnv = {}) {
  const run = async (fast: boolean) => {
    const out = join(tmpdir(), `aip-probe-${n++}.json`)
    const env = isolatedEnv({...extraEnv, ...(fast ? {} : {AIP_FAST_PATH: '0'}), NODE_OPTIONS: `--require ${probe}`, AIP_PROBE_OUT: out})
    const r = await runCli(args, {env})
    const loaded = JSON.parse(readFileSync(out, 'utf8')) as string[]
    return {...r, oclifLoaded: loaded.some((f) => f.endsWith(join('dist', 'vendor', 'oclif.cjs')))}
  }
  const [fast, oclif] = await Promise.all([run(true), run(false)])
  expect({code: fast.code, stdout: fast.stdout, stderr: fast.stderr}, `aip ${args.join(' ')}`).toEqual({code: oclif.code, stdout: oclif.stdout, stderr: oclif.stderr})
  expect(oclif.oclifLoaded).toBe(true)
  return fast
}

describe('gpu-fit: the fast path and the oclif path agree', () => {
  it('results and the CI gate: same output, and the fast path never loads oclif', async () => {
    const cases: Array<[string[], number]> = [
      [['gpu-fit', 'qwen3-8b'], 0],
      [['gpu-fit', 'qwen3-8b', '--gpu', 'l4'], 3],
      [['gpu-fit', 'qwen3-8b', '--gpu=l4', '--max-model-len', '8192'], 0],
      [['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--json'], 3],
      [['gpu-fit', 'Qwen/Qwen3-8B', '--json'], 0],
      [['gpu-fit', config, '--gpu-memory', '24GiB', '--kv-cache-dtype', 'fp8', '--tp', '2'], 0],
      [['gpu-fit', 'qwen3-8b', '--gpu', 'l40s', '--annotate'], 0],
    ]
    for (const [args, code] of cases) {
      const r = await both(args)
      expect(r.code, args.join(' ')).toBe(code)
      expect(r.oclifLoaded, `aip ${args.join(' ')} loaded oclif on the fast path`).toBe(false)
    }
  })

  it('errors: usage (exit 2), not found (exit 4), --json error envelopes', async () => {
    const cases: Array<[string[], number]> = [
      [['gpu-fit', 'qwen3-8b', '--gpux', 'l4'], 2],
      [['gpu-fit', 'qwen3-8b', '--tp', 'x'], 2],
      [['gpu-fit', 'qwen3-8b', '--dtype', 'foo', '--json'], 2],
      [['gpu-fit', 'qwen3-8b', '--gpu'], 2],
      [['gpu-fit', 'qwen3-8b', '--tp', '1', '--tp', '2'], 2],
      [['gpu-fit'], 2],
      [['gpu-fit', 'qwen3-8b', 'extra'], 2],
      [['gpu-fit', 'nope'], 4],
      [['gpu-fit', 'nope', '--json'], 4],
      [['gpu-fit', 'qwen3-8b', '--gpu', 'v100'], 2],
    ]
    for (const [args, code] of cases) expect((await both(args)).code, args.join(' ')).toBe(code)
  })

  it('every flag of the command, as the manifest lists it', async () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'oclif.manifest.json'), 'utf8')) as {commands: Record<string, {flags: Record<string, {type: string; options?: string[]}>}>}
    const flags = Object.entries(manifest.commands['gpu-fit']!.flags)
    expect(flags.map(([name]) => name)).toEqual(expect.arrayContaining(['json', 'verbose', 'gpu', 'tp', 'max-model-len']))
    for (const [name, f] of flags) {
      // --verbose takes the oclif path by design (stack traces need source maps)
      if (name === 'verbose') continue
      const value = f.type === 'boolean' ? [] : [f.options?.at(-1) ?? '2']
      await both(['gpu-fit', 'qwen3-8b', '--gpu', 'a10g', `--${name}`, ...value])
    }
  })

  it('the environment oclif reads: AIP_CONTENT_TYPE=json', async () => {
    const r = await both(['gpu-fit', 'qwen3-8b', '--gpu', 'l4'], {AIP_CONTENT_TYPE: 'json'})
    expect(JSON.parse(r.stdout).status).toBe('error')
  })

  it('declines what only oclif does: --help goes to oclif help', async () => {
    const r = await both(['gpu-fit', '--help'])
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^USAGE/m)
  })
})

describe('start-up: the module compile cache', () => {
  it('lives under $XDG_CACHE_HOME or ~/.cache (aip/compile-cache); NODE_DISABLE_COMPILE_CACHE=1 writes none', async () => {
    const env = isolatedEnv()
    delete env.NODE_COMPILE_CACHE
    expect((await runCli(['gpu-fit', 'qwen3-8b'], {env})).code).toBe(0)
    expect(readdirSync(join(env.HOME!, '.cache', 'aip', 'compile-cache')).length).toBeGreaterThan(0)
    const xdg = isolatedEnv({XDG_CACHE_HOME: join(tmpdir(), 'aip-xdg-cache')})
    delete xdg.NODE_COMPILE_CACHE
    expect((await runCli(['--version'], {env: xdg})).code).toBe(0)
    expect(readdirSync(join(tmpdir(), 'aip-xdg-cache', 'aip', 'compile-cache')).length).toBeGreaterThan(0)
    const off = isolatedEnv({NODE_DISABLE_COMPILE_CACHE: '1'})
    delete off.NODE_COMPILE_CACHE
    expect((await runCli(['gpu-fit', 'qwen3-8b'], {env: off})).code).toBe(0)
    expect(existsSync(join(off.HOME!, '.cache'))).toBe(false)
  })
})
