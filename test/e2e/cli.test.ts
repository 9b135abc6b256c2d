import {spawn} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {BIN, isolatedEnv, ROOT, runCli} from '../support/cli.js'

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {version: string}

describe('aip (built CLI)', () => {
  it('--version prints name/version/platform', async () => {
    const r = await runCli(['--version'])
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toMatch(new RegExp(`^aip/${pkg.version.replace(/\./g, '\\.')} \\S+ node-v\\d+`))
  })

  it('--help lists the topics and commands', async () => {
    const r = await runCli(['--help'])
    expect(r.code).toBe(0)
    for (const t of ['cluster', 'model', 'metrics', 'config', 'gpu-fit']) expect(r.stdout).toContain(t)
  })

  it('help, command help and shell completion work (the core plugins load where they are needed)', async () => {
    const root = await runCli(['--help'])
    expect(root.stdout).toMatch(/autocomplete/)
    const help = await runCli(['help', 'gpu-fit'])
    expect(help.code).toBe(0)
    expect(help.stdout).toMatch(/USAGE[\s\S]*\$ aip gpu-fit MODEL/)
    const flagHelp = await runCli(['gpu-fit', '--help'])
    expect(flagHelp.code).toBe(0)
    expect(flagHelp.stdout).toBe(help.stdout)
    const topic = await runCli(['model', '--help'])
    expect(topic.stdout).toMatch(/model deploy/)
    const ac = await runCli(['autocomplete', 'bash'])
    expect(ac.code).toBe(0)
    expect(ac.stdout).toMatch(/aip autocomplete/)
  })

  it('a reader that goes away (`aip ... 2>&1 | head -1`) does not change the exit code', async () => {
    for (let i = 0; i < 3; i++) {
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, [BIN, 'gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--all'], {cwd: ROOT, env: isolatedEnv(), stdio: ['ignore', 'pipe', 'pipe']})
        // like head: read a little, then close both pipes while the CLI is still writing
        child.stdout.once('data', () => {
          child.stdout.destroy()
          child.stderr.destroy()
        })
        child.on('close', (c) => resolve(c))
      })
      expect(code).toBe(3) // the gate's answer: does not fit at the model's full context
    }
  })

  it('a mistyped command gets "did you mean" and exit 2', async () => {
    const r = await runCli(['gpu-fti', 'qwen3-8b'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/did you mean "aip gpu-fit"/)
    const t = await runCli(['confg', 'view'])
    expect(t.code).toBe(2)
    expect(t.stderr).toMatch(/did you mean "aip config view"/)
  })

  it('an unknown flag is a usage error (exit 2), JSON with --json', async () => {
    const r = await runCli(['config', 'view', '--bogus'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/Nonexistent flag: --bogus/)
    const j = await runCli(['config', 'view', '--bogus', '--json'])
    expect(j.code).toBe(2)
    expect(JSON.parse(j.stdout)).toMatchObject({status: 'error', error: {code: 'USAGE', exitCode: 2}})
  })

  it('config set / get / view / unset round-trip with sources', async () => {
    const env = isolatedEnv()
    expect((await runCli(['config', 'set', 'region', 'eu-central-1'], {env})).code).toBe(0)
    const get = await runCli(['config', 'get', 'region'], {env})
    expect(get.stdout.trim()).toBe('eu-central-1')
    const view = JSON.parse((await runCli(['config', 'view', '--json'], {env: {...env, AIP_BUCKET: 'weights'}})).stdout)
    const byKey = Object.fromEntries(view.result.values.map((v: {key: string}) => [v.key, v]))
    expect(byKey.region).toMatchObject({value: 'eu-central-1', source: expect.stringMatching(/^file:.*config\.yaml$/)})
    expect(byKey.bucket).toMatchObject({value: 'weights', source: 'env:AIP_BUCKET'})
    expect(byKey.namespace).toMatchObject({value: 'aip-models', source: 'default'})
    expect((await runCli(['config', 'unset', 'region'], {env})).code).toBe(0)
    expect((await runCli(['config', 'get', 'region'], {env})).stdout.trim()).toBe('')
    const bad = await runCli(['config', 'set', 'gpu-memory-utilization', '3'], {env})
    expect(bad.code).toBe(2)
  })

  it('NO_COLOR and no TTY: no ANSI escapes anywhere', async () => {
    const r = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--max-model-len', '40960'], {env: isolatedEnv({NO_COLOR: '1', FORCE_COLOR: undefined})})
    expect(r.stdout + r.stderr).not.toMatch(/\u001B\[/)
    const forced = await runCli(['gpu-fit', 'qwen3-8b', '--gpu', 'l4', '--max-model-len', '40960'], {env: isolatedEnv({NO_COLOR: undefined, FORCE_COLOR: '1'})})
    expect(forced.stderr).toMatch(/\u001B\[/)
  })
})
