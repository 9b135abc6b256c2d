// Node fixtures shaped like the nodes each EKS provisioner registers, for the loopback API server's
// scheduler. Label keys and values follow:
//  - kubelet well-known labels: https://kubernetes.io/docs/reference/labels-annotations-taints/
//    (kubernetes.io/arch, kubernetes.io/os, kubernetes.io/hostname, node.kubernetes.io/instance-type,
//    topology.kubernetes.io/region|zone; the cloud provider sets the last three)
//  - EKS managed node groups: eks.amazonaws.com/nodegroup, eks.amazonaws.com/nodegroup-image,
//    eks.amazonaws.com/capacityType (ON_DEMAND | SPOT); no GPU labels of their own
//  - Karpenter (karpenter.sh/docs/reference/instance-types): karpenter.sh/nodepool,
//    karpenter.sh/capacity-type, karpenter.k8s.aws/instance-{category,family,generation,size,cpu,
//    memory,gpu-name,gpu-manufacturer,gpu-count,gpu-memory,local-nvme,...}, karpenter.k8s.aws/ec2nodeclass
//  - EKS Auto Mode (docs.aws.amazon.com/eks/latest/userguide/create-node-pool.html, "EKS Auto Mode
//    Supported Labels"): eks.amazonaws.com/compute-type=auto, eks.amazonaws.com/instance-* (the
//    Karpenter set under AWS's prefix), eks.amazonaws.com/nodeclass, karpenter.sh/nodepool
//  - NVIDIA GPU feature discovery (where the device plugin runs it): nvidia.com/gpu.product,
//    nvidia.com/gpu.count, nvidia.com/gpu.memory
// Allocatable is capacity less the EKS AMI's kube-reserved (cpu: 6% of the first core, 1% of the
// second, 0.5% of cores 3-4, 0.25% above; memory: 255 MiB + 11 MiB per max pod; ephemeral storage
// 1 GiB) and the kubelet's hard eviction thresholds (memory.available 100Mi, nodefs.available 10%),
// as awslabs/amazon-eks-ami nodeadm computes them.

/**
 * EC2 instance types (DescribeInstanceTypes): vCPUs, memory (GiB), GPUs (name as the Karpenter/Auto
 * Mode label, count, memory per GPU in MiB as GpuInfo reports it, GFD product name), local NVMe (GB),
 * max pods with the VPC CNI defaults, CPU manufacturer.
 */
