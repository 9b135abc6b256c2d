import {describe, expect, it} from 'vitest'

import {AipError} from '../../../src/lib/errors.js'
import {DEFAULT_LITELLM_RESOURCES, type GatewayRenderOptions, LITELLM_IMAGE, renderGateway} from '../../../src/lib/gateway/render.js'
import {decideGatewaySettings, exposureWarnings, formatResourceList, type GatewaySettingInputs, gatewaySettingRows, type LiveGatewaySettings, liveGatewaySettings, parseResourceList} from '../../../src/lib/gateway/settings.js'
import type {KubeObject} from '../../../src/lib/kube/types.js'

const NS = 'aip-gateway'
const ARN = 'arn:aws:acm:us-east-1:123456789012:certificate/abc'

/** What the cluster would hold after installing these options: read back from the rendered objects. */
function liveOf(o: GatewayRenderOptions): LiveGatewaySettings {
  const objs = renderGateway(o).objects
  const find = (kind: string, name = 'litellm') => objs.find((x) => x.kind === kind && x.metadata.name === name)
  return liveGatewaySettings(NS, {service: find('Service'), deployment: find('Deployment'), statefulset: find('StatefulSet', 'litellm-db'), gateway: find('Gateway'), route: find('HTTPRoute')})
}
const decide = (inputs: GatewaySettingInputs, live: LiveGatewaySettings = {}) => decideGatewaySettings(inputs, live, NS)
const byName = (ds: Array<{setting: string}>) => Object.fromEntries(ds.map((d) => [d.setting, d]))
const failure = (f: () => unknown): AipError => {
  try {
    f()
  } catch (error) {
    return error as AipError
  }
  throw new Error('did not throw')
}

const installs: Array<[string, GatewayRenderOptions]> = [
  ['defaults', {namespace: NS, exposure: {kind: 'loadbalancer', internal: false}}],
  ['internal NLB, TLS, 3 replicas, own resources, 20Gi gp3', {namespace: NS, replicas: 3, image: 'registry.example/litellm:v1.2', resources: {requests: {cpu: '2', memory: '4Gi'}, limits: {memory: '8Gi'}}, storageClass: 'gp3', storageSize: '20Gi', exposure: {kind: 'loadbalancer', internal: true, certificateArn: ARN}}],
  ['Gateway API, hostname, TLS Secret, RDS', {namespace: NS, databaseUrlSecret: {name: 'litellm-rds', key: 'dsn'}, exposure: {kind: 'httproute', gatewayClass: 'aws-alb', hostname: 'llm.example.com', tlsSecret: 'llm-tls'}}],
  ['Gateway API with an ACM certificate', {namespace: NS, exposure: {kind: 'httproute', gatewayClass: 'eks-alb', certificateArn: ARN}}],
]

