import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {installGateway} from '../../../src/lib/gateway/install.js'
import {type GatewayRenderOptions, LITELLM_IMAGE, litellmConfig, renderGateway} from '../../../src/lib/gateway/render.js'
import {AipError} from '../../../src/lib/errors.js'
import {applyObjects, createKubeClient} from '../../../src/lib/kube/index.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'

const base: GatewayRenderOptions = {namespace: 'aip-gateway', exposure: {kind: 'loadbalancer', internal: false}}

function podSpecs(o: KubeObject): Array<Record<string, any>> {
  const spec = o.spec as Record<string, any> | undefined
  return o.kind === 'Deployment' || o.kind === 'StatefulSet' ? [spec!.template.spec] : []
}

/** The checks Pod Security "restricted" makes (pod-security-admission policy/check_*.go), as for the model objects. */
function expectRestricted(objects: KubeObject[]): void {
  const pods = objects.flatMap(podSpecs)
  expect(pods.length).toBeGreaterThan(0)
  for (const ps of pods) {
    expect(ps.securityContext.runAsNonRoot).toBe(true)
    expect(ps.securityContext.runAsUser).toBeGreaterThan(0)
    expect(ps.securityContext.seccompProfile).toEqual({type: 'RuntimeDefault'})
    expect(ps.hostNetwork ?? false).toBe(false)
    expect(ps.hostPID ?? false).toBe(false)
    expect(ps.hostIPC ?? false).toBe(false)
    for (const v of ps.volumes ?? []) expect(Object.keys(v).filter((k) => k !== 'name')).toEqual([expect.stringMatching(/^(emptyDir|configMap|secret|projected|persistentVolumeClaim|ephemeral|downwardAPI|csi)$/)])
    for (const c of [...(ps.initContainers ?? []), ...ps.containers]) {
      const sc = c.securityContext
      expect(sc.allowPrivilegeEscalation, c.name).toBe(false)
      expect(sc.capabilities.drop).toEqual(['ALL'])
      expect(sc.capabilities.add ?? []).toEqual([])
      expect(sc.privileged ?? false).toBe(false)
      expect(sc.runAsNonRoot).toBe(true)
      expect(sc.seccompProfile.type).toBe('RuntimeDefault')
      expect(c.ports?.some((p: any) => p.hostPort) ?? false).toBe(false)
      expect(c.resources.requests.memory).toBeTruthy()
      expect(c.resources.limits.memory).toBeTruthy()
      expect(c.image).toMatch(/:[^:]+$/)
      expect(c.image).not.toMatch(/:(latest|main-latest|main-stable)$/)
    }
  }
}

