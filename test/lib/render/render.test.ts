import {spawnSync} from 'node:child_process'
import {describe, expect, it} from 'vitest'

import {getCatalogEntry, listCatalog} from '../../../src/lib/catalog/index.js'
import type {CatalogEntry} from '../../../src/lib/catalog/schema.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'
import {findGpu, instancesFor} from '../../../src/lib/gpufit/gpus.js'
import {DEFAULT_INCLUDE} from '../../../src/lib/preload/select.js'
import {type Capabilities, DEFAULT_PRELOAD_IMAGE, prometheusUrlFromService, type RenderOptions, renderModel, vllmArgs, weightsLocation} from '../../../src/lib/render/index.js'

/** Binary-suffixed Kubernetes quantities (Ki, Mi, Gi) in bytes. */
function parseQuantity(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q)
  if (!m) throw new Error(`unexpected quantity ${q}`)
  return Number(m[1]) * ({Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30}[m[2] as 'Ki' | 'Mi' | 'Gi'] ?? 1)
}

const ALL: Capabilities = {keda: true, serviceMonitor: true, prometheusRule: true}
const SECRET = 'hf_SuperSecretTokenValue1234567890'

function opts(capabilities: Capabilities = ALL, extra: Partial<RenderOptions> = {}): RenderOptions {
  return {
    namespace: 'aip-models',
    gatewayNamespace: 'aip-gateway',
    monitoringNamespace: 'monitoring',
    bucket: 'weights-bucket',
    prefix: 'models',
    region: 'us-east-1',
    prometheusUrl: 'http://prometheus-operated.monitoring.svc:9090',
    capabilities,
    ...extra,
  }
}

function podSpecs(o: KubeObject): Array<Record<string, any>> {
  const spec = o.spec as Record<string, any> | undefined
  if (o.kind === 'Deployment' || o.kind === 'Job') return [spec!.template.spec]
  return []
}

const withLora: CatalogEntry = {...getCatalogEntry('qwen2.5-coder-7b-instruct'), lora: [{name: 'sql', repo: 'acme/sql-lora', revision: 'a'.repeat(40)}]}

