/**
 * GPUs aip knows: the memory nvidia-smi reports ("Total"), the smaller total CUDA reports to vLLM
 * (torch.cuda.mem_get_info, what gpu_memory_utilization multiplies), and every AWS instance type
 * that carries them (the GPU count per instance, from https://aws.amazon.com/ec2/instance-types/
 * accelerated computing): `model deploy` selects nodes by `node.kubernetes.io/instance-type` from
 * this list, and bootstrap's GPU NodePools and node groups use it, so a type missing here is a node
 * the model never lands on.
 */
import {UsageError} from '../errors.js'
import {suggest} from '../suggest.js'

export interface Instance {
  type: string
  gpus: number
}

export interface GpuType {
  name: string
  description: string
  /** Bytes nvidia-smi reports as total. */
  memoryBytes: number
  /**
   * Bytes CUDA reports as total (torch.cuda.mem_get_info()[1]), after the driver's reservation:
   * what vLLM's "total_memory" and its budget use. H100 80GB: 79.19 GiB in vLLM's own logs
   * ("worker init memory snapshot: ... total_memory=79.19GiB", llm-d-planner
   * accuracy/results/v0.19.0 logs; 0.9 x 79.18 = 71.26 GiB requested in llm-d-benchmark's v0.11
   * runs). Others: nvidia-smi's total less the driver's reservation, about 0.5 GiB.
   */
  cudaMemoryBytes: number
  /** vLLM gives GPUs of >= 70 GiB larger batch defaults, except A100s (engine/arg_utils.py). */
  largeDefaults: boolean
  instances: Instance[]
}

const MiB = 1024 * 1024

export const GPUS: readonly GpuType[] = [
  {name: 't4', description: 'NVIDIA T4 16 GB', memoryBytes: 15360 * MiB, cudaMemoryBytes: 15104 * MiB, largeDefaults: false, instances: [{type: 'g4dn.xlarge', gpus: 1}, {type: 'g4dn.2xlarge', gpus: 1}, {type: 'g4dn.4xlarge', gpus: 1}, {type: 'g4dn.8xlarge', gpus: 1}, {type: 'g4dn.16xlarge', gpus: 1}, {type: 'g4dn.12xlarge', gpus: 4}, {type: 'g4dn.metal', gpus: 8}]},
  {name: 'l4', description: 'NVIDIA L4 24 GB', memoryBytes: 23034 * MiB, cudaMemoryBytes: 22579 * MiB, largeDefaults: false, instances: [{type: 'g6.xlarge', gpus: 1}, {type: 'g6.2xlarge', gpus: 1}, {type: 'g6.4xlarge', gpus: 1}, {type: 'g6.8xlarge', gpus: 1}, {type: 'g6.16xlarge', gpus: 1}, {type: 'g6.12xlarge', gpus: 4}, {type: 'g6.24xlarge', gpus: 4}, {type: 'g6.48xlarge', gpus: 8}, {type: 'gr6.4xlarge', gpus: 1}, {type: 'gr6.8xlarge', gpus: 1}]},
  {name: 'a10g', description: 'NVIDIA A10G 24 GB', memoryBytes: 23028 * MiB, cudaMemoryBytes: 22518 * MiB, largeDefaults: false, instances: [{type: 'g5.xlarge', gpus: 1}, {type: 'g5.2xlarge', gpus: 1}, {type: 'g5.4xlarge', gpus: 1}, {type: 'g5.8xlarge', gpus: 1}, {type: 'g5.16xlarge', gpus: 1}, {type: 'g5.12xlarge', gpus: 4}, {type: 'g5.24xlarge', gpus: 4}, {type: 'g5.48xlarge', gpus: 8}]},
  {name: 'l40s', description: 'NVIDIA L40S 48 GB', memoryBytes: 46068 * MiB, cudaMemoryBytes: 45556 * MiB, largeDefaults: false, instances: [{type: 'g6e.xlarge', gpus: 1}, {type: 'g6e.2xlarge', gpus: 1}, {type: 'g6e.4xlarge', gpus: 1}, {type: 'g6e.8xlarge', gpus: 1}, {type: 'g6e.16xlarge', gpus: 1}, {type: 'g6e.12xlarge', gpus: 4}, {type: 'g6e.24xlarge', gpus: 4}, {type: 'g6e.48xlarge', gpus: 8}]},
  {name: 'a100-40gb', description: 'NVIDIA A100 40 GB', memoryBytes: 40960 * MiB, cudaMemoryBytes: 40338 * MiB, largeDefaults: false, instances: [{type: 'p4d.24xlarge', gpus: 8}]},
  {name: 'a100-80gb', description: 'NVIDIA A100 80 GB', memoryBytes: 81920 * MiB, cudaMemoryBytes: 81050 * MiB, largeDefaults: false, instances: [{type: 'p4de.24xlarge', gpus: 8}]},
  {name: 'h100', description: 'NVIDIA H100 80 GB', memoryBytes: 81559 * MiB, cudaMemoryBytes: 81086 * MiB, largeDefaults: true, instances: [{type: 'p5.4xlarge', gpus: 1}, {type: 'p5.48xlarge', gpus: 8}]},
  {name: 'h200', description: 'NVIDIA H200 141 GB', memoryBytes: 143771 * MiB, cudaMemoryBytes: 143248 * MiB, largeDefaults: true, instances: [{type: 'p5e.48xlarge', gpus: 8}, {type: 'p5en.48xlarge', gpus: 8}]},
  {name: 'b200', description: 'NVIDIA B200 180 GB', memoryBytes: 183359 * MiB, cudaMemoryBytes: 182836 * MiB, largeDefaults: true, instances: [{type: 'p6-b200.48xlarge', gpus: 8}]},
]

const ALIASES: Record<string, string> = {
  'l4-24gb': 'l4',
  'a10g-24gb': 'a10g',
  'l40s-48gb': 'l40s',
  'a100-40g': 'a100-40gb',
  'a100-80g': 'a100-80gb',
  'h100-80gb': 'h100',
  'h100-sxm': 'h100',
  'h200-141gb': 'h200',
  't4-16gb': 't4',
}

export function gpuNames(): string[] {
  return GPUS.map((g) => g.name)
}

/** Looks a GPU up by name (case-insensitive, a few aliases); unknown names are usage errors. */
export function findGpu(name: string): GpuType {
  const key = name.trim().toLowerCase().replace(/^nvidia[-_ ]?/, '').replace(/_/g, '-')
  const g = GPUS.find((x) => x.name === (ALIASES[key] ?? key))
  if (g) return g
  const near = key === 'a100' ? ['a100-40gb', 'a100-80gb'] : suggest(key, gpuNames(), 2)
  throw new UsageError(`unknown GPU "${name}"`, {
    fix: `${near.length ? `did you mean ${near.map((n) => `"${n}"`).join(' or ')}? ` : ''}known GPUs: ${gpuNames().join(', ')}; or pass --gpu-memory 24GiB for any other`,
  })
}

/** The instance types that carry at least `count` GPUs of this type, smallest first. */
export function instancesFor(gpu: GpuType, count: number): string[] {
  return gpu.instances.filter((i) => i.gpus >= count).map((i) => i.type)
}
