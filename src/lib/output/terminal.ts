import {Chalk, type ChalkInstance} from 'chalk'

/** True when the stream is a terminal and we are not in CI: prompts, spinners and redraws allowed. */
export function isInteractive(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.CI && env.CI !== 'false' && env.CI !== '0') return false
  return Boolean(stream.isTTY)
}

/**
 * Colour only on a TTY, never with NO_COLOR (https://no-color.org: any non-empty value), and
 * FORCE_COLOR=1|2|3 to force it (e.g. for CI logs that render ANSI).
 */
export function colorLevel(stream: NodeJS.WriteStream = process.stdout, env: NodeJS.ProcessEnv = process.env): 0 | 1 | 2 | 3 {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0
  if (env.FORCE_COLOR !== undefined) {
    if (env.FORCE_COLOR === '0' || env.FORCE_COLOR === 'false') return 0
    const n = Number(env.FORCE_COLOR)
    return n >= 1 && n <= 3 ? (n as 1 | 2 | 3) : 1
  }
  if (!stream.isTTY) return 0
  if (env.TERM === 'dumb') return 0
  return env.COLORTERM === 'truecolor' ? 3 : 2
}

const cache = new Map<number, ChalkInstance>()
export function colors(stream: NodeJS.WriteStream = process.stdout): ChalkInstance {
  const level = colorLevel(stream)
  let c = cache.get(level)
  if (!c) {
    c = new Chalk({level})
    cache.set(level, c)
  }
  return c
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001B\[[0-9;]*m/g
export function stripAnsi(s: string): string {
  return s.replace(ANSI, '')
}
/** Display width: ANSI stripped; CJK/emoji are rare in our output and counted as 1. */
export function visibleWidth(s: string): number {
  return [...stripAnsi(s)].length
}