describe('renderModel policy', () => {
  const entries = [...listCatalog(), withLora]

  it('every pod spec passes Pod Security "restricted"', () => {
    for (const e of entries) {
      for (const o of renderModel(e, opts()).objects) {
        for (const ps of podSpecs(o)) {
          expect(ps.securityContext.runAsNonRoot, `${e.name} ${o.kind}`).toBe(true)
          expect(ps.securityContext.runAsUser).toBeGreaterThan(0)
          expect(ps.securityContext.seccompProfile).toEqual({type: 'RuntimeDefault'})
          expect(ps.hostNetwork ?? false).toBe(false)
          expect(ps.hostPID ?? false).toBe(false)
          expect(ps.hostIPC ?? false).toBe(false)
          for (const v of ps.volumes ?? []) expect(Object.keys(v).filter((k) => k !== 'name'), `${o.kind} volume ${v.name}`).toEqual(expect.arrayContaining([expect.stringMatching(/^(emptyDir|configMap|secret|projected|persistentVolumeClaim|ephemeral|downwardAPI|csi)$/)]))
          const containers = [...(ps.initContainers ?? []), ...ps.containers]
          expect(containers.length).toBeGreaterThan(0)
          for (const c of containers) {
            const sc = c.securityContext
            expect(sc.allowPrivilegeEscalation, `${o.kind}/${c.name}`).toBe(false)
            expect(sc.capabilities.drop).toEqual(['ALL'])
            expect(sc.capabilities.add ?? []).toEqual([])
            expect(sc.privileged ?? false).toBe(false)
            expect(sc.runAsNonRoot).toBe(true)
            expect(sc.seccompProfile?.type ?? ps.securityContext.seccompProfile.type).toBe('RuntimeDefault')
            expect(c.ports?.some((p: any) => p.hostPort) ?? false).toBe(false)
            expect(c.resources.requests.memory).toBeTruthy()
            expect(c.resources.limits.memory).toBeTruthy()
            expect(c.image).not.toMatch(/:latest$/)
          }
        }
      }
    }
  })

  it('every object carries the aip labels and the namespace', () => {
    for (const e of entries) {
      const r = renderModel(e, opts())
      for (const o of r.objects) {
        expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({'app.kubernetes.io/managed-by': 'aip', 'app.kubernetes.io/name': e.name, 'aip.dev/model': e.name})
        expect(o.metadata.namespace).toBe('aip-models')
        expect(o.metadata.name).toMatch(/^[a-z]([-a-z0-9]*[a-z0-9])?$/)
        expect(o.metadata.name.length).toBeLessThanOrEqual(63)
      }
      for (const o of r.objects) for (const ps of podSpecs(o)) expect((o.spec as any).template.metadata.labels['aip.dev/model']).toBe(e.name)
    }
  })

  it('GPU resources, pool toleration and GPU node affinity; /dev/shm in memory', () => {
    const e = getCatalogEntry('qwen3-8b')
    const dep = renderModel(e, opts()).deployment
    const ps = (dep.spec as any).template.spec
    const c = ps.containers[0]
    expect((dep.spec as any).replicas).toBeUndefined() // the autoscaler owns it
    expect(c.resources.limits['nvidia.com/gpu']).toBe('1')
    expect(c.resources.requests['nvidia.com/gpu']).toBe('1')
    expect(c.resources.requests.cpu).toBe(e.resources.cpu)
    expect(c.resources.limits.cpu).toBeUndefined()
    expect(ps.tolerations).toContainEqual({key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'})
    // every provisioner's nodes carry node.kubernetes.io/instance-type; no Karpenter-only or aip-only labels
    expect(ps.nodeSelector).toEqual({'kubernetes.io/os': 'linux'})
    const terms = ps.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms
    expect(terms).toEqual([{matchExpressions: [{key: 'node.kubernetes.io/instance-type', operator: 'In', values: instancesFor(findGpu('l40s'), 1)}]}])
    expect(terms[0].matchExpressions[0].values).toEqual(expect.arrayContaining(['g6e.xlarge', 'g6e.2xlarge', 'g6e.12xlarge', 'g6e.48xlarge']))
    expect(JSON.stringify(ps)).not.toMatch(/karpenter|aip\.dev\/node-role|instance-gpu-name/)
    expect(ps.serviceAccountName).toBe('aip-model-server')
    expect(ps.volumes).toContainEqual({name: 'dshm', emptyDir: {medium: 'Memory', sizeLimit: '2Gi'}})
    expect(c.volumeMounts).toContainEqual({name: 'dshm', mountPath: '/dev/shm'})
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true)
    const a100 = renderModel({...e, gpu: {type: 'a100-80gb', count: 2}}, opts()).deployment
    expect(JSON.stringify((a100.spec as any).template.spec.affinity)).toContain('"values":["p4de.24xlarge"]')
    // two L40S per replica: only the 4- and 8-GPU sizes
    const l40s2 = (renderModel({...e, gpu: {type: 'l40s', count: 2}}, opts()).deployment.spec as any).template.spec.affinity
    expect(l40s2.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values).toEqual(['g6e.12xlarge', 'g6e.24xlarge', 'g6e.48xlarge'])
    expect(() => renderModel({...e, gpu: {type: 'h100', count: 16}}, opts())).toThrow(/no AWS instance type carries 16 h100 GPUs/)
    expect((a100.spec as any).template.spec.containers[0].args).toEqual(expect.arrayContaining(['--tensor-parallel-size', '2']))
  })

  it('vllm serve args come from the entry; weights stream from the preload S3 layout', () => {
    const e = getCatalogEntry('qwen3-8b')
    const sha = 'c'.repeat(40)
    const pinned = {...e, hf: {...e.hf, revision: sha}}
    const args = vllmArgs(pinned, opts())
    const w = weightsLocation({bucket: 'weights-bucket', prefix: 'models', repo: 'Qwen/Qwen3-8B', revision: sha})
    expect(w.uri).toBe(`s3://weights-bucket/models/Qwen--Qwen3-8B/${sha}/`)
    expect(w.markerKey).toBe(`models/Qwen--Qwen3-8B/${sha}/.aip-preload.json`)
    expect(args[0]).toBe(w.uri)
    const pinnedDep = (renderModel(pinned, opts()).deployment.spec as any).template.spec.containers[0]
    expect(pinnedDep.command).toEqual(['vllm', 'serve'])
    const flag = (n: string) => args[args.indexOf(n) + 1]
    expect(flag('--load-format')).toBe('runai_streamer')
    expect(flag('--max-model-len')).toBe(String(e.vllm.maxModelLen))
    expect(flag('--max-num-seqs')).toBe(String(e.vllm.maxNumSeqs))
    expect(flag('--served-model-name')).toBe('qwen3-8b')
    expect(flag('--tool-call-parser')).toBe('hermes')
    expect(args).toContain('--enable-auto-tool-choice')
    expect(flag('--gpu-memory-utilization')).toBe('0.9')
    expect(vllmArgs({...e, vllm: {...e.vllm, kvCacheDtype: 'fp8', quantization: 'fp8'}}, opts())).toEqual(expect.arrayContaining(['--kv-cache-dtype', 'fp8', '--quantization', 'fp8']))
    // A branch revision: the pod resolves refs/main to a commit and vLLM loads that.
    const branch = weightsLocation({bucket: 'weights-bucket', prefix: 'models', repo: 'Qwen/Qwen3-8B', revision: 'main'})
    expect(branch.pinned).toBe(false)
    expect(branch.refKey).toBe('models/Qwen--Qwen3-8B/refs/main')
    const branchEntry = {...e, hf: {...e.hf, revision: 'main'}}
    const c = (renderModel(branchEntry, opts()).deployment.spec as any).template.spec
    expect(c.containers[0].command.slice(0, 2)).toEqual(['/bin/sh', '-c'])
    expect(c.containers[0].command[2]).toContain('/cache/aip/weights-uri')
    expect(c.containers[0].args[0]).toBe('--load-format')
    expect(c.initContainers[0].env).toEqual(expect.arrayContaining([{name: 'AIP_MODEL_KEY', value: 'models/Qwen--Qwen3-8B'}, {name: 'AIP_REVISION', value: 'main'}]))
    // The catalog pins a commit: vLLM gets the fixed s3:// path of that commit, no resolution step.
    expect(e.hf.revision).toMatch(/^[0-9a-f]{40}$/)
    const catalogPinned = JSON.stringify((renderModel(e, opts()).deployment.spec as any).template.spec.containers[0])
    expect(catalogPinned).toContain(`s3://weights-bucket/models/Qwen--Qwen3-8B/${e.hf.revision}/`)
    const lora = vllmArgs(withLora, opts())
    expect(lora).toEqual(expect.arrayContaining(['--enable-lora', '--lora-modules', 'sql=/adapters/sql']))
    const dep = renderModel(withLora, opts()).deployment
    expect((dep.spec as any).template.spec.initContainers.map((x: any) => x.name)).toEqual(['wait-for-weights', 'adapters'])
  })

  it.skipIf(spawnSync('python3', ['--version']).status !== 0)('the embedded in-pod scripts are valid Python', () => {
    const e = getCatalogEntry('qwen3-8b')
    const scripts = new Set<string>()
    for (const o of renderModel(withLora, opts()).objects.concat(renderModel(e, opts()).objects)) {
      const ps = podSpecs(o)[0]
      if (!ps) continue
      for (const c of [...(ps.initContainers ?? []), ...ps.containers]) {
        const cmd = c.command as string[]
        if (cmd[0] === 'python3') scripts.add(cmd[2]!)
        const probe = c.readinessProbe?.exec?.command as string[] | undefined
        if (probe) scripts.add(probe[2]!)
      }
    }
    expect(scripts.size).toBe(4)
    for (const s of scripts) {
      const r = spawnSync('python3', ['-c', 'import ast,sys; ast.parse(sys.stdin.read())'], {input: s})
      expect(r.status, `${r.stderr}\n${s}`).toBe(0)
    }
  })

  it('readiness needs a real completion; startup probe covers a long load; liveness on /health', () => {
    const c = (renderModel(getCatalogEntry('qwen3-8b'), opts()).deployment.spec as any).template.spec.containers[0]
    expect(c.readinessProbe.exec.command[0]).toBe('python3')
    expect(c.readinessProbe.exec.command[2]).toContain('/v1/completions')
    expect(c.readinessProbe.exec.command[2]).toContain('/health')
    expect(c.env).toContainEqual({name: 'AIP_SERVED_MODEL', value: 'qwen3-8b'})
    expect(c.startupProbe.httpGet.path).toBe('/health')
    expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(1200)
    expect(c.livenessProbe.httpGet.path).toBe('/health')
  })

  it('never inlines secrets: the HF token is a Secret reference, and no object carries its value', () => {
    process.env.HF_TOKEN = SECRET
    try {
      for (const e of entries) {
        const r = renderModel(e, opts(ALL, {hfTokenSecret: {name: 'hf', key: 'token'}}))
        const text = JSON.stringify(r.objects)
        expect(text).not.toContain(SECRET)
        expect(text).not.toMatch(/hf_[A-Za-z0-9]{20,}/)
        expect(text).not.toMatch(/AKIA[0-9A-Z]{16}/)
        expect(r.objects.some((o) => o.kind === 'Secret')).toBe(false)
        const job = r.preloadJob as any
        const env = job.spec.template.spec.containers[0].env as Array<any>
        const tok = env.find((x) => x.name === 'HF_TOKEN')
        expect(tok.value).toBeUndefined()
        expect(tok.valueFrom.secretKeyRef).toEqual({name: 'hf', key: 'token', optional: !e.hf.gated})
      }
    } finally {
      delete process.env.HF_TOKEN
    }
  })

  it('KEDA ScaledObject on vLLM leading signals; HPA fallback without KEDA; monitors only with their CRDs', () => {
    const e = getCatalogEntry('qwen3-8b')
    const full = renderModel(e, opts())
    const kinds = full.objects.map((o) => o.kind)
    expect(kinds).toEqual(['NetworkPolicy', 'NetworkPolicy', 'Job', 'Service', 'Deployment', 'PodDisruptionBudget', 'ScaledObject', 'ServiceMonitor', 'PrometheusRule'])
    const so = full.objects.find((o) => o.kind === 'ScaledObject') as any
    expect(so.spec.minReplicaCount).toBe(e.scaling.minReplicas)
    expect(so.spec.cooldownPeriod).toBe(e.scaling.cooldownSeconds)
    expect(so.spec.triggers[0].metadata.query).toBe(`sum(vllm:num_requests_running{namespace="aip-models",model_name="qwen3-8b"}) / ${e.vllm.maxNumSeqs}`)
    expect(so.spec.triggers[0].metadata.threshold).toBe(String(e.scaling.targetRunningRatio))
    expect(so.spec.triggers[1].metadata.query).toContain('vllm:kv_cache_usage_perc')
    expect(so.spec.triggers[1].metadata.query).toContain('vllm:gpu_cache_usage_perc')
    expect(so.spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds).toBe(e.scaling.cooldownSeconds)
    const rule = full.objects.find((o) => o.kind === 'PrometheusRule') as any
    const alerts = rule.spec.groups[0].rules.map((r: any) => r.alert)
    expect(alerts).toEqual(expect.arrayContaining(['AipModelTTFTHigh', 'AipModelErrorRateHigh', 'AipModelKvCacheSaturated']))
    expect(rule.spec.groups[0].rules[0].expr).toContain('histogram_quantile(0.95')

    const bare = renderModel(e, opts({keda: false, serviceMonitor: false, prometheusRule: false}))
    expect(bare.objects.map((o) => o.kind)).toEqual(['NetworkPolicy', 'NetworkPolicy', 'Job', 'Service', 'Deployment', 'PodDisruptionBudget', 'HorizontalPodAutoscaler'])
    expect(bare.skipped.map((s) => s.kind)).toEqual(['ScaledObject', 'ServiceMonitor', 'PrometheusRule'])
    const hpa = bare.objects.at(-1) as any
    expect(hpa.spec.minReplicas).toBe(Math.max(1, e.scaling.minReplicas))
    expect(hpa.spec.maxReplicas).toBe(e.scaling.maxReplicas)
  })

  it('NetworkPolicy: default deny both ways, ingress only from gateway and monitoring, egress DNS + HTTPS without IMDS', () => {
    const np = renderModel(getCatalogEntry('qwen3-8b'), opts()).objects.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'qwen3-8b') as any
    expect(np.spec.policyTypes).toEqual(['Ingress', 'Egress'])
    const from = np.spec.ingress.map((r: any) => r.from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'])
    expect(from).toEqual(['aip-gateway', 'monitoring'])
    expect(np.spec.ingress.every((r: any) => r.ports[0].port === 8000)).toBe(true)
    expect(JSON.stringify(np.spec.egress)).toContain('"port":53')
    expect(JSON.stringify(np.spec.egress)).toContain('"except":["169.254.169.254/32"]')
    const pre = renderModel(getCatalogEntry('qwen3-8b'), opts()).objects.find((o) => o.metadata.name === 'qwen3-8b-preload') as any
    expect(pre.spec.ingress).toEqual([])
  })

  it('preload Job: bounded retries, TTL, marker check, name from a hash of the (immutable) pod template', () => {
    const e = getCatalogEntry('qwen3-8b')
    const job = renderModel(e, opts()).preloadJob as any
    expect(job.spec.backoffLimit).toBe(3)
    expect(job.spec.ttlSecondsAfterFinished).toBeGreaterThan(0)
    expect(job.spec.template.spec.restartPolicy).toBe('Never')
    const env = job.spec.template.spec.containers[0].env as Array<any>
    const items = JSON.parse(env.find((x: any) => x.name === 'AIP_PRELOAD_ITEMS').value)
    expect(items).toEqual([{repo: e.hf.repo, revision: e.hf.revision, modelKey: 'models/Qwen--Qwen3-8B'}])
    const c = job.spec.template.spec.containers[0]
    expect(c.command[2]).toContain("'aip.dev/preload/v1'")
    // standard library only: no boto3 / huggingface_hub, so a small image runs it
    expect(c.command[2]).not.toMatch(/^\s*(import|from)\s+(boto3|botocore|huggingface_hub)/m)
    expect(c.image).toBe(DEFAULT_PRELOAD_IMAGE)
    // its own ServiceAccount (S3 write), not the server's (read)
    expect(job.spec.template.spec.serviceAccountName).toBe('aip-preload')
    // streams: no scratch volume, a few GiB of ephemeral storage at most (fits a 20 GiB system node)
    expect(job.spec.template.spec.volumes.map((v: any) => v.name)).toEqual(['tmp'])
    expect(parseQuantity(c.resources.limits['ephemeral-storage'])).toBeLessThanOrEqual(2 * 2 ** 30)
    expect(parseQuantity(c.resources.requests['ephemeral-storage'])).toBeLessThanOrEqual(2 * 2 ** 30)
    expect(JSON.parse(env.find((x: any) => x.name === 'AIP_INCLUDE').value)).toEqual(DEFAULT_INCLUDE)
    // a model of any size gets the same small Job
    const big = renderModel({...e, config: {...e.config, num_hidden_layers: 400}}, opts()).preloadJob as any
    expect(big.spec.template.spec.containers[0].resources).toEqual(c.resources)
    expect(renderModel(e, opts()).preloadJob.metadata.name).toBe(job.metadata.name)
    expect(renderModel({...e, hf: {...e.hf, revision: 'b'.repeat(40)}}, opts()).preloadJob.metadata.name).not.toBe(job.metadata.name)
    // a Job's spec.template is immutable: anything that changes it (bucket, prefix, preload image) is a new name
    const names = new Set([job.metadata.name, renderModel(e, opts(ALL, {bucket: 'other'})).preloadJob.metadata.name, renderModel(e, opts(ALL, {prefix: 'p2'})).preloadJob.metadata.name, renderModel(e, opts(ALL, {preloadImage: 'python:3.13-slim'})).preloadJob.metadata.name])
    expect(names.size).toBe(4)
    // the vLLM image is not the Job's: a new server image keeps the (completed) preload Job
    expect(renderModel({...e, image: 'vllm/vllm-openai:v9.9.9'}, opts()).preloadJob.metadata.name).toBe(job.metadata.name)
    for (const n of names) expect(n).toMatch(/^qwen3-8b-preload-[0-9a-f]{8}$/)
  })

  it('dotted entry names become DNS-1035 object names; the model label keeps the entry name', () => {
    const r = renderModel(getCatalogEntry('llama-3.1-8b-instruct'), opts())
    expect(r.deployment.metadata.name).toBe('llama-3-1-8b-instruct')
    expect(r.deployment.metadata.labels!['aip.dev/model']).toBe('llama-3.1-8b-instruct')
  })

  it('prometheus-service config becomes the in-cluster URL', () => {
    expect(prometheusUrlFromService('monitoring/prometheus-operated:9090')).toBe('http://prometheus-operated.monitoring.svc:9090')
    expect(prometheusUrlFromService('kps-prometheus', 'obs')).toBe('http://kps-prometheus.obs.svc:9090')
  })
})
