import {describe, expect, it} from 'vitest'

import {ExitCode, oneLine, toAipError, UsageError} from '../../src/lib/errors.js'

describe('errors', () => {
  it('oclif parse errors become one-line usage errors that keep the reason', () => {
    expect(oneLine('Parsing --tp \n\tExpected an integer greater than or equal to 1 but received: -5\nSee more help with --help')).toBe(
      'Parsing --tp: Expected an integer greater than or equal to 1 but received: -5',
    )
    expect(oneLine('Missing 1 required arg:\nmodel  catalog name, path to config.json or model directory, or Hub repo\n       ORG/NAME\nSee more help with --help')).toBe(
      'Missing 1 required arg: model (catalog name, path to config.json or model directory, or Hub repo ORG/NAME)',
    )
    expect(oneLine('Nonexistent flag: --bogus\nSee more help with --help')).toBe('Nonexistent flag: --bogus')
    class RequiredArgsError extends Error {}
    const e = toAipError(Object.assign(new RequiredArgsError('Missing 1 required arg:\nname  the model\nSee more help with --help'), {oclif: {exit: 2}}))
    expect(e).toBeInstanceOf(UsageError)
    expect(e.exitCode).toBe(ExitCode.USAGE)
    expect(e.message).toBe('Missing 1 required arg: name (the model)')
  })
})