describe('decideGatewaySettings', () => {
  it('a first install with no flags gets the defaults (internet-facing NLB, 2 replicas, the pinned image, in-cluster Postgres 10Gi)', () => {
    const r = decide({})
    expect(r.render).toEqual({replicas: 2, image: LITELLM_IMAGE, resources: DEFAULT_LITELLM_RESOURCES, databaseUrlSecret: undefined, storageClass: undefined, storageSize: '10Gi', exposure: {kind: 'loadbalancer', internal: false, certificateArn: undefined}})
    expect(r.decisions.every((d) => d.action === 'default')).toBe(true)
    expect(r.notes).toEqual([])
  })

  for (const [name, o] of installs) {
    it(`a rerun with every flag omitted renders exactly what is installed: ${name}`, () => {
      const r = decide({}, liveOf(o))
      expect(renderGateway({namespace: NS, ...r.render}).objects).toEqual(renderGateway(o).objects)
      expect(r.decisions.map((d) => d.action)).toEqual(r.decisions.map(() => 'kept'))
    })
  }

  it('a given flag changes only its own setting', () => {
    const o = installs[1]![1]
    const cases: Array<[GatewaySettingInputs, string, unknown, unknown]> = [
      [{replicas: 5}, 'replicas', 3, 5],
      [{internal: false}, 'internal', true, false],
      [{certificateArn: null}, 'certificate-arn', ARN, null],
      [{image: LITELLM_IMAGE}, 'image', 'registry.example/litellm:v1.2', LITELLM_IMAGE],
      [{requests: {cpu: '500m', memory: '1Gi'}}, 'requests', 'cpu=2,memory=4Gi', 'cpu=500m,memory=1Gi'],
      [{limits: null}, 'limits', 'memory=8Gi', null],
      [{databaseUrlSecret: {name: 'rds', key: 'url'}}, 'database-url-secret', null, 'rds:url'],
    ]
    for (const [inputs, setting, previous, value] of cases) {
      const r = decide(inputs, liveOf(o))
      const changed = r.decisions.filter((d) => d.action === 'changed')
      expect(changed, setting).toEqual([expect.objectContaining({setting, previous, value})])
      expect(r.decisions.filter((d) => d.action !== 'changed').every((d) => d.action === 'kept'), setting).toBe(true)
    }
    // the same value as the cluster's is "unchanged", not "changed"; quantities compare by amount
    // (the API server stores 2000m as 2 and 4096Mi as 4Gi)
    expect(byName(decide({replicas: 3, internal: true, requests: {cpu: '2000m', memory: '4096Mi'}}, liveOf(o)).decisions)).toMatchObject({replicas: {action: 'unchanged'}, internal: {action: 'unchanged'}, requests: {action: 'unchanged'}})
    expect(byName(decide({requests: {cpu: '2', memory: '4G'}}, liveOf(o)).decisions).requests).toMatchObject({action: 'changed'})
  })

  it('an omitted --hostname/--tls-secret keeps the Gateway\'s; given without a Gateway API exposure they are refused', () => {
    const live = liveOf(installs[2]![1])
    expect(decide({hostname: 'api.example.com'}, live).render.exposure).toEqual({kind: 'httproute', gatewayClass: 'aws-alb', hostname: 'api.example.com', tlsSecret: 'llm-tls', certificateArn: undefined})
    expect(failure(() => decide({hostname: 'x.example.com'}, liveOf(installs[0]![1]))).exitCode).toBe(2)
    expect(failure(() => decide({tlsSecret: 'x'})).exitCode).toBe(2)
    expect(failure(() => decide({internal: true}, live)).message).toContain('--internal applies to the LoadBalancer Service')
    // one TLS source for the listener: a certificate next to a kept TLS Secret is refused, not ignored
    const twice = failure(() => decide({certificateArn: ARN}, live))
    expect(twice.message).toBe(`the Gateway listener would get TLS twice: --tls-secret llm-tls and --certificate-arn ${ARN} (one of them kept from the cluster)`)
    expect(decide({certificateArn: ARN, tlsSecret: null}, live).render.exposure).toMatchObject({certificateArn: ARN, tlsSecret: undefined})
  })

  it('--gateway-class none goes back to the LoadBalancer Service (internet-facing unless --internal); TLS is kept across the switch', () => {
    const r = decide({gatewayClass: null}, liveOf(installs[3]![1]))
    expect(r.render.exposure).toEqual({kind: 'loadbalancer', internal: false, certificateArn: ARN})
    expect(byName(r.decisions)).toMatchObject({'gateway-class': {action: 'changed', previous: 'eks-alb', value: null}, internal: {action: 'default'}, 'certificate-arn': {action: 'kept'}})
    expect(r.notes.join('\n')).toContain('new load balancer')
  })

  it('the database volume cannot change size or class once the StatefulSet exists (exit 2 with a fix); it may on a first install', () => {
    const live = liveOf(installs[1]![1])
    const e = failure(() => decide({storageSize: '50Gi'}, live))
    expect(e.exitCode).toBe(2)
    expect(e.message).toBe("--storage-size 50Gi: the database volume of StatefulSet aip-gateway/litellm-db is 20Gi, and a StatefulSet's volume claim template cannot change")
    expect(e.fix).toContain('patch pvc data-litellm-db-0')
    expect(failure(() => decide({storageClass: null}, live)).message).toContain('has class gp3')
    expect(decide({storageSize: '20Gi', storageClass: 'gp3'}, live).decisions.filter((d) => d.setting.startsWith('storage')).map((d) => d.action)).toEqual(['unchanged', 'unchanged'])
    expect(decide({storageSize: '50Gi'}).render.storageSize).toBe('50Gi')
  })

  it('switching databases says that keys and teams do not move; an external database keeps no storage settings', () => {
    const r = decide({databaseUrlSecret: null}, liveOf(installs[2]![1]))
    expect(r.render.databaseUrlSecret).toBeUndefined()
    expect(byName(r.decisions)['database-url-secret']).toMatchObject({action: 'changed', previous: 'litellm-rds:dsn', value: null})
    expect(r.notes.join('\n')).toMatch(/keys, teams, budgets and models live in the database/)
    expect(decide({}, liveOf(installs[2]![1])).decisions.some((d) => d.setting.startsWith('storage'))).toBe(false)
  })

  it('a kept image other than this aip\'s pin is noted with the flag that upgrades', () => {
    const r = decide({}, liveOf(installs[1]![1]))
    expect(r.notes).toEqual([`image registry.example/litellm:v1.2 kept; this aip pins ${LITELLM_IMAGE}: --image ${LITELLM_IMAGE} upgrades to it`])
  })

  it('a ClusterIP Service without aip\'s Gateway: the exposure must be said, never guessed', () => {
    const service: KubeObject = {apiVersion: 'v1', kind: 'Service', metadata: {name: 'litellm', namespace: NS}, spec: {type: 'ClusterIP'}}
    const live = liveGatewaySettings(NS, {service})
    const e = failure(() => decide({}, live))
    expect(e.exitCode).toBe(2)
    expect(e.fix).toContain('--gateway-class none')
    expect(decide({gatewayClass: null}, live).render.exposure).toMatchObject({kind: 'loadbalancer'})
  })
})

