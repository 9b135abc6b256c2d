#!/usr/bin/env node
// Runs the loopback API server as a process (manual checks, other languages' tests):
//   node test/support/kube-apiserver/serve.mjs [--port 0] [--ready-ms 20] [--crd group/version/Kind ...]
// Prints one JSON line {url, kubeconfigPath, contextName} on stdout, serves until SIGINT/SIGTERM.
import {startKubeApiServer} from './index.mjs'

const args = process.argv.slice(2)
const opt = (name, def) => {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : def
}
const api = await startKubeApiServer({port: Number(opt('--port', '0')), deploymentBehavior: {mode: 'ready', readyDelayMs: Number(opt('--ready-ms', '20'))}})
for (let i = 0; i < args.length; i++) {
  if (args[i] !== '--crd') continue
  const [group, version, kind] = args[i + 1].split('/')
  api.registerCrd({group, version, kind})
}
process.stdout.write(JSON.stringify({url: api.url, kubeconfigPath: api.kubeconfigPath, contextName: api.contextName}) + '\n')
const bye = async () => {
  await api.stop()
  process.exit(0)
}
process.on('SIGINT', bye)
process.on('SIGTERM', bye)
