/**
 * Faults and odd inputs a new user meets (issue #12): each ends in one error line, a `Fix:` line,
 * the documented exit code and no stack trace. Drives the built CLI as a subprocess.
 */
import {mkdirSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {isolatedEnv, runCli, type CliResult} from '../support/cli.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'aip-robust-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/** One `Error:` line, one `Fix:` line, no stack trace. */
function expectOneError(r: CliResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code)
  const lines = r.stderr.trim().split('\n')
  const err = lines.filter((l) => l.startsWith('Error: '))
  expect(err, r.stderr).toHaveLength(1)
  expect(err[0]).toMatch(message)
  expect(lines.filter((l) => /^\s+Fix: /.test(l)), r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
}

describe('-o yaml output', () => {
  it('prints plain YAML without anchors or aliases, as kubectl does', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '-o', 'yaml'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain('kind: Deployment')
    expect(r.stdout).not.toMatch(/[&*]a\d+\b/)
  })
})

describe('configuration and flags', () => {
  it('--timeout beyond what a timer can hold is a usage error (exit 2), not an immediate timeout', async () => {
    const r = await runCli(['model', 'deploy', 'qwen3-8b', '--dry-run=client', '--timeout', '999999h'], {env: isolatedEnv({AIP_BUCKET: 'weights'})})
    expectOneError(r, 2, /--timeout "999999h" is longer than aip can wait/)
    expect(r.stderr).not.toContain('TimeoutOverflowWarning')
  })

  it('config timeout beyond what a timer can hold is a usage error naming where it came from (exit 2)', async () => {
    const r = await runCli(['model', 'list'], {env: isolatedEnv({AIP_TIMEOUT: '600000h'})})
    expectOneError(r, 2, /timeout from \$AIP_TIMEOUT "600000h" is longer than aip can wait/)
  })

  it('./aip.yaml that is a directory is a usage error (exit 2)', async () => {
    const cwd = tempDir()
    mkdirSync(join(cwd, 'aip.yaml'))
    const r = await runCli(['config', 'view'], {env: isolatedEnv(), cwd})
    expectOneError(r, 2, /config file .*aip\.yaml is not a file \(a directory\)/)
  })
})
