/**
 * What `aip cluster bootstrap` leaves in a model namespace and `model deploy` checks before it
 * applies anything: the namespace, the ServiceAccounts aip-model-server and aip-preload, and (for
 * gated catalog models) the Hugging Face token Secret `aip secret set hf-token` writes.
 */
import type {KubeApiServer} from './kube-apiserver/index.mjs'

export function putModelNamespace(api: KubeApiServer, ns: string, opts: {hfToken?: string} = {}): void {
  api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: ns}})
  for (const name of ['aip-model-server', 'aip-preload']) api.store.put({apiVersion: 'v1', kind: 'ServiceAccount', metadata: {name, namespace: ns}, automountServiceAccountToken: false})
  if (opts.hfToken) api.store.put({apiVersion: 'v1', kind: 'Secret', metadata: {name: 'aip-hf-token', namespace: ns}, type: 'Opaque', data: {token: Buffer.from(opts.hfToken).toString('base64')}})
}
