import {z} from 'zod'

import {DEFAULT_VLLM_IMAGE} from '../gpufit/vllm.js'
import {MODEL_NAME, MODEL_NAME_MAX} from '../names.js'

/**
 * The schema of a model catalog entry (templates/models/*.yaml, or a user's `--template` file).
 * Only yaml + zod: gpu-fit and `--help` load this module, so it must stay light.
 */

export const GPU_TYPES = ['l4', 'a10g', 'l40s', 'a100-40gb', 'a100-80gb', 'h100', 'h200', 'b200'] as const
export type GpuType = (typeof GPU_TYPES)[number]

/** Kubernetes resource quantity (e.g. 8, 500m, 32Gi, 1.5G). */
export const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[kKMGTPE]i?|m|u|n)?$/
const quantity = z.string().regex(QUANTITY, 'must be a Kubernetes quantity such as 8, 500m or 32Gi')
/**
 * Entry names: lowercase letters, digits, - and . (e.g. llama-3.1-8b-instruct). Object names are
 * derived with dots replaced by dashes (Service names must be DNS-1035 labels); the label
 * aip.dev/model keeps the entry name.
 */
const ENTRY_NAME = MODEL_NAME
const HF_REPO = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/
/** A 40-hex commit sha (pinned) or a branch/tag name (unpinned: warned about at deploy). */
const REVISION = /^([0-9a-f]{40}|[A-Za-z0-9][A-Za-z0-9._/-]{0,127})$/
export const COMMIT_SHA = /^[0-9a-f]{40}$/

const positiveInt = z.number().int().positive()
const fraction = z.number().gt(0).lte(1)

/**
 * The model's config.json, embedded verbatim. The fields gpu-fit needs are required and typed;
 * every other field is kept as-is (passthrough) so the file stays the Hub's exact text.
 */
export const ModelConfigSchema = z
  .object({
    architectures: z.array(z.string()).min(1),
    model_type: z.string(),
    hidden_size: positiveInt,
    intermediate_size: positiveInt,
    num_hidden_layers: positiveInt,
    num_attention_heads: positiveInt,
    num_key_value_heads: positiveInt.optional(),
    head_dim: positiveInt.optional(),
    vocab_size: positiveInt,
    max_position_embeddings: positiveInt,
    rope_theta: z.number().positive().optional(),
    rope_scaling: z.record(z.unknown()).nullable().optional(),
    tie_word_embeddings: z.boolean().optional(),
    torch_dtype: z.enum(['bfloat16', 'float16', 'float32']),
    sliding_window: positiveInt.nullable().optional(),
    use_sliding_window: z.boolean().optional(),
  })
  .passthrough()
  .superRefine((c, ctx) => {
    const kv = c.num_key_value_heads ?? c.num_attention_heads
    if (c.num_attention_heads % kv !== 0) {
      ctx.addIssue({code: z.ZodIssueCode.custom, path: ['num_key_value_heads'], message: `num_attention_heads (${c.num_attention_heads}) must be a multiple of num_key_value_heads (${kv})`})
    }
  })

export const LoraSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be a served adapter name (letters, digits, . _ -)'),
    repo: z.string().regex(HF_REPO, 'must be a Hugging Face repo id ORG/NAME'),
    revision: z.string().regex(REVISION, 'must be a 40-hex commit sha or a branch/tag name'),
  })
  .strict()

