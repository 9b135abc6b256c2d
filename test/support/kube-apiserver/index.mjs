// A loopback Kubernetes API server for tests and benchmarks (plain JS: benches import it as is).
// It speaks the REST protocol of kube-apiserver for what aip uses; see index.d.mts for the API and
// README notes in /work/notes/kube-api.md. Behaviour follows:
//  - API conventions: https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md
//    (Status bodies, resourceVersion, 409 Conflict vs AlreadyExists, 410 Gone/Expired for watches)
//  - API concepts: https://kubernetes.io/docs/reference/using-api/api-concepts/ (watch, bookmarks, dryRun)
//  - Server-side apply: https://kubernetes.io/docs/reference/using-api/server-side-apply/ (ssa.mjs)
//  - Garbage collection / finalizers: https://kubernetes.io/docs/concepts/architecture/garbage-collection/
//  - Namespace lifecycle: pkg/controller/namespace/deletion/namespaced_resources_deleter.go
import {randomBytes, randomUUID} from 'node:crypto'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {createServer as createHttpServer, request as httpRequest} from 'node:http'
import {createServer as createHttpsServer, request as httpsRequest} from 'node:https'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'

import {parse as parseYaml} from 'yaml'

import {Admission, hasGeneration, statusIsSubresource} from './admission.mjs'
import {Auth, bootstrapPolicy} from './auth.mjs'
import {Controllers} from './controllers.mjs'
import {ApiError} from './errors.mjs'
import {gvPath, loadOpenApiTypes, v2Document, v3Document, v3Index} from './openapi.mjs'
import {listTypes} from './schema.mjs'
import {clone, deepEqual, isMap, jsonPatch, JsonPatchError, mergePatch, strategicMergePatch} from './patch.mjs'
import {BUILTIN, RW} from './resources.mjs'
import {parseFieldSelector, parseLabelSelector, SelectorError} from './selectors.mjs'
import {conflictMessage, recordUpdate, serverSideApply} from './ssa.mjs'
import {servingCertificates} from './tls.mjs'

export {ApiError}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z')
const gvOf = (r) => (r.group ? `${r.group}/${r.version}` : r.version)
/** `deployments.apps` as error messages name a resource (core: `pods`). */
const qualified = (r) => (r.group ? `${r.plural}.${r.group}` : r.plural)
const rand5 = () => {
  const a = 'bcdfghjklmnpqrstvwxz2456789'
  let s = ''
  for (const b of randomBytes(5)) s += a[b % a.length]
  return s
}

class Store {
  constructor(server) {
    this.server = server
    this.objects = new Map() // key -> obj
    this.rv = 1
    this.history = [] // {rv, type, obj, old, resKey}
    this.compactedRv = 0
    this.listeners = new Set()
  }
  okey(r, ns, name) {
    return `${r.group}|${r.plural}|${r.namespaced ? ns ?? '' : ''}|${name}`
  }
  resKey(r) {
    return `${r.group}|${r.plural}`
  }
  getR(r, ns, name) {
    return this.objects.get(this.okey(r, ns, name))
  }
  listR(r, ns) {
    const prefix = `${r.group}|${r.plural}|`
    const out = []
    for (const [k, o] of this.objects) if (k.startsWith(prefix) && (!r.namespaced || ns === undefined || o.metadata.namespace === ns)) out.push(o)
    return out
  }
  /** Stores `obj` (create or replace), assigning a new resourceVersion, and emits the event. */
  write(r, obj, type) {
    const k = this.okey(r, obj.metadata.namespace, obj.metadata.name)
    const old = this.objects.get(k)
    obj.metadata.resourceVersion = String(++this.rv)
    this.objects.set(k, obj)
    this.emit(r, type ?? (old ? 'MODIFIED' : 'ADDED'), obj, old)
    return obj
  }
  removeNow(r, obj) {
    const k = this.okey(r, obj.metadata.namespace, obj.metadata.name)
    if (!this.objects.has(k)) return
    this.objects.delete(k)
    const gone = clone(obj)
    gone.metadata.resourceVersion = String(++this.rv)
    this.emit(r, 'DELETED', gone, obj)
  }
  emit(r, type, obj, old) {
    const ev = {rv: this.rv, type, obj: clone(obj), old: old ? clone(old) : undefined, resKey: this.resKey(r), r, at: Date.now()}
    this.history.push(ev)
    const limit = this.server.opts.historyLimit ?? 1000
    while (this.history.length > limit) this.compactedRv = this.history.shift().rv
    this.expire()
    for (const l of this.listeners) l(ev)
  }
  /**
   * History also expires by age: kube-apiserver compacts etcd every --etcd-compaction-interval
   * (default 5m), and a resourceVersion older than the last compaction is 410 Gone "too old
   * resource version" (staging/src/k8s.io/apiserver/pkg/storage/etcd3/compact.go).
   */
  expire() {
    const ttl = this.server.opts.historyTtlMs ?? 5 * 60_000
    const cutoff = Date.now() - ttl
    while (this.history.length && this.history[0].at < cutoff) this.compactedRv = this.history.shift().rv
  }
}

export async function startKubeApiServer(opts = {}) {
  // HTTPS with a cluster CA, as every EKS endpoint (opts.tls === false: plain http, for tools that cannot take a CA)
  const tls = opts.tls === false ? undefined : await servingCertificates()
  const server = new KubeApiServer(opts, tls)
  await server.admission.init()
  await loadOpenApiTypes()
  await server.listen(opts.port ?? 0)
  return server.api()
}

class KubeApiServer {
  constructor(opts, tls) {
    this.opts = opts
    this.tls = tls
    this.auth = new Auth(this, opts)
    this.resources = BUILTIN.map((r) => ({...r}))
    this.store = new Store(this)
    this.admission = new Admission(this)
    this.requests = []
    this.faultRules = {fail: [], drop: [], forbid: [], unauthorized: false, unreachableWebhooks: new Set()}
    this.watches = new Set()
    this.sockets = new Set()
    this.podLogs = []
    this.serviceBackends = []
    this.podBackends = []
    this.contextName = opts.contextName ?? 'aip-test'
    const handler = (req, res) => this.handle(req, res)
    this.http = tls ? createHttpsServer({cert: tls.cert, key: tls.key}, handler) : createHttpServer(handler)
    this.http.on('connection', (s) => {
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
    for (const ns of opts.namespaces ?? ['default', 'kube-system', 'kube-public']) this.createInternal({apiVersion: 'v1', kind: 'Namespace', metadata: {name: ns}})
    if (opts.rbac !== false) for (const o of bootstrapPolicy()) this.createInternal(o)
    this.controllers = new Controllers(this, opts)
    for (const n of opts.nodes ?? []) this.addNode(n)
  }

  /** A node registers (the kubelet creates its Node object); the scheduler retries pending pods. */
  addNode(node) {
    const r = this.byKind('v1', 'Node')
    const existing = this.store.getR(r, undefined, node.metadata.name)
    if (existing) {
      const o = clone(node)
      o.metadata = {...o.metadata, uid: existing.metadata.uid, creationTimestamp: existing.metadata.creationTimestamp}
      return clone(this.store.write(r, o))
    }
    return clone(this.createInternal(node, 'kubelet'))
  }

  /** Writes a kubeconfig for a token (the admin's by default) to `path` (default: a new file in the temp dir). */
  writeKubeconfig(path, {token, user, exec, namespace} = {}) {
    const tlsLine = this.tls ? `    certificate-authority-data: ${this.tls.caData}\n` : '    insecure-skip-tls-verify: true\n'
    const execBlock = exec ? `    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: ${exec.command}\n      args: ${JSON.stringify(exec.args ?? [])}\n      interactiveMode: Never\n` : `    token: ${token ?? this.auth.adminToken}\n`
    const name = this.contextName
    writeFileSync(
      path,
      `apiVersion: v1
kind: Config
clusters:
- name: ${name}
  cluster:
    server: ${this.url}
${tlsLine}users:
- name: ${user ?? name}
  user:
${execBlock}contexts:
- name: ${name}
  context:
    cluster: ${name}
    user: ${user ?? name}
${namespace ? `    namespace: ${namespace}\n` : ''}current-context: ${name}
`,
      {mode: 0o600},
    )
    return path
  }

  /** fetch() against this server: the admin token unless init.token (null: none), the cluster CA trusted. */
  fetch(pathOrUrl, init = {}) {
    const url = new URL(pathOrUrl, this.url)
    const headers = {...Object.fromEntries(new Headers(init.headers ?? {}).entries())}
    const token = init.token === undefined ? this.auth.adminToken : init.token
    if (token && !headers.authorization) headers.authorization = `Bearer ${token}`
    const body = init.body === undefined || init.body === null ? undefined : typeof init.body === 'string' || Buffer.isBuffer(init.body) ? init.body : JSON.stringify(init.body)
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    const doRequest = url.protocol === 'https:' ? httpsRequest : httpRequest
    return new Promise((resolve, reject) => {
      const rq = doRequest(url, {method: init.method ?? 'GET', headers, ...(this.tls ? {ca: this.tls.caCert} : {}), signal: init.signal}, (res) => {
        const h = new Headers()
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h.set(k, Array.isArray(v) ? v.join(', ') : String(v))
        const nullBody = [101, 204, 205, 304].includes(res.statusCode ?? 0)
        if (nullBody) res.resume()
        resolve(new Response(nullBody ? null : Readable.toWeb(res), {status: res.statusCode, statusText: res.statusMessage, headers: h}))
      })
      rq.on('error', reject)
      rq.end(body)
    })
  }

  listen(port) {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen(port, '127.0.0.1', () => {
        this.http.off('error', reject)
        this.port = this.http.address().port
        resolve()
      })
    })
  }

