// The KEDA HTTP add-on's interceptor and the KEDA activation it drives, on loopback, following
// kedacore/http-add-on v0.15 (interceptor/proxy.go handler chain, middleware/routing.go,
// counting.go, endpoint_resolver.go; pkg/routing/table.go; pkg/queue/queue_rpc.go) and KEDA's
// scale executor:
//
//   proxy (port 0): Routing -> Counting -> EndpointResolver -> upstream
//    - Routing: the HTTPScaledObjects (http.keda.sh/v1alpha1) in the loopback API server, matched by
//      the Host header without its port against spec.hosts, then spec.pathPrefixes (longest first);
//      no match: 404 "Not Found" (handler.NewStatic, text/plain).
//    - Counting: the route's pending count (key "<namespace>/<name>") rises for the whole request,
//      held or forwarded, and falls when it ends; RequestCount counts every request.
//    - EndpointResolver: waits until the target Service (scaleTargetRef.service) has a ready
//      endpoint (the real one watches EndpointSlices: here, the Ready pods the Service selects),
//      at most spec.timeouts.conditionWait (KEDA_HTTP_READINESS_TIMEOUT, default 0 = no bound);
//      past it: 504 "Gateway Timeout" (text/plain, no Retry-After), as v0.14+ answers.
//    - upstream: the request goes on to the Service through the loopback API server's service
//      proxy (/api/v1/namespaces/NS/services/NAME:PORT/proxy/PATH), headers and body as sent.
//   admin (port 0): GET /queue -> {"<ns>/<name>": {"Concurrency": n, "RequestCount": m}}, which the
//      add-on's external scaler polls; its IsActive is Concurrency > 0 (scaler/handlers.go).
//
// The KEDA stand-in polls that endpoint for every ScaledObject carrying the add-on's
// `external-push` trigger (metadata.httpScaledObject) and, while the route is active and the target
// Deployment sits at 0 replicas, scales it to max(minReplicaCount, 1) through the /scale
// subresource (KEDA's scale executor activates a scaled-to-zero target the same way). It does not
// scale down (a test sets 0 replicas as idle shutdown would) and honours paused-replicas.
import {createServer} from 'node:http'

const now = () => Date.now()
const text = (res, status, body, headers = {}) => {
  res.writeHead(status, {'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', ...headers})
  res.end(`${body}\n`)
}

function parseDuration(s) {
  if (!s) return 0
  let ms = 0
  for (const [, n, u] of String(s).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) ms += Number(n) * {ms: 1, s: 1000, m: 60_000, h: 3_600_000}[u]
  return ms
}

function matches(selector, labels) {
  return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v)
}

/**
 * @param {import('./kube-apiserver/index.d.mts').KubeApiServer} api
 * @param {{readinessTimeoutMs?: number, kedaPollMs?: number}} [opts]
 */