describe('liveGatewaySettings', () => {
  const svc = (annotations: Record<string, string>): KubeObject => ({apiVersion: 'v1', kind: 'Service', metadata: {name: 'litellm', namespace: NS, annotations}, spec: {type: 'LoadBalancer'}})
  it('reads the scheme as the AWS Load Balancer Controller does: absent is internal, the deprecated boolean annotation counts', () => {
    expect(liveGatewaySettings(NS, {service: svc({'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing'})}).internal).toBe(false)
    expect(liveGatewaySettings(NS, {service: svc({'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal'})}).internal).toBe(true)
    expect(liveGatewaySettings(NS, {service: svc({})}).internal).toBe(true)
    expect(liveGatewaySettings(NS, {service: svc({'service.beta.kubernetes.io/aws-load-balancer-internal': 'false'})}).internal).toBe(false)
  })

  it('a hand edit (kubectl scale, set resources) is what is kept; the Deployment\'s default replicas is 1', () => {
    const dep = renderGateway(installs[0]![1]).objects.find((x) => x.kind === 'Deployment')!
    const spec = structuredClone(dep.spec) as any
    spec.replicas = 6
    spec.template.spec.containers[0].resources = {requests: {memory: '3Gi', cpu: '1'}}
    const live = liveGatewaySettings(NS, {deployment: {...dep, spec}})
    expect(live).toMatchObject({replicas: 6, requests: 'cpu=1,memory=3Gi', limits: null, databaseUrlSecret: null})
    delete spec.replicas
    expect(liveGatewaySettings(NS, {deployment: {...dep, spec}}).replicas).toBe(1)
  })
})

describe('resource lists and the table', () => {
  it('parses kubectl set resources lists; none; refuses what is not NAME=QUANTITY', () => {
    expect(parseResourceList('memory=2Gi, cpu=500m', '--requests')).toEqual({memory: '2Gi', cpu: '500m'})
    expect(parseResourceList('none', '--limits')).toBeNull()
    expect(formatResourceList({memory: '2Gi', cpu: '500m'})).toBe('cpu=500m,memory=2Gi')
    for (const bad of ['cpu', 'cpu=lots', '', 'cpu=1,=2']) expect(failure(() => parseResourceList(bad, '--requests')).exitCode, bad).toBe(2)
  })

  it('rows say kept (flag omitted), old -> new, and what none means', () => {
    const rows = gatewaySettingRows(decide({replicas: 4}, liveOf(installs[2]![1])).decisions)
    expect(rows.find((r) => r.setting === 'replicas')).toEqual({setting: 'replicas', value: '2 -> 4', action: 'changed', changed: true})
    expect(rows.find((r) => r.setting === 'gateway-class')).toMatchObject({value: 'aws-alb', action: 'kept (flag omitted)'})
    expect(gatewaySettingRows(decide({}).decisions).find((r) => r.setting === 'database-url-secret')).toMatchObject({value: 'none (in-cluster Postgres)', action: 'default'})
  })
})

describe('exposureWarnings: plain HTTP where API keys travel', () => {
  it('internet-facing NLB without a certificate is warned about (with the fix); TLS or internal is not', () => {
    expect(exposureWarnings({kind: 'loadbalancer', internal: false})).toEqual([expect.stringMatching(/internet-facing over plain HTTP \(port 80\).*\nFix: --certificate-arn ARN .*--internal/s)])
    expect(exposureWarnings({kind: 'loadbalancer', internal: false, certificateArn: ARN})).toEqual([])
    expect(exposureWarnings({kind: 'loadbalancer', internal: true})).toEqual([])
  })
  it('a Gateway listener without TLS (scheme unknown: its class decides) is warned about; a TLS Secret or certificate is not', () => {
    expect(exposureWarnings({kind: 'httproute', gatewayClass: 'aws-alb'})).toEqual([expect.stringContaining('(class aws-alb) is plain HTTP')])
    expect(exposureWarnings({kind: 'httproute', gatewayClass: 'aws-alb', tlsSecret: 'llm-tls'})).toEqual([])
    expect(exposureWarnings({kind: 'httproute', gatewayClass: 'aws-alb', certificateArn: ARN})).toEqual([])
  })
  it('decideGatewaySettings returns them for what will be installed, kept settings included', () => {
    expect(decide({}).warnings).toHaveLength(1)
    expect(decide({}, liveOf(installs[1]![1])).warnings).toEqual([])
    expect(decide({certificateArn: null}, liveOf(installs[1]![1])).warnings).toEqual([]) // internal
    expect(decide({internal: false, certificateArn: null}, liveOf(installs[1]![1])).warnings).toHaveLength(1)
  })
})
