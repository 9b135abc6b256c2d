import {setMaxListeners} from 'node:events'
import {Command} from '@oclif/core/command'
import {Config} from '@oclif/core/config'
import * as Flags from '@oclif/core/flags'
import type {Interfaces} from '@oclif/core'

import {emptyValueError} from './flags.js'
import {AipConfig} from './lib/config/index.js'
import {AipError, ExitCode, InterruptedError, toAipError} from './lib/errors.js'
import {setHttpTimeout} from './lib/http/timeouts.js'
import {colors, isInteractive, type JsonFailure, type JsonSuccess, processWriter, redact, toJsonText} from './lib/output/index.js'

function sharedAbortController(maxListeners: number): AbortController {
  const c = new AbortController()
  setMaxListeners(maxListeners, c.signal)
  return c
}

export type AipFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof AipCommand)['baseFlags'] & T['flags']>

/**
 * The one base command. It owns what every command shares: the --json envelope, warnings,
 * error rendering (one line with the fix; stack only with --verbose), exit codes, configuration
 * resolution and Ctrl-C. Subclasses parse flags, call one library function and render.
 */
export abstract class AipCommand extends Command {
  static override baseFlags = {
    verbose: Flags.boolean({description: 'show debug detail and stack traces on errors', helpGroup: 'GLOBAL', default: false}),
  }

  /**
   * oclif's Command.run loads the whole configuration again (every plugin's package.json and
   * manifest) so that a plugin built against another @oclif/core gets a Config of its own. aip's
   * commands run on the @oclif/core that loaded them, so the Config in hand is reused: this halves
   * oclif's start-up work for every command (bench/startup.mjs).
   */
  static override async run<T extends Command>(this: new (argv: string[], config: Config) => T, argv?: string[], opts?: Interfaces.LoadOptions): Promise<ReturnType<T['run']>> {
    if (opts instanceof Config) {
      const cmd = new this(argv ?? process.argv.slice(2), opts) as T & {_run(): Promise<ReturnType<T['run']>>}
      return cmd._run()
    }
    return (Command.run as (this: unknown, a?: string[], o?: Interfaces.LoadOptions) => Promise<ReturnType<T['run']>>).call(this, argv, opts)
  }

  protected warnings: string[] = []
  /** An error to report after the result has been rendered (e.g. gpu-fit's CI gate). */
  protected deferredError?: AipError
  // The command's one cancellation point: every concurrent request, watch and part upload listens
  // to it, so more than Node's default 10 listeners is by design (the warning would reach the
  // user's terminal). Each listener is removed when its operation ends; 100 still catches a loop
  // that forgets to.
  protected readonly abortController = sharedAbortController(100)
  /** Commands that clean up on Ctrl-C (abort uploads, stop watches) set this and watch `signal`. */
  protected static handlesInterrupt = false
  private onSigint?: () => void
  private cfg?: AipConfig

  get signal(): AbortSignal {
    return this.abortController.signal
  }

  get verbose(): boolean {
    return this.argv.includes('--verbose') || process.env.AIP_VERBOSE === '1'
  }

  get interactive(): boolean {
    return !this.jsonEnabled() && isInteractive(process.stdout)
  }

  /** Colours for stdout (off without a TTY or with NO_COLOR). */
  get c() {
    return colors(process.stdout)
  }

  /** Colours for stderr. */
  get ce() {
    return colors(process.stderr)
  }

  override async init(): Promise<void> {
    await super.init()
    const handles = (this.constructor as typeof AipCommand).handlesInterrupt
    this.onSigint = () => {
      if (this.signal.aborted || !handles) {
        process.stderr.write('\ninterrupted\n')
        process.exit(ExitCode.INTERRUPTED)
      }
      this.abortController.abort(new InterruptedError())
    }
    process.on('SIGINT', this.onSigint)
    process.on('SIGTERM', this.onSigint)
  }

