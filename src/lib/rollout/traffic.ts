/**
 * Traffic between a model's stable and canary through the gateway (LiteLLM): both registered under
 * the model's public name, each with `litellm_params.weight` (simple-shuffle's weighted pick,
 * litellm/router_strategy/simple_shuffle.py). It reads only the FIRST deployment's weight to decide
 * whether to pick by weight at all, so the stable gets its weight before the canary is added, and
 * keeps one after the canary is removed (a lone deployment with weight 0 would make the pick fail).
 * Every change is verified on every proxy replica (registry.ts registerModel / deregisterModel),
 * so a 10% step is never left at 50:50 on a replica that lagged.
 *
 * The canary's share is also written on its Deployment (aip.dev/gateway-weight), so `aip gateway
 * reconcile` during a rollout restores the split instead of resetting it (registry.ts desiredModels).
 */
import type {KubeClient, KubeObject} from '../kube/index.js'
import {connectGateway, gatewayDeployment, type GatewayConnection} from '../gateway/connect.js'
import {deregisterModel, desiredFromDeployment, GATEWAY_WEIGHT_ANNOTATION, modelId, observedModels, registerModel, type DesiredModel} from '../gateway/registry.js'
import type {GatewaySyncOptions} from '../gateway/sync.js'

/** Field manager of the rollout's own small writes (the weight annotation, the canary's scale). */
export const ROLLOUT_MANAGER = 'aip-rollout'

export interface TrafficTarget {
  stable: DesiredModel
  canary: DesiredModel
}

export function trafficTarget(stableDep: KubeObject, canaryDep: KubeObject): TrafficTarget {
  return {stable: desiredFromDeployment(stableDep), canary: desiredFromDeployment(canaryDep)}
}

export async function hasGateway(o: GatewaySyncOptions): Promise<boolean> {
  return Boolean(await gatewayDeployment(o.client, o.gatewayNamespace))
}

export async function connect(o: GatewaySyncOptions): Promise<GatewayConnection> {
  return connectGateway({client: o.client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: o.signal})
}

async function annotateWeight(client: KubeClient, canaryDep: {name: string; namespace: string}, weight: number, signal?: AbortSignal): Promise<void> {
  const {patchObject} = await import('../kube/index.js')
  await patchObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: canaryDep.name, namespace: canaryDep.namespace}, {metadata: {annotations: {[GATEWAY_WEIGHT_ANNOTATION]: String(weight)}}}, {fieldManager: ROLLOUT_MANAGER, signal})
}

/**
 * Sets the canary's share (0-100) and waits until every gateway replica routes by it. 0 removes the
 * canary's registration (the stable serves alone, weight 100).
 */
export async function setWeight(o: GatewaySyncOptions & {client: KubeClient; check?: () => Promise<void>}, conn: GatewayConnection, t: TrafficTarget, weight: number, canaryRef: {name: string; namespace: string} | undefined): Promise<{replicas: string[]}> {
  const verify = {timeoutMs: o.timeoutMs, pollMs: o.pollMs, signal: o.signal, check: o.check}
  if (canaryRef) await annotateWeight(o.client, canaryRef, weight, o.signal)
  if (weight <= 0) {
    const s = await registerModel(conn, {...t.stable, weight: 100}, verify)
    await deregisterModel(conn, t.canary.id, verify)
    return {replicas: s.replicas}
  }
  // the stable first: it is the first deployment of the name (see above)
  await registerModel(conn, {...t.stable, weight: 100 - weight}, verify)
  const c = await registerModel(conn, {...t.canary, weight}, verify)
  return {replicas: c.replicas}
}

/** The weights every replica routes by now, per id (for status): undefined when unregistered. */
export async function observedWeights(conn: GatewayConnection, namespace: string, model: string, signal?: AbortSignal): Promise<{stable?: number; canary?: number; perReplica: Array<{pod: string; ids: string[]}>}> {
  const {byId, perReplica} = await observedModels(conn, signal)
  const w = (id: string) => {
    const m = byId.get(id)
    if (!m) return undefined
    const v = Number(m.litellm_params.weight)
    return Number.isFinite(v) ? v : 100
  }
  return {stable: w(modelId(namespace, model)), canary: w(modelId(namespace, model, 'canary')), perReplica}
}
