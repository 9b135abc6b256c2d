import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../base-command.js'
import {parseBytes} from '../lib/config/parse.js'
import {analyze, fitAnnotations, type GpuFitReport, notFitError} from '../lib/gpufit/index.js'
import {loadModelSource} from '../lib/gpufit/source.js'
import {formatBytes, formatCount, renderKeyValues, renderTable} from '../lib/output/index.js'

const VERDICT_SHORT: Record<string, string> = {'no-kv-cache': 'no KV cache', 'max-model-len': 'max-model-len too long', 'warmup-oom': 'sampler warm-up OOM', concurrency: 'min-concurrency'}

export type GpuFitResult = GpuFitReport & {source: {kind: string; name: string; revision?: string}; annotations?: Record<string, string>}

export default class GpuFit extends AipCommand {
  static override summary = 'Check whether a model fits a GPU under vLLM: weights, KV cache, overhead, max context and concurrency'
  static override description = `MODEL is a catalog name (offline), a config.json or a model directory (safetensors headers are read when present), or a Hugging Face repo ORG/NAME (config.json and safetensors headers fetched from $HF_ENDPOINT with Range requests; $HF_TOKEN for gated repos).

Without --gpu, prints a table for every known GPU at tensor-parallel 1/2/4/8. With --gpu (or --gpu-memory) it is a CI gate: exit 0 when the model fits, exit 3 when vLLM would refuse to start or run out of memory in its warm-up (or --min-concurrency sequences do not fit), with the reason and the nearest setting that fits.

It models the vLLM release that will run: the version --image names, else the catalog entry's image, else aip's default image; --vllm-version X.Y for a plain estimate.`
  static override enableJsonFlag = true
  static override args = {
    model: Args.string({description: 'catalog name, path to config.json or model directory, or Hub repo ORG/NAME', required: true}),
  }
  static override flags = {
    gpu: Flags.string({description: 'GPU type to gate on (l4, a10g, l40s, a100-40gb, a100-80gb, h100, h200, b200, t4)'}),
    'gpu-memory': Flags.string({description: 'memory of any other GPU, e.g. 24GiB or 80GB (gates on it)', exclusive: ['gpu']}),
    tp: Flags.integer({description: 'tensor-parallel degree (GPUs per replica); default: 1 for the gate, 1/2/4/8 in the table'}),
    'max-model-len': Flags.integer({description: 'context length to plan for (default: the model\'s own maximum)'}),
    'max-num-seqs': Flags.integer({description: 'vLLM --max-num-seqs (default: vLLM\'s for the GPU, 1024 or 256); sizes the sampler warm-up'}),
    'max-num-batched-tokens': Flags.integer({description: 'vLLM --max-num-batched-tokens (default: vLLM\'s for the GPU, 8192 or 2048)'}),
    'min-concurrency': Flags.integer({description: 'planning target: this many sequences of max-model-len must fit at once (default 1, as vLLM requires to start)'}),
    quantization: Flags.string({description: 'vLLM --quantization: fp8 quantizes an unquantized checkpoint while loading (as model deploy --quantization)'}),
    image: Flags.string({description: 'the vLLM image to model (its tag names the version; default: the catalog entry\'s image, else aip\'s)'}),
    'vllm-version': Flags.string({description: 'the vLLM release to model (e.g. 0.31 or 0.10.2), for a plain estimate or an image whose tag names none'}),
    'kv-cache-dtype': Flags.string({description: 'KV-cache dtype as vLLM names it', options: ['auto', 'fp8', 'fp8_e4m3', 'fp8_e5m2'], default: 'auto'}),
    'gpu-memory-utilization': Flags.string({description: 'fraction of GPU memory vLLM may use (default 0.9, or config)'}),
    dtype: Flags.string({description: 'serving dtype (auto follows the checkpoint; float32 checkpoints serve as bfloat16)', options: ['auto', 'bfloat16', 'float16', 'float32'], default: 'auto'}),
    'enforce-eager': Flags.boolean({description: 'plan without CUDA graphs (vLLM --enforce-eager)', default: false}),
    revision: Flags.string({description: 'Hub revision (branch, tag or commit) for ORG/NAME models'}),
    annotate: Flags.boolean({description: 'print aip.dev/gpu-fit-* pod annotations an admission policy can enforce', default: false}),
    all: Flags.boolean({description: 'also list GPU/TP combinations no AWS instance carries', default: false}),
  }
  static override examples = [
    '<%= config.bin %> gpu-fit qwen3-8b',
    '<%= config.bin %> gpu-fit qwen3-8b --gpu l4 --max-model-len 32768',
    '<%= config.bin %> gpu-fit openai/gpt-oss-20b --gpu h100 --gpu-memory-utilization 0.95 --vllm-version 0.19',
    '<%= config.bin %> gpu-fit ./models/my-model/ --gpu-memory 24GiB --json',
    'HF_TOKEN=... <%= config.bin %> gpu-fit meta-llama/Llama-3.1-70B-Instruct --gpu h100 --tp 4 --annotate',
  ]

