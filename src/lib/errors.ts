/**
 * Typed errors. Every failure a user can cause or meet is one of these: it carries the exit code
 * from the table in the README, a one-line message naming the problem, and the fix.
 * The base command renders them (one line, or a JSON error object with --json); stack traces are
 * shown only with --verbose.
 */
export const ExitCode = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  NOT_FIT: 3,
  NOT_FOUND: 4,
  UNREACHABLE: 5,
  UNAUTHORIZED: 6,
  TIMEOUT: 7,
  INTERRUPTED: 130,
} as const
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode]

export type ErrorCode =
  | 'FAILED'
  | 'USAGE'
  | 'NOT_FIT'
  | 'NOT_FOUND'
  | 'UNREACHABLE'
  | 'UNAUTHORIZED'
  | 'TIMEOUT'
  | 'INTERRUPTED'
  | 'CONFLICT'

const codeToExit: Record<ErrorCode, ExitCodeValue> = {
  FAILED: ExitCode.FAILED,
  USAGE: ExitCode.USAGE,
  NOT_FIT: ExitCode.NOT_FIT,
  NOT_FOUND: ExitCode.NOT_FOUND,
  UNREACHABLE: ExitCode.UNREACHABLE,
  UNAUTHORIZED: ExitCode.UNAUTHORIZED,
  TIMEOUT: ExitCode.TIMEOUT,
  INTERRUPTED: ExitCode.INTERRUPTED,
  CONFLICT: ExitCode.FAILED,
}

export interface AipErrorOptions {
  /** What the user should do about it, one line. */
  fix?: string
  cause?: unknown
  /** Extra structured data for --json consumers. */
  details?: Record<string, unknown>
}

export class AipError extends Error {
  readonly code: ErrorCode
  readonly exitCode: ExitCodeValue
  readonly fix?: string
  readonly details?: Record<string, unknown>

  constructor(code: ErrorCode, message: string, options: AipErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause})
    this.name = 'AipError'
    this.code = code
    this.exitCode = codeToExit[code]
    this.fix = options.fix
    this.details = options.details
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      exitCode: this.exitCode,
      message: this.message,
      ...(this.fix ? {fix: this.fix} : {}),
      ...(this.details ? {details: this.details} : {}),
    }
  }
}

export class UsageError extends AipError {
  constructor(message: string, options?: AipErrorOptions) {
    super('USAGE', message, options)
    this.name = 'UsageError'
  }
}
export class NotFoundError extends AipError {
  constructor(message: string, options?: AipErrorOptions) {
    super('NOT_FOUND', message, options)
    this.name = 'NotFoundError'
  }
}
export class UnreachableError extends AipError {
  constructor(message: string, options?: AipErrorOptions) {
    super('UNREACHABLE', message, options)
    this.name = 'UnreachableError'
  }
}
export class UnauthorizedError extends AipError {
  constructor(message: string, options?: AipErrorOptions) {
    super('UNAUTHORIZED', message, options)
    this.name = 'UnauthorizedError'
  }
}
export class TimeoutError extends AipError {
  constructor(message: string, options?: AipErrorOptions) {
    super('TIMEOUT', message, options)
    this.name = 'TimeoutError'
  }
}
export class NotFitError extends AipError {
  constructor(message: string, options?: AipErrorOptions) {
    super('NOT_FIT', message, options)
    this.name = 'NotFitError'
  }
}
export class InterruptedError extends AipError {
  constructor(message = 'interrupted', options?: AipErrorOptions) {
    super('INTERRUPTED', message, options)
    this.name = 'InterruptedError'
  }
}
export class ConflictError extends AipError {
  constructor(message: string, options?: AipErrorOptions) {
    super('CONFLICT', message, options)
    this.name = 'ConflictError'
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
])

/** The network error code of an error or of its cause chain (fetch wraps them in `cause`). */
export function networkErrorCode(err: unknown): string | undefined {
  let e: unknown = err
  for (let i = 0; i < 5 && e && typeof e === 'object'; i++) {
    const code = (e as {code?: unknown}).code
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return code
    e = (e as {cause?: unknown}).cause
  }
  return undefined
}

/**
 * oclif's parse errors span lines ("Parsing --tp\n\tExpected an integer ...", "Missing 1 required
 * arg:\nmodel  description"); errors here are one line, so the reason joins the headline.
 */
