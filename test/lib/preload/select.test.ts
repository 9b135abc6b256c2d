import {describe, expect, it} from 'vitest'

import type {HubSibling} from '../../../src/lib/hub/index.js'
import {matchesGlob, selectFiles} from '../../../src/lib/preload/select.js'

const sib = (rfilename: string): HubSibling => ({rfilename, size: 1})
const names = (files: HubSibling[]) => files.map((f) => f.rfilename).sort()

describe('preload file selection', () => {
  it('globs: base-name patterns at any depth, path patterns from the root, ** and braces', () => {
    expect(matchesGlob('model-00001-of-00002.safetensors', '*.safetensors')).toBe(true)
    expect(matchesGlob('sub/dir/model.safetensors', '*.safetensors')).toBe(true)
    expect(matchesGlob('original/consolidated.00.pth', 'original/**')).toBe(true)
    expect(matchesGlob('a/original/x.pth', 'original/**')).toBe(false)
    expect(matchesGlob('tokenizer.json', '{tokenizer,config}.json')).toBe(true)
    expect(matchesGlob('special_tokens_map.json', '{tokenizer,config}.json')).toBe(false)
    expect(matchesGlob('.gitattributes', '*')).toBe(true) // dotfiles are files like any other here
    expect(matchesGlob('model.safetensors', './model.safetensors')).toBe(true)
  })

  it('default: weights, configs, tokenizers and code; not original/, onnx/ or duplicate consolidated weights', () => {
    const repo = [
      'config.json', 'generation_config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors',
      'model.safetensors.index.json', 'tokenizer.json', 'tokenizer.model', 'chat_template.jinja', 'modeling_x.py',
      'original/consolidated.00.pth', 'original/params.json', 'onnx/model.onnx', 'consolidated.safetensors', 'README.md', '.gitattributes',
    ].map(sib)
    const sel = selectFiles(repo)
    expect(names(sel.files)).toEqual([
      'chat_template.jinja', 'config.json', 'generation_config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors',
      'model.safetensors.index.json', 'modeling_x.py', 'tokenizer.json', 'tokenizer.model',
    ])
    expect(sel.notes).toEqual([])
  })

  it('a repo with only consolidated safetensors keeps them', () => {
    expect(names(selectFiles(['consolidated.safetensors', 'params.json'].map(sib)).files)).toEqual(['consolidated.safetensors', 'params.json'])
  })

  it('falls back to *.bin when there are no safetensors, and says so', () => {
    const sel = selectFiles(['config.json', 'pytorch_model-00001-of-00002.bin', 'pytorch_model-00002-of-00002.bin', 'training_args.bin'].map(sib))
    expect(names(sel.files)).toContain('pytorch_model-00001-of-00002.bin')
    expect(sel.notes[0]).toMatch(/no \.safetensors weights/)
  })

  it('--include replaces the defaults (and their excludes); --exclude always applies', () => {
    const repo = ['config.json', 'model.safetensors', 'original/consolidated.00.pth', 'original/params.json'].map(sib)
    expect(names(selectFiles(repo, ['original/**']).files)).toEqual(['original/consolidated.00.pth', 'original/params.json'])
    expect(names(selectFiles(repo, undefined, ['*.json']).files)).toEqual(['model.safetensors'])
    expect(names(selectFiles(repo, ['**/*.json'], ['original/**']).files)).toEqual(['config.json'])
    expect(() => selectFiles(repo, [''])).toThrow(/--include is given an empty pattern/)
    expect(() => selectFiles(repo, undefined, [' '])).toThrow(/--exclude is given an empty pattern/)
  })
})