export const CatalogEntrySchema = z
  .object({
    name: z.string().max(MODEL_NAME_MAX, 'must be at most 40 characters (it prefixes object names)').regex(ENTRY_NAME, 'must be lowercase letters, digits, - and ., starting with a letter'),
    description: z.string().min(1),
    /** What the warm-up request and `aip model list` call the model: chat, completion (FIM, base) or moderation. */
    task: z.enum(['chat', 'completion', 'moderation']).default('chat'),
    hf: z
      .object({
        repo: z.string().regex(HF_REPO, 'must be a Hugging Face repo id ORG/NAME'),
        revision: z.string().regex(REVISION, 'must be a 40-hex commit sha or a branch/tag name'),
        /** Gated repos (Llama) need an HF token; it is referenced from a Secret, never inlined. */
        gated: z.boolean().default(false),
      })
      .strict(),
    servedModelName: z.string().min(1).regex(/^[A-Za-z0-9][A-Za-z0-9._/:-]*$/, 'must be letters, digits and . _ / : -'),
    image: z
      .string()
      .regex(/^[a-z0-9.\-/:]+:[A-Za-z0-9._-]+$|@sha256:[0-9a-f]{64}$/, 'must be an image with a pinned tag or digest, e.g. vllm/vllm-openai:v0.31.0')
      .refine((s) => !s.endsWith(':latest'), 'must not use :latest (pin a version)')
      // aip's default vLLM image (pinned by tag and digest); gpu-fit models the vLLM it runs
      .default(DEFAULT_VLLM_IMAGE),
    vllm: z
      .object({
        maxModelLen: positiveInt,
        maxNumSeqs: positiveInt.max(4096),
        dtype: z.enum(['auto', 'bfloat16', 'float16', 'float32', 'half']).default('auto'),
        quantization: z.string().regex(/^[a-z0-9_-]+$/).optional(),
        kvCacheDtype: z.enum(['auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2']).optional(),
        gpuMemoryUtilization: fraction.optional(),
        toolCallParser: z.string().regex(/^[a-z0-9_-]+$/).optional(),
        enableAutoToolChoice: z.boolean().default(false),
        /** Further `vllm serve` arguments, one token per item (e.g. ["--enable-prefix-caching"]). */
        extraArgs: z.array(z.string().min(1)).default([]),
      })
      .strict()
      .superRefine((v, ctx) => {
        if (v.enableAutoToolChoice && !v.toolCallParser) {
          ctx.addIssue({code: z.ZodIssueCode.custom, path: ['toolCallParser'], message: 'is required when enableAutoToolChoice is true (vLLM refuses --enable-auto-tool-choice without --tool-call-parser)'})
        }
      }),
    gpu: z.object({type: z.enum(GPU_TYPES), count: z.number().int().min(1).max(8)}).strict(),
    resources: z.object({cpu: quantity, memory: quantity, ephemeralStorage: quantity.optional()}).strict(),
    scaling: z
      .object({
        minReplicas: z.number().int().min(0),
        maxReplicas: z.number().int().min(1),
        targetRunningRatio: fraction,
        targetKvUsage: fraction,
        cooldownSeconds: z.number().int().min(60, 'must be at least 60 s: shorter than node provisioning + image pull + weight load kills pods still loading'),
        pollingInterval: z.number().int().min(5).max(300),
        /** `deploy --idle-after`: scale to zero after this long without requests (KEDA cooldownPeriod). */
        idleAfterSeconds: z.number().int().min(60, 'must be at least 60 s').optional(),
      })
      .strict()
      .superRefine((s, ctx) => {
        if (s.idleAfterSeconds !== undefined && s.minReplicas !== 0) ctx.addIssue({code: z.ZodIssueCode.custom, path: ['idleAfterSeconds'], message: `needs minReplicas 0 (got ${s.minReplicas}): idle shutdown scales to zero`})
        if (s.minReplicas > s.maxReplicas) ctx.addIssue({code: z.ZodIssueCode.custom, path: ['minReplicas'], message: `(${s.minReplicas}) must not exceed maxReplicas (${s.maxReplicas})`})
      }),
    lora: z.array(LoraSchema).default([]),
    config: ModelConfigSchema,
  })
  .strict()
  .superRefine((e, ctx) => {
    const maxPos = e.config.max_position_embeddings
    const factor = typeof e.config.rope_scaling?.factor === 'number' && e.config.rope_scaling.rope_type !== 'llama3' ? (e.config.rope_scaling.factor as number) : 1
    if (e.vllm.maxModelLen > maxPos * factor) {
      ctx.addIssue({code: z.ZodIssueCode.custom, path: ['vllm', 'maxModelLen'], message: `(${e.vllm.maxModelLen}) exceeds the model's max_position_embeddings (${maxPos * factor})`})
    }
    const names = new Set<string>()
    e.lora.forEach((l, i) => {
      if (names.has(l.name)) ctx.addIssue({code: z.ZodIssueCode.custom, path: ['lora', i, 'name'], message: `duplicate adapter name "${l.name}"`})
      names.add(l.name)
    })
  })

export type CatalogEntry = z.output<typeof CatalogEntrySchema>
export type CatalogEntryInput = z.input<typeof CatalogEntrySchema>
export type ModelConfig = z.output<typeof ModelConfigSchema>
export type LoraAdapter = z.output<typeof LoraSchema>

/** One line per problem: `field.path: reason`. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => {
    const path = i.path.length > 0 ? i.path.map((p) => (typeof p === 'number' ? `[${p}]` : p)).join('.').replace(/\.\[/g, '[') : '(root)'
    let msg = i.message
    if (i.code === z.ZodIssueCode.unrecognized_keys) msg = `unknown field(s) ${i.keys.map((k) => `"${k}"`).join(', ')}`
    return `${path}: ${msg}`
  })
}
