/**
 * Which vLLM gpu-fit models, and how that vLLM budgets GPU memory at start-up.
 *
 * One source of truth for the image aip deploys (DEFAULT_VLLM_IMAGE: the catalog's default and
 * `model deploy hf:...`'s), and a memory profile per vLLM era, read from vLLM's own start-up path:
 *
 * - vllm/v1/worker/gpu_worker.py determine_available_memory: the KV cache gets
 *   `gpu_memory_utilization x total` (total as torch.cuda.mem_get_info reports it) minus the
 *   weights, the torch peak increase of the profile run and the non-torch increase (NCCL, custom
 *   all-reduce buffers, cuBLAS workspaces; the CUDA context present before the snapshot is not
 *   counted); since v0.21.0 also minus the estimated CUDA graph memory ("CUDA graph memory
 *   profiling is enabled (default since v0.21.0)", VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS).
 * - gpu_model_runner.py profile_run: one _dummy_run over max_num_batched_tokens, then
 *   _dummy_sampler_run over min(max_num_seqs, max_num_batched_tokens) rows of the full vocabulary
 *   (logits are gathered to the full vocabulary on every tensor-parallel rank, so this part does not
 *   shrink with TP). The torch peak is the larger of the forward pass and the sampler.
 * - gpu_worker.py compile_or_warm_up_model: after the KV cache is allocated (and CUDA graphs
 *   captured), the sampler is warmed up again over max_num_seqs rows; when that does not fit in
 *   what is left, vLLM dies with "CUDA out of memory occurred when warming up sampler with N dummy
 *   requests".
 *
 * The per-row sampler sizes are counted in fp32 logit copies (rows x vocab x 4 bytes): the fp32
 * logits, top-k/top-p's sorted values and int64 indices (two copies' worth) with the sort's scratch,
 * the softmax/cumsum of top-p, the scattered logits, the probabilities and the exponential noise
 * (v1/sample/ops/topk_topp_sampler.py). How many are alive at the peak changed with vLLM releases
 * (v0.17.0 cut the profiled peak by about 60%); the counts below are calibrated against vLLM's
 * published start-up reports (test/fixtures/vllm-startup/cases.json), not guessed.
 */
import {UsageError} from '../errors.js'

/**
 * The image `model deploy` renders when neither the catalog entry nor --image names one: vLLM
 * v0.31.0 (https://github.com/vllm-project/vllm/releases/tag/v0.31.0, shipped 2026-10-05; the newest
 * release public deployments pin as of this writing), pinned by tag and by its multi-arch index
 * digest on Docker Hub (the same sha256:c1c9f6fd... index digest, with linux/amd64 manifest
 * sha256:a4a4c043..., appears in independent deployments that resolved it from the registry).
 */
export const DEFAULT_VLLM_IMAGE = 'vllm/vllm-openai:v0.31.0@sha256:c1c9f6fd5c109ba7f0546a59f5b2f15fb87f64c77782e90a27b648b42a8e67c3'

const GiB = 1024 ** 3

export interface VllmVersion {
  major: number
  minor: number
  patch: number
  /** As written ("0.31.0"). */
  text: string
}

export interface VllmProfile {
  /** The first release of this memory behaviour ("0.10", "0.17", "0.21"). */
  era: string
  /** Releases it covers, for output. */
  covers: string
  /** fp32 logit copies alive at the sampler's peak in the profile run. */
  samplerProfileCopies: number
  /**
   * fp32 logit copies the post-allocation sampler warm-up needs at its peak (bf16 and fp32 logits,
   * top-k/top-p's intermediates, probabilities, the exponential noise `q`: vLLM 0.19's traceback
   * ends in topk_topp_sampler.random_sample `q = torch.empty_like(probs)`). Before 0.17 the profile
   * ran the same sampler, so the warm-up needs what the profile measured; it still comes after the
   * unbudgeted CUDA graphs, and runs out of memory at high utilization (reports of vLLM 0.15.1
   * on H100s: "CUDA out of memory occurred when warming up sampler with 1024 dummy requests").
   */
  warmupSamplerCopies: number
  /** Non-torch memory increase during the profile (GiB), one GPU. */
  nonTorchTp1: number
  /** Same with tensor parallelism (NCCL and custom all-reduce buffers). */
  nonTorchTpN: number
  /** Whether CUDA graph memory is estimated and taken from the KV budget. */
  subtractsCudaGraphs: boolean
  /**
   * State pages a sequence holds in each Mamba / linear-attention layer of a hybrid model (fit.ts
   * hybridLayout), set by release in profileFor: 1 while vLLM leaves prefix caching off for
   * hybrids (v0.10 turned it off outright: "Hybrid or mamba-based model detected: disabling prefix
   * caching"; later releases kept it opt-in, engine/arg_utils.py `default_prefix_caching = ... and
   * not model_config.is_hybrid`), 2 from v0.28.0, which turns it on by default in Mamba "align"
   * mode (vllm#50991) where MambaSpec.max_memory_usage_bytes reserves two state pages.
   */
  mambaStatePages: number
}

