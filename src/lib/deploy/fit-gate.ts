/**
 * The gpu-fit preflight of a deploy: one adapter over src/lib/gpufit so the deploy code does not
 * depend on its internals.
 */
import type {CatalogEntry} from '../catalog/schema.js'
import {NotFitError} from '../errors.js'
import {checkFit, fitAnnotations} from '../gpufit/index.js'

export interface FitGateResult {
  fits: boolean
  reason?: string
  /** Pod annotations recording the verdict (for admission policies and `aip model status`). */
  annotations: Record<string, string>
  /** The checkpoint's weight bytes (gpufit's count). */
  weightsBytes: number
  /** What gpufit could not model (e.g. a --quantization method it does not know), for the deploy to pass on. */
  warnings: string[]
}

/** The value of `--flag N` / `--flag=N` among extra vLLM args. */
function extraArg(args: string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === flag) return args[i + 1]
    if (args[i]!.startsWith(`${flag}=`)) return args[i]!.slice(flag.length + 1)
  }
  return undefined
}

function fitInput(entry: CatalogEntry, gpuMemoryUtilization?: number): Parameters<typeof checkFit>[0] {
  const extra = entry.vllm.extraArgs
  const batched = extraArg(extra, '--max-num-batched-tokens')
  return {
    config: entry.config as Record<string, unknown>,
    gpu: entry.gpu.type,
    tp: entry.gpu.count,
    maxModelLen: entry.vllm.maxModelLen,
    // vLLM's --max-num-seqs as rendered: it sizes the sampler warm-up (the gate's concurrency rule
    // is vLLM's own: one max-model-len sequence must fit)
    maxNumSeqs: entry.vllm.maxNumSeqs,
    maxNumBatchedTokens: batched !== undefined && /^\d+$/.test(batched) ? Number(batched) : undefined,
    enforceEager: extra.includes('--enforce-eager') || undefined,
    kvCacheDtype: entry.vllm.kvCacheDtype,
    gpuMemoryUtilization: entry.vllm.gpuMemoryUtilization ?? gpuMemoryUtilization,
    dtype: entry.vllm.dtype === 'auto' ? undefined : entry.vllm.dtype,
    quantization: entry.vllm.quantization,
    // the gate models the vLLM of the image this deploy renders
    image: entry.image,
  }
}

/** The checkpoint's weight bytes as gpufit counts them (the cold-start estimate needs them); undefined when gpufit cannot model the config. */
export function weightsBytes(entry: CatalogEntry, gpuMemoryUtilization?: number): number | undefined {
  try {
    return checkFit(fitInput(entry, gpuMemoryUtilization)).report.weights.bytes
  } catch {
    return undefined
  }
}

export function fitGate(entry: CatalogEntry, gpuMemoryUtilization?: number): FitGateResult {
  const r = checkFit(fitInput(entry, gpuMemoryUtilization))
  if (!r.fits) {
    throw new NotFitError(`${entry.name} does not fit on ${entry.gpu.count}x ${entry.gpu.type} at max-model-len ${entry.vllm.maxModelLen} under vLLM ${r.report.vllm.version}: ${r.reason ?? 'not enough GPU memory'}`, {
      fix: r.suggestion ? `${r.suggestion} (or --skip-fit to deploy anyway)` : 'pick a larger GPU (--gpu), more GPUs (--gpus) or a shorter --max-model-len; `aip gpu-fit` shows what fits',
      details: {gpu: entry.gpu.type, tp: entry.gpu.count, maxModelLen: entry.vllm.maxModelLen, vllmVersion: r.report.vllm.version, image: entry.image},
    })
  }
  return {fits: true, reason: r.reason, annotations: fitAnnotations(r.report), weightsBytes: r.report.weights.bytes, warnings: r.report.warnings}
}
