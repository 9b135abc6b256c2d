/**
 * Which cluster, user and namespace a command talks to: kubeconfig files (--kubeconfig, the
 * KUBECONFIG path list merged as kubectl merges it, ~/.kube/config) or the in-cluster service
 * account, read by @kubernetes/client-node. What kubectl would fail on obscurely (an empty file, a
 * current-context naming a context that is not there, a server that is not a URL) is said here, in
 * one line with a fix, before any request is sent.
 */
import type {KubeConfig} from '@kubernetes/client-node'
import {existsSync, readFileSync, statSync} from 'node:fs'
import {homedir} from 'node:os'
import {delimiter, join} from 'node:path'

import {NotFoundError, UsageError} from '../errors.js'
import {withoutCredentials} from '../http/url.js'

const SA_ROOT = '/var/run/secrets/kubernetes.io/serviceaccount'
const DEFAULT_NO_KUBECONFIG_FIX = 'run aip cluster bootstrap or set --kubeconfig'

export interface KubeconfigInput {
  kubeconfig?: string
  context?: string
  namespace?: string
  env?: NodeJS.ProcessEnv
  /** The fix given when there is no kubeconfig or context (default: run aip cluster bootstrap). */
  missingFix?: string
}

export interface LoadedKubeconfig {
  kubeConfig: KubeConfig
  /** The context in use ("in-cluster" inside a pod). */
  context: string
  /** API server URL without a trailing slash. */
  server: string
  namespace: string
  kubeconfigPath?: string
}

function fileExists(p: string): boolean {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}

export async function loadKubeconfig(opts: KubeconfigInput = {}): Promise<LoadedKubeconfig> {
  const noKubeconfigFix = opts.missingFix ?? DEFAULT_NO_KUBECONFIG_FIX
  const env = opts.env ?? process.env
  const {KubeConfig} = await import('@kubernetes/client-node')
  const kc = new KubeConfig()
  let kubeconfigPath: string | undefined
  let inCluster = false

  const load = (file: string, extra?: KubeConfig): void => {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (error) {
      throw new UsageError(`cannot read kubeconfig ${file}: ${(error as Error).message.split('\n')[0]}`, {fix: 'check the file and its permissions', cause: error})
    }
    // client-node fails on an empty document with "Cannot read properties of undefined"
    if (!text.replace(/^\s*#.*$/gm, '').trim()) {
      throw new UsageError(`kubeconfig ${file} is empty`, {fix: `write a context into it (aip cluster bootstrap, or aws eks update-kubeconfig), or point --kubeconfig / KUBECONFIG at another file`})
    }
    try {
      // loadFromFile, not loadFromString: it resolves relative certificate and key paths against the file's folder
      ;(extra ?? kc).loadFromFile(file)
    } catch (error) {
      throw new UsageError(`cannot read kubeconfig ${file}: ${(error as Error).message.split('\n')[0]}`, {fix: 'check the file is a valid kubeconfig (kubectl config view --kubeconfig FILE)', cause: error})
    }
  }

  // a directory where a kubeconfig is expected is a mistake to name as one (kubectl: "is a directory"), not "not found"
  for (const f of [opts.kubeconfig, ...(opts.kubeconfig ? [] : (env.KUBECONFIG ?? '').split(delimiter))]) {
    if (f && statSync(f, {throwIfNoEntry: false})?.isDirectory()) throw new UsageError(`kubeconfig ${f} is a directory, not a file`, {fix: 'point --kubeconfig / KUBECONFIG at the kubeconfig file itself, e.g. ~/.kube/config'})
  }
  if (opts.kubeconfig) {
    if (!fileExists(opts.kubeconfig)) throw new NotFoundError(`kubeconfig ${opts.kubeconfig} not found`, {fix: noKubeconfigFix})
    kubeconfigPath = opts.kubeconfig
    load(opts.kubeconfig)
  } else if (env.KUBECONFIG) {
    const files = env.KUBECONFIG.split(delimiter).filter((f) => f && fileExists(f))
    if (files.length === 0) throw new NotFoundError(`no kubeconfig found: KUBECONFIG=${env.KUBECONFIG} names no existing file`, {fix: noKubeconfigFix})
    kubeconfigPath = files[0]
    load(files[0]!)
    for (const f of files.slice(1)) {
      const more = new KubeConfig()
      load(f, more)
      kc.mergeConfig(more, true)
    }
  } else {
    const home = env.HOME ?? homedir()
    const def = join(home, '.kube', 'config')
    if (fileExists(def)) {
      kubeconfigPath = def
      load(def)
    } else if (env.KUBERNETES_SERVICE_HOST && existsSync(join(SA_ROOT, 'token'))) {
      kc.loadFromCluster()
      inCluster = true
    } else {
      throw new NotFoundError(`no kubeconfig found (looked at $KUBECONFIG, ${def} and the in-cluster service account)`, {fix: noKubeconfigFix})
    }
  }

  const contexts = kc.getContexts().map((c) => c.name)
  const pick = contexts.length ? `pass --context with one of: ${contexts.join(', ')}` : noKubeconfigFix
  if (opts.context) {
    if (!contexts.includes(opts.context)) {
      throw new UsageError(`context "${opts.context}" not found in ${kubeconfigPath ?? 'the kubeconfig'}; available: ${contexts.join(', ') || '(none)'}`, {fix: pick})
    }
    kc.setCurrentContext(opts.context)
  } else if (!inCluster) {
    const current = kc.getCurrentContext()
    if (!current) {
      throw new UsageError(`kubeconfig ${kubeconfigPath} has no current context; available: ${contexts.join(', ') || '(none)'}`, {fix: contexts.length ? `${pick} (or kubectl config use-context NAME)` : noKubeconfigFix})
    }
    if (!contexts.includes(current)) {
      throw new UsageError(`kubeconfig ${kubeconfigPath} names current-context "${current}", but it has no context of that name; available: ${contexts.join(', ') || '(none)'}`, {
        fix: contexts.length ? `kubectl config use-context ${contexts[0]}, or ${pick}` : noKubeconfigFix,
      })
    }
  }
  const context = inCluster ? 'in-cluster' : kc.getCurrentContext()
  const cluster = kc.getCurrentCluster()
  if (!cluster) throw new UsageError(`context "${context}" names no cluster in ${kubeconfigPath ?? 'the kubeconfig'}`, {fix: 'fix the context\'s cluster in the kubeconfig, or pass --context'})
  let url: URL | undefined
  try {
    url = new URL(cluster.server)
  } catch {
    url = undefined
  }
  if (!url || !/^https?:$/.test(url.protocol) || !url.hostname) {
    throw new UsageError(`cluster "${cluster.name}" in ${kubeconfigPath ?? 'the kubeconfig'} has server "${withoutCredentials(cluster.server ?? '')}", which is not a URL`, {
      fix: `set it to the API server's URL: kubectl config set-cluster ${cluster.name} --server https://HOST:PORT (for EKS: aws eks update-kubeconfig)`,
    })
  }
  const ctxObj = kc.getContextObject(kc.getCurrentContext())
  const namespace = opts.namespace ?? ctxObj?.namespace ?? 'default'
  return {kubeConfig: kc, context, server: cluster.server.replace(/\/+$/, ''), namespace, kubeconfigPath}
}
