/**
 * The building blocks of a model's tensor list: the tensor rows themselves and a reader for
 * config.json fields that rejects values no real model has (arch.ts, vision.ts).
 */
import {UsageError} from '../errors.js'

export type Json = Record<string, unknown>

/** What a tensor is, for quantization rules (which ones a method converts) and MoE accounting. */
export type TensorRole = 'embedding' | 'lm_head' | 'linear' | 'expert' | 'router' | 'norm' | 'bias' | 'other'

export interface TensorSpec {
  /** transformers-style name; experts collapsed as `experts.*`. */
  name: string
  /** [out, in] for linear weights, [n] for vectors. */
  shape: number[]
  role: TensorRole
  /** How many identical tensors this row stands for (experts). */
  count: number
  /** Part of the vision tower / projector. */
  vision?: boolean
  /** Multi-token-prediction layers vLLM does not load unless speculative decoding uses them. */
  mtp?: boolean
  /** dtype from a safetensors header (real tensors only). */
  dtype?: string
}

export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined)

export class Reader {
  readonly used = new Set<string>()
  constructor(
    private readonly cfg: Json,
    readonly where: string,
    private readonly defaults: Json = {},
  ) {}

  opt(...keys: string[]): number | undefined {
    for (const k of keys) {
      const v = num(this.cfg[k])
      if (v !== undefined) {
        // sizes and counts: never negative, and nothing real comes near 2^31
        if (v < 0 || !Number.isFinite(v) || v > 2 ** 31) {
          throw new UsageError(`${this.where} has "${k}": ${v}; it must be a size or count from 0 to 2^31`, {fix: `correct "${k}" in ${this.where} (copy it from the model's config.json on the Hub)`})
        }
        this.used.add(k)
        return v
      }
    }
    for (const k of keys) {
      const v = num(this.defaults[k])
      if (v !== undefined) return v
    }
    return undefined
  }

  req(...keys: string[]): number {
    const v = this.opt(...keys)
    if (v === undefined) {
      throw new UsageError(`${this.where} is missing "${keys[0]}", which its architecture needs`, {
        fix: `add "${keys[0]}" to ${this.where} (copy it from the model's config.json on the Hub)`,
      })
    }
    if (v <= 0 && keys[0] !== 'first_k_dense_replace') {
      throw new UsageError(`${this.where} has "${keys[0]}": ${v}; it must be positive`, {fix: `correct "${keys[0]}" in ${this.where}`})
    }
    return v
  }

  bool(key: string): boolean | undefined {
    const v = this.cfg[key] ?? this.defaults[key]
    return typeof v === 'boolean' ? v : undefined
  }

  raw(key: string): unknown {
    return this.cfg[key] !== undefined ? this.cfg[key] : this.defaults[key]
  }
}

export const vec = (name: string, n: number, role: TensorRole = 'norm'): TensorSpec => ({name, shape: [n], role, count: 1})
export const mat = (name: string, out: number, inp: number, role: TensorRole = 'linear', count = 1): TensorSpec => ({name, shape: [out, inp], role, count})

export function linear(out: TensorSpec[], name: string, o: number, i: number, bias: boolean, role: TensorRole = 'linear', count = 1): void {
  out.push(mat(`${name}.weight`, o, i, role, count))
  if (bias) out.push({name: `${name}.bias`, shape: [o], role: 'bias', count})
}
