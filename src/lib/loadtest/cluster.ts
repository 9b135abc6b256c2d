/**
 * `aip model bench NAME`: the model's Service (named after the catalog entry, dots -> dashes, port
 * "http") reached through the API server's service proxy, after checking the Service exists.
 */
import {AipError, networkErrorCode, NotFoundError, UnreachableError} from '../errors.js'
import {type Endpoint, httpStatusError, type KubeAccess, serviceProxyEndpoint} from '../metrics/transport.js'

export async function checkModelService(name: string, o: KubeAccess & {namespace: string}, signal?: AbortSignal): Promise<Endpoint> {
  const svc = name.replace(/\./g, '-').toLowerCase()
  const ep = await serviceProxyEndpoint({namespace: o.namespace, name: svc, port: 'http'}, {...o, fix: 'pass --url URL of the endpoint, or --kubeconfig PATH'})
  const url = `${ep.server}/api/v1/namespaces/${encodeURIComponent(o.namespace)}/services/${encodeURIComponent(svc)}`
  let res: Response
  try {
    res = await ep.fetch(url, {headers: {accept: 'application/json'}, signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(30_000)]) : AbortSignal.timeout(30_000)})
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error
    if (error instanceof AipError) throw error
    throw new UnreachableError(`cannot reach the cluster at ${ep.server} (${networkErrorCode(error) ?? (error as Error).message})`, {fix: 'check the kubeconfig and network, or pass --url', cause: error})
  }
  const text = await res.text()
  if (res.status === 404) {
    throw new NotFoundError(`model "${name}" is not deployed in namespace ${o.namespace} (no Service ${svc})`, {fix: 'run `aip model list`, deploy it with `aip model deploy`, or pass -n NAMESPACE / --url'})
  }
  if (!res.ok) throw httpStatusError(res.status, `GET Service ${o.namespace}/${svc}`, text, 'check your access to the namespace, or pass --url')
  return ep
}

/**
 * The API key to send to an endpoint, and why not when it is dropped: the API server authenticates
 * the caller with the Authorization header and removes it before proxying
 * (apiserver/pkg/endpoints/filters/authentication.go), so through the service proxy a key can't
 * reach the model (and would collide with the kubeconfig's token).
 */
export function apiKeyFor(ep: Endpoint, apiKey: string | undefined): {apiKey?: string; warning?: string} {
  if (!apiKey || !ep.server) return {apiKey}
  return {warning: 'the API key (AIP_API_KEY/OPENAI_API_KEY) is not sent through the service proxy: the API server consumes the Authorization header; use --url for an endpoint that needs a key'}
}