/**
 * Memory eras. Constants from vLLM's own reports on one H100 80GB at default settings:
 * - 0.10 to 0.16: torch peak 4.76 GiB (Llama-3.1-8B, vocab 128256) to 7.38 GiB (gpt-oss, 201088),
 *   about 9.7 x 1024 x vocab x 4 bytes; non-torch 0.13 GiB at TP 1, 0.55 at TP 2
 *   (llm-d/llm-d-benchmark config_explorer/empirical-vllm-memory-results.md, vLLM v0.11.0; the
 *   same 5.64 GiB peak for Qwen3 at v0.15/v0.16 per llm-d-planner accuracy/blog-gpu-capacity.md).
 * - 0.17 to 0.20: torch peak about 3.8 copies (Llama-3.1-8B 1.89 GiB, Qwen3-8B 2.21, gpt-oss-20b
 *   2.87); non-torch 0.25 GiB at TP 1, 2.07-2.17 GiB at TP 2-4 (llm-d-planner
 *   accuracy/results/v0.19.0); the later sampler warm-up, run after the KV cache and CUDA graphs
 *   are allocated, runs out of memory for gpt-oss-20b at utilization 0.95 (its graphs are not
 *   budgeted, and the allocator is fragmented by then).
 * - 0.21 on (the current releases): as 0.17, and CUDA graph memory is estimated and subtracted.
 */
const ERAS: Array<{from: [number, number]; profile: Omit<VllmProfile, 'mambaStatePages'>}> = [
  {from: [0, 21], profile: {era: '0.21', covers: 'v0.21 and later', samplerProfileCopies: 3.8, warmupSamplerCopies: 5.45, nonTorchTp1: 0.25, nonTorchTpN: 2.1, subtractsCudaGraphs: true}},
  {from: [0, 17], profile: {era: '0.17', covers: 'v0.17 to v0.20', samplerProfileCopies: 3.8, warmupSamplerCopies: 5.45, nonTorchTp1: 0.25, nonTorchTpN: 2.1, subtractsCudaGraphs: false}},
  {from: [0, 10], profile: {era: '0.10', covers: 'v0.10 to v0.16', samplerProfileCopies: 9.7, warmupSamplerCopies: 9.7, nonTorchTp1: 0.13, nonTorchTpN: 0.55, subtractsCudaGraphs: false}},
]

/** The oldest release modelled (the V1 engine's memory profiler as 0.10 ships it). */
export const OLDEST_MODELLED = '0.10'

export function parseVllmVersion(text: string, what = '--vllm-version'): VllmVersion {
  const m = /^v?(\d{1,3})\.(\d{1,3})(?:\.(\d{1,3}))?(?:[.+-][0-9A-Za-z.+-]*)?$/.exec(text.trim())
  if (!m) throw new UsageError(`${what} "${text}" is not a vLLM version`, {fix: 'give a release such as --vllm-version 0.31 or 0.10.2'})
  const v = {major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3] ?? 0), text: `${Number(m[1])}.${Number(m[2])}${m[3] === undefined ? '' : `.${Number(m[3])}`}`}
  if (v.major === 0 && v.minor < 10) {
    throw new UsageError(`vLLM ${v.text} is older than the oldest release gpu-fit models (${OLDEST_MODELLED}, the V1 engine's memory profiler)`, {fix: `use an image of vLLM ${OLDEST_MODELLED} or later (aip deploys ${imageTag(DEFAULT_VLLM_IMAGE)})`})
  }
  return v
}

