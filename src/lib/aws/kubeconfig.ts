/**
 * Kubeconfig writer, as `aws eks update-kubeconfig` does it: a cluster entry (endpoint + CA from
 * DescribeCluster), a user whose credentials come from an exec plugin (`aws eks get-token`, so no
 * token or key is ever written), and a context joining them. Merges into an existing file without
 * touching other entries, writes atomically (temp file + rename) with 0600 permissions.
 */
import {randomBytes} from 'node:crypto'
import {chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {delimiter, dirname, join, resolve} from 'node:path'
import {parse, stringify} from 'yaml'

import {UsageError} from '../errors.js'
import {YAML_OUTPUT} from '../output/yaml.js'

export const EXEC_API_VERSION = 'client.authentication.k8s.io/v1beta1'

export interface KubeconfigEntry {
  /** Context (and cluster/user entry) name; default: the cluster ARN, as the aws CLI names it. */
  contextName: string
  clusterName: string
  region: string
  server: string
  /** base64 PEM (certificate-authority-data). */
  certificateAuthorityData?: string
  profile?: string
  /** Make it the current context (default true). */
  setCurrent?: boolean
}

export interface WriteResult {
  path: string
  context: string
  /** created | updated | unchanged */
  action: 'created' | 'updated' | 'unchanged'
}

/** The kubeconfig file to write: explicit path > first entry of $KUBECONFIG > ~/.kube/config. */
export function kubeconfigPath(explicit?: string, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit) return resolve(explicit)
  const list = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean)
  if (list.length > 0) return resolve(list[0]!)
  return join(env.HOME || homedir(), '.kube', 'config')
}

type Named = Record<string, unknown> & {name: string}

interface KubeconfigDoc {
  apiVersion?: string
  kind?: string
  preferences?: Record<string, unknown>
  clusters?: Named[]
  contexts?: Named[]
  users?: Named[]
  'current-context'?: string
  [k: string]: unknown
}

/** The user entry: exec plugin, as `aws eks update-kubeconfig` writes it. */
export function execUser(clusterName: string, region: string, profile?: string): Record<string, unknown> {
  const args = ['--region', region, 'eks', 'get-token', '--cluster-name', clusterName, '--output', 'json']
  if (profile) args.push('--profile', profile)
  return {
    exec: {
      apiVersion: EXEC_API_VERSION,
      command: 'aws',
      args,
      ...(profile ? {env: [{name: 'AWS_PROFILE', value: profile}]} : {}),
      interactiveMode: 'IfAvailable',
      provideClusterInfo: false,
    },
  }
}

function upsert(list: Named[] | undefined, item: Named): [Named[], boolean] {
  const arr = Array.isArray(list) ? [...list] : []
  const i = arr.findIndex((e) => e && e.name === item.name)
  if (i < 0) {
    arr.push(item)
    return [arr, true]
  }
  const changed = JSON.stringify(arr[i]) !== JSON.stringify(item)
  arr[i] = item
  return [arr, changed]
}

/** Pure merge: returns the new document and whether anything changed. */
export function mergeKubeconfig(existing: KubeconfigDoc | undefined, e: KubeconfigEntry): {doc: KubeconfigDoc; changed: boolean} {
  const doc: KubeconfigDoc = {apiVersion: 'v1', kind: 'Config', preferences: {}, clusters: [], contexts: [], users: [], ...(existing ?? {})}
  if (!e.server) throw new UsageError(`cluster "${e.clusterName}" has no API endpoint yet`, {fix: 'wait until the cluster is ACTIVE and rerun'})
  // A plain-http endpoint (loopback test servers) has no TLS to verify; client libraries still
  // require the flag before they talk http, so say so explicitly. https endpoints always get the CA.
  const tls = e.server.startsWith('http://') ? {'insecure-skip-tls-verify': true} : e.certificateAuthorityData ? {'certificate-authority-data': e.certificateAuthorityData} : {}
  const cluster = {name: e.contextName, cluster: {server: e.server, ...tls}}
  const user = {name: e.contextName, user: execUser(e.clusterName, e.region, e.profile)}
  const context = {name: e.contextName, context: {cluster: e.contextName, user: e.contextName}}
  let changed = false
  let c: boolean
  ;[doc.clusters, c] = upsert(doc.clusters, cluster)
  changed ||= c
  ;[doc.users, c] = upsert(doc.users, user)
  changed ||= c
  ;[doc.contexts, c] = upsert(doc.contexts, context)
  changed ||= c
  if (e.setCurrent !== false && doc['current-context'] !== e.contextName) {
    doc['current-context'] = e.contextName
    changed = true
  }
  return {doc, changed}
}

/** Reads, merges and atomically writes the kubeconfig (0600). */
export function writeKubeconfig(path: string, e: KubeconfigEntry): WriteResult {
  let existing: KubeconfigDoc | undefined
  const exists = existsSync(path)
  if (exists) {
    const text = readFileSync(path, 'utf8')
    let data: unknown
    try {
      data = parse(text)
    } catch (err) {
      throw new UsageError(`kubeconfig ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, {fix: `fix ${path}, or write to another file with --kubeconfig`})
    }
    if (data !== null && data !== undefined && (typeof data !== 'object' || Array.isArray(data))) {
      throw new UsageError(`kubeconfig ${path} is not a kubeconfig mapping`, {fix: `fix ${path}, or write to another file with --kubeconfig`})
    }
    existing = (data ?? undefined) as KubeconfigDoc | undefined
  }
  const {doc, changed} = mergeKubeconfig(existing, e)
  if (exists && !changed) {
    chmodSync(path, 0o600)
    return {path, context: e.contextName, action: 'unchanged'}
  }
  mkdirSync(dirname(path), {recursive: true, mode: 0o700})
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
  try {
    writeFileSync(tmp, stringify(doc, YAML_OUTPUT), {mode: 0o600})
    chmodSync(tmp, 0o600)
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, {force: true})
    throw err
  }
  return {path, context: e.contextName, action: exists ? 'updated' : 'created'}
}
