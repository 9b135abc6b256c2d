import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {gatewayStatus, installGateway} from '../../../src/lib/gateway/install.js'
import {createKubeClient} from '../../../src/lib/kube/index.js'
import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'

/**
 * A LoadBalancer Service that never gets an address: on EKS, Auto Mode's load balancing (or the AWS
 * Load Balancer Controller) records why as a Warning event on the Service, e.g. untagged subnets.
 */
describe('gateway status: why the load balancer has no address', () => {
  let api: KubeApiServer
  beforeAll(async () => {
    api = await startKubeApiServer({noLoadBalancerController: true})
  })
  afterAll(async () => api?.stop())

  it("names the controller's Warning event and the subnet tags it needs", async () => {
    const client = await createKubeClient({kubeconfig: api.kubeconfigPath})
    await installGateway(client, {namespace: 'gw-lb', settings: {internal: false}, wait: false})
    const svc = api.store.get('v1', 'Service', 'gw-lb', 'litellm')!
    api.store.put({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {name: 'litellm.1', namespace: 'gw-lb'},
      involvedObject: {kind: 'Service', namespace: 'gw-lb', name: 'litellm', uid: svc.metadata.uid, apiVersion: 'v1'},
      type: 'Warning',
      reason: 'FailedBuildModel',
      message: 'Failed build model due to unable to resolve at least one subnet (0 match VPC and tags: [kubernetes.io/role/elb])',
      count: 3,
    })
    const s = await gatewayStatus(client, {namespace: 'gw-lb', masterKey: 'sk-unused'})
    expect(s.url).toBeUndefined()
    expect(s.exposureProblem).toContain('FailedBuildModel: Failed build model due to unable to resolve at least one subnet')
    expect(s.exposureProblem).toContain('kubernetes.io/role/elb=1')
  })

  it('without any event: says no load balancer controller has acted on the Service', async () => {
    const client = await createKubeClient({kubeconfig: api.kubeconfigPath})
    await installGateway(client, {namespace: 'gw-lb2', settings: {internal: true}, wait: false})
    const s = await gatewayStatus(client, {namespace: 'gw-lb2', masterKey: 'sk-unused'})
    expect(s.exposureProblem).toMatch(/no load balancer controller has acted on Service gw-lb2\/litellm/)
    expect(s.exposureProblem).toContain('kubernetes.io/role/internal-elb=1')
  })

  it('a Service with an address has no problem to report', async () => {
    const client = await createKubeClient({kubeconfig: api.kubeconfigPath})
    await installGateway(client, {namespace: 'gw-lb3', settings: {internal: false}, wait: false})
    const svc = api.store.get('v1', 'Service', 'gw-lb3', 'litellm')!
    api.store.put({...svc, status: {loadBalancer: {ingress: [{hostname: 'k8s-gw-abc.elb.us-east-1.amazonaws.com'}]}}})
    api.store.put({apiVersion: 'v1', kind: 'Event', metadata: {name: 'litellm.old', namespace: 'gw-lb3'}, involvedObject: {kind: 'Service', namespace: 'gw-lb3', name: 'litellm'}, type: 'Warning', reason: 'FailedDeployModel', message: 'an earlier failure'})
    const s = await gatewayStatus(client, {namespace: 'gw-lb3', masterKey: 'sk-unused'})
    expect(s.url).toBe('http://k8s-gw-abc.elb.us-east-1.amazonaws.com')
    expect(s.exposureProblem).toBeUndefined()
  })
})