/** The vLLM version an image tag names (vllm/vllm-openai:v0.31.0, ...:v0.30.0-cu129), if any. */
export function versionOfImage(image: string): VllmVersion | undefined {
  const tag = imageTag(image)
  const m = /^v?(\d+\.\d+(?:\.\d+)?)(?:[.+-].*)?$/.exec(tag)
  if (!m) return undefined
  try {
    return parseVllmVersion(m[1]!, `image ${image}`)
  } catch (error) {
    // an image of a release older than 0.10 is a real answer: say so
    if (/older than/.test((error as Error).message)) throw error
    return undefined
  }
}

/** The tag of an image reference, without registry, repository or digest. */
export function imageTag(image: string): string {
  const noDigest = image.split('@')[0]!
  const slash = noDigest.lastIndexOf('/')
  const colon = noDigest.lastIndexOf(':')
  return colon > slash ? noDigest.slice(colon + 1) : ''
}

export function profileFor(v: VllmVersion): VllmProfile {
  const mambaStatePages = v.major > 0 || v.minor >= 28 ? 2 : 1
  for (const e of ERAS) {
    if (v.major > e.from[0] || (v.major === e.from[0] && v.minor >= e.from[1])) return {...e.profile, mambaStatePages}
  }
  return {...ERAS[ERAS.length - 1]!.profile, mambaStatePages}
}

export interface ModelledVllm {
  version: string
  /** The image modelled, when one was named (or the default). */
  image: string | null
  /** How the version was chosen. */
  source: 'image' | 'flag' | 'default'
  profile: VllmProfile
}

/**
 * The vLLM gpu-fit models: --vllm-version when given, else the version the image's tag names
 * (--image, the catalog entry's image, or DEFAULT_VLLM_IMAGE). An image whose tag names no version
 * (a digest or a custom build) needs --vllm-version.
 */
export function resolveVllm(opts: {image?: string; vllmVersion?: string}, warnings: string[] = []): ModelledVllm {
  if (opts.vllmVersion !== undefined) {
    const v = parseVllmVersion(opts.vllmVersion)
    if (opts.image) {
      const iv = versionOfImage(opts.image)
      if (iv && (iv.major !== v.major || iv.minor !== v.minor)) warnings.push(`--vllm-version ${v.text} overrides the version image ${opts.image} names (${iv.text})`)
    }
    return {version: v.text, image: opts.image ?? null, source: 'flag', profile: profileFor(v)}
  }
  const image = opts.image ?? DEFAULT_VLLM_IMAGE
  const v = versionOfImage(image)
  if (!v) {
    throw new UsageError(`cannot tell which vLLM version image ${image} runs (its tag names no release)`, {fix: 'pass --vllm-version X.Y for the vLLM inside the image, or use a vllm/vllm-openai:vX.Y.Z tag'})
  }
  return {version: v.text, image, source: opts.image ? 'image' : 'default', profile: profileFor(v)}
}

/** Non-torch memory increase of one rank (bytes). */
export function nonTorchBytes(p: VllmProfile, tp: number): number {
  return (tp > 1 ? p.nonTorchTpN : p.nonTorchTp1) * GiB
}

const MiB = 1024 ** 2

/**
 * How many CUDA graph sizes vLLM captures: [1, 2, 4], every 8 up to 248, every 16 from 256 to the
 * largest, which is min(2 x max_num_seqs, 512) by default (vllm/config/vllm.py
 * _set_cudagraph_sizes) and 1024 for gpt-oss (model_executor/models/config.py), never above
 * max_num_batched_tokens. vLLM 0.19's logs: "Profiling CUDA graph memory: PIECEWISE=51
 * (largest=512)", "PIECEWISE=83 (largest=1024)" for gpt-oss.
 */
export function cudaGraphSizes(largest: number): number {
  let n = 0
  for (const s of [1, 2, 4]) if (s <= largest) n++
  for (let s = 8; s < 256 && s <= largest; s += 8) n++
  for (let s = 256; s <= largest; s += 16) n++
  return n
}

