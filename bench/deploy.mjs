#!/usr/bin/env node
// Benchmark of `aip model deploy` against the loopback Kubernetes API server (plain JS; run after
// `npm run build`: node bench/deploy.mjs). It measures, in one run:
//  1. API requests (by verb) and wall time of one full deploy of a catalog entry (discovery,
//     gpu-fit, render, server-side apply of every object, preload Job wait, rollout wait), and of the
//     rerun that converges (every object unchanged);
//  2. how long after the simulated controller marks the Deployment available the deploy reports it:
//     in-process (dist/lib/deploy) and through the built CLI (bin/run.js, the "✔ ... available" line
//     on stderr). Goal <= 200 ms: the wait is a watch, not a poll.
import {spawn} from 'node:child_process'
import {mkdtempSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const {startKubeApiServer} = await import(join(root, 'test/support/kube-apiserver/index.mjs'))
const {aipCluster} = await import(join(root, 'test/support/kube-apiserver/nodes.mjs'))
const kube = await import(join(root, 'dist/lib/kube/index.js'))
const deploy = await import(join(root, 'dist/lib/deploy/index.js'))
const catalog = await import(join(root, 'dist/lib/catalog/index.js'))
const render = await import(join(root, 'dist/lib/render/index.js'))

const NS = 'aip-models'
const READY_MS = 400
const ROUNDS = 5
const GOAL_MS = 200

// an L40S node of aip's NodePool per model the rounds deploy; system nodes with room for the preload's scratch disk
const api = await startKubeApiServer({deploymentBehavior: {mode: 'ready', readyDelayMs: READY_MS}, jobBehavior: {outcome: 'succeed', delayMs: 20}, nodes: aipCluster({'g6e.xlarge': 2 + 2 * ROUNDS}, {systemNodes: 2, systemRootVolumeGiB: 100})})
api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: NS}})
api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor'})
api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'PrometheusRule'})

const renderOpts = {namespace: NS, gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', bucket: 'weights', prefix: 'models', prometheusUrl: render.prometheusUrlFromService('monitoring/prometheus-operated:9090')}

const isAvailable = (name) => (s) => {
  const d = s.get('apps/v1', 'Deployment', NS, name)
  return Boolean(d && d.status?.availableReplicas >= (d.spec?.replicas ?? 1) && (d.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True'))
}

/** Resolves with the time the simulated controller made the Deployment available. */
function availableAt(name) {
  return api.waitFor(isAvailable(name), 120_000).then(() => performance.now())
}

function countRequests(reqs) {
  const by = {}
  for (const r of reqs) {
    const k = r.watch ? 'WATCH' : r.method
    by[k] = (by[k] ?? 0) + 1
  }
  return by
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (by) => Object.entries(by).map(([k, v]) => `${k} ${v}`).join(', ')

try {
  const client = await kube.createKubeClient({kubeconfig: api.kubeconfigPath, namespace: NS})
  const base = catalog.getCatalogEntry('qwen3-8b')

  // 1. one deploy, then the converging rerun
  api.clearRequests()
  let t0 = performance.now()
  const first = await deploy.deployModel({entry: base, render: renderOpts, client, wait: true, timeoutMs: 60_000})
  const firstMs = performance.now() - t0
  const firstReqs = api.requests.length
  const firstBy = countRequests(api.requests)
  api.clearRequests()
  t0 = performance.now()
  const again = await deploy.deployModel({entry: base, render: renderOpts, client, wait: true, timeoutMs: 60_000})
  const againMs = performance.now() - t0
  const againBy = countRequests(api.requests)
  const unchanged = again.objects.every((o) => o.action === 'unchanged')
  console.log(`deploy ${base.name}: ${first.objects.length} objects, ${firstReqs} API requests (${fmt(firstBy)}), ${firstMs.toFixed(0)} ms wall (controller readiness delay ${READY_MS} ms)`)
  console.log(`rerun: ${api.requests.length} API requests (${fmt(againBy)}), ${againMs.toFixed(0)} ms wall, all unchanged: ${unchanged}`)

  // 2a. in-process: availability -> deployModel resolves
  const inProc = []
  for (let i = 0; i < ROUNDS; i++) {
    const name = `bench-lib-${i}`
    const entry = {...base, name, servedModelName: name}
    const avail = availableAt(name)
    await deploy.deployModel({entry, render: renderOpts, client, wait: true, timeoutMs: 60_000, skipFit: true})
    const done = performance.now()
    inProc.push(done - (await avail))
  }

  // 2b. built CLI: availability -> the "✔ ... replicas available" line on stderr
  const home = mkdtempSync(join(tmpdir(), 'aip-bench-'))
  const env = {PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, '.config'), CI: 'true', NO_COLOR: '1', KUBECONFIG: api.kubeconfigPath, AIP_BUCKET: 'weights'}
  const viaCli = []
  for (let i = 0; i < ROUNDS; i++) {
    const name = `bench-cli-${i}`
    const avail = availableAt(name)
    const reported = await new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [join(root, 'bin/run.js'), 'model', 'deploy', 'qwen3-8b', '--name', name, '--served-name', name, '--skip-fit'], {env, stdio: ['ignore', 'ignore', 'pipe']})
      let at
      let err = ''
      child.stderr.setEncoding('utf8').on('data', (d) => {
        err += d
        if (at === undefined && /✔ .*replicas available/.test(err)) at = performance.now()
      })
      child.on('close', (code) => (code === 0 && at !== undefined ? resolve(at) : reject(new Error(`CLI exit ${code}: ${err.slice(-400)}`))))
    })
    viaCli.push(reported - (await avail))
  }

  const lib = median(inProc)
  const cli = median(viaCli)
  console.log(`available -> reported, in-process (median of ${ROUNDS}): ${lib.toFixed(1)} ms  [${inProc.map((x) => x.toFixed(0)).join(', ')}]`)
  console.log(`available -> reported, built CLI  (median of ${ROUNDS}): ${cli.toFixed(1)} ms  [${viaCli.map((x) => x.toFixed(0)).join(', ')}]`)
  console.log(`ratio to the ${GOAL_MS} ms goal: in-process ${(lib / GOAL_MS).toFixed(3)}, CLI ${(cli / GOAL_MS).toFixed(3)} (<= 1 meets it)`)
} finally {
  await api.stop()
}