  api() {
    const self = this
    this.url = `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`
    this.tmp = mkdtempSync(join(tmpdir(), 'aip-kubeapi-'))
    const kubeconfigPath = this.writeKubeconfig(join(this.tmp, 'kubeconfig'), {namespace: this.opts.contextNamespace})
    const store = {
      get: (apiVersion, kind, ns, name) => {
        const r = this.byKind(apiVersion, kind)
        return r ? clone(this.store.getR(r, ns, name)) : undefined
      },
      list: (apiVersion, kind, ns) => {
        const r = this.byKind(apiVersion, kind)
        return r ? this.store.listR(r, ns).map(clone) : []
      },
      put: (obj) => {
        const r = this.byKind(obj.apiVersion, obj.kind)
        if (!r) throw new Error(`unknown kind ${obj.apiVersion} ${obj.kind}`)
        const old = this.store.getR(r, obj.metadata.namespace, obj.metadata.name)
        const o = clone(obj)
        if (old) {
          o.metadata = {...o.metadata, uid: old.metadata.uid, creationTimestamp: old.metadata.creationTimestamp}
          return clone(this.store.write(r, this.afterWrite(r, old, o)))
        }
        return clone(this.createInternal(o))
      },
      setStatus: (apiVersion, kind, ns, name, status) => {
        const r = this.byKind(apiVersion, kind)
        const old = r && this.store.getR(r, ns, name)
        if (!old) return undefined
        const o = clone(old)
        o.status = {...(o.status ?? {}), ...status}
        return clone(this.store.write(r, o))
      },
      removeFinalizer: (apiVersion, kind, ns, name, finalizer) => {
        const r = this.byKind(apiVersion, kind)
        const old = r && this.store.getR(r, ns, name)
        if (!old) return
        const o = clone(old)
        o.metadata.finalizers = finalizer ? (o.metadata.finalizers ?? []).filter((f) => f !== finalizer) : []
        if (o.metadata.finalizers.length === 0) delete o.metadata.finalizers
        this.store.write(r, this.afterWrite(r, old, o))
        this.settle(r, ns, name)
      },
      remove: (apiVersion, kind, ns, name, policy) => {
        const r = this.byKind(apiVersion, kind)
        const old = r && this.store.getR(r, ns, name)
        if (old) this.deleteObject(r, old, policy ?? 'Background')
      },
      resourceVersion: () => this.store.rv,
      all: () => [...this.store.objects.values()].map(clone),
    }
    this.publicStore = store
    const faults = {
      failNext: (count, o) => this.faultRules.fail.push({count, ...o}),
      dropNext: (count, match) => this.faultRules.drop.push({count, match}),
      dropWatches: () => {
        for (const w of [...this.watches]) w.res.socket?.destroy()
      },
      forbid: (rule) => this.faultRules.forbid.push(rule),
      unauthorized: (on) => (this.faultRules.unauthorized = on),
      webhookUnreachable: (ns, name, on = true) => (on ? this.faultRules.unreachableWebhooks.add(`${ns}/${name}`) : this.faultRules.unreachableWebhooks.delete(`${ns}/${name}`)),
      clear: () => {
        this.faultRules = {fail: [], drop: [], forbid: [], unauthorized: false, unreachableWebhooks: new Set()}
      },
    }
    let userSeq = 0
    return {
      url: this.url,
      port: this.port,
      kubeconfigPath,
      contextName: this.contextName,
      token: this.auth.adminToken,
      caData: this.tls?.caData,
      caCert: this.tls?.caCert,
      fetch: (p, init) => this.fetch(p, init),
      addNode: (node) => this.addNode(node),
      removeNode: (name) => {
        const r = this.byKind('v1', 'Node')
        const o = this.store.getR(r, undefined, name)
        if (o) this.store.removeNow(r, o)
      },
      addUser: (u) => {
        const token = u.token ?? `u-${randomBytes(16).toString('hex')}`
        const user = this.auth.addUser({token, name: u.name, groups: u.groups})
        const rbR = this.byKind('rbac.authorization.k8s.io/v1', 'RoleBinding')
        const crbR = this.byKind('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding')
        const subject = {apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: u.name}
        for (const role of u.clusterRoles ?? []) {
          const name = `${u.name}-${role}`.replace(/[^a-z0-9.-]/gi, '-').toLowerCase()
          if (!this.store.getR(crbR, undefined, name)) this.createInternal({apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: {name}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role}, subjects: [subject]})
        }
        for (const [ns, roles] of Object.entries(u.namespaceRoles ?? {})) {
          for (const role of [roles].flat()) {
            const name = `${u.name}-${role}`.replace(/[^a-z0-9.-]/gi, '-').toLowerCase()
            if (!this.store.getR(rbR, ns, name)) this.createInternal({apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: {name, namespace: ns}, roleRef: {apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role}, subjects: [subject]})
          }
        }
        const path = this.writeKubeconfig(join(this.tmp, `kubeconfig-user-${++userSeq}`), {token, user: u.name, namespace: u.namespace})
        return {token, kubeconfigPath: path, name: user.name, groups: user.groups}
      },
      addToken: (token, user) => void this.auth.addUser({token, ...user}),
      writeKubeconfig: (path, o) => this.writeKubeconfig(path, o),
      store,
      faults,
      get requests() {
        return self.requests
      },
      clearRequests: () => (this.requests.length = 0),
      registerCrd: (spec) => this.registerCrd(spec),
      unregisterCrd: (group, kind) => this.unregisterCrd(group, kind),
      setDeploymentBehavior: (ns, name, b) => this.controllers.setDeploymentBehavior(ns, name, b),
      setJobBehavior: (ns, name, b) => this.controllers.setJobBehavior(ns, name, b),
      setPodLogs: (ns, prefix, text) => this.podLogs.unshift({ns, prefix, text}),
      setServiceBackend: (ns, name, port, target) => this.serviceBackends.unshift({ns, name, port: String(port), target}),
      setPodBackend: (ns, name, port, target) => this.podBackends.unshift({ns, name, port: String(port), target}),
      clearFinalizerAfter: (kind, fin, ms) => this.controllers.clearFinalizerAfter(kind, fin, ms),
      stuckFinalizer: (kind, fin, on = true) => this.controllers.stuckFinalizer(kind, fin, on),
      waitFor: (pred, timeoutMs = 10_000) =>
        new Promise((resolve, reject) => {
          if (pred(store)) return resolve()
          const t = setTimeout(() => {
            this.store.listeners.delete(l)
            reject(new Error('waitFor timed out'))
          }, timeoutMs)
          const l = () => {
            if (pred(store)) {
              clearTimeout(t)
              this.store.listeners.delete(l)
              resolve()
            }
          }
          this.store.listeners.add(l)
        }),
      compact: () => {
        // etcd compaction: every resourceVersion up to now is forgotten by watches (410 Expired)
        this.store.compactedRv = this.store.rv
        this.store.history.length = 0
      },
      goDown: () => this.goDown(),
      comeBack: () => this.listen(this.port),
      stop: async () => {
        this.controllers.stop()
        await this.goDown()
        rmSync(this.tmp, {recursive: true, force: true})
      },
    }
  }

  goDown() {
    return new Promise((resolve) => {
      for (const w of [...this.watches]) w.end()
      this.http.close(() => resolve())
      for (const s of this.sockets) s.destroy()
    })
  }

  // ---- resources -------------------------------------------------------------------------

  byKind(apiVersion, kind) {
    return this.resources.find((r) => gvOf(r) === apiVersion && r.kind === kind)
  }
  byPlural(group, version, plural) {
    return this.resources.find((r) => r.group === group && r.version === version && r.plural === plural)
  }

  registerCrd({group, version, kind, plural, namespaced = true, shortNames = [], schema, categories = []}) {
    plural ??= kind.toLowerCase() + 's'
    if (!this.byKind(`${group}/${version}`, kind)) this.resources.push({group, version, kind, plural, namespaced, shortNames, categories, subresources: ['status'], verbs: RW, crd: true})
    const crdR = this.byKind('apiextensions.k8s.io/v1', 'CustomResourceDefinition')
    const name = `${plural}.${group}`
    const existing = this.store.getR(crdR, undefined, name)
    if (existing) return clone(existing)
    const crd = this.createInternal({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: {name},
      spec: {group, names: {kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List`, shortNames, ...(categories.length ? {categories} : {})}, scope: namespaced ? 'Namespaced' : 'Cluster', versions: [{name: version, served: true, storage: true, schema: {openAPIV3Schema: schema ?? {type: 'object', 'x-kubernetes-preserve-unknown-fields': true}}, subresources: {status: {}}}]},
    })
    crd.status = {
      conditions: [
        {type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found', lastTransitionTime: now()},
        {type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now()},
      ],
      acceptedNames: {kind, plural},
      storedVersions: [version],
    }
    return clone(this.store.write(crdR, crd))
  }

  unregisterCrd(group, kind) {
    const r = this.resources.find((x) => x.group === group && x.kind === kind && x.crd)
    if (!r) return
    for (const o of this.store.listR(r)) this.store.removeNow(r, o)
    this.resources = this.resources.filter((x) => x !== r)
    const crdR = this.byKind('apiextensions.k8s.io/v1', 'CustomResourceDefinition')
    const crd = this.store.getR(crdR, undefined, `${r.plural}.${group}`)
    if (crd) this.store.removeNow(crdR, crd)
  }

  /** When a CRD object is created through the API, serve its kind (as the apiextensions server does). */
  crdCreated(obj) {
    const s = obj.spec ?? {}
    const v = (s.versions ?? []).find((x) => x.served !== false) ?? {name: 'v1'}
    if (s.group && s.names?.kind && !this.byKind(`${s.group}/${v.name}`, s.names.kind)) {
      // the status subresource exists only where the version enables it (apiextensions subresources.status)
      this.resources.push({group: s.group, version: v.name, kind: s.names.kind, plural: s.names.plural ?? s.names.kind.toLowerCase() + 's', namespaced: s.scope !== 'Cluster', shortNames: s.names.shortNames ?? [], categories: s.names.categories ?? [], subresources: v.subresources?.status ? ['status'] : [], verbs: RW, crd: true})
    }
    obj.status = {conditions: [{type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted', lastTransitionTime: now()}], acceptedNames: s.names ?? {}, storedVersions: [v.name]}
  }

  crdDeleted(obj) {
    const s = obj.spec ?? {}
    const r = this.resources.find((x) => x.crd && x.group === s.group && x.kind === s.names?.kind)
    if (!r) return
    // The apiextensions server deletes every custom resource of a CRD being deleted (CustomResourceCleanup).
    for (const o of this.store.listR(r)) this.store.removeNow(r, o)
    this.resources = this.resources.filter((x) => x !== r)
  }

  // ---- object lifecycle -------------------------------------------------------------------

  /** Create without admission (store setup, controllers). */
  createInternal(obj, manager) {
    const r = this.byKind(obj.apiVersion, obj.kind)
    const o = this.prepareCreate(r, clone(obj), manager ?? 'kube-controller-manager', 'Update')
    return this.store.write(r, o, 'ADDED')
  }

  prepareCreate(r, o, manager, operation) {
    o.metadata ??= {}
    if (!o.metadata.name && o.metadata.generateName) o.metadata.name = o.metadata.generateName + rand5()
    if (!r.namespaced) delete o.metadata.namespace
    o.metadata.uid = randomUUID()
    o.metadata.creationTimestamp = now()
    if (hasGeneration(r)) o.metadata.generation = 1
    else delete o.metadata.generation
    delete o.metadata.deletionTimestamp
    if (r.kind === 'Namespace') {
      o.spec = {finalizers: ['kubernetes'], ...(o.spec ?? {})}
      o.status = {phase: 'Active'}
      o.metadata.labels = {'kubernetes.io/metadata.name': o.metadata.name, ...(o.metadata.labels ?? {})}
    }
    if (r.kind === 'CustomResourceDefinition') this.crdCreated(o)
    if (manager && operation === 'Update') recordUpdate(undefined, o, manager, {apiVersion: gvOf(r), now: now()})
    return o
  }

  /** Generation bumps when anything outside metadata and status changes (api-conventions: metadata.generation). */
  afterWrite(r, old, o) {
    o.metadata.uid = old.metadata.uid
    o.metadata.creationTimestamp = old.metadata.creationTimestamp
    if (old.metadata.generation !== undefined) o.metadata.generation = old.metadata.generation
    else delete o.metadata.generation
    if (old.metadata.deletionTimestamp) {
      o.metadata.deletionTimestamp = old.metadata.deletionTimestamp
      o.metadata.deletionGracePeriodSeconds = old.metadata.deletionGracePeriodSeconds ?? 0
    } else delete o.metadata.deletionTimestamp
    const strip = (x) => {
      const c = {...x}
      delete c.metadata
      delete c.status
      return c
    }
    // metadata-only and status-only changes keep the generation (api-conventions; e.g.
    // pkg/registry/apps/deployment/strategy.go PrepareForUpdate bumps it when the spec changes)
    if (hasGeneration(r) && !deepEqual(strip(old), strip(o))) o.metadata.generation = (old.metadata.generation ?? 1) + 1
    if (r.kind === 'Namespace') keepStatus(o, old.status)
    return o
  }

  /** After a write: an object being deleted whose finalizers are all gone is removed. */
  settle(r, ns, name) {
    const o = this.store.getR(r, ns, name)
    // a pod in its termination grace period goes when its kubelet is done (kubelet.mjs)
    if (r.kind === 'Pod' && o?.metadata.deletionGracePeriodSeconds > 0) return
    if (o && o.metadata.deletionTimestamp && !(o.metadata.finalizers ?? []).length && !(r.kind === 'Namespace' && (o.spec?.finalizers ?? []).length)) {
      this.store.removeNow(r, o)
      this.afterRemoved(r, o)
    }
  }

  afterRemoved(r, o) {
    if (r.kind === 'CustomResourceDefinition') this.crdDeleted(o)
    this.controllers.collectDependents(o, o.__policy ?? 'Background')
  }

  /**
   * DELETE semantics (garbage collection docs): with finalizers (or Foreground), the object gets a
   * deletionTimestamp and stays until its finalizers are removed; otherwise it is removed now and
   * its dependents are collected (Background) or released (Orphan).
   */
  deleteObject(r, obj, policy, dryRun = false, gracePeriodSeconds = undefined) {
    const o = clone(obj)
    if (dryRun) return {gone: false, obj: {...o, metadata: {...o.metadata, deletionTimestamp: o.metadata.deletionTimestamp ?? now()}}}
    if (r.kind === 'Pod' && this.controllers.enabled) {
      // graceful pod deletion: Terminating for the grace period, then removed by the kubelet
      if (policy === 'Orphan') this.controllers.orphanDependents(o)
      const t = this.controllers.kubelet.terminate(r, o, gracePeriodSeconds)
      if (t) return {gone: false, obj: clone(t), graceful: true}
    }
    if (r.kind === 'Namespace') {
      if (!o.metadata.deletionTimestamp) {
        o.metadata.deletionTimestamp = now()
        o.metadata.deletionGracePeriodSeconds = 0
        o.status = {...(o.status ?? {}), phase: 'Terminating'}
        this.store.write(r, o)
      }
      this.controllers.namespaceDeleting(o.metadata.name)
      return {gone: false, obj: clone(o)}
    }
    if (policy === 'Orphan') this.controllers.orphanDependents(o)
    const fins = [...(o.metadata.finalizers ?? [])]
    if (policy === 'Foreground' && this.controllers.hasDependents(o) && !fins.includes('foregroundDeletion')) fins.push('foregroundDeletion')
    if (fins.length) {
      if (!o.metadata.deletionTimestamp) {
        o.metadata.deletionTimestamp = now()
        o.metadata.deletionGracePeriodSeconds = 0
      }
      o.metadata.finalizers = fins
      this.store.write(r, o)
      if (fins.includes('foregroundDeletion')) this.controllers.foreground(o)
      return {gone: false, obj: clone(o)}
    }
    this.store.removeNow(r, o)
    o.__policy = policy
    this.afterRemoved(r, o)
    return {gone: true, obj: o}
  }

  // ---- HTTP ------------------------------------------------------------------------------

  record(req, url, status, watch) {
    this.requests.push({method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams), status, contentType: req.headers['content-type'], watch, at: Date.now()})
  }

  matches(m, req, url) {
    if (!m) return true
    const watch = url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1'
    if (m.method && m.method !== req.method) return false
    if (m.pathPrefix && !url.pathname.startsWith(m.pathPrefix)) return false
    if (m.path && !m.path.test(url.pathname)) return false
    if (m.watch !== undefined && m.watch !== watch) return false
    if (m.test && !m.test({method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams)})) return false
    return true
  }

  send(req, res, url, code, body, extraHeaders = {}) {
    const text = JSON.stringify(body)
    // warnings of the request (unknown fields ...): one `Warning: 299 - "text"` header each (RFC 7234
    // warn-code 299 "Miscellaneous Persistent Warning", staging/src/k8s.io/apiserver/pkg/warning)
    const warnings = code < 300 && req.warnings?.length ? {warning: req.warnings.map((w) => `299 - ${JSON.stringify(w)}`)} : {}
    res.writeHead(code, {'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...warnings, ...extraHeaders})
    res.end(text)
    this.record(req, url, code, false)
  }

  async handle(req, res) {
    const url = new URL(req.url, 'http://127.0.0.1')
    req.warnings = []
    try {
      // fault hooks first: they simulate the network and overloaded servers
      const drop = this.faultRules.drop.find((d) => d.count > 0 && this.matches(d.match, req, url))
      if (drop) {
        drop.count--
        this.record(req, url, 0, false)
        req.socket.destroy()
        return
      }
      const fail = this.faultRules.fail.find((f) => f.count > 0 && this.matches(f.match, req, url))
      if (fail) {
        fail.count--
        const reasons = {429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable', 504: 'Timeout'}
        const messages = {429: 'Too many requests, please try again later.', 500: 'Internal error occurred: injected fault', 503: 'the server is currently unable to handle the request', 504: 'the server was unable to return a response in the time allotted'}
        const retryAfter = fail.status === 429 || fail.status === 503 ? String(fail.retryAfterSeconds ?? 1) : undefined
        const err = new ApiError(fail.status, fail.reason ?? reasons[fail.status] ?? 'InternalError', fail.message ?? messages[fail.status] ?? 'injected fault', retryAfter ? {retryAfterSeconds: Number(retryAfter)} : undefined)
        await drain(req)
        return this.send(req, res, url, fail.status, err.toStatus(), retryAfter ? {'retry-after': retryAfter} : {})
      }
      // authentication (auth.mjs): an unknown token, or none without anonymous auth, is 401
      const user = this.faultRules.unauthorized ? null : this.auth.authenticate(req)
      if (!user) {
        await drain(req)
        return this.send(req, res, url, 401, new ApiError(401, 'Unauthorized', 'Unauthorized').toStatus())
      }
      req.user = user
      await this.route(req, res, url)
    } catch (e) {
      if (res.headersSent) {
        res.end()
        return
      }
      const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', `Internal error occurred: ${e?.message ?? e}`)
      this.send(req, res, url, err.code, err.toStatus())
    }
  }

  /** RBAC (auth.mjs): 403 Forbidden with kube-apiserver's message when the request's user may not. */
  authorize(req, a) {
    if (!req.user || this.auth.allowed(req.user, a)) return
    const message = this.auth.forbiddenMessage(req.user, a)
    throw new ApiError(403, 'Forbidden', message, a.resource ? {...(a.name ? {name: a.name} : {}), group: a.group, kind: a.resource} : undefined)
  }

  async route(req, res, url) {
    const p = url.pathname.replace(/\/+$/, '')
    const parts = p.split('/').filter(Boolean)
    const resourcePath = (parts[0] === 'api' && parts.length > 2) || (parts[0] === 'apis' && parts.length > 3)
    if (!resourcePath) this.authorize(req, {verb: req.method.toLowerCase() === 'get' ? 'get' : req.method.toLowerCase(), path: url.pathname})
    if (p === '/version') return this.send(req, res, url, 200, {major: '1', minor: '31', gitVersion: 'v1.31.0-aip-loopback', platform: 'linux/amd64'})
    if (['/healthz', '/readyz', '/livez'].includes(p)) {
      res.writeHead(200, {'content-type': 'text/plain; charset=utf-8'})
      res.end('ok')
      return this.record(req, url, 200, false)
    }
    if (p === '/openapi/v3' || p.startsWith('/openapi/v3/') || p === '/openapi/v2') return this.openapi(req, res, url, p)
    if (p === '/api') return this.send(req, res, url, 200, {kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.port}`}]})
    if (p === '/apis') return this.send(req, res, url, 200, {kind: 'APIGroupList', apiVersion: 'v1', groups: this.groups()})
    let group
    let version
    let rest
    if (parts[0] === 'api' && parts.length >= 2) {
      group = ''
      version = parts[1]
      rest = parts.slice(2)
    } else if (parts[0] === 'apis' && parts.length === 2) {
      const g = this.groups().find((x) => x.name === parts[1])
      if (!g) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
      return this.send(req, res, url, 200, {kind: 'APIGroup', apiVersion: 'v1', ...g})
    } else if (parts[0] === 'apis' && parts.length >= 3) {
      group = parts[1]
      version = parts[2]
      rest = parts.slice(3)
    } else throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')

    if (rest.length === 0) {
      const list = this.resources.filter((r) => r.group === group && r.version === version)
      if (!list.length) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
      const resources = []
      for (const r of list) {
        resources.push({name: r.plural, singularName: r.kind.toLowerCase(), namespaced: r.namespaced, kind: r.kind, verbs: r.verbs, ...(r.shortNames.length ? {shortNames: r.shortNames} : {}), ...(r.categories?.length ? {categories: r.categories} : {}), storageVersionHash: ''})
        for (const s of r.subresources) resources.push({name: `${r.plural}/${s}`, singularName: '', namespaced: r.namespaced, kind: s === 'scale' ? 'Scale' : s === 'log' ? 'Pod' : r.kind, verbs: s === 'log' ? ['get'] : ['get', 'patch', 'update']})
      }
      return this.send(req, res, url, 200, {kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources})
    }
    let ns
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      ns = rest[1]
      rest = rest.slice(2)
    }
    const r = this.byPlural(group, version, rest[0])
    if (!r) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    // /api/v1/namespaces/x is the namespace itself
    if (r.kind === 'Namespace' && ns === undefined && rest.length >= 2) ns = undefined
    const name = rest[1]
    const sub = rest[2]
    if (r.namespaced === false && ns !== undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    return this.resourceRequest(req, res, url, r, ns, name, sub)
  }

  /** List types of a resource for server-side apply (associative lists merge by key). */
  listTypes(r) {
    return listTypes(r, r.crd ? this.admission.customSchema(r) : undefined)
  }

  /** OpenAPI documents (openapi.mjs): the v3 index, a group-version's v3 document, v2 as JSON. */
  openapi(req, res, url, p) {
    const cs = (r) => this.admission.customSchema(r)
    if (p === '/openapi/v3') return this.send(req, res, url, 200, v3Index(this.resources, cs))
    if (p === '/openapi/v2') {
      // only JSON here: a protobuf-only Accept is 406 (client-go then tries the legacy path)
      const accept = req.headers.accept ?? '*/*'
      if (!/application\/json|\*\/\*/.test(accept)) throw new ApiError(406, 'NotAcceptable', `only the following media types are accepted: application/json`)
      return this.send(req, res, url, 200, v2Document(this.resources, cs))
    }
    const gv = p.slice('/openapi/v3/'.length)
    const rs = this.resources.filter((r) => gvPath(r) === gv)
    if (!rs.length) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')
    return this.send(req, res, url, 200, v3Document(rs, cs))
  }

  groups() {
    const gs = new Map()
    for (const r of this.resources) {
      if (!r.group) continue
      if (!gs.has(r.group)) gs.set(r.group, new Set())
      gs.get(r.group).add(r.version)
    }
    return [...gs.entries()].map(([name, vs]) => {
      const versions = [...vs].map((v) => ({groupVersion: `${name}/${v}`, version: v}))
      return {name, versions, preferredVersion: versions[0]}
    })
  }

  verbOf(method, name, watch) {
    if (method === 'GET') return watch ? 'watch' : name ? 'get' : 'list'
    return {POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: name ? 'delete' : 'deletecollection'}[method] ?? method.toLowerCase()
  }

  /** RBAC denial, with the authorizer's message format (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go). */
  checkForbidden(verb, r, ns, name) {
    const rule = this.faultRules.forbid.find((f) => (f.verb === '*' || f.verb === verb) && (f.resource === '*' || f.resource === r.plural || f.resource === qualified(r)) && (f.namespace === undefined || f.namespace === ns))
    if (!rule) return
    const user = rule.user ?? 'system:serviceaccount:ci:aip'
    const scope = ns ? `in the namespace "${ns}"` : 'at the cluster scope'
    throw new ApiError(403, 'Forbidden', `${qualified(r)}${name ? ` "${name}"` : ''} is forbidden: User "${user}" cannot ${verb} resource "${r.plural}" in API group "${r.group}" ${scope}`, {...(name ? {name} : {}), group: r.group, kind: r.plural})
  }

  notFound(r, name) {
    return new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, {name, group: r.group, kind: r.plural})
  }

  /** Namespace must exist and not be terminating to create content (NamespaceLifecycle admission plugin). */
  checkNamespace(r, ns, name) {
    if (!r.namespaced) return
    const nsR = this.byKind('v1', 'Namespace')
    const n = this.store.getR(nsR, undefined, ns)
    if (!n) throw new ApiError(404, 'NotFound', `namespaces "${ns}" not found`, {name: ns, kind: 'namespaces'})
    if (n.metadata.deletionTimestamp) {
      throw new ApiError(403, 'Forbidden', `${qualified(r)} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`, {
        name,
        group: r.group,
        kind: r.plural,
        causes: [{reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace'}],
      })
    }
  }

  /**
   * Admission webhooks: a configuration whose service is marked unreachable fails matching requests
   * with failurePolicy Fail (the default in admissionregistration/v1), with the API server's message.
   */
  checkWebhooks(r, operation) {
    if (r.group === 'admissionregistration.k8s.io') return
    for (const [kind, path] of [
      ['MutatingWebhookConfiguration', 'mutate'],
      ['ValidatingWebhookConfiguration', 'validate'],
    ]) {
      for (const cfg of this.store.listR(this.byKind('admissionregistration.k8s.io/v1', kind))) {
        for (const wh of cfg.webhooks ?? []) {
          const svc = wh.clientConfig?.service
          if (!svc || !this.faultRules.unreachableWebhooks.has(`${svc.namespace}/${svc.name}`)) continue
          if ((wh.failurePolicy ?? 'Fail') !== 'Fail') continue
          const match = (wh.rules ?? []).some(
            (rule) =>
              (rule.operations ?? []).some((o) => o === '*' || o === operation) &&
              (rule.apiGroups ?? []).some((g) => g === '*' || g === r.group) &&
              (rule.apiVersions ?? []).some((v) => v === '*' || v === r.version) &&
              (rule.resources ?? []).some((x) => x === '*' || x === r.plural),
          )
          if (!match) continue
          const target = `https://${svc.name}.${svc.namespace}.svc:${svc.port ?? 443}${svc.path ?? `/${path}`}?timeout=${wh.timeoutSeconds ?? 10}s`
          throw new ApiError(500, 'InternalError', `Internal error occurred: failed calling webhook "${wh.name}": failed to call webhook: Post "${target}": dial tcp 10.100.${rand5().length}.1:${svc.port ?? 443}: connect: connection refused`, {
            causes: [{message: `failed calling webhook "${wh.name}": failed to call webhook: Post "${target}": connect: connection refused`}],
          })
        }
      }
    }
  }

  async readBody(req) {
    const text = await drain(req)
    if (!text) return undefined
    const ct = (req.headers['content-type'] ?? 'application/json').split(';')[0].trim()
    try {
      if (ct === 'application/apply-patch+yaml' || ct === 'application/yaml') return parseYaml(text)
      return JSON.parse(text)
    } catch (e) {
      throw new ApiError(400, 'BadRequest', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf: ${e.message}`)
    }
  }

  validateBody(r, body, ns, name) {
    if (!isMap(body)) throw new ApiError(400, 'BadRequest', 'the body of the request is not an object')
    if (body.kind && body.kind !== r.kind) throw new ApiError(400, 'BadRequest', `the API version in the data (${body.apiVersion}) does not match the expected API version (${gvOf(r)})`)
    if (body.apiVersion && body.apiVersion !== gvOf(r)) throw new ApiError(400, 'BadRequest', `the API version in the data (${body.apiVersion}) does not match the expected API version (${gvOf(r)})`)
    body.apiVersion = gvOf(r)
    body.kind = r.kind
    body.metadata ??= {}
    if (r.namespaced) {
      if (body.metadata.namespace && ns && body.metadata.namespace !== ns) throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request')
      body.metadata.namespace = ns
    }
    if (name && body.metadata.name && body.metadata.name !== name) throw new ApiError(400, 'BadRequest', `the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`)
    if (name) body.metadata.name ??= name
    if (!body.metadata.name && !body.metadata.generateName) {
      throw new ApiError(422, 'Invalid', `${r.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, {kind: r.kind, causes: [{reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name'}]})
    }
    const n = body.metadata.name ?? ''
    if (n && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(n)) {
      throw new ApiError(422, 'Invalid', `${r.kind} "${n}" is invalid: metadata.name: Invalid value: "${n}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`, {
        name: n,
        group: r.group,
        kind: r.kind,
        causes: [{reason: 'FieldValueInvalid', message: `Invalid value: "${n}"`, field: 'metadata.name'}],
      })
    }
    for (const k of ['labels', 'annotations']) {
      for (const [lk, lv] of Object.entries(body.metadata[k] ?? {})) {
        if (typeof lv !== 'string') throw new ApiError(400, 'BadRequest', `json: cannot unmarshal ${typeof lv} into Go struct field ObjectMeta.metadata.${k} of type string (key ${lk})`)
      }
    }
    return body
  }

  managerOf(req, url) {
    const fm = url.searchParams.get('fieldManager')
    if (fm) return fm
    // The default manager is derived from the user agent (its first token).
    return (req.headers['user-agent'] ?? 'unknown').split('/')[0].split(' ')[0] || 'unknown'
  }

  async resourceRequest(req, res, url, r, ns, name, sub) {
    const q = url.searchParams
    const watch = q.get('watch') === 'true' || q.get('watch') === '1'
    const verb = this.verbOf(req.method, name, watch)
    let dryRun = q.get('dryRun')
    if (dryRun && dryRun !== 'All') throw new ApiError(400, 'BadRequest', `Invalid dry run value: ${dryRun}; only "All" is supported`)
    this.checkForbidden(sub === 'log' ? 'get' : verb, r, ns, name)
    this.authorize(req, {verb, group: r.group, resource: r.plural, subresource: sub, namespace: r.kind === 'Namespace' ? undefined : ns, name})
    if (req.method === 'PATCH' && (req.headers['content-type'] ?? '').startsWith('application/apply-patch') && name && !sub && !this.store.getR(r, ns, name)) {
      // an apply that creates is also a create (handlers/patch.go withAuthorization)
      this.authorize(req, {verb: 'create', group: r.group, resource: r.plural, namespace: r.kind === 'Namespace' ? undefined : ns, name})
    }

    if (sub === 'log' && r.kind === 'Pod' && req.method === 'GET') return this.podLog(req, res, url, r, ns, name)
    if (sub === 'proxy' && r.kind === 'Service' && name) return this.serviceProxy(req, res, url, r, ns, name)
    if (sub === 'proxy' && r.kind === 'Pod' && name) return this.podProxy(req, res, url, r, ns, name)

    if (sub === 'scale' && name && r.subresources.includes('scale')) return this.scale(req, res, url, r, ns, name, dryRun)
    if (sub && !r.subresources.includes(sub)) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource')

    if (req.method === 'GET' && !name) return watch ? this.watch(req, res, url, r, ns) : this.list(req, res, url, r, ns)
    if (req.method === 'GET') {
      const o = this.store.getR(r, ns, name)
      if (!o) throw this.notFound(r, name)
      return this.send(req, res, url, 200, o)
    }
    if (req.method === 'POST' && !name) {
      const body = this.validateBody(r, await this.readBody(req), ns)
      const manager = this.managerOf(req, url)
      const nm = body.metadata.name ?? body.metadata.generateName
      this.admission.decode(r, body, {fieldValidation: q.get('fieldValidation') ?? 'Warn', warnings: req.warnings})
      this.checkNamespace(r, ns, nm)
      this.checkWebhooks(r, 'CREATE')
      if (statusIsSubresource(r)) delete body.status
      const o = this.prepareCreate(r, body)
      // validation comes before storage: an invalid object is 422 even when its name is taken
      this.admission.admit(r, o)
      if (this.store.getR(r, ns, o.metadata.name)) throw new ApiError(409, 'AlreadyExists', `${qualified(r)} "${o.metadata.name}" already exists`, {name: o.metadata.name, group: r.group, kind: r.plural})
      // the creating manager owns every field set, defaults included
      recordUpdate(undefined, o, manager, {apiVersion: gvOf(r), now: now(), types: this.listTypes(r)})
      if (dryRun) return this.send(req, res, url, 201, o)
      delete o.metadata.resourceVersion
      this.store.write(r, o, 'ADDED')
      return this.send(req, res, url, 201, o)
    }
    if (req.method === 'DELETE' && !name) return this.deleteCollection(req, res, url, r, ns, dryRun)
    if (req.method === 'DELETE') {
      const body = (await this.readBody(req)) ?? {}
      // DeleteOptions in the body carry dryRun too (`kubectl delete --dry-run=server` sends it there)
      if (Array.isArray(body.dryRun) && body.dryRun.length) {
        if (body.dryRun.some((d) => d !== 'All')) throw new ApiError(422, 'Invalid', `DeleteOptions.meta.k8s.io "" is invalid: dryRun: Unsupported value: ${JSON.stringify(body.dryRun)}: supported values: "All"`)
        dryRun = 'All'
      }
      const o = this.store.getR(r, ns, name)
      if (!o) throw this.notFound(r, name)
      const pre = body.preconditions ?? {}
      if (pre.uid && pre.uid !== o.metadata.uid) throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${o.metadata.uid}`, {name, group: r.group, kind: r.plural})
      if (pre.resourceVersion && pre.resourceVersion !== o.metadata.resourceVersion) throw new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${o.metadata.resourceVersion}`, {name, group: r.group, kind: r.plural})
      this.checkWebhooks(r, 'DELETE')
      // default propagation: Background for most kinds; orphan for the legacy clients (not modelled)
      const policy = body.propagationPolicy ?? q.get('propagationPolicy') ?? (body.orphanDependents === true ? 'Orphan' : 'Background')
      if (!['Background', 'Foreground', 'Orphan'].includes(policy)) throw new ApiError(400, 'BadRequest', `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`)
      const grace = body.gracePeriodSeconds ?? q.get('gracePeriodSeconds') ?? undefined
      const {gone, obj, graceful} = this.deleteObject(r, o, policy, !!dryRun, grace)
      // a pod deleted gracefully: 200 with the pod, now carrying its deletionTimestamp (pod REST Delete)
      if (graceful) return this.send(req, res, url, 200, obj)
      if (gone || (dryRun && !(o.metadata.finalizers ?? []).length && r.kind !== 'Namespace')) {
        // an object deleted at once: a Success Status naming it (pods return the object; not modelled)
        delete obj.__policy
        return this.send(req, res, url, 200, {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: {name, group: r.group, kind: r.plural, uid: o.metadata.uid}})
      }
      // still there (finalizers, foreground, namespace): 202 Accepted with the object (handlers/delete.go)
      return this.send(req, res, url, 202, obj)
    }
    if (req.method === 'PUT') {
      const body = this.validateBody(r, await this.readBody(req), ns, name)
      const old = this.store.getR(r, ns, name)
      if (!old) throw this.notFound(r, name)
      // optimistic concurrency (api-conventions "Concurrency Control and Consistency"): a stale
      // resourceVersion is a 409 Conflict; an empty one is an unconditional update.
      if (body.metadata.resourceVersion && body.metadata.resourceVersion !== old.metadata.resourceVersion) throw this.conflict(r, name)
      this.admission.decode(r, body, {fieldValidation: q.get('fieldValidation') ?? 'Warn', warnings: req.warnings})
      this.checkWebhooks(r, 'UPDATE')
      let o
      if (sub === 'status') {
        o = clone(old)
        o.status = body.status
      } else {
        o = body
        // status sent through the main resource is ignored where status is a subresource
        if (r.kind !== 'Namespace') keepStatus(o, statusIsSubresource(r) ? old.status : (body.status ?? old.status))
        o.metadata.managedFields = old.metadata.managedFields
        this.admission.admit(r, o, old)
      }
      return this.finishUpdate(req, res, url, r, old, o, dryRun, sub)
    }
    if (req.method === 'PATCH') {
      const ct = (req.headers['content-type'] ?? '').split(';')[0].trim()
      const patch = await this.readBody(req)
      const old = this.store.getR(r, ns, name)
      if (ct === 'application/apply-patch+yaml') return this.apply(req, res, url, r, ns, name, old, patch, dryRun, sub)
      if (q.get('force')) throw new ApiError(422, 'Invalid', 'force: Forbidden: may not be specified for non-apply patch')
      if (!old) throw this.notFound(r, name)
      let o
      try {
        if (ct === 'application/merge-patch+json') o = mergePatch(old, patch)
        else if (ct === 'application/strategic-merge-patch+json') {
          if (r.crd) throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`)
          o = strategicMergePatch(old, patch, '', this.listTypes(r))
        } else if (ct === 'application/json-patch+json') o = jsonPatch(old, patch)
        else throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`)
      } catch (e) {
        if (e instanceof JsonPatchError) throw new ApiError(422, 'Invalid', `the server rejected our request due to an error in our request: ${e.message}`)
        throw e
      }
      if (o.metadata?.resourceVersion && o.metadata.resourceVersion !== old.metadata.resourceVersion) throw this.conflict(r, name)
      o = this.validateBody(r, o, ns, name)
      if (sub === 'status') o = {...clone(old), status: o.status}
      else {
        this.admission.decode(r, o, {fieldValidation: q.get('fieldValidation') ?? 'Warn', warnings: req.warnings})
        if (statusIsSubresource(r) && r.kind !== 'Namespace') keepStatus(o, old.status)
        this.admission.admit(r, o, old)
      }
      this.checkWebhooks(r, 'UPDATE')
      return this.finishUpdate(req, res, url, r, old, o, dryRun, sub)
    }
    throw new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`)
  }

  /** The scale subresource (autoscaling/v1 Scale), as `kubectl scale` and HPAs use it. */
  async scale(req, res, url, r, ns, name, dryRun) {
    const old = this.store.getR(r, ns, name)
    if (!old) throw this.notFound(r, name)
    const toScale = (o) => ({
      kind: 'Scale',
      apiVersion: 'autoscaling/v1',
      metadata: {name, namespace: ns, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp},
      spec: {replicas: o.spec?.replicas ?? 1},
      status: {replicas: o.status?.replicas ?? 0, selector: Object.entries(o.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`).join(',')},
    })
    if (req.method === 'GET') return this.send(req, res, url, 200, toScale(old))
    const body = await this.readBody(req)
    const ct = (req.headers['content-type'] ?? '').split(';')[0].trim()
    let next
    if (req.method === 'PUT') next = body
    else if (ct === 'application/json-patch+json') next = jsonPatch(toScale(old), body)
    else next = mergePatch(toScale(old), body)
    if (next?.metadata?.resourceVersion && req.method === 'PUT' && next.metadata.resourceVersion !== old.metadata.resourceVersion) throw this.conflict(r, name)
    const replicas = next?.spec?.replicas
    if (!Number.isInteger(replicas) || replicas < 0) throw new ApiError(422, 'Invalid', `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${replicas}: must be greater than or equal to 0`)
    const o = clone(old)
    o.spec = {...(o.spec ?? {}), replicas}
    const out = this.afterWrite(r, old, o)
    recordUpdate(old, out, this.managerOf(req, url), {apiVersion: gvOf(r), now: now(), subresource: 'scale'})
    if (!dryRun && !deepEqual(out.spec, old.spec)) this.store.write(r, out)
    return this.send(req, res, url, 200, toScale(dryRun ? out : this.store.getR(r, ns, name)))
  }

  conflict(r, name) {
    return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, {name, group: r.group, kind: r.plural})
  }

  finishUpdate(req, res, url, r, old, o, dryRun, sub) {
    o = this.afterWrite(r, old, o)
    recordUpdate(old, o, this.managerOf(req, url), {apiVersion: gvOf(r), now: now(), subresource: sub, types: this.listTypes(r)})
    o.metadata.resourceVersion = old.metadata.resourceVersion
    if (deepEqual(o, old)) return this.send(req, res, url, 200, o) // no-op writes keep the resourceVersion
    if (dryRun) return this.send(req, res, url, 200, o)
    this.store.write(r, o)
    this.settle(r, o.metadata.namespace, o.metadata.name)
    const now2 = this.store.getR(r, o.metadata.namespace, o.metadata.name) ?? o
    return this.send(req, res, url, 200, now2)
  }

  apply(req, res, url, r, ns, name, old, patch, dryRun, sub) {
    const manager = req.url && new URL(req.url, 'http://x').searchParams.get('fieldManager')
    // "fieldManager is required for apply requests" (PatchOptions.FieldManager)
    if (!manager) throw new ApiError(422, 'Invalid', 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch')
    const force = ['true', '1'].includes(url.searchParams.get('force') ?? '')
    const config = this.validateBody(r, clone(patch), ns, name)
    if (sub !== 'status') this.admission.decode(r, config, {apply: true, fieldValidation: url.searchParams.get('fieldValidation') ?? 'Warn', warnings: req.warnings})
    if (old && config.metadata.resourceVersion && config.metadata.resourceVersion !== old.metadata.resourceVersion) throw this.conflict(r, name)
    delete config.metadata.resourceVersion
    if (!old) this.checkNamespace(r, ns, name)
    this.checkWebhooks(r, old ? 'UPDATE' : 'CREATE')
    if (sub === 'status') {
      if (!old) throw this.notFound(r, name)
      const o = clone(old)
      o.status = {...(o.status ?? {}), ...(config.status ?? {})}
      return this.finishUpdate(req, res, url, r, old, o, dryRun, sub)
    }
    const t = now()
    const result = serverSideApply(old, config, manager, {force, apiVersion: gvOf(r), now: t, types: this.listTypes(r)})
    if (result.conflicts?.length) {
      const message = conflictMessage(result.conflicts)
      throw new ApiError(409, 'Conflict', message, {causes: result.conflicts.map((c) => ({reason: 'FieldManagerConflict', message: `conflict with "${c.manager}" using ${c.apiVersion}`, field: c.field}))})
    }
    let o = result.object
    o.apiVersion = gvOf(r)
    o.kind = r.kind
    o.metadata.name = name
    if (r.namespaced) o.metadata.namespace = ns
    if (!old) {
      // create-on-apply (the apply is the object's first write)
      const mf = o.metadata.managedFields
      if (statusIsSubresource(r)) delete o.status
      o = this.prepareCreate(r, o)
      o.metadata.managedFields = mf
      this.admission.admit(r, o)
      if (dryRun) return this.send(req, res, url, 201, o)
      this.store.write(r, o, 'ADDED')
      return this.send(req, res, url, 201, o)
    }
    if (r.kind !== 'Namespace') keepStatus(o, old.status)
    this.admission.admit(r, o, old)
    o = this.afterWrite(r, old, o)
    o.metadata.resourceVersion = old.metadata.resourceVersion
    const same = deepEqual({...o, metadata: {...o.metadata, managedFields: undefined}}, {...old, metadata: {...old.metadata, managedFields: undefined}}) && deepEqual(stripTimes(o.metadata.managedFields), stripTimes(old.metadata.managedFields))
    if (same) return this.send(req, res, url, 200, old) // a no-op apply changes nothing, not even the resourceVersion
    if (dryRun) return this.send(req, res, url, 200, o)
    this.store.write(r, o)
    this.settle(r, ns, name)
    return this.send(req, res, url, 200, this.store.getR(r, ns, name) ?? o)
  }

  filterFor(r, url) {
    try {
      const ls = parseLabelSelector(url.searchParams.get('labelSelector') ?? '')
      const fs = parseFieldSelector(url.searchParams.get('fieldSelector') ?? '', r.kind)
      return (o) => ls(o.metadata?.labels) && fs(o)
    } catch (e) {
      if (e instanceof SelectorError) throw new ApiError(400, 'BadRequest', e.message)
      throw e
    }
  }

  /**
   * List, with chunking (API concepts "Retrieving large results sets in chunks"): `limit` cuts the
   * list in key order and `metadata.continue` carries the resourceVersion of the first chunk and
   * the last key served (base64 JSON, as storage/etcd3 encodeContinue writes it), with
   * `remainingItemCount`. A continue token older than the kept history is 410 Expired.
   */
  list(req, res, url, r, ns) {
    const f = this.filterFor(r, url)
    const keyOf = (o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`
    let items = this.store
      .listR(r, ns)
      .filter(f)
      .sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0))
    let rv = String(this.store.rv)
    const cont = url.searchParams.get('continue')
    if (cont) {
      let token
      try {
        token = JSON.parse(Buffer.from(cont, 'base64').toString('utf8'))
      } catch {
        token = undefined
      }
      if (!token || token.v !== 'meta.k8s.io/v1' || typeof token.start !== 'string') throw new ApiError(400, 'BadRequest', 'continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)')
      this.store.expire()
      if (Number(token.rv) < this.store.compactedRv) {
        throw new ApiError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.')
      }
      rv = String(token.rv)
      items = items.filter((o) => keyOf(o) > token.start)
    }
    const limit = Number(url.searchParams.get('limit') ?? 0)
    const meta = {resourceVersion: rv}
    if (limit > 0 && items.length > limit) {
      const last = items[limit - 1]
      meta.continue = Buffer.from(JSON.stringify({v: 'meta.k8s.io/v1', rv: Number(rv), start: keyOf(last)})).toString('base64')
      meta.remainingItemCount = items.length - limit
      items = items.slice(0, limit)
    }
    // lists of built-in kinds carry no kind/apiVersion per item (kubernetes/kubernetes#3030); CRs do
    const out = items.map((o) => {
      if (r.crd) return o
      const {apiVersion: _a, kind: _k, ...rest} = o
      return rest
    })
    return this.send(req, res, url, 200, {kind: `${r.kind}List`, apiVersion: gvOf(r), metadata: meta, items: out})
  }

  deleteCollection(req, res, url, r, ns, dryRun) {
    const f = this.filterFor(r, url)
    const policy = url.searchParams.get('propagationPolicy') ?? 'Background'
    const items = this.store.listR(r, ns).filter(f)
    for (const o of items) this.deleteObject(r, o, policy, !!dryRun)
    return this.send(req, res, url, 200, {kind: `${r.kind}List`, apiVersion: gvOf(r), metadata: {resourceVersion: String(this.store.rv)}, items})
  }

  /**
   * Watch (API concepts, "Efficient detection of changes"): JSON lines over a chunked response.
   * No resourceVersion (or "0"): synthetic ADDED events for the current state first. A
   * resourceVersion older than the kept history: one ERROR event with a 410 Expired Status.
   */
  watch(req, res, url, r, ns) {
    const f = this.filterFor(r, url)
    const rvParam = url.searchParams.get('resourceVersion')
    const bookmarks = url.searchParams.get('allowWatchBookmarks') === 'true'
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 0)
    res.writeHead(200, {'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private'})
    this.record(req, url, 200, true)
    res.flushHeaders()
    const w = {res, ended: false}
    const write = (type, object) => {
      if (!w.ended) res.write(JSON.stringify({type, object}) + '\n')
    }
    const strip = (o) => o
    w.end = () => {
      if (w.ended) return
      w.ended = true
      this.watches.delete(w)
      this.store.listeners.delete(listener)
      clearTimeout(w.timer)
      clearInterval(w.bm)
      res.end()
    }
    const nsOk = (o) => !r.namespaced || ns === undefined || o.metadata.namespace === ns
    const deliver = (ev) => {
      if (ev.resKey !== this.store.resKey(r)) return
      if (!nsOk(ev.obj)) return
      const now2 = f(ev.obj)
      const before = ev.old ? f(ev.old) : false
      // a MODIFIED object that leaves the selector is DELETED for this watcher, one that enters it ADDED
      if (ev.type === 'MODIFIED') {
        if (now2 && before) write('MODIFIED', strip(ev.obj))
        else if (now2) write('ADDED', strip(ev.obj))
        else if (before) write('DELETED', strip(ev.obj))
      } else if (now2) write(ev.type, strip(ev.obj))
    }
    const listener = (ev) => deliver(ev)
    if (!rvParam || rvParam === '0') {
      for (const o of this.store.listR(r, ns).filter(f)) write('ADDED', o)
    } else {
      const from = Number(rvParam)
      this.store.expire()
      if (!Number.isFinite(from) || from < this.store.compactedRv) {
        write('ERROR', {kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${rvParam} (${this.store.compactedRv + 1})`, reason: 'Expired', code: 410})
        w.ended = true
        res.end()
        return
      }
      for (const ev of this.store.history) if (ev.rv > from) deliver(ev)
    }
    this.store.listeners.add(listener)
    this.watches.add(w)
    if (timeoutSeconds > 0) w.timer = setTimeout(() => w.end(), timeoutSeconds * 1000)
    if (bookmarks) {
      w.bm = setInterval(() => write('BOOKMARK', {kind: r.kind, apiVersion: gvOf(r), metadata: {resourceVersion: String(this.store.rv)}}), this.opts.bookmarkIntervalMs ?? 1000)
    }
    res.on('close', () => w.end())
  }

  /**
   * The service proxy, /api/v1/namespaces/{ns}/services/[scheme:]{name}[:{port}]/proxy/{path}
   * (pkg/registry/core/service/proxy.go and storage.go ResourceLocation): the Service must exist
   * (404 `services "x" not found`), the port (name or number; optional when the Service has one
   * port) must be one of its ports, and a ready endpoint must back it, else 503 ServiceUnavailable
   * `no endpoints available for service "x"`. The request goes on with its method, body and headers
   * except the caller's Authorization (the API server authenticated it; the backend never sees the
   * token), and the backend's answer streams back as it comes (SSE passes through chunk by chunk).
   * The simulated pods have no network, so a test names the endpoint: setServiceBackend().
   */
  serviceProxy(req, res, url, r, ns, rawName) {
    const segs = rawName.split(':')
    const [svcName, port] = segs.length === 3 ? [segs[1], segs[2]] : segs.length === 2 && /^https?$/.test(segs[0]) ? [segs[1], ''] : [segs[0], segs[1] ?? '']
    const svc = this.store.getR(r, ns, svcName)
    if (!svc) throw this.notFound(r, svcName)
    const ports = svc.spec?.ports ?? []
    const sp = port ? ports.find((p) => p.name === port || String(p.port) === port) : ports.length === 1 ? ports[0] : undefined
    const backend = sp && this.serviceBackends.find((b) => b.ns === ns && b.name === svcName && (b.port === sp.name || b.port === String(sp.port)))
    if (!backend) throw new ApiError(503, 'ServiceUnavailable', `no endpoints available for service "${rawName}"`)
    this.proxyTo(req, res, url, backend.target, `/services/${rawName}`)
  }

  /**
   * The pod proxy, /api/v1/namespaces/{ns}/pods/[scheme:]{name}[:{port}]/proxy/{path}
   * (pkg/registry/core/pod/strategy.go ResourceLocation): the pod must exist (404) and have an IP
   * (else 503 `address not allowed` / no podIP); the port defaults to the first container port.
   * Headers pass on without the caller's Authorization, like the service proxy. A test names the
   * backend of each pod: setPodBackend().
   */
  podProxy(req, res, url, r, ns, rawName) {
    const segs = rawName.split(':')
    const [podName, port] = segs.length === 3 ? [segs[1], segs[2]] : segs.length === 2 && /^https?$/.test(segs[0]) ? [segs[1], ''] : [segs[0], segs[1] ?? '']
    const pod = this.store.getR(r, ns, podName)
    if (!pod) throw this.notFound(r, podName)
    if (!pod.status?.podIP) throw new ApiError(503, 'ServiceUnavailable', `pod ${podName} does not have an IP address`)
    const first = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? [])[0]
    const want = port || String(first?.containerPort ?? '')
    const named = (pod.spec?.containers ?? []).flatMap((c) => c.ports ?? []).find((p) => p.name === want)
    const portNum = named ? String(named.containerPort) : want
    const backend = this.podBackends.find((b) => b.ns === ns && b.name === podName && b.port === portNum)
    if (!backend) throw new ApiError(503, 'ServiceUnavailable', `error trying to reach service: dial tcp ${pod.status.podIP}:${portNum}: connect: connection refused`)
    this.proxyTo(req, res, url, backend.target, `/pods/${rawName}`)
  }

  /**
   * Forwards a proxied request (service or pod proxy) to `target`: the path after `/proxy`
   * following `resourcePath`, the query, and every header but the caller's Authorization, which
   * kube-apiserver's proxy consumes (staging/src/k8s.io/apimachinery/pkg/util/proxy). Responses stream.
   */
  proxyTo(req, res, url, targetUrl, resourcePath) {
    const marker = `/proxy`
    const at = url.pathname.indexOf(marker, url.pathname.indexOf(resourcePath))
    const path = url.pathname.slice(at + marker.length) || '/'
    const target = new URL(targetUrl)
    const headers = {...req.headers, host: target.host}
    delete headers.authorization
    const up = httpRequest({host: target.hostname, port: target.port, method: req.method, path: path + url.search, headers}, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers)
      ur.pipe(res)
      ur.on('end', () => this.record(req, url, ur.statusCode ?? 502, false))
    })
    up.on('error', (e) => {
      if (res.headersSent) return void res.destroy()
      this.send(req, res, url, 503, new ApiError(503, 'ServiceUnavailable', `error trying to reach service: ${e.code ?? e.message}`).toStatus())
    })
    res.on('close', () => up.destroy())
    req.pipe(up)
  }

  podLog(req, res, url, r, ns, name) {
    const pod = this.store.getR(r, ns, name)
    if (!pod) throw this.notFound(r, name)
    const entry = this.podLogs.find((l) => l.ns === ns && name.startsWith(l.prefix))
    let text = entry?.text ?? this.controllers.defaultLogs(pod)
    const tail = url.searchParams.get('tailLines')
    if (tail) {
      const lines = text.replace(/\n$/, '').split('\n')
      text = lines.slice(Math.max(0, lines.length - Number(tail))).join('\n') + '\n'
    }
    res.writeHead(200, {'content-type': 'text/plain'})
    res.end(text)
    this.record(req, url, 200, false)
  }
}

function keepStatus(o, status) {
  if (status === undefined) delete o.status
  else o.status = status
}

function stripTimes(mf) {
  return (mf ?? []).map((m) => ({...m, time: undefined}))
}

function drain(req) {
  return new Promise((resolve, reject) => {
    let s = ''
    req.setEncoding('utf8')
    req.on('data', (c) => (s += c))
    req.on('end', () => resolve(s))
    req.on('error', reject)
  })
}

export {rand5, now, gvOf}
