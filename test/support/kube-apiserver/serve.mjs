#!/usr/bin/env node
// Runs the loopback API server as a process (manual checks with kubectl, other languages' tests):
//   node test/support/kube-apiserver/serve.mjs [--port 0] [--ready-ms 20] [--crd group/version/Kind ...]
//        [--nodes system,g6e.xlarge,...] [--time-scale-ms 1] [--http]
// --nodes: `system` (m6i.large of a managed node group), `none`, or an instance type (a GPU node of
// aip's Karpenter NodePool); default `system`. More nodes can register later: kubectl apply a Node.
// Prints one JSON line {url, kubeconfigPath, contextName, token} on stdout, serves until SIGINT/SIGTERM.
import {startKubeApiServer} from './index.mjs'
import {aipGpuNode, systemNode} from './nodes.mjs'

const args = process.argv.slice(2)
const opt = (name, def) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : def
}
const nodes = opt('--nodes', 'system')
  .split(',')
  .filter((n) => n && n !== 'none')
  .map((n) => (n === 'system' ? systemNode() : aipGpuNode(n)))
const api = await startKubeApiServer({
  port: Number(opt('--port', '0')),
  deploymentBehavior: {mode: 'ready', readyDelayMs: Number(opt('--ready-ms', '20'))},
  nodes,
  timeScaleMs: Number(opt('--time-scale-ms', '1')),
  tls: !args.includes('--http'),
})
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '--crd') continue
  const [group, version, kind] = args[i + 1].split('/')
  api.registerCrd({group, version, kind})
}
process.stdout.write(JSON.stringify({url: api.url, kubeconfigPath: api.kubeconfigPath, contextName: api.contextName, token: api.token}) + '\n')
const bye = async () => {
  await api.stop()
  process.exit(0)
}
process.on('SIGINT', bye)
process.on('SIGTERM', bye)