export const INSTANCE_TYPES = {
  'm6i.large': {cpu: 2, memGiB: 8, maxPods: 29, cpuMaker: 'intel'},
  'm6i.xlarge': {cpu: 4, memGiB: 16, maxPods: 58, cpuMaker: 'intel'},
  'm6i.2xlarge': {cpu: 8, memGiB: 32, maxPods: 58, cpuMaker: 'intel'},
  'm7i.xlarge': {cpu: 4, memGiB: 16, maxPods: 58, cpuMaker: 'intel'},
  'c6i.xlarge': {cpu: 4, memGiB: 8, maxPods: 58, cpuMaker: 'intel'},
  'g4dn.xlarge': {cpu: 4, memGiB: 16, maxPods: 29, cpuMaker: 'intel', nvme: 125, gpu: {name: 't4', count: 1, memMiB: 16384, product: 'Tesla-T4'}},
  'g5.xlarge': {cpu: 4, memGiB: 16, maxPods: 58, cpuMaker: 'amd', nvme: 250, gpu: {name: 'a10g', count: 1, memMiB: 24576, product: 'NVIDIA-A10G'}},
  'g5.2xlarge': {cpu: 8, memGiB: 32, maxPods: 58, cpuMaker: 'amd', nvme: 450, gpu: {name: 'a10g', count: 1, memMiB: 24576, product: 'NVIDIA-A10G'}},
  'g5.12xlarge': {cpu: 48, memGiB: 192, maxPods: 234, cpuMaker: 'amd', nvme: 3800, gpu: {name: 'a10g', count: 4, memMiB: 24576, product: 'NVIDIA-A10G'}},
  'g6.xlarge': {cpu: 4, memGiB: 16, maxPods: 58, cpuMaker: 'amd', nvme: 250, gpu: {name: 'l4', count: 1, memMiB: 22888, product: 'NVIDIA-L4'}},
  'g6.2xlarge': {cpu: 8, memGiB: 32, maxPods: 58, cpuMaker: 'amd', nvme: 450, gpu: {name: 'l4', count: 1, memMiB: 22888, product: 'NVIDIA-L4'}},
  'g6.12xlarge': {cpu: 48, memGiB: 192, maxPods: 234, cpuMaker: 'amd', nvme: 3760, gpu: {name: 'l4', count: 4, memMiB: 22888, product: 'NVIDIA-L4'}},
  'g6e.xlarge': {cpu: 4, memGiB: 32, maxPods: 58, cpuMaker: 'amd', nvme: 250, gpu: {name: 'l40s', count: 1, memMiB: 45776, product: 'NVIDIA-L40S'}},
  'g6e.2xlarge': {cpu: 8, memGiB: 64, maxPods: 58, cpuMaker: 'amd', nvme: 450, gpu: {name: 'l40s', count: 1, memMiB: 45776, product: 'NVIDIA-L40S'}},
  'g6e.12xlarge': {cpu: 48, memGiB: 384, maxPods: 234, cpuMaker: 'amd', nvme: 3800, gpu: {name: 'l40s', count: 4, memMiB: 45776, product: 'NVIDIA-L40S'}},
  'p4d.24xlarge': {cpu: 96, memGiB: 1152, maxPods: 250, cpuMaker: 'intel', nvme: 8000, gpu: {name: 'a100', count: 8, memMiB: 40960, product: 'NVIDIA-A100-SXM4-40GB'}},
  'p4de.24xlarge': {cpu: 96, memGiB: 1152, maxPods: 250, cpuMaker: 'intel', nvme: 8000, gpu: {name: 'a100', count: 8, memMiB: 81920, product: 'NVIDIA-A100-SXM4-80GB'}},
  'p5.48xlarge': {cpu: 192, memGiB: 2048, maxPods: 250, cpuMaker: 'amd', nvme: 30400, gpu: {name: 'h100', count: 8, memMiB: 81920, product: 'NVIDIA-H100-80GB-HBM3'}},
  'p5e.48xlarge': {cpu: 192, memGiB: 2048, maxPods: 250, cpuMaker: 'amd', nvme: 30400, gpu: {name: 'h200', count: 8, memMiB: 144384, product: 'NVIDIA-H200'}},
  'p6-b200.48xlarge': {cpu: 192, memGiB: 2048, maxPods: 250, cpuMaker: 'intel', nvme: 30400, gpu: {name: 'b200', count: 8, memMiB: 183296, product: 'NVIDIA-B200'}},
}

let seq = 0
const hex = (n) => Array.from({length: n}, () => '0123456789abcdef'[Math.floor(Math.random() * 16)]).join('')
const nextIp = () => {
  seq++
  return `10.0.${(seq >> 8) + 1 + Math.floor(Math.random() * 100)}.${(seq & 255) || 1}`
}

function instance(type) {
  const t = INSTANCE_TYPES[type]
  if (!t) throw new Error(`unknown instance type ${type}: add it to INSTANCE_TYPES in test/support/kube-apiserver/nodes.mjs`)
  const m = /^([a-z]+)(\d+)([a-z-]*)\.(.+)$/.exec(type.replace('-b200', ''))
  const family = type.split('.')[0]
  return {...t, family, category: m?.[1] ?? family[0], generation: m?.[2] ?? '', size: type.split('.')[1]}
}

/** kube-reserved cpu (millicores) of the EKS AMI for a vCPU count. */
function reservedMilliCpu(cpus) {
  let m = 0
  for (let i = 1; i <= cpus; i++) m += i === 1 ? 60 : i === 2 ? 10 : i <= 4 ? 5 : 2.5
  return Math.round(m)
}