  async run(): Promise<GpuFitResult> {
    const {args, flags} = await this.parse(GpuFit)
    const cfg = this.config_({'gpu-memory-utilization': flags['gpu-memory-utilization']})
    const source = await loadModelSource(args.model, {
      revision: flags.revision,
      warn: (s) => this.warn(s),
      hub: async () => {
        const {HubClient, hubConfigFromEnv} = await import('../lib/hub/index.js')
        return new HubClient(hubConfigFromEnv(process.env, cfg.string('hf-endpoint')))
      },
    })
    const image = flags.image ?? (flags['vllm-version'] === undefined ? source.catalog?.image : undefined)
    const report = analyze({
      config: source.config,
      where: source.kind === 'catalog' ? `catalog entry ${source.name}` : source.kind === 'hub' ? `${source.name} config.json` : source.name,
      tensors: source.tensors,
      gpu: flags.gpu,
      gpuMemoryBytes: flags['gpu-memory'] === undefined ? undefined : parseBytes(flags['gpu-memory'], '--gpu-memory'),
      tp: flags.tp,
      maxModelLen: flags['max-model-len'],
      maxNumSeqs: flags['max-num-seqs'],
      maxNumBatchedTokens: flags['max-num-batched-tokens'],
      minConcurrency: flags['min-concurrency'],
      quantization: flags.quantization ?? source.catalog?.quantization,
      image,
      vllmVersion: flags['vllm-version'],
      kvCacheDtype: flags['kv-cache-dtype'],
      gpuMemoryUtilization: cfg.number('gpu-memory-utilization'),
      dtype: flags.dtype,
      enforceEager: flags['enforce-eager'],
    })
    for (const w of report.warnings) this.warn(w)
    const result: GpuFitResult = {source: {kind: source.kind, name: source.name, revision: source.revision}, ...report}
    if (flags.annotate) result.annotations = fitAnnotations(report)
    this.deferredError = notFitError(report)
    if (!this.jsonEnabled()) this.render(result, flags.all, flags.annotate)
    return result
  }