describe('renderGateway', () => {
  it('passes Pod Security "restricted" in every variant; the namespace enforces it', () => {
    for (const o of [base, {...base, databaseUrlSecret: {name: 'rds', key: 'url'}}, {...base, exposure: {kind: 'httproute' as const, gatewayClass: 'aws-alb', hostname: 'llm.example.com', tlsSecret: 'llm-tls'}}]) {
      const r = renderGateway(o)
      expectRestricted(r.objects)
      const ns = r.objects.find((x) => x.kind === 'Namespace')!
      expect(ns.metadata.labels).toMatchObject({'pod-security.kubernetes.io/enforce': 'restricted'})
      for (const x of r.objects) {
        expect(x.metadata.labels, `${x.kind}/${x.metadata.name}`).toMatchObject({'app.kubernetes.io/managed-by': 'aip', 'app.kubernetes.io/part-of': 'aip'})
        if (x.kind !== 'Namespace') expect(x.metadata.namespace).toBe('aip-gateway')
      }
    }
  })

  it('LiteLLM: pinned image, 2 replicas, PDB, probes on its health routes, keys and DB URL from Secrets only', () => {
    const r = renderGateway(base)
    const dep = r.objects.find((x) => x.kind === 'Deployment')! as any
    expect(dep.spec.replicas).toBe(2)
    const c = dep.spec.template.spec.containers[0]
    expect(c.image).toBe(LITELLM_IMAGE)
    expect(c.readinessProbe.httpGet.path).toBe('/health/readiness')
    expect(c.livenessProbe.httpGet.path).toBe('/health/liveliness')
    const env = Object.fromEntries(c.env.map((e: any) => [e.name, e]))
    expect(env.LITELLM_MASTER_KEY.valueFrom.secretKeyRef).toEqual({name: 'litellm-master-key', key: 'master-key'})
    expect(env.DATABASE_URL.valueFrom.secretKeyRef).toEqual({name: 'litellm-db', key: 'url'})
    expect(env.STORE_MODEL_IN_DB.value).toBe('True')
    expect(r.objects.find((x) => x.kind === 'PodDisruptionBudget')!.spec).toMatchObject({maxUnavailable: 1})
    expect(r.objects.some((x) => x.kind === 'Secret')).toBe(false)
    expect(r.secrets.map((s) => s.name)).toEqual(['litellm-master-key', 'litellm-db'])
    expect(litellmConfig()).toMatchObject({general_settings: {master_key: 'os.environ/LITELLM_MASTER_KEY', store_model_in_db: true}})
    // Postgres: StatefulSet with a PVC
    const sts = r.objects.find((x) => x.kind === 'StatefulSet')! as any
    expect(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage).toBe('10Gi')
  })

  it('--database-url-secret: no Postgres, the URL from that Secret, egress to 5432 outside', () => {
    const r = renderGateway({...base, databaseUrlSecret: {name: 'rds', key: 'dsn'}})
    expect(r.objects.some((x) => x.kind === 'StatefulSet')).toBe(false)
    expect(r.secrets.map((s) => s.name)).toEqual(['litellm-master-key'])
    const c = (r.objects.find((x) => x.kind === 'Deployment') as any).spec.template.spec.containers[0]
    expect(c.env.find((e: any) => e.name === 'DATABASE_URL').valueFrom.secretKeyRef).toEqual({name: 'rds', key: 'dsn'})
  })

  it('NetworkPolicies: default deny; LiteLLM takes 4000 and calls DNS, Postgres, model servers on 8000 and the KEDA HTTP interceptor on 8080; Postgres only from LiteLLM', () => {
    const nps = renderGateway(base).objects.filter((x) => x.kind === 'NetworkPolicy') as any[]
    expect(nps.map((n) => n.metadata.name)).toEqual(['default-deny', 'litellm', 'litellm-db'])
    expect(nps[0].spec).toEqual({podSelector: {}, policyTypes: ['Ingress', 'Egress']})
    const l = nps[1].spec
    expect(l.ingress).toEqual([{ports: [{protocol: 'TCP', port: 4000}]}])
    expect(l.egress.map((e: any) => e.ports.map((p: any) => p.port))).toEqual([[53, 53], [5432], [8000], [8080]])
    expect(l.egress[3].to).toEqual([{namespaceSelector: {matchLabels: {'kubernetes.io/metadata.name': 'keda'}}}])
    expect(l.egress[2].to[0].podSelector).toEqual({matchLabels: {'app.kubernetes.io/managed-by': 'aip'}, matchExpressions: [{key: 'app.kubernetes.io/component', operator: 'In', values: ['server', 'server-canary']}]})
    expect(nps[2].spec.ingress[0].from[0].podSelector.matchLabels).toMatchObject({'app.kubernetes.io/name': 'litellm'})
    expect(nps[2].spec.egress).toEqual([])
  })

  it('exposure: an NLB (internal, TLS with an ACM certificate), or Gateway + HTTPRoute', () => {
    const lb = renderGateway({...base, exposure: {kind: 'loadbalancer', internal: true, certificateArn: 'arn:aws:acm:us-east-1:1:certificate/x'}}).objects.find((x) => x.kind === 'Service' && x.metadata.name === 'litellm')! as any
    expect(lb.spec.type).toBe('LoadBalancer')
    expect(lb.metadata.annotations).toMatchObject({
      'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
      'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
      'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal',
      'service.beta.kubernetes.io/aws-load-balancer-ssl-cert': 'arn:aws:acm:us-east-1:1:certificate/x',
    })
    expect(lb.spec.ports).toEqual([{name: 'https', port: 443, targetPort: 'http', protocol: 'TCP'}])
    const hr = renderGateway({...base, exposure: {kind: 'httproute', gatewayClass: 'aws-alb', hostname: 'llm.example.com', tlsSecret: 'llm-tls'}}).objects
    expect((hr.find((x) => x.kind === 'Service' && x.metadata.name === 'litellm') as any).spec.type).toBe('ClusterIP')
    const gw = hr.find((x) => x.kind === 'Gateway') as any
    expect(gw.spec).toMatchObject({gatewayClassName: 'aws-alb', listeners: [{protocol: 'HTTPS', port: 443, hostname: 'llm.example.com', tls: {certificateRefs: [{kind: 'Secret', name: 'llm-tls'}]}}]})
    const route = hr.find((x) => x.kind === 'HTTPRoute') as any
    expect(route.spec).toMatchObject({parentRefs: [{name: 'litellm'}], hostnames: ['llm.example.com'], rules: [{backendRefs: [{name: 'litellm', port: 4000}]}]})
  })
})

describe('the rendered gateway on the API server', () => {
  let api: KubeApiServer
  beforeAll(async () => {
    api = await startKubeApiServer()
    api.registerCrd({group: 'gateway.networking.k8s.io', version: 'v1', kind: 'Gateway'})
    api.registerCrd({group: 'gateway.networking.k8s.io', version: 'v1', kind: 'HTTPRoute'})
  })
  afterAll(async () => api?.stop())

  it('every variant applies (server-side apply, schema checked by the API server)', async () => {
    const client = await createKubeClient({kubeconfig: api.kubeconfigPath})
    for (const o of [base, {...base, exposure: {kind: 'httproute' as const, gatewayClass: 'aws-alb', certificateArn: 'arn:aws:acm:us-east-1:1:certificate/x'}}]) {
      const r = await applyObjects(client, renderGateway(o).objects)
      expect(r.length).toBe(renderGateway(o).objects.length)
      expect(api.store.get('apps/v1', 'Deployment', 'aip-gateway', 'litellm')).toBeDefined()
    }
  })

  it('install: a database volume that never binds is named as the cause of the timeout (exit 7)', async () => {
    const client = await createKubeClient({kubeconfig: api.kubeconfigPath})
    api.setDeploymentBehavior('gw2', 'litellm', {mode: 'none'})
    api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'gw2'}})
    api.store.put({apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: {name: 'data-litellm-db-0', namespace: 'gw2'}, spec: {accessModes: ['ReadWriteOnce'], resources: {requests: {storage: '10Gi'}}}, status: {phase: 'Pending'}})
    let err: AipError | undefined
    try {
      await installGateway(client, {namespace: 'gw2', settings: {internal: false}, timeoutMs: 1_500})
    } catch (error) {
      err = error as AipError
    }
    expect(err?.exitCode).toBe(7)
    expect(err?.message).toBe('the gateway did not become ready: its database volume gw2/data-litellm-db-0 is Pending')
    expect(err?.fix).toContain('StorageClass')
  })
})