export async function startKedaHttp(api, opts = {}) {
  const counts = new Map() // key -> {Concurrency, RequestCount}
  const log = []
  const hsos = () => api.store.list('http.keda.sh/v1alpha1', 'HTTPScaledObject')

  function route(req) {
    const host = String(req.headers.host ?? '').replace(/:\d+$/, '')
    const path = new URL(req.url ?? '/', 'http://x').pathname
    const candidates = hsos().filter((h) => (h.spec?.hosts ?? []).some((x) => x === host || (x.startsWith('*.') && host.endsWith(x.slice(1)))))
    let best
    let bestLen = -1
    for (const h of candidates) {
      const prefixes = h.spec?.pathPrefixes?.length ? h.spec.pathPrefixes : ['/']
      for (const p of prefixes) if (path.startsWith(p) && p.length > bestLen) ((best = h), (bestLen = p.length))
    }
    return best
  }

  function hasReadyEndpoint(ns, svcName) {
    const svc = api.store.get('v1', 'Service', ns, svcName)
    if (!svc) return false
    return api.store.list('v1', 'Pod', ns).some((p) => !p.metadata.deletionTimestamp && matches(svc.spec?.selector, p.metadata.labels) && (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'))
  }

  async function waitReady(ns, svcName, timeoutMs, signal) {
    if (hasReadyEndpoint(ns, svcName)) return true
    const deadline = timeoutMs > 0 ? now() + timeoutMs : Infinity
    while (now() < deadline && !signal.aborted) {
      await new Promise((r) => setTimeout(r, 50))
      if (hasReadyEndpoint(ns, svcName)) return true
    }
    return false
  }

  const proxy = createServer(async (req, res) => {
    const h = route(req)
    if (!h) return text(res, 404, 'Not Found')
    const ns = h.metadata.namespace
    const key = `${ns}/${h.metadata.name}`
    const c = counts.get(key) ?? {Concurrency: 0, RequestCount: 0}
    counts.set(key, c)
    c.Concurrency++
    c.RequestCount++
    const started = now()
    const aborted = new AbortController()
    res.on('close', () => aborted.abort())
    try {
      let body = Buffer.alloc(0)
      for await (const chunk of req) body = Buffer.concat([body, chunk])
      const ref = h.spec.scaleTargetRef
      const ready = await waitReady(ns, ref.service, parseDuration(h.spec?.timeouts?.conditionWait) || opts.readinessTimeoutMs || 0, aborted.signal)
      if (!ready) {
        log.push({key, status: 504, heldMs: now() - started})
        return text(res, 504, 'Gateway Timeout')
      }
      const svc = api.store.get('v1', 'Service', ns, ref.service)
      const port = ref.port ?? svc?.spec?.ports?.find((p) => p.name === ref.portName)?.port
      const headers = {...req.headers}
      delete headers.host
      delete headers['content-length']
      const up = await api.fetch(`/api/v1/namespaces/${ns}/services/${ref.service}:${port}/proxy${req.url}`, {method: req.method, headers, body: ['GET', 'HEAD'].includes(req.method ?? 'GET') ? undefined : body, signal: aborted.signal})
      const out = {}
      up.headers.forEach((v, k) => {
        if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v
      })
      res.writeHead(up.status, out)
      if (up.body) for await (const chunk of up.body) res.write(chunk)
      res.end()
      log.push({key, status: up.status, heldMs: now() - started})
    } catch (error) {
      if (!res.headersSent) text(res, 502, 'Bad Gateway')
      else res.destroy()
      log.push({key, status: 502, error: String(error?.message ?? error)})
    } finally {
      c.Concurrency--
    }
  })
  const admin = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/queue') return text(res, 404, '404 page not found')
    res.writeHead(200, {'content-type': 'application/json'})
    res.end(JSON.stringify(Object.fromEntries(counts)) + '\n')
  })
  const listen = (s) => new Promise((r) => s.listen(0, '127.0.0.1', () => r(`http://127.0.0.1:${s.address().port}`)))
  const proxyUrl = await listen(proxy)
  const adminUrl = await listen(admin)

  // ---- the KEDA stand-in ----
  const scaled = []
  let polling = false
  const timer = setInterval(async () => {
    if (polling) return
    polling = true
    try {
      const q = await (await fetch(`${adminUrl}/queue`)).json()
      for (const so of api.store.list('keda.sh/v1alpha1', 'ScaledObject')) {
        const ns = so.metadata.namespace
        if (so.metadata.annotations?.['autoscaling.keda.sh/paused-replicas'] !== undefined) continue
        const t = (so.spec?.triggers ?? []).find((x) => x.type === 'external-push' && x.metadata?.httpScaledObject)
        if (!t) continue
        const active = (q[`${ns}/${t.metadata.httpScaledObject}`]?.Concurrency ?? 0) > 0
        const target = so.spec.scaleTargetRef
        const dep = api.store.get('apps/v1', 'Deployment', ns, target.name)
        if (!active || !dep || (dep.spec?.replicas ?? 1) !== 0) continue
        const replicas = Math.max(so.spec.minReplicaCount ?? 0, 1)
        const r = await api.fetch(`/apis/apps/v1/namespaces/${ns}/deployments/${target.name}/scale?fieldManager=keda-operator`, {method: 'PATCH', headers: {'content-type': 'application/merge-patch+json'}, body: JSON.stringify({spec: {replicas}})})
        if (r.ok) scaled.push({namespace: ns, name: target.name, replicas, at: now()})
      }
    } catch {
      // the next poll tries again
    } finally {
      polling = false
    }
  }, opts.kedaPollMs ?? 100)
  timer.unref?.()

  return {
    proxyUrl,
    adminUrl,
    counts,
    log,
    /** activations the KEDA stand-in made (0 -> N) */
    scaled,
    async close() {
      clearInterval(timer)
      proxy.closeAllConnections?.()
      admin.closeAllConnections?.()
      await Promise.all([new Promise((r) => proxy.close(() => r())), new Promise((r) => admin.close(() => r()))])
    },
  }
}