/** capacity/allocatable as the kubelet of an EKS AMI reports them. */
function resources(t, rootVolumeGiB) {
  const memKi = Math.floor(t.memGiB * 1048576 * 0.965) // firmware/kernel reservations
  const reservedMemKi = (255 + 11 * t.maxPods) * 1024 + 100 * 1024
  const diskKi = Math.floor(rootVolumeGiB * 1048576 * 0.9995)
  const diskAlloc = Math.floor(diskKi * 1024 * 0.9) - 1073741824
  const capacity = {cpu: String(t.cpu), 'ephemeral-storage': `${diskKi}Ki`, 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: `${memKi}Ki`, pods: String(t.maxPods)}
  const allocatable = {cpu: `${t.cpu * 1000 - reservedMilliCpu(t.cpu)}m`, 'ephemeral-storage': String(diskAlloc), 'hugepages-1Gi': '0', 'hugepages-2Mi': '0', memory: `${memKi - reservedMemKi}Ki`, pods: String(t.maxPods)}
  if (t.gpu) {
    capacity['nvidia.com/gpu'] = String(t.gpu.count)
    allocatable['nvidia.com/gpu'] = String(t.gpu.count)
  }
  return {capacity, allocatable}
}

function gfdLabels(t) {
  return t.gpu ? {'nvidia.com/gpu.present': 'true', 'nvidia.com/gpu.product': t.gpu.product, 'nvidia.com/gpu.count': String(t.gpu.count), 'nvidia.com/gpu.memory': String(t.gpu.memMiB)} : {}
}

