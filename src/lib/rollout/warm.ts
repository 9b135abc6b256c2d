/**
 * Warm before traffic: once the candidate's pods are Ready, one real completion through its own
 * Service (the API server's service proxy, as `model bench --via service` reaches a model), before
 * the gateway sends it any share. Ready already means one completion succeeded inside the pod (the
 * readiness probe, render/scripts.ts); this one proves the Service path the gateway will use.
 */
import {AipError} from '../errors.js'
import type {KubeClient} from '../kube/index.js'
import {VLLM_PORT} from '../render/common.js'
import {sleep} from '../sleep.js'

export interface WarmResult {
  ok: boolean
  attempts: number
  latencyMs: number
  error?: string
}

export async function warmUp(client: KubeClient, o: {namespace: string; service: string; servedName: string; attempts?: number; timeoutMs?: number; signal?: AbortSignal}): Promise<WarmResult> {
  const {kubeConfigFetch} = await import('../metrics/transport.js')
  const {runRequest} = await import('../loadtest/request.js')
  const fetch = await kubeConfigFetch(client.kubeConfig)
  const base = `${client.server}/api/v1/namespaces/${encodeURIComponent(o.namespace)}/services/${encodeURIComponent(o.service)}:${VLLM_PORT}/proxy`
  const attempts = o.attempts ?? 3
  let last = ''
  for (let i = 1; i <= attempts; i++) {
    const r = await runRequest({base, fetch, api: 'chat', model: o.servedName, prompt: 'Reply with OK.', maxTokens: 4, stream: false, timeoutMs: o.timeoutMs ?? 120_000, signal: o.signal})
    if (o.signal?.aborted) throw o.signal.reason ?? new AipError('INTERRUPTED', 'interrupted')
    if (r.ok) return {ok: true, attempts: i, latencyMs: Math.round(r.latencyMs)}
    last = `${r.errorKind ?? 'failed'}${r.errorMessage ? `: ${r.errorMessage}` : ''}`
    if (i < attempts) await sleep(1000 * i, o.signal)
  }
  return {ok: false, attempts, latencyMs: 0, error: last}
}
