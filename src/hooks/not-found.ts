import type {Hook} from '@oclif/core'

import {ExitCode} from '../lib/errors.js'
import {colors} from '../lib/output/terminal.js'
import {suggest} from '../lib/suggest.js'

/** "did you mean" for mistyped commands: one line, the closest commands, exit 2 (usage). */
const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator ?? ' '
  const typed = opts.id.split(':').join(sep)
  const ids = opts.config.commandIDs.map((id) => id.split(':').join(sep)).filter((id) => !id.startsWith('plugins'))
  const near = suggest(typed, ids, 3)
  const c = colors(process.stderr)
  const fix = near.length > 0 ? `did you mean ${near.map((n) => `"${opts.config.bin} ${n}"`).join(' or ')}?` : `run "${opts.config.bin} --help" for the commands`
  process.stderr.write(`${c.red('Error:')} "${typed}" is not an ${opts.config.bin} command\n  ${c.dim('Fix:')} ${fix}\n`)
  process.exit(ExitCode.USAGE)
}

export default hook
