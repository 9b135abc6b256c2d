/**
 * Runs the built CLI on a pseudo-terminal, as an operator's shell would, through util-linux
 * `script` (in Debian's essential bsdutils, so on every machine this project targets). What the
 * test writes goes to the terminal's input; what the CLI draws comes back with its escape codes.
 */
import {spawn, spawnSync} from 'node:child_process'

import {BIN, ROOT} from './cli.js'

export function ptyMissingReason(): string | undefined {
  const r = spawnSync('script', ['--version'], {encoding: 'utf8'})
  if (r.status === 0 && /util-linux/.test(r.stdout)) return undefined
  // CI runs every terminal test (.ci/run installs bsdutils when it is missing): fail, don't skip
  if (process.env.CI === 'true') throw new Error('util-linux `script` not found, and CI requires the terminal tests: apt-get install bsdutils')
  return 'util-linux `script` not found (Debian package bsdutils)'
}

export interface PtySession {
  /** Everything the CLI wrote to the terminal so far. */
  readonly output: () => string
  /** Types on the terminal. */
  type(text: string): void
  /** Resolves once the output matches (or rejects after timeoutMs with what was seen). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>
  /** The CLI's exit code (script -e passes it through). */
  readonly exited: Promise<number | null>
  kill(): void
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export function runInPty(args: string[], opts: {env: NodeJS.ProcessEnv; columns?: number; rows?: number}): PtySession {
  const cmd = `stty cols ${opts.columns ?? 160} rows ${opts.rows ?? 40}; exec ${[process.execPath, BIN, ...args].map(shellQuote).join(' ')}`
  const child = spawn('script', ['--quiet', '--return', '--flush', '--command', cmd, '/dev/null'], {cwd: ROOT, env: {TERM: 'xterm-256color', ...opts.env}, stdio: ['pipe', 'pipe', 'pipe']})
  let out = ''
  const waiters = new Set<() => void>()
  const onData = (d: string) => {
    out += d
    for (const w of waiters) w()
  }
  child.stdout.setEncoding('utf8').on('data', onData)
  child.stderr.setEncoding('utf8').on('data', onData)
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {
    output: () => out,
    type: (text) => void child.stdin.write(text),
    waitFor: (pattern, timeoutMs = 20_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!pattern.test(out)) return
          clearTimeout(timer)
          waiters.delete(check)
          resolve()
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`timed out waiting for ${pattern} on the terminal; it shows:\n${JSON.stringify(out.slice(-2000))}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    exited,
    kill: () => void child.kill('SIGKILL'),
  }
}