/**
 * The CUDA graph memory vLLM estimates per rank (bytes), the figure v0.21+ takes from the KV
 * budget and earlier releases leave outside it. vLLM's estimator
 * (gpu_model_runner.profile_cudagraph_memory) captures the first two graphs of each mode and
 * extrapolates: the largest first capture + (graphs - 1) x the second capture's increase, per mode
 * ("Estimated PIECEWISE CUDA graph memory: 138.00 MiB first-capture + (51-1) x 6.00 MiB
 * per-graph"). The terms vLLM 0.19 printed for 40 H100 runs (llm-d-planner
 * accuracy/results/v0.19.0/logs) give the two constants below: a first (FULL) capture of about
 * 256 MiB at TP 1 that halves with each doubling of TP (512 MiB with MLA backends: DeepSeek-V2-Lite
 * and Kimi-VL print 522), and an increase per captured size of about 0.32 MiB per decoder layer
 * for dense models and 0.55 MiB for MoE models (piecewise graphs split at every layer). Dense
 * Llama-3.1-8B: 0.75 GiB (vLLM 0.84), Qwen3-30B-A3B 1.54 (1.24), gpt-oss-20b 1.31 (1.30),
 * Llama-3.3-70B TP 2 1.38 (1.82). None with --enforce-eager.
 */
export function cudaGraphBytes(g: {layers: number; moe: boolean; mla: boolean; tp: number; largest: number; maxNumSeqs: number; enforceEager?: boolean}): number {
  if (g.enforceEager) return 0
  const first = ((g.mla ? 512 : 256) * MiB) / g.tp
  // half the increase per size is the piecewise graph, half the FULL decode graph; FULL decode
  // graphs stop at max_num_seqs (a decode batch holds at most that many requests): vLLM 0.21 with
  // 256 sequences prints "PIECEWISE=51 (largest=512), FULL=35 (largest=256)"
  const half = ((g.moe ? 0.55 : 0.32) / 2) * MiB * g.layers
  const piecewise = Math.max(0, cudaGraphSizes(g.largest) - 1)
  const full = Math.max(0, cudaGraphSizes(Math.min(g.largest, g.maxNumSeqs)) - 1)
  return first + (piecewise + full) * half
}

/**
 * What the captured graphs hold when the sampler warms up, before v0.21 (where nothing budgets
 * them): 0.75 GiB, 1.3 GiB for gpt-oss (capture sizes to 1024). Calibrated together with
 * WARMUP_SLACK_FRACTION on vLLM 0.19's warm-up outcomes (below); vLLM printed 0.91 GiB captured for
 * Llama-3.1-8B, 1.09 for gemma-2-9b and 1.84 for gpt-oss-20b ("Graph capturing finished ... took"),
 * so this pair models the boundary between those outcomes, not each figure.
 */
export function capturedGraphBytesBeforeWarmup(captureTo1024: boolean, enforceEager: boolean | undefined): number {
  if (enforceEager) return 0
  return (captureTo1024 ? 1.3 : 0.75) * GiB
}

/** CUDA context and allocator overhead present before vLLM's first memory snapshot (bytes). */
export const CUDA_CONTEXT_BYTES = 0.5 * GiB

/**
 * Memory the sampler warm-up cannot use beyond what the budget arithmetic leaves, as a fraction of
 * the GPU: the caching allocator's fragmentation after the KV cache and CUDA graphs are allocated
 * (vLLM 0.19's gpt-oss-20b failure shows 1.78 GiB "reserved by PyTorch but unallocated").
 * Calibrated with warmupSamplerCopies on vLLM 0.19's H100 reports: gpt-oss-20b (vocab 201088) at
 * utilization 0.95 runs out of memory while gemma-2-9b (vocab 256000), Llama-3.1-8B and
 * Qwen2.5-7B at 0.95 start (test/fixtures/vllm-startup/cases.json); the boundary between the first
 * two is about 0.1 GiB wide, so a warm-up with under 1 GiB to spare is reported as tight.
 */
export const WARMUP_SLACK_FRACTION = 0.0125
