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
}

export function fitGate(entry: CatalogEntry, gpuMemoryUtilization?: number): FitGateResult {
  const r = checkFit({
    config: entry.config as Record<string, unknown>,
    gpu: entry.gpu.type,
    tp: entry.gpu.count,
    maxModelLen: entry.vllm.maxModelLen,
    maxNumSeqs: entry.vllm.maxNumSeqs,
    kvCacheDtype: entry.vllm.kvCacheDtype,
    gpuMemoryUtilization: entry.vllm.gpuMemoryUtilization ?? gpuMemoryUtilization,
    dtype: entry.vllm.dtype === 'auto' ? undefined : entry.vllm.dtype,
  })
  if (!r.fits) {
    throw new NotFitError(`${entry.name} does not fit on ${entry.gpu.count}x ${entry.gpu.type} at max-model-len ${entry.vllm.maxModelLen}: ${r.reason ?? 'not enough GPU memory'}`, {
      fix: r.suggestion ? `${r.suggestion} (or --skip-fit to deploy anyway)` : 'pick a larger GPU (--gpu), more GPUs (--gpus) or a shorter --max-model-len; `aip gpu-fit` shows what fits',
      details: {gpu: entry.gpu.type, tp: entry.gpu.count, maxModelLen: entry.vllm.maxModelLen},
    })
  }
  return {fits: true, reason: r.reason, annotations: fitAnnotations(r.report)}
}
