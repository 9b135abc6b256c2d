// What bench/preload.mjs and bench/preload-ab.mjs share: starting a loopback peer in its own process
// (bench/support/peer.mjs), a process's CPU seconds from /proc, and medians.
import {fork} from 'node:child_process'
import {readFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))

/** Starts bench/support/peer.mjs with a request; resolves with its answer and the child. */
export function peer(request) {
  return new Promise((resolveP, reject) => {
    const child = fork(join(HERE, 'peer.mjs'), {stdio: ['ignore', 'inherit', 'inherit', 'ipc']})
    child.once('message', (m) => resolveP({...m, child, stop: () => new Promise((r) => (child.once('exit', r), child.disconnect()))}))
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`peer ${request.peer} exited ${code}`)))
    child.send(request)
  })
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
export function cpuOf(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch {
    return 0
  }
}

export const median = (xs) => {
  const a = [...xs].sort((x, y) => x - y)
  return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2
}
