// Transport and auth of the loopback API server (tls.mjs, auth.mjs), as an EKS endpoint has them:
// HTTPS with the cluster CA, bearer tokens checked (401), RBAC from the stored roles (403 with
// kube-apiserver's Forbidden message), and what aip's own client makes of each.
import {readFileSync} from 'node:fs'
import {request} from 'node:https'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {UnauthorizedError} from '../../../src/lib/errors.js'
import {createKubeClient} from '../../../src/lib/kube/index.js'
import {deployment, namespace, startKubeApiServer, type KubeApiServer} from './helpers.js'

let api: KubeApiServer
const UNAUTHORIZED = {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401}

beforeAll(async () => {
  api = await startKubeApiServer({})
  for (const ns of ['team-a', 'team-b']) await api.fetch('/api/v1/namespaces', {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(namespace(ns))})
})
afterAll(async () => {
  await api.stop()
})

const post = (path: string, body: unknown, token?: string | null) => api.fetch(path, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify(body), token})

describe('transport', () => {
  it('serves HTTPS with a certificate the kubeconfig CA verifies (127.0.0.1 and localhost), and nothing else trusts it', async () => {
    expect(api.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const kc = parse(readFileSync(api.kubeconfigPath, 'utf8'))
    const cluster = kc.clusters[0].cluster
    expect(cluster['insecure-skip-tls-verify']).toBeUndefined()
    expect(Buffer.from(cluster['certificate-authority-data'], 'base64').toString()).toBe(api.caCert)
    expect(api.caData).toBe(cluster['certificate-authority-data'])
    const get = (host: string, ca?: string) =>
      new Promise<number | string>((resolve) => {
        request({host, port: api.port, path: '/version', ca, headers: {authorization: `Bearer ${api.token}`}}, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
          .on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message))
          .end()
      })
    expect(await get('127.0.0.1', api.caCert)).toBe(200)
    expect(await get('localhost', api.caCert)).toBe(200)
    expect(await get('127.0.0.1')).toMatch(/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/)
  })
})

describe('authentication', () => {
  it('no token and a wrong token are 401 with the Status body kube-apiserver writes', async () => {
    for (const token of [null, 'not-a-token']) {
      const res = await api.fetch('/api/v1/namespaces', {token})
      expect(res.status).toBe(401)
      expect(res.headers.get('content-type')).toBe('application/json')
      expect(await res.json()).toEqual(UNAUTHORIZED)
    }
    // writes are refused before anything is read or stored
    expect((await post('/api/v1/namespaces', namespace('sneaky'), null)).status).toBe(401)
    expect(api.store.get('v1', 'Namespace', undefined, 'sneaky')).toBeUndefined()
  })

  it('aip\'s client turns a 401 into UnauthorizedError (exit 6)', async () => {
    const u = api.addUser({name: 'tmp'})
    const kubeconfig = u.kubeconfigPath
    const text = readFileSync(kubeconfig, 'utf8').replace(u.token, 'revoked-token')
    const {writeFileSync} = await import('node:fs')
    writeFileSync(kubeconfig, text)
    const c = await createKubeClient({kubeconfig, retry: {retries: 0}})
    const err = await c.request('GET', '/api/v1/namespaces').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(UnauthorizedError)
    expect((err as UnauthorizedError).exitCode).toBe(6)
  })

  it('anonymous auth (as EKS has it): system:anonymous reads /version and /healthz, nothing else', async () => {
    const anon = await startKubeApiServer({anonymousAuth: true})
    try {
      expect((await anon.fetch('/version', {token: null})).status).toBe(200)
      expect((await anon.fetch('/healthz', {token: null})).status).toBe(200)
      const api1 = await anon.fetch('/api', {token: null})
      expect(api1.status).toBe(403)
      expect((await api1.json() as any).message).toBe('forbidden: User "system:anonymous" cannot get path "/api"')
      const ns = await anon.fetch('/api/v1/namespaces', {token: null})
      expect(ns.status).toBe(403)
      expect((await ns.json() as any).message).toBe('namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" in API group "" at the cluster scope')
      expect((await anon.fetch('/api/v1/namespaces', {token: 'wrong'})).status).toBe(401) // a bad token is never anonymous
    } finally {
      await anon.stop()
    }
  })
})

