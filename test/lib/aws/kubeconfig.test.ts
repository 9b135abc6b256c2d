import {mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {parse} from 'yaml'

import {EXEC_API_VERSION, kubeconfigPath, mergeKubeconfig, writeKubeconfig, type KubeconfigEntry} from '../../../src/lib/aws/kubeconfig.js'
import {UsageError} from '../../../src/lib/errors.js'

const entry: KubeconfigEntry = {
  contextName: 'arn:aws:eks:us-east-1:123:cluster/aip',
  clusterName: 'aip',
  region: 'us-east-1',
  server: 'https://ABC.gr7.us-east-1.eks.amazonaws.com',
  certificateAuthorityData: 'LS0tLS1CRUdJTi0tLS0t',
  profile: 'dev',
}

const dir = () => mkdtempSync(join(tmpdir(), 'aip-kc-'))

describe('kubeconfig writer', () => {
  it('creates a new file with cluster, exec user and context, mode 0600', () => {
    const path = join(dir(), 'nested', 'config')
    const r = writeKubeconfig(path, entry)
    expect(r.action).toBe('created')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    const kc = parse(readFileSync(path, 'utf8'))
    expect(kc['current-context']).toBe(entry.contextName)
    expect(kc.clusters[0]).toEqual({name: entry.contextName, cluster: {server: entry.server, 'certificate-authority-data': entry.certificateAuthorityData}})
    const exec = kc.users[0].user.exec
    expect(exec.apiVersion).toBe(EXEC_API_VERSION)
    expect(exec.command).toBe('aws')
    expect(exec.args).toEqual(['--region', 'us-east-1', 'eks', 'get-token', '--cluster-name', 'aip', '--output', 'json', '--profile', 'dev'])
    expect(kc.contexts[0]).toEqual({name: entry.contextName, context: {cluster: entry.contextName, user: entry.contextName}})
    // no secrets: no token, no key material
    expect(readFileSync(path, 'utf8')).not.toMatch(/token:|client-key|password|AWS_SECRET/i)
  })

  it('merges into an existing kubeconfig without losing other contexts, and updates in place', () => {
    const d = dir()
    const path = join(d, 'config')
    const other = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{name: 'kind-dev', cluster: {server: 'https://127.0.0.1:6443'}}],
      users: [{name: 'kind-dev', user: {'client-certificate-data': 'AAA'}}],
      contexts: [{name: 'kind-dev', context: {cluster: 'kind-dev', user: 'kind-dev', namespace: 'x'}}],
      'current-context': 'kind-dev',
    }
    writeFileSync(path, JSON.stringify(other), {mode: 0o644})
    expect(writeKubeconfig(path, entry).action).toBe('updated')
    let kc = parse(readFileSync(path, 'utf8'))
    expect(kc.contexts.map((c: {name: string}) => c.name)).toEqual(['kind-dev', entry.contextName])
    expect(kc.users[0]).toEqual(other.users[0])
    expect(kc['current-context']).toBe(entry.contextName)
    expect(statSync(path).mode & 0o777).toBe(0o600)

    // rerun: nothing changes
    expect(writeKubeconfig(path, entry).action).toBe('unchanged')
    // new endpoint: replaced, not duplicated
    writeKubeconfig(path, {...entry, server: 'https://NEW.eks.amazonaws.com'})
    kc = parse(readFileSync(path, 'utf8'))
    expect(kc.clusters).toHaveLength(2)
    expect(kc.clusters[1].cluster.server).toBe('https://NEW.eks.amazonaws.com')
    // no temp files left behind
    expect(readdirSync(d)).toEqual(['config'])
  })

  it('keeps current-context when setCurrent is false and omits --profile without a profile', () => {
    const {doc} = mergeKubeconfig({'current-context': 'kind-dev', contexts: [{name: 'kind-dev'}]}, {...entry, profile: undefined, setCurrent: false})
    expect(doc['current-context']).toBe('kind-dev')
    const exec = (doc.users![0]!.user as {exec: {args: string[]; env?: unknown}}).exec
    expect(exec.args).not.toContain('--profile')
    expect(exec.env).toBeUndefined()
  })

  it('refuses to overwrite a malformed kubeconfig', () => {
    const path = join(dir(), 'config')
    writeFileSync(path, 'clusters: [unclosed\n')
    expect(() => writeKubeconfig(path, entry)).toThrow(UsageError)
    expect(readFileSync(path, 'utf8')).toBe('clusters: [unclosed\n')
  })

  it('resolves the path: explicit > first $KUBECONFIG entry > ~/.kube/config', () => {
    expect(kubeconfigPath('/tmp/x')).toBe('/tmp/x')
    expect(kubeconfigPath(undefined, {KUBECONFIG: '/a/one:/b/two', HOME: '/h'})).toBe('/a/one')
    expect(kubeconfigPath(undefined, {HOME: '/h'})).toBe('/h/.kube/config')
  })
})