function baseNode({name, ip, instanceType, zone, labels, taints, rootVolumeGiB, annotations = {}, providerId}) {
  const t = instance(instanceType)
  const region = zone.replace(/[a-z]$/, '')
  const {capacity, allocatable} = resources(t, rootVolumeGiB)
  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const cond = (type, status, reason, message) => ({type, status, lastHeartbeatTime: now, lastTransitionTime: now, reason, message})
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      labels: {
        'beta.kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/instance-type': instanceType,
        'beta.kubernetes.io/os': 'linux',
        'failure-domain.beta.kubernetes.io/region': region,
        'failure-domain.beta.kubernetes.io/zone': zone,
        'k8s.io/cloud-provider-aws': hex(32),
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'node.kubernetes.io/instance-type': instanceType,
        'topology.k8s.aws/zone-id': `use1-az${'abcdef'.indexOf(zone.slice(-1)) + 1}`,
        'topology.kubernetes.io/region': region,
        'topology.kubernetes.io/zone': zone,
        ...labels,
      },
      annotations: {'alpha.kubernetes.io/provided-node-ip': ip, 'node.alpha.kubernetes.io/ttl': '0', 'volumes.kubernetes.io/controller-managed-attach-detach': 'true', ...annotations},
    },
    spec: {providerID: providerId, ...(taints.length ? {taints} : {})},
    status: {
      capacity,
      allocatable,
      conditions: [
        cond('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
        cond('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
        cond('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
        cond('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
      ],
      addresses: [
        {type: 'InternalIP', address: ip},
        {type: 'InternalDNS', address: `ip-${ip.replaceAll('.', '-')}.ec2.internal`},
        {type: 'Hostname', address: `ip-${ip.replaceAll('.', '-')}.ec2.internal`},
      ],
      daemonEndpoints: {kubeletEndpoint: {Port: 10250}},
      nodeInfo: {
        architecture: 'amd64',
        bootID: `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
        containerRuntimeVersion: 'containerd://1.7.27',
        kernelVersion: '6.1.132-147.221.amzn2023.x86_64',
        kubeProxyVersion: 'v1.31.7-eks-473151a',
        kubeletVersion: 'v1.31.7-eks-473151a',
        machineID: hex(32),
        operatingSystem: 'linux',
        osImage: 'Amazon Linux 2023.7.20250414',
        systemUUID: `ec2${hex(5)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
      },
    },
  }
}

/**
 * A node of an EKS managed node group. GPU node groups carry no GPU label of their own (select them
 * by node.kubernetes.io/instance-type); taint them yourself (`taints`), as node group config does.
 * @param {import('./nodes.d.mts').ManagedNodeGroupNodeOptions} [o]
 */
export function managedNodeGroupNode(o = {}) {
  const instanceType = o.instanceType ?? 'm6i.large'
  const t = instance(instanceType)
  const ip = o.ip ?? nextIp()
  const zone = o.zone ?? 'us-east-1a'
  const nodegroup = o.nodegroup ?? (t.gpu ? 'aip-gpu' : 'aip-system')
  return baseNode({
    name: o.name ?? `ip-${ip.replaceAll('.', '-')}.ec2.internal`,
    ip,
    instanceType,
    zone,
    rootVolumeGiB: o.rootVolumeGiB ?? 20,
    providerId: `aws:///${zone}/i-0${hex(16)}`,
    taints: o.taints ?? [],
    labels: {
      'eks.amazonaws.com/capacityType': o.capacityType ?? 'ON_DEMAND',
      'eks.amazonaws.com/nodegroup': nodegroup,
      'eks.amazonaws.com/nodegroup-image': `ami-0${hex(16)}`,
      'eks.amazonaws.com/sourceLaunchTemplateId': `lt-0${hex(16)}`,
      'eks.amazonaws.com/sourceLaunchTemplateVersion': '1',
      ...((o.gpuFeatureDiscovery ?? true) ? gfdLabels(t) : {}),
      ...(o.labels ?? {}),
    },
  })
}

/** The CPU system node aip's bootstrap expects (managed node group, m6i.large, 20 GiB root disk: the EKS default). */
export function systemNode(o = {}) {
  return managedNodeGroupNode({instanceType: 'm6i.large', nodegroup: 'aip-system', rootVolumeGiB: 20, ...o})
}

function karpenterLabels(prefix, t, type) {
  const l = {
    [`${prefix}/instance-category`]: t.category,
    [`${prefix}/instance-cpu`]: String(t.cpu),
    [`${prefix}/instance-cpu-manufacturer`]: t.cpuMaker,
    [`${prefix}/instance-encryption-in-transit-supported`]: 'true',
    [`${prefix}/instance-family`]: t.family,
    [`${prefix}/instance-generation`]: t.generation,
    [`${prefix}/instance-hypervisor`]: 'nitro',
    [`${prefix}/instance-memory`]: String(t.memGiB * 1024),
    [`${prefix}/instance-size`]: t.size,
  }
  if (t.nvme) l[`${prefix}/instance-local-nvme`] = String(t.nvme)
  if (t.gpu) {
    l[`${prefix}/instance-gpu-count`] = String(t.gpu.count)
    l[`${prefix}/instance-gpu-manufacturer`] = 'nvidia'
    l[`${prefix}/instance-gpu-memory`] = String(t.gpu.memMiB)
    l[`${prefix}/instance-gpu-name`] = t.gpu.name
  }
  void type
  return l
}

/**
 * A node Karpenter launched for a NodePool (self-managed Karpenter, EC2NodeClass). Defaults to a
 * node of aip's own GPU NodePool (templates/platform/gpu-nodepool.yaml): its template label
 * aip.dev/node-role=gpu, its taint nvidia.com/gpu=true:NoSchedule and its 200 GiB root volume.
 * @param {import('./nodes.d.mts').KarpenterNodeOptions} [o]
 */
export function karpenterNode(o = {}) {
  const instanceType = o.instanceType ?? 'g6e.xlarge'
  const t = instance(instanceType)
  const ip = o.ip ?? nextIp()
  const zone = o.zone ?? 'us-east-1a'
  const nodePool = o.nodePool ?? 'aip-gpu'
  const aipPool = nodePool === 'aip-gpu'
  return baseNode({
    name: o.name ?? `ip-${ip.replaceAll('.', '-')}.ec2.internal`,
    ip,
    instanceType,
    zone,
    rootVolumeGiB: o.rootVolumeGiB ?? (aipPool ? 200 : 20),
    providerId: `aws:///${zone}/i-0${hex(16)}`,
    taints: o.taints ?? (aipPool ? [{key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule'}] : []),
    annotations: {'karpenter.k8s.aws/ec2nodeclass-hash': hex(16), 'karpenter.sh/nodepool-hash': hex(16)},
    labels: {
      ...(aipPool ? {'aip.dev/node-role': 'gpu'} : {}),
      'karpenter.k8s.aws/ec2nodeclass': o.nodeClass ?? nodePool,
      ...karpenterLabels('karpenter.k8s.aws', t, instanceType),
      'karpenter.sh/capacity-type': o.capacityType ?? 'on-demand',
      'karpenter.sh/initialized': 'true',
      'karpenter.sh/nodepool': nodePool,
      'karpenter.sh/registered': 'true',
      ...((o.gpuFeatureDiscovery ?? true) ? gfdLabels(t) : {}),
      ...(o.labels ?? {}),
    },
  })
}

/** A GPU node of aip's own Karpenter NodePool: what a model deploy needs (default g6e.xlarge, one L40S). */
export function aipGpuNode(instanceType = 'g6e.xlarge', o = {}) {
  return karpenterNode({instanceType, nodePool: 'aip-gpu', ...o})
}

/**
 * A node of EKS Auto Mode (AWS-run Karpenter, NodeClass `default`): named by instance id, labels
 * under eks.amazonaws.com/, GPU nodes tainted nvidia.com/gpu:NoSchedule (no value), no GPU
 * feature discovery labels (the device plugin is AWS-managed), 80 GiB ephemeral storage.
 * @param {import('./nodes.d.mts').AutoModeNodeOptions} [o]
 */
export function autoModeNode(o = {}) {
  const instanceType = o.instanceType ?? 'g6e.xlarge'
  const t = instance(instanceType)
  const ip = o.ip ?? nextIp()
  const zone = o.zone ?? 'us-east-1a'
  const id = `i-0${hex(16)}`
  return baseNode({
    name: o.name ?? id,
    ip,
    instanceType,
    zone,
    rootVolumeGiB: o.rootVolumeGiB ?? 80,
    providerId: `aws:///${zone}/${id}`,
    taints: o.taints ?? (t.gpu ? [{key: 'nvidia.com/gpu', effect: 'NoSchedule'}] : []),
    labels: {
      'eks.amazonaws.com/compute-type': 'auto',
      ...karpenterLabels('eks.amazonaws.com', t, instanceType),
      'eks.amazonaws.com/nodeclass': o.nodeClass ?? 'default',
      'karpenter.sh/capacity-type': o.capacityType ?? 'on-demand',
      'karpenter.sh/initialized': 'true',
      'karpenter.sh/nodepool': o.nodePool ?? (t.gpu ? 'gpu' : 'general-purpose'),
      'karpenter.sh/registered': 'true',
      ...(o.labels ?? {}),
    },
  })
}

/**
 * A small aip cluster: system nodes and GPU nodes of aip's NodePool. `gpus` lists instance types
 * (one node each) or counts them: {'g6e.xlarge': 3, 'g6.xlarge': 1}.
 */
export function aipCluster(gpus = ['g6e.xlarge'], {systemNodes = 1, systemRootVolumeGiB = 20} = {}) {
  const types = Array.isArray(gpus) ? gpus : Object.entries(gpus).flatMap(([t, n]) => Array(n).fill(t))
  return [...Array.from({length: systemNodes}, () => systemNode({rootVolumeGiB: systemRootVolumeGiB})), ...types.map((t) => aipGpuNode(t))]
}
