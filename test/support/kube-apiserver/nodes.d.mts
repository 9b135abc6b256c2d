/** Types of the Node fixtures (nodes.mjs). */
import type {KObject} from './index.mjs'

export interface InstanceType {
  cpu: number
  memGiB: number
  maxPods: number
  cpuMaker: string
  nvme?: number
  gpu?: {name: string; count: number; memMiB: number; product: string}
}
export const INSTANCE_TYPES: Record<string, InstanceType>

interface CommonNodeOptions {
  /** an INSTANCE_TYPES key */
  instanceType?: string
  name?: string
  ip?: string
  /** default us-east-1a */
  zone?: string
  labels?: Record<string, string>
  taints?: Array<{key: string; value?: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute'}>
  rootVolumeGiB?: number
}
export interface ManagedNodeGroupNodeOptions extends CommonNodeOptions {
  nodegroup?: string
  capacityType?: 'ON_DEMAND' | 'SPOT'
  /** NVIDIA GPU feature discovery labels on GPU nodes (default true) */
  gpuFeatureDiscovery?: boolean
}
export interface KarpenterNodeOptions extends CommonNodeOptions {
  /** default 'aip-gpu' (aip's NodePool: label aip.dev/node-role=gpu, taint nvidia.com/gpu=true:NoSchedule, 200 GiB root) */
  nodePool?: string
  nodeClass?: string
  capacityType?: 'on-demand' | 'spot'
  gpuFeatureDiscovery?: boolean
}
export interface AutoModeNodeOptions extends CommonNodeOptions {
  nodePool?: string
  nodeClass?: string
  capacityType?: 'on-demand' | 'spot'
}

export function managedNodeGroupNode(o?: ManagedNodeGroupNodeOptions): KObject
/** m6i.large, node group aip-system, 20 GiB root disk */
export function systemNode(o?: ManagedNodeGroupNodeOptions): KObject
export function karpenterNode(o?: KarpenterNodeOptions): KObject
/** a node of aip's own GPU NodePool (default g6e.xlarge) */
export function aipGpuNode(instanceType?: string, o?: KarpenterNodeOptions): KObject
export function autoModeNode(o?: AutoModeNodeOptions): KObject
/** system nodes (default 1, 20 GiB root disks unless systemRootVolumeGiB) and aip GPU nodes: one per instance type listed, or counts ({'g6e.xlarge': 3}); default ['g6e.xlarge'] */
export function aipCluster(gpus?: string[] | Record<string, number>, o?: {systemNodes?: number; systemRootVolumeGiB?: number}): KObject[]
