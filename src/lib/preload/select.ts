/**
 * Which files of a repo to preload. Globs are picomatch's (`*`, `**`, `?`, `{a,b}`, `[abc]`, ...).
 * A pattern without `/` matches the file's base name at any depth (like .gitignore); with `/` it
 * matches the whole path from the repo root.
 *
 * Default: what vLLM needs to serve a safetensors model: weights (*.safetensors), config and
 * tokenizer files (*.json, *.txt, *.model, *.tiktoken, *.jinja), and custom code (*.py, for
 * trust_remote_code). Excluded by default: original/** (Meta's consolidated .pth checkpoints),
 * onnx/**, openvino/**, and consolidated*.safetensors when sharded HF-format weights exist (Mistral
 * repos ship both). Repos without any .safetensors fall back to *.bin (pytorch_model*.bin).
 * `--include` replaces the default set (and its excludes); `--exclude` always applies.
 */
import picomatch from 'picomatch'

import {UsageError} from '../errors.js'
import type {HubSibling} from '../hub/index.js'

export const DEFAULT_INCLUDE = ['*.safetensors', '*.json', '*.txt', '*.model', '*.tiktoken', '*.jinja', '*.py']
export const DEFAULT_EXCLUDE = ['original/**', 'onnx/**', 'openvino/**']

const matchers = new Map<string, (path: string) => boolean>()

export function matchesGlob(path: string, glob: string): boolean {
  let m = matchers.get(glob)
  if (!m) {
    const g = glob.replace(/^\.?\//, '')
    // basename: a pattern without "/" is tried against the last path segment (gitignore-style)
    m = picomatch(g, {dot: true, basename: !g.includes('/')})
    matchers.set(glob, m)
  }
  return m(path)
}

export interface Selection {
  files: HubSibling[]
  include: string[]
  exclude: string[]
  /** Notes for the user (fallbacks taken). */
  notes: string[]
}

export function selectFiles(siblings: HubSibling[], include?: string[], exclude?: string[]): Selection {
  for (const [flag, globs] of [['--include', include], ['--exclude', exclude]] as const) {
    if (globs?.some((g) => !g.trim())) throw new UsageError(`${flag} is given an empty pattern`, {fix: `pass a glob, e.g. ${flag} '*.safetensors'`})
  }
  const notes: string[] = []
  const userInclude = include && include.length > 0
  let inc = userInclude ? include : [...DEFAULT_INCLUDE]
  const exc = [...(userInclude ? [] : DEFAULT_EXCLUDE), ...(exclude ?? [])]
  const names = siblings.map((s) => s.rfilename)
  if (!userInclude) {
    const st = names.filter((n) => n.endsWith('.safetensors') && !exc.some((g) => matchesGlob(n, g)))
    if (st.length === 0 && names.some((n) => n.endsWith('.bin'))) {
      inc = [...inc, '*.bin']
      notes.push('no .safetensors weights in this repo: preloading *.bin (PyTorch pickle) files instead')
    }
    if (st.some((n) => /^consolidated.*\.safetensors$/.test(n)) && st.some((n) => !/^consolidated.*\.safetensors$/.test(n))) {
      exc.push('consolidated*.safetensors')
    }
  }
  const files = siblings.filter((s) => inc.some((g) => matchesGlob(s.rfilename, g)) && !exc.some((g) => matchesGlob(s.rfilename, g)))
  return {files, include: inc, exclude: exc, notes}
}