describe('authorization (RBAC)', () => {
  it('the bootstrap ClusterRoles and bindings exist, as on a new cluster', () => {
    const roles = api.store.list('rbac.authorization.k8s.io/v1', 'ClusterRole').map((r) => r.metadata.name)
    expect(roles).toEqual(expect.arrayContaining(['cluster-admin', 'admin', 'edit', 'view', 'system:discovery', 'system:public-info-viewer']))
    const b = api.store.get('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', undefined, 'cluster-admin')!
    expect(b.subjects).toEqual([{apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:masters'}])
  })

  it('a read-only (view) token reads everything but Secrets and writes nothing: 403 with the real message', async () => {
    const ro = api.addUser({name: 'viewer', clusterRoles: ['view']})
    expect((await api.fetch('/api/v1/namespaces/team-a/pods', {token: ro.token})).status).toBe(200)
    expect((await api.fetch('/apis/apps/v1/namespaces/team-a/deployments', {token: ro.token})).status).toBe(200)
    expect((await api.fetch('/api', {token: ro.token})).status).toBe(200) // discovery
    const secrets = await api.fetch('/api/v1/namespaces/team-a/secrets', {token: ro.token})
    expect(secrets.status).toBe(403)
    const create = await post('/apis/apps/v1/namespaces/team-a/deployments', deployment('x', 'team-a'), ro.token)
    expect(create.status).toBe(403)
    // POST carries no name in the URL: NewForbidden leaves it out
    expect((await create.json()) as any).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'deployments.apps is forbidden: User "viewer" cannot create resource "deployments" in API group "apps" in the namespace "team-a"',
      reason: 'Forbidden',
      details: {group: 'apps', kind: 'deployments'},
      code: 403,
    })
    const apply = await api.fetch('/apis/apps/v1/namespaces/team-a/deployments/x?fieldManager=aip', {method: 'PATCH', headers: {'content-type': 'application/apply-patch+yaml'}, body: JSON.stringify(deployment('x', 'team-a')), token: ro.token})
    expect(apply.status).toBe(403)
    expect((await apply.json() as any).message).toBe('deployments.apps "x" is forbidden: User "viewer" cannot patch resource "deployments" in API group "apps" in the namespace "team-a"')
    const scale = await api.fetch('/apis/apps/v1/namespaces/team-a/deployments/x/scale', {method: 'PATCH', headers: {'content-type': 'application/merge-patch+json'}, body: '{"spec":{"replicas":2}}', token: ro.token})
    expect((await scale.json() as any).message).toBe('deployments.apps "x" is forbidden: User "viewer" cannot patch resource "deployments/scale" in API group "apps" in the namespace "team-a"')
    const nodes = await api.fetch('/api/v1/nodes', {token: ro.token})
    expect((await nodes.json() as any).message).toBe('nodes is forbidden: User "viewer" cannot list resource "nodes" in API group "" at the cluster scope')
    expect(api.store.get('apps/v1', 'Deployment', 'team-a', 'x')).toBeUndefined()
  })

  it('a tenant edits its own namespace only; a group binding (as aip bootstrap writes) counts too', async () => {
    const alice = api.addUser({name: 'alice', namespaceRoles: {'team-a': 'edit'}})
    expect((await post('/apis/apps/v1/namespaces/team-a/deployments', deployment('mine', 'team-a'), alice.token)).status).toBe(201)
    const other = await post('/apis/apps/v1/namespaces/team-b/deployments', deployment('theirs', 'team-b'), alice.token)
    expect(other.status).toBe(403)
    expect((await other.json() as any).message).toBe('deployments.apps is forbidden: User "alice" cannot create resource "deployments" in API group "apps" in the namespace "team-b"')
    // edit grants no RBAC writes (escalation needs admin)
    const rb = {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name: 'x'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin'}, subjects: [{kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io'}]}
    expect((await post('/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings', rb, alice.token)).status).toBe(403)
    // a Role + RoleBinding to a group, as the tenant objects of `aip cluster bootstrap` do
    const bob = api.addUser({name: 'bob', groups: ['aip:tenant:team-b']})
    expect((await post('/apis/apps/v1/namespaces/team-b/deployments', deployment('b', 'team-b'), bob.token)).status).toBe(403)
    await post('/apis/rbac.authorization.k8s.io/v1/namespaces/team-b/roles', {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: {name: 'tenant'}, rules: [{apiGroups: ['apps'], resources: ['deployments'], verbs: ['get', 'list', 'create', 'patch']}]})
    await post('/apis/rbac.authorization.k8s.io/v1/namespaces/team-b/rolebindings', {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name: 'tenant'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'tenant'}, subjects: [{kind: 'Group', name: 'aip:tenant:team-b', apiGroup: 'rbac.authorization.k8s.io'}]})
    expect((await post('/apis/apps/v1/namespaces/team-b/deployments', deployment('b', 'team-b'), bob.token)).status).toBe(201)
    const del = await api.fetch('/apis/apps/v1/namespaces/team-b/deployments/b', {method: 'DELETE', token: bob.token})
    expect((await del.json() as any).message).toBe('deployments.apps "b" is forbidden: User "bob" cannot delete resource "deployments" in API group "apps" in the namespace "team-b"')
  })

  it('server-side apply that would create also needs create', async () => {
    const patcher = api.addUser({name: 'patcher'})
    await post('/apis/rbac.authorization.k8s.io/v1/clusterroles', {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: {name: 'cm-patch'}, rules: [{apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'patch']}]})
    await post('/apis/rbac.authorization.k8s.io/v1/namespaces/team-a/rolebindings', {apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name: 'cm-patch'}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cm-patch'}, subjects: [{kind: 'User', name: 'patcher', apiGroup: 'rbac.authorization.k8s.io'}]})
    const cm = {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'c', namespace: 'team-a'}, data: {a: '1'}}
    const apply = (token: string) => api.fetch('/api/v1/namespaces/team-a/configmaps/c?fieldManager=aip', {method: 'PATCH', headers: {'content-type': 'application/apply-patch+yaml'}, body: JSON.stringify(cm), token})
    const first = await apply(patcher.token)
    expect(first.status).toBe(403)
    expect((await first.json() as any).message).toContain('cannot create resource "configmaps"')
    expect((await apply(api.token)).status).toBe(201)
    expect((await apply(patcher.token)).status).toBe(200) // now an update: patch is enough
  })
})