  override async finally(err: Error | undefined): Promise<void> {
    if (this.onSigint) {
      process.off('SIGINT', this.onSigint)
      process.off('SIGTERM', this.onSigint)
    }
    await super.finally(err)
  }

  /** oclif's parse, then the checks every command shares: no flag or argument given as "" (src/flags.ts). */
  protected override async parse<F extends {[name: string]: any}, B extends {[name: string]: any}, A extends {[name: string]: any}>(
    options?: Interfaces.Input<F, B, A>,
    argv?: string[],
  ): Promise<Interfaces.ParserOutput<F, B, A>> {
    const out = await super.parse(options, argv)
    const empty = emptyValueError(out.flags as Record<string, unknown>, out.args as Record<string, unknown>)
    if (empty) throw empty
    return out
  }

  /** Configuration with the flags of this invocation applied (flags > env > files > defaults). */
  config_(flags: Record<string, unknown> = {}): AipConfig {
    if (!this.cfg) {
      this.cfg = AipConfig.load({flags})
      setHttpTimeout(this.cfg.durationMs('http-timeout'))
    }
    return this.cfg
  }

  /** A warning: stderr in human mode, collected into the envelope with --json. */
  override warn(input: string | Error): string | Error {
    const text = typeof input === 'string' ? input : input.message
    this.warnings.push(text)
    if (!this.jsonEnabled()) process.stderr.write(redact(`${this.ce.yellow('Warning:')} ${text}\n`))
    return input
  }

  /** Diagnostics for humans: stderr, never with --json, so stdout stays machine-readable. */
  info(text: string): void {
    if (!this.jsonEnabled()) process.stderr.write(redact(text.endsWith('\n') ? text : text + '\n'))
  }

  debugLog(text: string): void {
    if (this.verbose) process.stderr.write(redact(`[debug] ${text}\n`))
  }

  /** Human output on stdout (suppressed with --json, where the returned result is printed). */
  print(text: string): void {
    if (!this.jsonEnabled()) processWriter.out(text)
  }

  override logJson(json: unknown): void {
    process.stdout.write(toJsonText(json) + '\n')
  }

  protected override toSuccessJson(result: unknown): JsonSuccess<unknown> | (JsonFailure & {result: unknown}) {
    if (this.deferredError) {
      return {status: 'error', command: this.id ?? '', result, error: this.deferredError.toJSON() as JsonFailure['error'], warnings: this.warnings}
    }
    return {status: 'ok', command: this.id ?? '', result, warnings: this.warnings}
  }

  protected override toErrorJson(err: unknown): JsonFailure {
    const e = toAipError(err, this.id)
    return {status: 'error', command: this.id ?? '', error: e.toJSON() as JsonFailure['error'], warnings: this.warnings}
  }

  override async catch(err: Error & {exitCode?: number}): Promise<void> {
    // oclif's own exit (e.g. this.exit(0) or --help paths) passes through untouched.
    if ((err as {code?: string}).code === 'EEXIT') throw err
    const e = toAipError(this.signal.aborted && !(err instanceof AipError) ? this.signal.reason ?? err : err, this.id)
    process.exitCode = e.exitCode
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(e))
      return
    }
    this.renderError(e)
  }

  protected renderError(e: AipError): void {
    const c = this.ce
    let text = `${c.red('Error:')} ${e.message}`
    if (e.fix) text += `\n  ${c.dim('Fix:')} ${e.fix}`
    if (this.verbose) {
      const stack = (e.cause instanceof Error ? e.cause.stack : undefined) ?? e.stack
      if (stack) text += `\n${c.dim(stack)}`
    }
    process.stderr.write(redact(text) + '\n')
  }

  protected override async _run<T>(): Promise<T> {
    const result = (await super._run()) as T
    if (this.deferredError) {
      process.exitCode = this.deferredError.exitCode
      if (!this.jsonEnabled()) this.renderError(this.deferredError)
    }
    return result
  }
}
