import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import {fileURLToPath} from 'node:url'
import {expect} from 'vitest'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const BIN = join(ROOT, 'bin', 'run.js')

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** A fresh HOME so no user config leaks into tests. */
export function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'aip-home-'))
  // TMPDIR: the test file's own temporary directory (test/support/tmp-setup.ts), removed after it;
  // NODE_COMPILE_CACHE: the run's shared module compile cache (test/support/tmp-global.ts)
  const run: NodeJS.ProcessEnv = {}
  if (process.env.TMPDIR) run.TMPDIR = process.env.TMPDIR
  if (process.env.AIP_TEST_COMPILE_CACHE) run.NODE_COMPILE_CACHE = process.env.AIP_TEST_COMPILE_CACHE
  const env: NodeJS.ProcessEnv = {PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), CI: 'true', NO_COLOR: '1', HF_ENDPOINT: 'http://127.0.0.1:9', ...run, ...extra}
  return env
}

/** Spawns the built CLI (bin/run.js over dist/) as a user would, and collects its output. */
export function runCli(args: string[], opts: {env?: NodeJS.ProcessEnv; cwd?: string; input?: string; timeoutMs?: number} = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {cwd: opts.cwd ?? ROOT, env: opts.env ?? isolatedEnv(), stdio: ['pipe', 'pipe', 'pipe']})
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      // Node's own warnings (a listener leak, an unhandled rejection) are bugs that reach the
      // user's terminal: every e2e test fails on them
      const nodeWarning = /\((?:node:)?\d+\) (?:MaxListenersExceededWarning|UnhandledPromiseRejectionWarning|PromiseRejectionHandledWarning)[^\n]*/.exec(stderr)
      if (nodeWarning) return reject(new Error(`aip ${args.join(' ')} printed a Node warning: ${nodeWarning[0]}`))
      resolvePromise({code, stdout, stderr})
    })
    child.stdin.end(opts.input ?? '')
  })
}

/** A refused command's stderr: exit `code`, exactly one `Error:` line matching `message`, one `Fix:` line, no stack trace. */
export function expectOneError(r: CliResult, code: number, message: RegExp): void {
  expect(r.code, r.stderr).toBe(code)
  const lines = r.stderr.trim().split('\n')
  const err = lines.filter((l) => l.startsWith('Error: '))
  expect(err, r.stderr).toHaveLength(1)
  expect(err[0]).toMatch(message)
  expect(lines.filter((l) => /^\s+Fix: /.test(l)), r.stderr).toHaveLength(1)
  expect(r.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
}
