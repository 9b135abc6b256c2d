/**
 * A gateway on loopback peers: the Kubernetes API server, `aip gateway install`'s objects in it,
 * two LiteLLM replicas sharing a database (litellm-server.mjs), each gateway pod's proxy
 * (/api/v1/namespaces/aip-gateway/pods/POD:4000/proxy) pointed at one replica, and model servers
 * (openai-server.mjs) behind the models' in-cluster api_base URLs.
 */
import type {KubeApiServer} from './kube-apiserver/index.mjs'
import {type LiteLLMServer, startLiteLLM} from './litellm-server.mjs'
import {type OpenAIServer, startOpenAIServer} from './openai-server.mjs'

export const GATEWAY_NS = 'aip-gateway'

export interface GatewayPeers {
  litellm: LiteLLMServer
  openai: OpenAIServer
  /** maps each ready gateway pod to a replica (in pod-name order); returns the pod names */
  wirePods(): Promise<string[]>
  close(): Promise<void>
}

/** LiteLLM replicas whose models forward to one OpenAI server serving `models`. */
export async function startGatewayPeers(api: KubeApiServer, opts: {models?: string[]; syncIntervalMs?: number; masterKey?: string} = {}): Promise<GatewayPeers> {
  const openai = await startOpenAIServer({models: opts.models ?? ['qwen3-8b', 'llama-3.1-8b-instruct', 'mistral-7b-instruct-v0.3'], ttftMs: 5, itlMs: 1, tokens: 4})
  // every in-cluster api_base (http://NAME.NS.svc:8000/v1) lands on the loopback model server
  const litellm = await startLiteLLM({masterKey: opts.masterKey, syncIntervalMs: opts.syncIntervalMs ?? 150, resolveApiBase: () => `${openai.url}/v1`})
  return {
    litellm,
    openai,
    async wirePods() {
      await api.waitFor((s) => s.list('v1', 'Pod', GATEWAY_NS).filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'litellm' && p.status?.podIP).length >= 2, 10_000)
      const pods = api.store
        .list('v1', 'Pod', GATEWAY_NS)
        .filter((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'litellm' && !p.metadata.deletionTimestamp)
        .map((p) => p.metadata.name)
        .sort()
      pods.forEach((name, i) => api.setPodBackend(GATEWAY_NS, name, 4000, litellm.replicas[i % litellm.replicas.length]!.url))
      return pods
    },
    async close() {
      await litellm.close()
      await openai.close()
    },
  }
}
