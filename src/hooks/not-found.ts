import type {Hook} from '@oclif/core'

import {ExitCode} from '../lib/errors.js'
import {colors} from '../lib/output/terminal.js'
import {suggest} from '../lib/suggest.js'

/** "did you mean" for mistyped commands: one line, the closest commands, exit 2 (usage). */
const hook: Hook.CommandNotFound = async function (opts) {
  const sep = opts.config.topicSeparator ?? ' '
  const typed = opts.id.split(':').join(sep)
  const ids = [...opts.config.commandIDs, ...opts.config.topics.map((t) => t.name)]
    .map((id) => id.split(':').join(sep))
    .filter((id, i, all) => !id.startsWith('plugins') && all.indexOf(id) === i)
  // The id holds every word the user typed ("gpu-fti qwen3-8b"): match the longest prefix of words
  // that resembles a command, so arguments do not spoil the suggestion.
  const words = typed.split(sep)
  let near: string[] = []
  for (let k = Math.min(3, words.length); k >= 1 && near.length === 0; k--) near = suggest(words.slice(0, k).join(sep), ids, 3)
  const c = colors(process.stderr)
  const fix = near.length > 0 ? `did you mean ${near.map((n) => `"${opts.config.bin} ${n}"`).join(' or ')}?` : `run "${opts.config.bin} --help" for the commands`
  process.stderr.write(`${c.red('Error:')} "${typed}" is not an ${opts.config.bin} command\n  ${c.dim('Fix:')} ${fix}\n`)
  process.exit(ExitCode.USAGE)
}

export default hook