const i32 = {type: 'integer', format: 'int32'}
const portRef = {port: i32, portName: {type: 'string'}}
/**
 * The add-on's HTTPScaledObject CRD as v0.15.0 publishes it (config/crd/bases/
 * http.keda.sh_httpscaledobjects.yaml, generated by controller-gen from
 * operator/apis/http/v1alpha1/httpscaledobject_types.go): names, scope and the openAPIV3Schema's
 * types, formats, defaults and required fields, descriptions left out. Its CEL rules
 * (x-kubernetes-validations: "must define either the 'portName' or the 'port'") are kept as data;
 * the loopback server does not evaluate CEL.
 */
export const HTTP_SCALED_OBJECT_CRD = {
  group: 'http.keda.sh',
  version: 'v1alpha1',
  kind: 'HTTPScaledObject',
  plural: 'httpscaledobjects',
  shortNames: ['httpso'],
  schema: {
    type: 'object',
    properties: {
      apiVersion: {type: 'string'},
      kind: {type: 'string'},
      metadata: {type: 'object'},
      spec: {
        type: 'object',
        required: ['scaleTargetRef'],
        properties: {
          coldStartTimeoutFailoverRef: {type: 'object', required: ['service'], properties: {...portRef, service: {type: 'string'}, timeoutSeconds: {...i32, default: 30}}, 'x-kubernetes-validations': [{message: "must define either the 'portName' or the 'port'", rule: 'has(self.portName) != has(self.port)'}]},
          headers: {type: 'array', 'x-kubernetes-list-map-keys': ['name'], 'x-kubernetes-list-type': 'map', items: {type: 'object', required: ['name'], properties: {name: {type: 'string', minLength: 1}, value: {type: 'string'}}}},
          hosts: {type: 'array', items: {type: 'string'}},
          initialCooldownPeriod: i32,
          pathPrefixes: {type: 'array', items: {type: 'string'}},
          replicas: {type: 'object', properties: {max: i32, min: i32}},
          scaleTargetRef: {type: 'object', required: ['service'], properties: {apiVersion: {type: 'string'}, kind: {type: 'string'}, name: {type: 'string'}, ...portRef, service: {type: 'string'}}, 'x-kubernetes-validations': [{message: "must define either the 'portName' or the 'port'", rule: 'has(self.portName) != has(self.port)'}]},
          scaledownPeriod: i32,
          scalingMetric: {
            type: 'object',
            properties: {
              concurrency: {type: 'object', properties: {targetValue: {type: 'integer', default: 100}}},
              requestRate: {type: 'object', properties: {granularity: {type: 'string', default: '1s'}, targetValue: {type: 'integer', default: 100}, window: {type: 'string', default: '1m'}}},
            },
          },
          targetPendingRequests: i32,
          timeouts: {type: 'object', properties: {conditionWait: {type: 'string'}, responseHeader: {type: 'string'}}},
        },
      },
      status: {
        type: 'object',
        properties: {
          conditions: {type: 'array', items: {type: 'object', required: ['lastTransitionTime', 'message', 'reason', 'status', 'type'], properties: {lastTransitionTime: {type: 'string', format: 'date-time'}, message: {type: 'string', maxLength: 32768}, observedGeneration: {type: 'integer', format: 'int64', minimum: 0}, reason: {type: 'string', minLength: 1, maxLength: 1024}, status: {type: 'string', enum: ['True', 'False', 'Unknown']}, type: {type: 'string', maxLength: 316}}}},
          targetService: {type: 'string'},
          targetWorkload: {type: 'string'},
        },
      },
    },
  },
}
