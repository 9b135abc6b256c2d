import type {Hook} from '@oclif/core'

import {ExitCode, UsageError} from '../lib/errors.js'
import {type JsonFailure, toJsonText} from '../lib/output/index.js'
import {colors} from '../lib/output/terminal.js'
import {suggest} from '../lib/suggest.js'

/**
 * "did you mean" for mistyped commands: one line, the closest commands, exit 2 (usage). oclif also
 * lands here for a command that takes no arguments given one (`aip config view x`): that is named
 * as the unexpected argument. With --json the error is the JSON envelope on stdout, as for any
 * other usage error.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator ?? ' '
  const bin = opts.config.bin
  const typed = opts.id.split(':').join(sep)
  const commandIds = new Set(opts.config.commandIDs.map((id) => id.split(':').join(sep)))
  const ids = [...commandIds, ...opts.config.topics.map((t) => t.name.split(':').join(sep))].filter((id, i, all) => !id.startsWith('plugins') && all.indexOf(id) === i)
  const words = typed.split(sep)
  let error: UsageError | undefined
  // the longest prefix of the words that is a command: the rest are arguments it does not take
  for (let k = words.length - 1; k >= 1 && !error; k--) {
    const id = words.slice(0, k).join(sep)
    if (commandIds.has(id)) {
      const extra = words.slice(k)
      error = new UsageError(`unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((w) => `"${w}"`).join(' ')}: "${bin} ${id}" takes none`, {fix: `see "${bin} ${id} --help"`})
    }
  }
  if (!error) {
    // The id holds every word the user typed ("gpu-fti qwen3-8b"): match the longest prefix of words
    // that resembles a command, so arguments do not spoil the suggestion.
    let near: string[] = []
    for (let k = Math.min(3, words.length); k >= 1 && near.length === 0; k--) near = suggest(words.slice(0, k).join(sep), ids, 3)
    const fix = near.length > 0 ? `did you mean ${near.map((n) => `"${bin} ${n}"`).join(' or ')}?` : `run "${bin} --help" for the commands`
    error = new UsageError(`"${typed}" is not an ${bin} command`, {fix})
  }
  const argv = opts.argv ?? []
  const dd = argv.indexOf('--')
  if ((dd === -1 ? argv : argv.slice(0, dd)).includes('--json')) {
    const envelope: JsonFailure = {status: 'error', command: typed, error: error.toJSON() as JsonFailure['error'], warnings: []}
    process.stdout.write(toJsonText(envelope) + '\n')
  } else {
    const c = colors(process.stderr)
    process.stderr.write(`${c.red('Error:')} ${error.message}\n  ${c.dim('Fix:')} ${error.fix}\n`)
  }
  process.exit(ExitCode.USAGE)
}

export default hook
