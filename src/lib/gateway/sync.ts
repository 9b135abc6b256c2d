/**
 * The gateway side of the model lifecycle: `model deploy` registers the model after its rollout,
 * `model delete` and `teardown` deregister before anything is deleted. Both do nothing when no
 * gateway is installed, and both are idempotent, so a rerun (or `aip gateway reconcile`) converges
 * after an interruption between the cluster change and the gateway change.
 */
import {AipError, NotFoundError, UnreachableError} from '../errors.js'
import type {KubeClient} from '../kube/index.js'
import {aipSelector} from '../kube/labels.js'
import {STABLE_TRACK_SELECTOR} from '../render/common.js'
import {connectGateway, gatewayDeployment, publicUrl} from './connect.js'
import {conflictError, conflictFor, deregisterModel, type DeregisterResult, desiredFromDeployment, isAipModel, modelId, observedModels, registerModel, type RegisterResult, servedNameOf} from './registry.js'

export interface GatewaySyncOptions {
  client: KubeClient
  gatewayNamespace: string
  url?: string
  masterKey?: string
  signal?: AbortSignal
  /** how long replicas may take to agree */
  timeoutMs?: number
  pollMs?: number
}

export type SyncSkipped = {skipped: string}

export async function registerDeployed(o: GatewaySyncOptions, namespace: string, model: string): Promise<RegisterResult | SyncSkipped> {
  if (!(await gatewayDeployment(o.client, o.gatewayNamespace))) return {skipped: `no gateway installed in ${o.gatewayNamespace}`}
  const {listByLabels} = await import('../kube/index.js')
  const deps = await listByLabels(o.client, [{apiVersion: 'apps/v1', kind: 'Deployment'}], `${aipSelector(model)},app.kubernetes.io/component=server,${STABLE_TRACK_SELECTOR}`, {namespace, signal: o.signal})
  if (deps.length === 0) throw new NotFoundError(`model "${model}" has no server Deployment in ${namespace} to register`, {fix: 'deploy it first: aip model deploy'})
  const conn = await connectGateway({client: o.client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: o.signal})
  return registerModel(conn, desiredFromDeployment(deps[0]!), {timeoutMs: o.timeoutMs, pollMs: o.pollMs, signal: o.signal})
}

export async function deregisterDeleted(o: GatewaySyncOptions, namespace: string, model: string): Promise<DeregisterResult | SyncSkipped> {
  if (!(await gatewayDeployment(o.client, o.gatewayNamespace))) return {skipped: `no gateway installed in ${o.gatewayNamespace}`}
  const conn = await connectGateway({client: o.client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: o.signal})
  // a rollout's canary (aip model rollout) goes with the model
  const {byId} = await observedModels(conn, o.signal)
  if (byId.has(modelId(namespace, model, 'canary'))) await deregisterModel(conn, modelId(namespace, model, 'canary'), {timeoutMs: o.timeoutMs, pollMs: o.pollMs, signal: o.signal})
  return deregisterModel(conn, modelId(namespace, model), {timeoutMs: o.timeoutMs, pollMs: o.pollMs, signal: o.signal})
}

/** Teardown: every registration aip made goes, verified on each replica. */
export async function deregisterAll(o: GatewaySyncOptions): Promise<DeregisterResult[] | SyncSkipped> {
  if (!(await gatewayDeployment(o.client, o.gatewayNamespace))) return {skipped: `no gateway installed in ${o.gatewayNamespace}`}
  const conn = await connectGateway({client: o.client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: o.signal})
  const {byId} = await observedModels(conn, o.signal)
  const out: DeregisterResult[] = []
  for (const m of [...byId.values()].filter(isAipModel)) out.push(await deregisterModel(conn, m.model_info.id, {timeoutMs: o.timeoutMs, pollMs: o.pollMs, signal: o.signal}))
  return out
}

/**
 * `--via gateway` for clients of a model (bench): the gateway's public URL (or --gateway-url) and
 * the model's public name. undefined when no gateway is installed.
 */
export async function gatewayRouteFor(o: Pick<GatewaySyncOptions, 'client' | 'gatewayNamespace' | 'url' | 'signal'>, namespace: string, model: string): Promise<{url: string; servedName: string} | undefined> {
  if (!(await gatewayDeployment(o.client, o.gatewayNamespace))) return undefined
  const {listByLabels} = await import('../kube/index.js')
  const deps = await listByLabels(o.client, [{apiVersion: 'apps/v1', kind: 'Deployment'}], `${aipSelector(model)},app.kubernetes.io/component=server,${STABLE_TRACK_SELECTOR}`, {namespace, signal: o.signal})
  if (deps.length === 0) throw new NotFoundError(`model "${model}" is not deployed in namespace ${namespace}`, {fix: 'run `aip model list`, or pass -n NAMESPACE'})
  const url = o.url ?? (await publicUrl(o.client, o.gatewayNamespace))
  if (!url) throw new UnreachableError(`the gateway in ${o.gatewayNamespace} has no public address yet`, {fix: `wait for its load balancer (aip gateway status), or pass --gateway-url with kubectl port-forward -n ${o.gatewayNamespace} svc/litellm 4000:4000`})
  return {url: url.replace(/\/+$/, ''), servedName: servedNameOf(deps[0]!)}
}

/**
 * Before a deploy applies anything: the gateway can be reached with the master key, and the public
 * name is not served by another registration (a conflict is found before the cluster changes).
 */
export async function precheckRegistration(o: GatewaySyncOptions, namespace: string, model: string, servedName: string): Promise<SyncSkipped | {ok: true}> {
  if (!(await gatewayDeployment(o.client, o.gatewayNamespace))) return {skipped: `no gateway installed in ${o.gatewayNamespace}`}
  const conn = await connectGateway({client: o.client, namespace: o.gatewayNamespace, url: o.url, masterKey: o.masterKey, signal: o.signal})
  const {byId} = await observedModels(conn, o.signal)
  const d = {id: modelId(namespace, model), namespace, name: model, servedName, apiBase: ''}
  const other = conflictFor(d, byId.values())
  if (other) throw conflictError(d, other)
  return {ok: true}
}

/**
 * `registerDeployed` as a progress step, for commands that have just changed a model (deploy,
 * rollback): the step names the outcome, and a failure says the cluster change stands (`done`, e.g.
 * "is deployed") and how to converge (`retry`).
 */
export async function registerAfterChange(
  o: GatewaySyncOptions,
  r: {namespace: string; model: string; servedName?: string},
  progress: {step(title: string): {succeed(m?: string): void; fail(m?: string): void}} | undefined,
  words: {done: string; retry: string},
): Promise<RegisterResult | SyncSkipped> {
  const step = progress?.step(`register ${r.servedName ?? r.model} with the gateway`)
  try {
    const res = await registerDeployed(o, r.namespace, r.model)
    if ('skipped' in res) step?.succeed(`gateway: ${res.skipped}`)
    else step?.succeed(`gateway: "${res.servedName}" ${res.action}, served by ${res.replicas.length} replica(s)`)
    return res
  } catch (error) {
    step?.fail('gateway registration failed')
    if (!(error instanceof AipError)) throw error
    throw new AipError(error.code, `${r.model} ${words.done}, but the gateway did not take it: ${error.message}`, {fix: `${error.fix ? `${error.fix}; then ` : ''}${words.retry}`, details: error.details, cause: error})
  }
}
