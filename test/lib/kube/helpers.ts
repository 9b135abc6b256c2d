import {startKubeApiServer, type KubeApiServer} from '../../support/kube-apiserver/index.mjs'

export type {KubeApiServer}

/** A request helper over plain fetch against the loopback server. */
export function http(api: KubeApiServer) {
  return async (method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<{status: number; contentType: string | null; body: any; headers: Headers}> => {
    const res = await api.fetch(path, {
      method,
      headers: body === undefined ? {} : {'content-type': contentType},
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await res.text()
    let parsed: any = text
    try {
      parsed = JSON.parse(text)
    } catch {
      // text bodies (logs)
    }
    return {status: res.status, contentType: res.headers.get('content-type'), body: parsed, headers: res.headers}
  }
}

export function deployment(name: string, ns: string, opts: {replicas?: number; image?: string; labels?: Record<string, string>} = {}) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {name, namespace: ns, labels: {app: name, ...(opts.labels ?? {})}},
    spec: {
      replicas: opts.replicas ?? 1,
      selector: {matchLabels: {app: name}},
      template: {metadata: {labels: {app: name}}, spec: {containers: [{name: 'vllm', image: opts.image ?? 'vllm/vllm-openai:v0.8.5'}]}},
    },
  }
}

export function namespace(name: string) {
  return {apiVersion: 'v1', kind: 'Namespace', metadata: {name}}
}

export {startKubeApiServer}