  private render(r: GpuFitResult, all: boolean, annotate: boolean): void {
    const c = this.c
    if (annotate && r.annotations) {
      this.print(['metadata:', '  annotations:', ...Object.entries(r.annotations).map(([k, v]) => `    ${k}: "${v}"`)].join('\n'))
      return
    }
    const p = r.parameters
    const kv = r.kvCache
    const layers = [kv.layers.full && `${kv.layers.full} full-attention`, kv.layers.sliding && `${kv.layers.sliding} sliding-window (${kv.layers.window})`, kv.layers.chunked && `${kv.layers.chunked} chunked-local (${kv.layers.chunk})`, kv.layers.mla && `${kv.layers.mla} MLA`].filter(Boolean).join(', ')
    const byDtype = Object.entries(r.weights.byDtype).map(([d, b]) => `${d} ${formatBytes(b)}`).join(', ')
    const oh = (r.gate?.result ?? r.gpus[0]!).overhead
    this.print(
      renderKeyValues([
        ['Model', `${r.source.name} (${r.source.kind}${r.source.revision ? ` @ ${r.source.revision}` : ''}): ${r.model.architecture}, ${r.model.dtype}${r.model.quantization ? `, ${r.model.quantization}` : ''}`],
        ['Parameters', `${formatCount(p.total)} total${p.active !== p.total ? `, ${formatCount(p.active)} active per token` : ''}${p.vision ? `, vision ${formatCount(p.vision)}` : ''}${p.mtp ? `, MTP ${formatCount(p.mtp)} not loaded` : ''} (from ${p.source})`],
        ['Weights', `${formatBytes(r.weights.bytes)} (${byDtype})`],
        ['KV cache', layers ? `${formatBytes(kv.fullBytesPerToken + kv.slidingBytesPerToken)}/token over ${layers} layers, ${kv.dtype}; ${formatBytes(kv.bytesPerSequence)} per ${kv.maxModelLen}-token sequence${kv.state ? ' with its state' : ''}` : `none (attention-free); ${formatBytes(kv.bytesPerSequence)} of state per sequence`],
        ...(kv.state ? [['State', `${formatBytes(kv.state.bytesPerSequence)} per sequence over ${kv.state.layers} ${kv.state.label} layers (${formatBytes(kv.state.bytesPerLayer)} each, ${kv.state.dtype}; ${kv.state.attentionBlockSize ? `vLLM pads it to a ${kv.state.attentionBlockSize}-token attention page, ` : ''}${kv.state.pagesPerLayer} per layer)`] as [string, string]] : []),
        ['vLLM', `${r.vllm.version}${r.vllm.image ? ` (image ${r.vllm.image})` : ' (--vllm-version)'}: memory accounting of ${r.vllm.covers}`],
        [
          'Overhead',
          `activation ${formatBytes(oh.activationBytes)} (sampler over ${oh.samplerSeqs} seqs, ${oh.maxNumBatchedTokens} batched tokens), non-torch ${formatBytes(oh.frameworkBytes)}, CUDA graphs ${formatBytes(oh.cudaGraphBytes)}${oh.cudaGraphSubtracted ? '' : ' (outside the budget)'} per GPU${r.gpus.length > 1 ? ' (first row)' : ''}`,
        ],
        [
          'Settings',
          `gpu-memory-utilization ${r.settings.gpuMemoryUtilization}, max-model-len ${r.settings.maxModelLen}${r.settings.maxNumSeqs ? `, max-num-seqs ${r.settings.maxNumSeqs}` : ''}${r.settings.maxNumBatchedTokens ? `, max-num-batched-tokens ${r.settings.maxNumBatchedTokens}` : ''}${r.settings.minConcurrency > 1 ? `, min-concurrency ${r.settings.minConcurrency}` : ''}${r.settings.quantization ? `, quantization ${r.settings.quantization}` : ''}`,
        ],
      ]),
    )
    this.print('')
    // rows no AWS instance type carries are hidden unless asked for (--all, --tp, a gate)
    const rows = r.gpus.filter((g) => all || g.valid || r.gate || r.settings.tp !== null)
    const seqs = r.settings.minConcurrency
    this.print(
      renderTable(rows, [
        {header: 'gpu', get: (g) => g.gpu},
        {header: 'tp', get: (g) => g.tp, align: 'right'},
        {header: 'fits', get: (g) => (g.verdict === 'tight' ? c.yellow('tight') : g.fits ? c.green('yes') : c.red('no'))},
        {header: 'weights/gpu', get: (g) => formatBytes(g.weightsPerGpuBytes), align: 'right'},
        {header: 'kv free/gpu', get: (g) => formatBytes(g.kvAvailablePerGpuBytes), align: 'right'},
        {header: `max ctx @${seqs} seq${seqs > 1 ? 's' : ''}`, get: (g) => g.maxContext, align: 'right'},
        {header: `seqs @${r.settings.maxModelLen}`, get: (g) => g.maxConcurrency, align: 'right'},
        {header: 'instances', get: (g) => (!g.valid ? (g.reason ?? '') : g.fits ? g.instances.join(',') : `${g.instances.join(',')} (${VERDICT_SHORT[g.verdict] ?? g.verdict})`)},
      ]),
    )
    if (r.gate?.fits) {
      const g = r.gate.result
      this.print(`\n${c.green('fits')}: ${g.gpu} x${g.tp} at max-model-len ${r.gate.maxModelLen} under vLLM ${r.vllm.version}, up to ${g.maxConcurrency} concurrent sequence${g.maxConcurrency === 1 ? '' : 's'}`)
      if (g.note) this.print(c.yellow(g.note))
    }
  }
}
