import {redact} from './redact.js'

export * from './format.js'
export * from './redact.js'
export * from './table.js'
export * from './terminal.js'

/** The JSON envelope every `--json` command prints on stdout (documented in the README). */
export interface JsonSuccess<T> {
  status: 'ok'
  command: string
  result: T
  warnings: string[]
}
export interface JsonFailure {
  status: 'error'
  command: string
  error: {code: string; exitCode: number; message: string; fix?: string; details?: Record<string, unknown>}
  warnings: string[]
}

/** Serialise for stdout: stable 2-space JSON, secrets redacted. */
export function toJsonText(value: unknown): string {
  return redact(JSON.stringify(value, null, 2))
}

/** One NDJSON line (for streams: progress, metrics samples). */
export function ndjsonLine(value: unknown): string {
  return redact(JSON.stringify(value)) + '\n'
}

export interface Writer {
  out(text: string): void
  err(text: string): void
}

export const processWriter: Writer = {
  out: (t) => process.stdout.write(redact(t.endsWith('\n') ? t : t + '\n')),
  err: (t) => process.stderr.write(redact(t.endsWith('\n') ? t : t + '\n')),
}