export function oneLine(message: string): string {
  const lines = message
    .split('\n')
    .map((l) => l.replace(/\s+$/, ''))
    // oclif's "See more help with --help" (the fix says it) and its "The following error(s) occurred:" header
    .filter((l) => l.trim() && !/^See more help with/.test(l.trim()) && !/^The following errors? occurred:$/.test(l.trim()))
  if (lines.length <= 1) return (lines[0] ?? message).trim()
  const [head, ...rest] = lines
  const parts: string[] = []
  for (const l of rest) {
    const row = /^(\S+)\s{2,}(.*)$/.exec(l) // an argument or flag row: "name  description"
    if (row) parts.push(`${row[1]} (${row[2]!.trim()})`)
    else if (parts.length > 0 && /^\s{2,}/.test(l) && parts.at(-1)!.endsWith(')')) parts[parts.length - 1] = `${parts.at(-1)!.slice(0, -1)} ${l.trim()})`
    else parts.push(l.trim())
  }
  return `${head!.trim().replace(/:$/, '')}: ${parts.join('; ')}`
}

/**
 * A file system failure no code path named (Node's `EACCES: permission denied, open '/x'`), as a
 * one-line error naming the path and the fix. Read and write failures a user can fix are usage
 * errors; ENOENT is not found (4); a full or read-only disk is a failure (1).
 */
export function fileSystemError(err: Error): AipError | undefined {
  const e = err as NodeJS.ErrnoException
  if (typeof e.code !== 'string' || typeof e.path !== 'string' || typeof e.syscall !== 'string') return undefined
  const path = e.path
  // a program aip runs (a kubeconfig exec credential plugin such as aws, helm) is not installed
  if (e.code === 'ENOENT' && e.syscall.startsWith('spawn')) return new NotFoundError(`command not found: ${path}`, {fix: `install ${path} or put it on PATH`, cause: err})
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return new UsageError(`permission denied: ${path} (${e.syscall})`, {fix: `check the permissions of ${path} (ls -l), or point aip at another file`, cause: err})
    case 'ENOENT':
      return new NotFoundError(`no such file or directory: ${path}`, {fix: `check the path ${path}`, cause: err})
    case 'EISDIR':
      return new UsageError(`${path} is a directory, not a file`, {fix: 'pass the file itself', cause: err})
    case 'ENOTDIR':
      return new UsageError(`${path}: a part of the path is a file, not a directory`, {fix: `check the path ${path}`, cause: err})
    case 'ELOOP':
      return new UsageError(`${path}: too many levels of symbolic links`, {fix: `check where ${path} points (ls -l)`, cause: err})
    case 'ENAMETOOLONG':
      return new UsageError(`the path is too long: ${path.slice(0, 80)}...`, {fix: 'use a shorter path', cause: err})
    case 'ENOSPC':
      return new AipError('FAILED', `no space left on the device writing ${path}`, {fix: 'free some disk space and rerun', cause: err})
    case 'EROFS':
      return new AipError('FAILED', `${path} is on a read-only file system`, {fix: 'point aip at a writable location (e.g. XDG_CONFIG_HOME, XDG_CACHE_HOME)', cause: err})
    default:
      return undefined
  }
}

/**
 * Turns anything thrown into an AipError. oclif's parse errors become usage errors (exit 2);
 * network failures become UNREACHABLE (exit 5); the rest are FAILED (exit 1).
 */
export function toAipError(err: unknown, command?: string): AipError {
  if (err instanceof AipError) {
    // thrown by a flag's own parse function: oclif's parser wraps the message in
    // "Parsing --FLAG \n\t...\nSee more help with --help" (@oclif/core lib/parser/parse.js)
    const wrapped = /^Parsing --\S+ \n\t([\s\S]*?)\nSee more help with --help$/.exec(err.message)
    if (wrapped) err.message = wrapped[1]!
    return err
  }
  if (err instanceof Error) {
    const oclif = (err as {oclif?: {exit?: number}}).oclif
    const name = err.constructor?.name ?? ''
    // oclif's parser errors: FailedFlagValidationError, RequiredArgsError, UnexpectedArgsError,
    // NonExistentFlagsError, FlagInvalidOptionError, ArgInvalidOptionError, CLIParseError.
    if (/Flag|Args?Error|ParseError|Option/.test(name) || oclif?.exit === 2) {
      return new UsageError(oneLine(err.message), {fix: `see ${command ? `\`aip ${command.replaceAll(':', ' ')} --help\`` : '--help'} for the accepted flags and arguments`, cause: err})
    }
    const net = networkErrorCode(err)
    if (net) return new UnreachableError(`cannot reach the API (${net}): ${err.message}`, {cause: err})
    const fs = fileSystemError(err)
    if (fs) return fs
    if ((err as {code?: string}).code === 'EEXIT') return new AipError('FAILED', err.message, {cause: err})
    return new AipError('FAILED', err.message || String(err), {cause: err})
  }
  return new AipError('FAILED', String(err))
}
